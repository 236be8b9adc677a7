"""MAE feedback classifier, tested on real error messages.

Most messages are made here by the code that produces them in a tool loop: calling Python
functions wrongly, validating with jsonschema / pydantic / argparse, HTTP clients (requests, httpx,
urllib, urllib3) against loopback servers that answer with an error status, hang, hang up or are
not there, and verl's own ToolAgentLoop. The few that cannot be made offline (ToolBench's server,
OpenAI / Google API error bodies) are copied from their source, which each case names.
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import contextlib
import datetime
import doctest
import http.server
import inspect
import json
import logging
import math
import operator
import os
import socket
import sqlite3
import subprocess
import sys
import threading
import traceback
import types
import urllib.error
import urllib.request
import warnings

import httpx
import jsonschema
import pydantic
import pytest
import requests
import urllib3
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import v1 as pydantic_v1
from werkzeug import exceptions as wz

from data_transforms.tool_feedback import (
    ERROR_CATEGORIES,
    FEEDBACK_CATEGORIES,
    FEEDBACK_PATTERNS,
    classify_feedback,
    summarize,
)
from reward_fns import categories
from tests.helpers import examples

OK = "ok"
INSTABILITY = "tool_instability"
FAILURE = "tool_call_failure"
TOOL_HALLU = "tool_hallucination"
PARAM_HALLU = "param_hallucination"
MISSING = "param_missing"
OTHER = "other_error"


# --- making real Python errors ------------------------------------------------------------------


def get_weather(city, unit="c"):
    return {"city": city, "unit": unit, "temp": 21}


def book_flight(origin, destination, *, date):
    return {"origin": origin, "destination": destination, "date": date}


def search_web(query):
    return undefined_tool_xyz(query)  # noqa: F821 - the model called a tool that does not exist


class _RaisingParser(argparse.ArgumentParser):
    # argparse prints and exits on bad input; keep its message, raise instead.
    def error(self, message):
        raise ValueError(message)


def _weather_cli():
    parser = _RaisingParser(prog="get_weather")
    parser.add_argument("--city", required=True)
    return parser


class WeatherArgs(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    city: str


class WeatherArgsV1(pydantic_v1.BaseModel):
    class Config:
        extra = pydantic_v1.Extra.forbid

    city: str


WEATHER_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}},
    "required": ["city"],
    "additionalProperties": False,
}


def _sql(query):
    return sqlite3.connect(":memory:").execute(query)


# Each call runs on a line of its own, so the source line a traceback quotes is just the call.
def _unexpected_kw():
    return get_weather(town="Paris")


def _missing_one():
    return get_weather()


def _missing_two():
    return book_flight(date="2025-05-01")


def _missing_kwonly():
    return book_flight("PAR", "ROM")


def _undefined_tool():
    return search_web("weather in Paris")


def _not_serializable():
    return json.dumps(object())


def _bad_slice():
    return ["sunny", "rainy"]["a":1]


def _zero_division():
    return 1 / 0


def _floor_zero_division():
    return 1 // 0


def _key_error():
    return {"temp": 21}["city"]


def _attribute_error():
    return None.lower()


def _module_attribute_error():
    return math.forecast


def _index_error():
    return [][3]


def _int_error():
    return int("twenty")


def _float_error():
    return float("twenty")


def _too_many_positional():
    return get_weather("Paris", "c", "today")


def _multiple_values():
    return get_weather("Paris", city="Rome")


def _concatenate():
    return "Paris" + 1


def _unsupported_operand():
    return None + 1


def _not_subscriptable():
    forecast = None
    return forecast["city"]


def _runtime_error():
    raise RuntimeError("weather backend returned no data")


def _bare_exception():
    raise Exception("boom")


def _sqlite_no_function():
    return _sql("select forecast(1)")


def _sqlite_no_table():
    return _sql("select * from forecasts")


def _bind_missing():
    return inspect.signature(get_weather).bind()


def _bind_unexpected():
    return inspect.signature(get_weather).bind("Paris", town="Rome")


def _argparse_missing():
    return _weather_cli().parse_args([])


def _argparse_unexpected():
    return _weather_cli().parse_args(["--city", "Paris", "--town", "Rome"])


def _jsonschema_required():
    return jsonschema.validate({}, WEATHER_SCHEMA)


def _jsonschema_additional():
    return jsonschema.validate({"city": "Paris", "town": "Rome"}, WEATHER_SCHEMA)


def _jsonschema_type():
    return jsonschema.validate({"city": 75001}, WEATHER_SCHEMA)


def _jsonschema_enum():
    return jsonschema.validate({"city": "Paris", "unit": "kelvin"}, WEATHER_SCHEMA)


def _pydantic_missing():
    return WeatherArgs.model_validate({})


def _pydantic_extra():
    return WeatherArgs.model_validate({"city": "Paris", "town": "Rome"})


def _pydantic_type():
    return WeatherArgs.model_validate({"city": 75001})


def _pydantic_v1_missing():
    return WeatherArgsV1.parse_obj({})


def _pydantic_v1_extra():
    return WeatherArgsV1.parse_obj({"city": "Paris", "town": "Rome"})


# (call, category, whether the bare str(exc) alone is enough to tell: "'city'" from a KeyError is not)
PYTHON_ERRORS = [
    (_unexpected_kw, PARAM_HALLU, True),
    (_bind_unexpected, PARAM_HALLU, True),
    (_argparse_unexpected, PARAM_HALLU, True),
    (_jsonschema_additional, PARAM_HALLU, True),
    (_pydantic_extra, PARAM_HALLU, True),
    (_pydantic_v1_extra, PARAM_HALLU, True),
    (_missing_one, MISSING, True),
    (_missing_two, MISSING, True),
    (_missing_kwonly, MISSING, True),
    (_bind_missing, MISSING, True),
    (_argparse_missing, MISSING, True),
    (_jsonschema_required, MISSING, True),
    (_pydantic_missing, MISSING, True),
    (_pydantic_v1_missing, MISSING, True),
    (_undefined_tool, TOOL_HALLU, True),
    (_sqlite_no_function, TOOL_HALLU, True),
    (_not_serializable, FAILURE, True),
    (_bad_slice, FAILURE, True),
    (_zero_division, FAILURE, True),
    (_floor_zero_division, FAILURE, True),
    (_attribute_error, FAILURE, True),
    (_module_attribute_error, FAILURE, True),
    (_index_error, FAILURE, True),
    (_int_error, FAILURE, True),
    (_float_error, FAILURE, True),
    (_too_many_positional, FAILURE, True),
    (_multiple_values, FAILURE, True),
    (_concatenate, FAILURE, True),
    (_unsupported_operand, FAILURE, True),
    (_not_subscriptable, FAILURE, True),
    (_jsonschema_type, FAILURE, True),
    (_jsonschema_enum, FAILURE, True),
    (_pydantic_type, FAILURE, True),
    (_key_error, FAILURE, False),
    (_runtime_error, FAILURE, False),
    (_sqlite_no_table, FAILURE, False),
]


def _raise(call):
    """The exception ``call`` raises and ``traceback.format_exc()`` of it."""
    try:
        call()
    except Exception as exc:  # noqa: BLE001 - collecting whatever the call raises is the point
        return exc, traceback.format_exc()
    raise AssertionError(f"{call.__name__} did not raise")


def _forms(call, category, bare_tells):
    """The ways a tool loop passes an exception on: str(e), "Type: e", the traceback, {"error": str(e)}."""
    exc, tb = _raise(call)
    forms = [
        (f"{type(exc).__name__}: {exc}", category),
        (tb, category),
        (json.dumps({"error": str(exc)}), category if bare_tells else FAILURE),
        (str(exc), category if bare_tells else OK),
    ]
    if hasattr(exc, "message") and isinstance(exc.message, str):  # jsonschema's one-line message
        forms.append((exc.message, category))
    return forms


PYTHON_CASES = [
    pytest.param(text, expected, id=f"{call.__name__}-{i}")
    for call, category, bare in PYTHON_ERRORS
    for i, (text, expected) in enumerate(_forms(call, category, bare))
]


@pytest.mark.parametrize(("text", "expected"), PYTHON_CASES)
def test_python_errors(text, expected):
    assert classify_feedback(text) == expected, text


def test_real_messages_look_as_assumed():
    # The wording the table relies on, straight from the interpreter and libraries in use.
    assert str(_raise(_unexpected_kw)[0]) == "get_weather() got an unexpected keyword argument 'town'"
    assert str(_raise(_missing_one)[0]) == "get_weather() missing 1 required positional argument: 'city'"
    assert str(_raise(_missing_two)[0]) == (
        "book_flight() missing 2 required positional arguments: 'origin' and 'destination'"
    )
    assert str(_raise(_undefined_tool)[0]) == "name 'undefined_tool_xyz' is not defined"
    assert str(_raise(_not_serializable)[0]) == "Object of type object is not JSON serializable"
    assert str(_raise(_bad_slice)[0]) == "slice indices must be integers or None or have an __index__ method"
    assert _raise(_jsonschema_required)[0].message == "'city' is a required property"
    assert _raise(_jsonschema_additional)[0].message == "Additional properties are not allowed ('town' was unexpected)"
    tb = _raise(_undefined_tool)[1]
    assert tb.startswith("Traceback (most recent call last):\n")
    assert tb.rstrip().endswith("NameError: name 'undefined_tool_xyz' is not defined")


def _other_messages():
    key_error_tb = _raise(_key_error)[1]
    exc, tb = _raise(_bare_exception)
    return [
        # A traceback cut before its exception line names no kind.
        (key_error_tb.rstrip().rsplit("\n", 1)[0], OTHER),
        # `raise Exception("boom")`: an error, of no class that says which.
        (f"{type(exc).__name__}: {exc}", OTHER),
        (tb, OTHER),
        (str(exc), OK),  # "boom": nothing says it is an error
    ]


OTHER_MESSAGES = _other_messages()


@pytest.mark.parametrize(("text", "expected"), OTHER_MESSAGES)
def test_errors_of_no_known_kind(text, expected):
    assert classify_feedback(text) == expected


# --- built-in exceptions passed on as str(exc), without the class name -------------------------------
# Tools often return str(exc) alone. Each message is made by raising it here, so the cases follow the
# running interpreter's wording rather than a copy of it.

_KEY = "city"  # a str where an int index is needed (a literal subscript would warn when compiled)
_NONE = None
_MISSING_FILE = os.path.join(os.sep, "no-such-dir", "cities.csv")


def _recurse(depth=0):
    return _recurse(depth + 1)


BUILTIN_ERRORS = {
    # TypeError
    "compare-str-int": lambda: "Paris" <= 3,
    "list-indices": lambda: [1, 2][_KEY],
    "string-indices": lambda: "Paris"[_KEY],
    "tuple-indices": lambda: (1, 2)[_KEY],
    "unhashable": lambda: {["Paris"]: 1},
    "in-non-iterable": lambda: "Paris" in 3,
    "len-of-int": lambda: len(3),
    "len-of-none": lambda: len(_NONE),
    "multiply-sequence": lambda: [1] * 1.5,
    "unary-minus": lambda: -"Paris",
    "abs-of-str": lambda: abs("Paris"),
    "item-assignment": lambda: operator.setitem("Paris", 0, "p"),
    "item-deletion": lambda: operator.delitem((1, 2), 0),
    "concatenate": lambda: "temp: " + 21,
    "must-be-str": lambda: "Paris,Rome".split(1),
    "argument-must-be-str": lambda: "Paris".replace(1, "p"),
    "int-of-none": lambda: int(_NONE),
    "float-of-none": lambda: float(_NONE),
    "pathlike": lambda: open(3.5),
    "join-item": lambda: ", ".join(["Paris", 3]),
    "unpack-non-iterable": lambda: [a for a, b in [3]],
    "percent-format": lambda: "%d km" % (3, 4),  # noqa: F507, UP031  the error is the point
    "format-none": lambda: format(_NONE, ".2f"),
    "interpreted-as-integer": lambda: range(1.5),
    "round-none": lambda: round(_NONE),
    "none-not-callable": lambda: _NONE(),
    "none-not-subscriptable": lambda: _NONE["temp"],
    "compare-sorted": lambda: sorted([3, "Paris"]),
    # ValueError
    "not-enough-values": lambda: [a for a, b in [[1]]],
    "too-many-values": lambda: [a for a, b in [[1, 2, 3]]],
    "math-domain": lambda: math.sqrt(-1),
    "substring": lambda: "Paris".index("Rome"),
    "list-index-str": lambda: ["Paris"].index("Rome"),
    "list-index-int": lambda: [1, 2].index(3),
    "list-remove": lambda: [1, 2].remove(3),
    "strptime": lambda: datetime.datetime.strptime("2024", "%Y-%m-%d"),
    "unconverted-data": lambda: datetime.datetime.strptime("2024-01-01T10", "%Y-%m-%d"),
    "isoformat": lambda: datetime.date.fromisoformat("tomorrow"),
    "day-out-of-range": lambda: datetime.date(2023, 2, 30),
    "month-range": lambda: datetime.date(2023, 13, 1),
    "year-out-of-range": lambda: datetime.date(0, 1, 1),
    "empty-separator": lambda: "Paris".split(""),
    "max-empty": lambda: max([]),
    "min-empty": lambda: min([]),
    "invalid-literal": lambda: int("21.5"),
    "float-conversion": lambda: float("warm"),
    "nan-to-int": lambda: int(float("nan")),
    # IndexError
    "list-index": lambda: [1][5],
    "pop-empty": lambda: [].pop(),
    "string-index": lambda: "Paris"[10],
    "tuple-index": lambda: (1, 2)[5],
    "list-assignment": lambda: operator.setitem([1], 5, 0),
    # KeyError whose key is a wording
    "popitem-empty": lambda: {}.popitem(),
    "set-pop-empty": lambda: set().pop(),
    # AttributeError
    "none-attribute": lambda: _NONE.temp,
    "module-attribute": lambda: math.tau2,
    "type-attribute": lambda: datetime.date.todays,
    # ZeroDivisionError
    "division": lambda: 1 / 0,
    "float-division": lambda: 1.0 / 0,
    "floor-division": lambda: 1 // 0,
    "modulo": lambda: 1 % 0,
    "float-modulo": lambda: 1.0 % 0,
    "float-floor-division": lambda: 1.0 // 0,
    "float-divmod": lambda: divmod(1.0, 0),
    "negative-power": lambda: 0.0**-1,
    # json.JSONDecodeError
    "json-empty": lambda: json.loads(""),
    "json-property-name": lambda: json.loads("{city: 1}"),
    "json-comma": lambda: json.loads('{"city": "Paris" "temp": 21}'),
    "json-colon": lambda: json.loads('{"city" "Paris"}'),
    "json-unterminated": lambda: json.loads('{"city": "Par'),
    "json-extra-data": lambda: json.loads('{"a": 1} {"b": 2}'),
    "json-control-character": lambda: json.loads('"Par\nis"'),
    "json-escape": lambda: json.loads(r'"Par\is"'),
    "json-trailing-comma": lambda: json.loads('{"city": "Paris",}'),
    # RecursionError, OSError, OverflowError, UnicodeError
    "recursion": _recurse,
    "file-not-found": lambda: open(_MISSING_FILE),
    "overflow-power": lambda: 10.0**400,
    "overflow-exp": lambda: math.exp(1000),
    "int-to-float": lambda: float(10**400),
    "unicode-decode": lambda: b"caf\xe9".decode("utf-8"),
    "unicode-encode": lambda: "café".encode("ascii"),
}


def _builtin_cases():
    cases = []
    for name, call in BUILTIN_ERRORS.items():
        try:
            call()
        except Exception as exc:  # noqa: BLE001 - collecting whatever the call raises (RecursionError too)
            cases.append(pytest.param(str(exc), FAILURE, id=f"{name}-bare"))
            cases.append(pytest.param(f"{type(exc).__name__}: {exc}", FAILURE, id=f"{name}-typed"))
        else:
            raise AssertionError(f"{name} did not raise")
    return cases


BUILTIN_CASES = _builtin_cases()

# Wordings of other CPython versions than the one running (each raised on that version): the table
# lists every version's words, so a dataset made on one version reads the same on another.
OTHER_VERSION_WORDINGS = [
    "max() arg is an empty sequence",  # 3.11
    "max() iterable argument is empty",  # 3.12+
    "min() iterable argument is empty",  # 3.12+
    "float modulo",  # up to 3.12
    "float modulo by zero",  # 3.13+
    "string indices must be integers",  # up to 3.10
    "Illegal trailing comma before end of array: line 1 column 3 (char 2)",  # 3.13+ json.loads("[1,]")
    "Expecting property name enclosed in double quotes: line 1 column 18 (char 17)",  # ... before 3.13
]


@pytest.mark.parametrize(("text", "expected"), BUILTIN_CASES)
def test_builtin_exception_messages(text, expected):
    assert classify_feedback(text) == expected, text


@pytest.mark.parametrize("text", OTHER_VERSION_WORDINGS)
def test_builtin_messages_of_other_versions(text):
    assert classify_feedback(text) == FAILURE


@pytest.mark.parametrize(
    "text",
    [
        # The issue's two reproductions, verbatim.
        "'<=' not supported between instances of 'str' and 'int'",
        "list indices must be integers or slices, not str",
    ],
)
def test_issue_reproductions(text):
    assert classify_feedback(text) == FAILURE


def test_builtin_messages_look_as_assumed():
    assert str(_raise(BUILTIN_ERRORS["compare-str-int"])[0]) == (
        "'<=' not supported between instances of 'str' and 'int'"
    )
    assert str(_raise(BUILTIN_ERRORS["list-indices"])[0]) == "list indices must be integers or slices, not str"
    assert str(_raise(BUILTIN_ERRORS["json-empty"])[0]) == "Expecting value: line 1 column 1 (char 0)"
    assert str(_raise(BUILTIN_ERRORS["file-not-found"])[0]) == f"[Errno 2] No such file or directory: {_MISSING_FILE!r}"


def test_bare_key_error_stays_ok():
    # str(KeyError('city')) is "'city'", which a tool that returns a quoted name also writes: a
    # documented limit. With the class name, or a key that is a wording, it is recognised.
    exc = _raise(lambda: {"temp": 21}["city"])[0]
    assert str(exc) == "'city'"
    assert classify_feedback(str(exc)) == OK
    assert classify_feedback(f"{type(exc).__name__}: {exc}") == FAILURE
    assert classify_feedback(str(_raise(BUILTIN_ERRORS["set-pop-empty"])[0])) == FAILURE


def test_file_not_found_is_not_instability():
    # "[Errno 2]" is also how socket errors open; a missing file is the call's fault, not the network's.
    text = str(_raise(BUILTIN_ERRORS["file-not-found"])[0])
    assert text.startswith("[Errno 2] ")
    assert classify_feedback(text) == FAILURE
    assert classify_feedback("[Errno 111] Connection refused") == INSTABILITY


# Realistic tool output that mentions the same words in prose.
HARMLESS_MENTIONS = [
    '[{"title": "Python error handling best practices", "url": "https://realpython.com/python-exceptions/"}, '
    '{"title": "Common error messages explained", "snippet": "TypeError and ValueError are the errors '
    'beginners meet first."}]',
    "Oslo: -3°C, light snow. Road sensors: 2 not found, values out of range: 0.",
    "The temperature is out of range for this sensor model (-40..85 °C); showing the last valid reading, 21 °C.",
    "Division by zero (Wikipedia): in mathematics, division by zero is division where the divisor is zero; "
    "such a division can be formally expressed as a/0.",
    "json.loads tutorial: when the parser says Expecting value, the document is usually empty or starts "
    "with an invalid character.",
    "Extra data: line 2 lists the shipping fees, column 3 the taxes.",
    "No results for 'substring not found'. Did you mean 'substring search'?",
    "The file 'report.pdf' was not found on the server; 12 similar documents were found.",
    "Stock screener: 0 matches. Note: the P/E filter must be a number, not text.",
    "Flight search: 3 results. The return date must be after the departure date, not before it.",
    "Python's default maximum recursion depth is 1000; sys.setrecursionlimit() changes it.",
    "Calculator help: the square root of a negative number gives a math domain error on most "
    "calculators; use complex mode.",
    "Archive search: year 1850 is out of range for this collection (1900-2020); showing 1900 instead.",
    "Stack Overflow (score 512): Why does my dictionary give a KeyError? Check the key with `in` first.",
    '{"city": "Denver", "alerts": ["Values out of range: 0"], "temp_f": 71, "error": null}',
    "Unicode HOWTO: a codec converts between characters and bytes; UTF-8 is the most common encoding.",
    "Inventory: item 3 is not in stock; items 1 and 2 ship today.",
    "Review (4/5): 'The max() function is fine, but the docs could use more examples.'",
    "'city'",  # a quoted name, as a bare KeyError also reads
]


@pytest.mark.parametrize("text", HARMLESS_MENTIONS)
def test_mentions_of_builtin_errors_in_prose_are_ok(text):
    assert classify_feedback(text) == OK


# --- HTTP clients against loopback servers --------------------------------------------------------


class _StatusHandler(http.server.BaseHTTPRequestHandler):
    """GET /503 answers with http.server's own 503 error page."""

    def do_GET(self):  # noqa: N802 - http.server's name
        self.send_error(int(self.path.strip("/")))

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def _serve(target):
    """A listening loopback socket; ``target(sock)`` serves it on a thread, if given."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    if target is not None:
        threading.Thread(target=target, args=(sock,), daemon=True).start()
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


def _hang_up(sock):
    # Read the request, then close without a response.
    with contextlib.suppress(OSError):
        while True:
            conn, _ = sock.accept()
            conn.recv(4096)
            conn.close()


def _closed_port():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def _error_of(call):
    try:
        call()
    except Exception as exc:  # noqa: BLE001
        return exc
    raise AssertionError("the request did not fail")


def _unstable_code(code):
    return code in (408, 429) or code >= 500


STATUS_CODES = [400, 401, 403, 404, 408, 422, 429, 500, 502, 503, 504]


@pytest.fixture(scope="module")
def http_messages():
    """``[(message, category)]`` from real HTTP clients, over loopback only."""
    out = []
    # requests: raise_for_status() on a hand-built Response.
    for code in STATUS_CODES:
        response = requests.models.Response()
        response.status_code = code
        response.reason = http.HTTPStatus(code).phrase
        response.url = "https://api.example.com/v1/weather?city=Paris"
        out.append((str(_error_of(response.raise_for_status)), INSTABILITY if _unstable_code(code) else FAILURE))

    session = requests.Session()
    session.trust_env = False  # no proxy from the environment between us and 127.0.0.1
    client = httpx.Client(trust_env=False, timeout=0.5)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    pool = urllib3.PoolManager()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _StatusHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        for code in STATUS_CODES:
            expected = INSTABILITY if _unstable_code(code) else FAILURE
            url = f"{base}/{code}"
            response = session.get(url, timeout=2)
            out.append((response.text, expected))  # http.server's page: "<p>Error code: 503</p>"
            out.append((str(_error_of(response.raise_for_status)), expected))
            out.append((str(_error_of(client.get(url).raise_for_status)), expected))
            out.append((str(_error_of(lambda url=url: opener.open(url, timeout=2))), expected))
    finally:
        server.shutdown()
        server.server_close()

    def unstable(exc):
        tb = "".join(traceback.format_exception(exc))  # ends "httpx.ReadTimeout: timed out"
        return [(str(exc), INSTABILITY), (f"{type(exc).__name__}: {exc}", INSTABILITY), (tb, INSTABILITY)]

    # Nobody listening: "Max retries exceeded ... Connection refused", "[Errno 111] Connection refused".
    url = f"http://127.0.0.1:{_closed_port()}/"
    out += unstable(_error_of(lambda: session.get(url, timeout=0.5)))
    out += unstable(_error_of(lambda: client.get(url)))
    out += unstable(_error_of(lambda: opener.open(url, timeout=0.5)))
    out += unstable(_error_of(lambda: pool.request("GET", url, retries=urllib3.Retry(0))))
    # Listening, never answering: "Read timed out. (read timeout=0.5)", "timed out".
    with _serve(None) as port:
        url = f"http://127.0.0.1:{port}/"
        out += unstable(_error_of(lambda: session.get(url, timeout=0.5)))
        out += unstable(_error_of(lambda: client.get(url)))
        out += unstable(_error_of(lambda: opener.open(url, timeout=0.5)))
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
            out += unstable(_error_of(lambda: conn.recv(1)))
    # Hanging up: "Remote end closed connection without response", "Server disconnected ...".
    with _serve(_hang_up) as port:
        url = f"http://127.0.0.1:{port}/"
        out += unstable(_error_of(lambda: session.get(url, timeout=2)))
        out += unstable(_error_of(lambda: client.get(url)))
        out += unstable(_error_of(lambda: opener.open(url, timeout=2)))
    client.close()
    session.close()
    return out


def _check(cases):
    wrong = [(text, expected, classify_feedback(text)) for text, expected in cases]
    wrong = [case for case in wrong if case[1] != case[2]]
    assert not wrong, "\n".join(f"{got} (wanted {want}): {text!r}" for text, want, got in wrong)


def test_http_client_errors(http_messages):
    _check(http_messages)


def test_http_messages_look_as_assumed(http_messages):
    texts = [text for text, _ in http_messages]
    assert "400 Client Error: Bad Request for url: https://api.example.com/v1/weather?city=Paris" in texts
    assert "503 Server Error: Service Unavailable for url: https://api.example.com/v1/weather?city=Paris" in texts
    assert "HTTP Error 503: Service Unavailable" in texts
    assert any(t.startswith("Server error '503 Service Unavailable' for url 'http://127.0.0.1:") for t in texts)
    assert any("Max retries exceeded" in t and "Connection refused" in t for t in texts)
    assert any("Read timed out." in t for t in texts)
    assert "timed out" in texts
    assert any("Remote end closed connection without response" in t for t in texts)


WEB_FRAMEWORK_ERRORS = [
    # werkzeug: str() of its HTTP exceptions, as a Flask-backed tool passes them on
    *[(str(exc()), FAILURE) for exc in (wz.BadRequest, wz.Unauthorized, wz.Forbidden, wz.NotFound)],
    *[
        (str(exc()), INSTABILITY)
        for exc in (wz.TooManyRequests, wz.InternalServerError, wz.BadGateway, wz.ServiceUnavailable, wz.GatewayTimeout)
    ],
]


@pytest.mark.parametrize(("text", "expected"), WEB_FRAMEWORK_ERRORS)
def test_werkzeug_errors(text, expected):
    assert classify_feedback(text) == expected


@pytest.fixture(scope="module")
def fastapi_messages():
    from fastapi import FastAPI, HTTPException

    with warnings.catch_warnings():  # Starlette asks for httpx2 here; httpx is what is installed
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    app = FastAPI()

    @app.get("/weather")
    def weather(city: str):
        if city == "Atlantis":
            raise RuntimeError("no station")
        return {"city": city, "forecast": "light rain", "errors": []}

    client = TestClient(app, raise_server_exceptions=False)
    return [
        (str(HTTPException(404)), FAILURE),  # "404: Not Found"
        (str(HTTPException(503)), INSTABILITY),  # "503: Service Unavailable"
        (client.get("/weather").text, MISSING),  # 422: {"detail": [{"msg": "Field required", ...}]}
        (client.get("/weather?city=Atlantis").text, INSTABILITY),  # Starlette's 500 body
        (client.get("/weather?city=Paris").text, OK),
    ]


def test_fastapi_errors(fastapi_messages):
    assert fastapi_messages[2][0].startswith('{"detail":[{"type":"missing"')
    assert fastapi_messages[3][0] == "Internal Server Error"
    _check(fastapi_messages)


# --- verl's own tool loop -------------------------------------------------------------------------


def divide(a, b):
    return {"result": a / b}


@pytest.fixture(scope="module")
def verl_messages():
    """Tool-message texts as verl's ToolAgentLoop._call_tool builds them."""
    from verl.experimental.agent_loop.tool_agent_loop import ToolAgentLoop
    from verl.experimental.agent_loop.tool_parser import FunctionCall
    from verl.tools.function_tool import FunctionTool, get_function_tool
    from verl.tools.schemas import OpenAIFunctionToolSchema

    dead_url = f"http://127.0.0.1:{_closed_port()}/forecast"

    def fetch_forecast(city):
        return requests.get(dead_url, params={"city": city}, timeout=0.5).text

    def tool(fn, *params):
        schema = OpenAIFunctionToolSchema.model_validate(
            {
                "type": "function",
                "function": {
                    "name": fn.__name__,
                    "description": fn.__name__,
                    "parameters": {
                        "type": "object",
                        "properties": {p: {"type": "string"} for p in params},
                        "required": list(params),
                    },
                },
            }
        )
        return FunctionTool(name=fn.__name__, fn=fn, tool_schema=schema)

    tools = {t.name: t for t in (tool(get_weather, "city"), tool(divide, "a", "b"), tool(fetch_forecast, "city"))}
    loop = types.SimpleNamespace(tools=tools, max_tool_response_length=100_000, tool_response_truncate_side="middle")

    def call(name, arguments):
        response, _, _ = asyncio.run(
            ToolAgentLoop._call_tool(loop, FunctionCall(name=name, arguments=arguments), {}, types.SimpleNamespace())
        )
        return response.text

    return [
        (call("get_wether", '{"city": "Paris"}'), TOOL_HALLU),
        (call("get_weather", "{city: Paris}"), FAILURE),
        (call("get_weather", '{"town": "Paris"}'), PARAM_HALLU),
        (call("get_weather", "{}"), MISSING),
        (call("divide", '{"a": 1, "b": 0}'), FAILURE),
        (call("fetch_forecast", '{"city": "Paris"}'), INSTABILITY),
        (call("get_weather", '{"city": "Paris"}'), OK),
        (str(_error_of(lambda: get_function_tool("get_wether"))), TOOL_HALLU),
    ]


def test_verl_tool_loop_messages(verl_messages):
    texts = [text for text, _ in verl_messages]
    assert texts[0] == "Unknown function 'get_wether'. Available tools: ['get_weather', 'divide', 'fetch_forecast']"
    assert texts[4] == "Error executing tool 'divide': division by zero"
    _check(verl_messages)


# --- messages copied from their source --------------------------------------------------------------

_RAPIDAPI_TIMEOUT = (
    "The request to the API has timed out. Please try again later, or if the issue persists, "
    "please contact the API provider"
)
_TOOLBENCH = "ToolBench / StableToolBench server (toolbench/inference/server.py, process_error)"

SOURCED_MESSAGES = [
    # ToolBench's tool server answers {"error": ..., "response": ...}; "error" is "" on success.
    (json.dumps({"error": "", "response": "{'temperature': 21, 'unit': 'C'}"}), OK, _TOOLBENCH),
    (json.dumps({"error": "Timeout error...", "response": ""}), INSTABILITY, _TOOLBENCH),
    (json.dumps({"error": "request invalid, data error. status_code=500", "response": ""}), INSTABILITY, _TOOLBENCH),
    (json.dumps({"error": "request invalid, data error. status_code=404", "response": ""}), FAILURE, _TOOLBENCH),
    (json.dumps({"error": "No such function name: get_wether", "response": ""}), TOOL_HALLU, _TOOLBENCH),
    (str({"error": "No such function name: get_wether", "response": ""}), TOOL_HALLU, _TOOLBENCH + ", as str(dict)"),
    (json.dumps({"error": "Too many requests error...", "response": ""}), INSTABILITY, _TOOLBENCH),
    (json.dumps({"error": "Rate limit per minute error...", "response": ""}), INSTABILITY, _TOOLBENCH),
    (json.dumps({"error": "Rate limit error...", "response": ""}), INSTABILITY, _TOOLBENCH),
    (json.dumps({"error": "API not working error...", "response": ""}), INSTABILITY, _TOOLBENCH),
    (
        json.dumps({"error": "API temporarily not working error...", "response": {"messages": _RAPIDAPI_TIMEOUT}}),
        INSTABILITY,
        _TOOLBENCH,
    ),
    (json.dumps({"error": "Gateway error...", "response": ""}), INSTABILITY, _TOOLBENCH),
    (json.dumps({"error": "Unauthorized error...", "response": ""}), FAILURE, _TOOLBENCH),
    (json.dumps({"error": "Unsubscribed error...", "response": ""}), FAILURE, _TOOLBENCH),
    # "Message error..." only means the word "error" occurs in the answer; the answer decides.
    (json.dumps({"error": "Message error...", "response": "{'message': 'Error: invalid city'}"}), OTHER, _TOOLBENCH),
    (
        json.dumps({"error": "Message error...", "response": "Error bars show the standard error of the mean."}),
        OK,
        _TOOLBENCH,
    ),
    # RapidAPI's gateway timeout, nested in a ToolBench response with no error set
    (json.dumps({"error": "", "response": str({"messages": _RAPIDAPI_TIMEOUT})}), INSTABILITY, "RapidAPI gateway"),
    # Strings in TL-Training's released MAE filter list (code/mae/mae.py)
    ("Invalid API call", FAILURE, "TL-Training mae.py list"),
    ("connection error", INSTABILITY, "TL-Training mae.py list"),
    ("Object of type SerpResults is not JSON serializable", FAILURE, "TL-Training mae.py list"),
    # API error bodies
    (
        json.dumps(
            {
                "error": {
                    "message": "Rate limit reached for gpt-4o in organization org-x on tokens per min (TPM): "
                    "Limit 30000, Used 30000, Requested 1200. Please try again in 2.4s.",
                    "type": "tokens",
                    "param": None,
                    "code": "rate_limit_exceeded",
                }
            }
        ),
        INSTABILITY,
        "OpenAI API 429 body",
    ),
    ("You exceeded your current quota, please check your plan and billing details.", INSTABILITY, "OpenAI API 429"),
    (
        json.dumps(
            {
                "error": {
                    "message": "Missing required parameter: 'messages'.",
                    "type": "invalid_request_error",
                    "param": "messages",
                    "code": "missing_required_parameter",
                }
            }
        ),
        MISSING,
        "OpenAI API 400 body",
    ),
    (
        json.dumps(
            {
                "error": {
                    "message": "Invalid 'messages': empty array.",
                    "type": "invalid_request_error",
                    "param": "messages",
                    "code": "empty_array",
                }
            }
        ),
        FAILURE,
        "OpenAI API 400 body",
    ),
    (
        json.dumps(
            {
                "error": {
                    "code": 429,
                    "message": "Quota exceeded for quota metric 'Queries' and limit 'Queries per "
                    "minute' of service 'youtube.googleapis.com'.",
                    "status": "RESOURCE_EXHAUSTED",
                }
            }
        ),
        INSTABILITY,
        "Google API 429 body",
    ),
    (
        json.dumps(
            {"error": {"code": 503, "message": "The service is currently unavailable.", "status": "UNAVAILABLE"}}
        ),
        INSTABILITY,
        "Google API 503 body",
    ),
    (
        json.dumps({"error": {"code": 404, "message": "Requested entity was not found.", "status": "NOT_FOUND"}}),
        FAILURE,
        "Google API 404 body",
    ),
    (json.dumps({"message": "Internal server error"}), INSTABILITY, "AWS API Gateway 500 body"),
    (
        json.dumps({"errors": [{"message": 'Cannot query field "tmp" on type "Weather".'}], "data": None}),
        FAILURE,
        "GraphQL error response",
    ),
    (json.dumps({"status": "error", "message": "Unable to communicate with database"}), FAILURE, "JSend error"),
    (
        "<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n<center><h1>503 "
        "Service Temporarily Unavailable</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n",
        INSTABILITY,
        "nginx 503 page",
    ),
    # Tool dispatchers
    ("Unknown tool: get_wether", TOOL_HALLU, "MCP-style dispatchers: ToolError(f'Unknown tool: {name}')"),
    ("Tool 'get_wether' does not exist", TOOL_HALLU, "Zed agent: anyhow!(\"Tool '{}' does not exist\", name)"),
    ("Error: tool 'get_wether' does not exist", TOOL_HALLU, "format!(\"Error: tool '{}' does not exist\", name)"),
    ("Tool get_wether does not exist", TOOL_HALLU, "unquoted dispatcher message"),
    # Generic failures
    ("Error: City 'Atlantis' not found.", OTHER, "tools that prefix failures with 'Error:'"),
    ("An error occurred while processing your request.", OTHER, "generic web API error"),
    ("Something went wrong. Please try again later.", OTHER, "generic web API error"),
    (
        logging.Formatter(logging.BASIC_FORMAT).format(
            logging.makeLogRecord({"levelname": "ERROR", "name": "root", "msg": "weather backend down"})
        ),
        OTHER,
        "logging.basicConfig's format: 'ERROR:root:weather backend down'",
    ),
]


@pytest.mark.parametrize(("text", "expected", "source"), SOURCED_MESSAGES, ids=lambda v: None)
def test_sourced_messages(text, expected, source):
    assert classify_feedback(text) == expected, f"{source}: {text!r}"


# --- harmless text stays ok -----------------------------------------------------------------------

HARMLESS = [
    "Error bars in plots show one standard deviation around the mean (Smith et al., 2019).",
    '{"result": "no errors found", "error_count": 0}',
    '{"error": null, "data": {"city": "Paris", "temp_c": 21}}',
    '{"error": ""}',
    '{"errors": [], "data": {"weather": {"temp": 21}}}',
    '{"error": false, "warnings": ["stale cache"]}',
    '{"error": {"code": 0, "message": ""}, "result": [1, 2]}',
    "Paris: 21°C, light rain. Note: the station reported a sensor timeout at 06:00; readings since 06:10 are normal.",
    "AAPL last traded at 500.3 USD, up 1.2%; volume 40.0M.",
    "The 404 Not Found page of the museum's website became an exhibit in 2019.",
    "Standard error: 0.05\nMargin of error: ±3%\nFailed: 0, passed: 12\nError: 0.2%",
    "The rocket launch failed after 30 seconds, officials said.",
    "Python tutorial: the raise statement throws an exception; a ValueError signals a bad value.",
    'Found 400 results for "error correcting codes".',
    '[{"title": "Error: Unable to connect (song)", "snippet": "A 2014 single by the band Timeout."}]',
    "timeout: 30\nretries: 3\nconnectTimeout: 10",
    "Flight BA117 status: delayed; the gate error was corrected at 14:05.",
    "Exception handling in Rust uses Result<T, E> instead of exceptions.",
    "HTTP/2 adoption reached 35% of websites; 429 sites still serve HTTP/1.0.",
    "The API returned 200 OK with 500 items.",
    "",
    "   \n\t",
]


@pytest.mark.parametrize("text", HARMLESS)
def test_harmless_text_is_ok(text):
    assert classify_feedback(text) == OK


# --- the table --------------------------------------------------------------------------------------


def test_categories():
    assert FEEDBACK_CATEGORIES is categories.FEEDBACK_CATEGORIES  # one home: reward_fns.categories
    assert FEEDBACK_CATEGORIES[0] == "ok"
    assert ERROR_CATEGORIES == FEEDBACK_CATEGORIES[1:]
    assert set(FEEDBACK_CATEGORIES) == {OK, INSTABILITY, FAILURE, TOOL_HALLU, PARAM_HALLU, MISSING, OTHER}


def test_table_shape_and_priority():
    order = [PARAM_HALLU, MISSING, TOOL_HALLU, INSTABILITY, FAILURE, OTHER]
    ranks = [order.index(category) for category, _, _ in FEEDBACK_PATTERNS]
    assert ranks == sorted(ranks), "rows must run specific categories, then instability, failure, other"
    assert set(ranks) == set(range(len(order))), "every error category has a row"
    for category, pattern, source in FEEDBACK_PATTERNS:
        assert category in ERROR_CATEGORIES
        assert hasattr(pattern, "search")
        assert isinstance(source, str) and source


def _matched_texts(text):
    """What the table is run on: the text, or for a JSON / dict-literal payload its strings."""
    stripped = text.strip()
    if not (stripped[:1] in ("{", "[") and stripped[-1:] in ("}", "]")):
        return [text]
    try:
        payload = json.loads(stripped)
    except ValueError:
        payload = ast.literal_eval(stripped)
    strings, stack = [], [payload]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, str):
            strings.extend(_matched_texts(node) if node.strip()[:1] in ("{", "[") else [node])
    return strings


def test_every_row_decides_some_real_message(http_messages, verl_messages, fastapi_messages):
    texts = [p.values[0] for p in PYTHON_CASES + BUILTIN_CASES] + [t for t, _, _ in SOURCED_MESSAGES]
    texts += [t for t, _ in http_messages + verl_messages + fastapi_messages + WEB_FRAMEWORK_ERRORS + OTHER_MESSAGES]
    deciding = set()
    for text in (m for t in texts for m in _matched_texts(t)):
        first = next((i for i, (_, pattern, _) in enumerate(FEEDBACK_PATTERNS) if pattern.search(text)), None)
        deciding.add(first)
    unexercised = [
        (i, rule.category, rule.pattern.pattern) for i, rule in enumerate(FEEDBACK_PATTERNS) if i not in deciding
    ]
    assert not unexercised, unexercised


# --- inputs of every kind -----------------------------------------------------------------------------


class _BrokenStr:
    def __str__(self):
        raise RuntimeError("no str")


def test_non_string_inputs():
    assert classify_feedback(None) == OK
    assert classify_feedback(b"HTTP Error 503: Service Unavailable") == INSTABILITY
    assert classify_feedback(bytearray(b"name 'x' is not defined")) == TOOL_HALLU
    assert classify_feedback(b"\xff\xfe Connection refused at line start? no: \xff") in FEEDBACK_CATEGORIES
    assert classify_feedback({"error": "Timeout error...", "response": ""}) == INSTABILITY
    assert classify_feedback({"error": None, "result": 3}) == OK
    assert classify_feedback([{"message": "Internal server error"}]) == INSTABILITY
    assert classify_feedback(42) == OK
    assert classify_feedback(_BrokenStr()) in FEEDBACK_CATEGORIES
    looped = {"error": "x"}
    looped["self"] = looped
    assert classify_feedback(looped) == FAILURE


def test_deep_nesting_does_not_raise():
    deep = []
    for _ in range(20_000):
        deep = [deep]
    assert classify_feedback(deep) == OK
    assert classify_feedback("[" * 100_000 + "]" * 100_000) == OK
    assert classify_feedback('{"a": ' * 5_000 + "1" + "}" * 5_000) == OK
    assert classify_feedback("{" + "'error': " * 1000 + "}") in FEEDBACK_CATEGORIES


HOSTILE = {
    "Error": "Error" * 200_000,
    "missing": "missing " * 200_000,
    "Timeout": "Timeout" * 150_000,
    "dotted": "a." * 500_000,
    "name-quote": "name '" * 170_000,
    "tool-quote": "tool '" * 170_000,
    "errno": "[Errno 1] " * 100_000,
    "status": "status code " * 90_000,
    "newlines": "\n" * 1_000_000,
    "Error-lines": "Error\n" * 170_000,
    "exception-prefix": "ErrorError: " * 90_000,
    "braces": "{" * 1_000_000,
    "json-errors": '{"error": ' * 100_000,
    "python-dict": "{'error': '" + "Error" * 200_000 + "'}",
    "takes": "takes 1 " * 120_000,
    "time-data": "time data '" * 100_000,
    "must-be": "must be a string, " * 60_000,
    "not-in-list": "' is not in list x" * 60_000,
    "json-position": "Expecting value: line 1 column " * 35_000,
    "rate": "rate limit " * 100_000,
}


@pytest.mark.slow  # about 20 megabyte inputs, 15 s together: CI runs them, the fast loop does not
@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_megabyte_inputs_return(text):
    # Linear-time patterns: each of these finishes in about a second. No timing is asserted.
    assert classify_feedback(text) in FEEDBACK_CATEGORIES


_FRAGMENTS = (
    [text for text, _, _ in SOURCED_MESSAGES]
    + HARMLESS
    + [
        "Traceback (most recent call last):\n",
        "KeyError: ",
        "name '",
        "' is not defined",
        "missing ",
        " required ",
        "429",
        "503 ",
        "Client Error",
        "HTTP Error ",
        "status_code=",
        "{",
        "}",
        "[",
        "]",
        '"error": ',
        "'",
        '"',
        "\n",
        "Error",
        ": ",
        "timed out",
        "Timeout",
        "Connection refused",
        "[Errno 111] ",
        "Tool ",
        " does not exist",
    ]
)


@settings(max_examples=examples(300), deadline=None)
@given(st.text())
def test_any_text_gets_a_category(text):
    assert classify_feedback(text) in FEEDBACK_CATEGORIES


@settings(max_examples=examples(300), deadline=None)
@given(st.lists(st.one_of(st.sampled_from(_FRAGMENTS), st.text(max_size=8)), max_size=30))
def test_any_mix_of_message_fragments_gets_a_category(parts):
    assert classify_feedback("".join(parts)) in FEEDBACK_CATEGORIES


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=examples(300), deadline=None)
@given(st.one_of(_JSON, st.dictionaries(st.sampled_from(["error", "errors", "status", "code", "message"]), _JSON)))
def test_any_payload_gets_a_category(payload):
    assert classify_feedback(payload) in FEEDBACK_CATEGORIES
    assert classify_feedback(json.dumps(payload)) in FEEDBACK_CATEGORIES
    assert classify_feedback(repr(payload)) in FEEDBACK_CATEGORIES


@settings(max_examples=examples(200), deadline=None)
@given(st.one_of(st.none(), st.binary(), st.integers(), st.floats(), st.tuples(st.text()), st.sets(st.integers())))
def test_any_value_gets_a_category(value):
    assert classify_feedback(value) in FEEDBACK_CATEGORIES


# --- summary --------------------------------------------------------------------------------------------


def test_summarize():
    counts = summarize(classify_feedback(t) for t in ["timed out", "Invalid API call", "fine", "HTTP Error 500: x"])
    assert list(counts) == list(FEEDBACK_CATEGORIES)
    assert counts == {OK: 1, INSTABILITY: 2, FAILURE: 1, TOOL_HALLU: 0, PARAM_HALLU: 0, MISSING: 0, OTHER: 0}
    assert summarize([]) == dict.fromkeys(FEEDBACK_CATEGORIES, 0)
    with pytest.raises(ValueError, match="unknown feedback category"):
        summarize(["ok", "timeout"])
    # spellings from before reward_fns.categories count under their names
    assert summarize(["parameter_missing", "other"])[MISSING] == summarize(["parameter_missing", "other"])[OTHER] == 1


def test_module_doctests():
    # pytest's testpaths leave data_transforms/ out, so its examples are run from here.
    import data_transforms.tool_feedback as module

    result = doctest.testmod(module)
    assert result.attempted >= 5 and result.failed == 0


def test_module_does_not_import_verl():
    code = "import sys, data_transforms.tool_feedback; print(any(m.split('.')[0] == 'verl' for m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
