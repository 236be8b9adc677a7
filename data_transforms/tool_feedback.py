"""Classify a tool's feedback for MAE (TL-Training's "masking erroneous interactions").

MAE drops or masks the assistant turns whose tool call came back with an error, so that training
does not learn from broken interactions. :func:`classify_feedback` reads the text a tool returned
(the ``tool`` message content) and names what went wrong:

- ``ok``: no error.
- ``tool_instability``: the environment failed, not the call: refused or reset connections,
  timeouts, HTTP 408 / 429 / 5xx, rate limits and quotas.
- ``tool_call_failure``: the call ran and raised, or the service rejected it: Python exceptions
  (``ValueError: ...`` lines, tracebacks, TypeErrors other than the argument ones below, and the
  built-in exceptions' ``str(exc)`` without the class name, as tools often return it:
  ``list indices must be integers or slices, not str``, ``Expecting value: line 1 column 1 (char 0)``),
  HTTP 4xx, invalid arguments, and JSON results with a non-empty top-level ``"error"``.
- ``tool_hallucination``: the called tool does not exist (``NameError``, ``Unknown tool: x``).
- ``param_hallucination``: an argument the tool does not have
  (``got an unexpected keyword argument``).
- ``param_missing``: a required argument was left out.
- ``other_error``: the text reads as an error (``Error: ...``, a truncated ``Traceback``) but no rule
  says which kind.

Rules are regular expressions in one table, :data:`FEEDBACK_PATTERNS`, tried in a fixed order; the
first rule that matches anywhere in the text decides. The specific categories come first because
their messages are often wrapped in a more general one (``TypeError: f() missing 1 required
positional argument`` is also a ``SomethingError:`` line). Each pattern is anchored on how a real
message is shaped (start of a line, a library's exact wording, an HTTP status next to its phrase)
so that ordinary text that merely contains "error", "failed", "timeout" or "404" stays ``ok``;
TL-Training's released filter flags any text containing the word "error".

Text that is a JSON object or array (or a Python ``repr`` of one, as ``str(dict)`` tools return)
is parsed rather than matched: a non-empty top-level ``error`` / ``errors`` / ``exception`` value
(or a JSend ``"status": "error"``) marks an error, whose kind the table then picks from the
payload's strings (integer ``code`` / ``status`` fields count as HTTP statuses), falling back to
``tool_call_failure``. Without such a key only message-like fields (``message``, ``detail``,
``msg``, ...) and payloads nested in strings are read, so ``{"error": ""}``,
``{"error_count": 0}`` and a search hit titled "Error: ..." are ``ok``.

Limits: rules read shapes, not intent. A line that looks like an exception (a search hit titled
``TypeError: 'NoneType' object is not subscriptable``) is classified as one, and an error that
says nothing recognisable is ``ok``: ``str(KeyError('city'))`` is just ``'city'``, which a tool
returning a quoted name also writes (a KeyError whose key is a wording, ``'pop from an empty set'``,
is recognised). Bare built-in messages are matched on CPython's exact wording (3.11 to 3.13, every
version's wording where they differ), so a message reworded by another version or raised by a
library in its own words needs the class-name prefix to be seen. The shortest wordings
(``division by zero``, ``math domain error``, ``substring not found``, ``empty separator``) count
only as the whole text, JSON decoding errors only with their ``: line N column N (char N)`` tail,
so prose that mentions them stays ``ok``.

>>> classify_feedback("get_weather() got an unexpected keyword argument 'town'")
'param_hallucination'
>>> classify_feedback("503 Server Error: Service Unavailable for url: https://api.example.com/v1")
'tool_instability'
>>> classify_feedback("'<=' not supported between instances of 'str' and 'int'")
'tool_call_failure'
>>> classify_feedback('{"result": "no errors found", "error_count": 0}')
'ok'
>>> classify_feedback('{"error": "No such function name: get_wether", "response": ""}')
'tool_hallucination'
>>> summarize(["ok", "ok", "tool_instability"])["ok"]
2

Every pattern runs in time linear in the text (each variable-length part is either bounded or
starts right after a literal or a line start, so no position is rescanned more than a constant
number of times), so whole texts are scanned with no length cap.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterable, Iterator
from http import HTTPStatus
from typing import Any, NamedTuple

from reward_fns.categories import (
    FEEDBACK_CATEGORIES,
    FEEDBACK_ERRORS,
    OK,
    OTHER_ERROR,
    PARAM_HALLUCINATION,
    PARAM_MISSING,
    TOOL_CALL_FAILURE,
    TOOL_HALLUCINATION,
    TOOL_INSTABILITY,
    canonical_category,
)

__all__ = [
    "ERROR_CATEGORIES",
    "FEEDBACK_CATEGORIES",
    "FEEDBACK_PATTERNS",
    "FeedbackRule",
    "classify_feedback",
    "summarize",
]

# The names are reward_fns.categories' (one spelling for the classifier, the reward and reports).
ERROR_CATEGORIES = FEEDBACK_ERRORS

_I = re.IGNORECASE
_M = re.MULTILINE


def _phrases(codes: Iterable[int], extra: Iterable[str] = ()) -> str:
    """Alternation of the stdlib's HTTP reason phrases for ``codes``, longest first."""
    names = {HTTPStatus(code).phrase for code in codes} | set(extra)
    return "|".join(re.escape(name) for name in sorted(names, key=len, reverse=True))


# 408 and 429 are the server asking us to wait, like 5xx: instability, not a bad call.
_UNSTABLE_CODE = r"(?:408|429|5\d\d)"
_NGINX_PHRASES = ("Service Temporarily Unavailable", "Gateway Time-out")  # nginx's 503 / 504 pages
_UNSTABLE_PHRASE = _phrases([s for s in HTTPStatus if s in (408, 429) or s >= 500], _NGINX_PHRASES)
# Phrases that mean instability even without a status code next to them.
_UNSTABLE_BARE_PHRASE = _phrases([429, 500, 502, 503, 504], _NGINX_PHRASES)
_CLIENT_CODE = r"4\d\d"  # tried after the unstable rows, so 408 / 429 are already taken
_CLIENT_PHRASE = _phrases(s for s in HTTPStatus if 400 <= s < 500)
# Built-in type names as CPython writes them unquoted after "not" ("must be str, not int").
_PY_TYPE = r"(?:str|bytes|bytearray|int|float|complex|bool|list|tuple|dict|set|frozenset|NoneType|range|type|object)"


class FeedbackRule(NamedTuple):
    """One row of :data:`FEEDBACK_PATTERNS`."""

    category: str
    pattern: re.Pattern
    source: str  # where the real message comes from


_Row = tuple[str, re.Pattern, str]  # a FeedbackRule as written in the table below


def _each(heads: Iterable[str], tail: str) -> str:
    """``head + tail`` for every head, as alternatives: each opens on a literal, which ``re`` tests fast."""
    return "|".join(head + tail for head in heads)


def _http_rows(category: str, code: str, phrase: str) -> tuple[_Row, ...]:
    """The five shapes an HTTP error status takes in a message, for one class of status codes."""
    return (
        (
            category,
            re.compile(rf"\b{code} (?:Client|Server) Error\b"),
            "requests raise_for_status(): '503 Server Error: Service Unavailable for url: ...'",
        ),
        (
            category,
            re.compile(rf"(?:Client|Server) error '{code}\b"),
            "httpx raise_for_status(): \"Server error '503 Service Unavailable' for url '...'\"",
        ),
        (
            category,
            re.compile(rf"HTTP Error {code}\b"),
            "urllib.error.HTTPError: 'HTTP Error 503: Service Unavailable'",
        ),
        (
            category,
            re.compile(rf"\b(?:status[ _-]?code\b[ \t]*[:=]?|error code:|HTTP(?:/\d(?:\.\d)?)?)[ \t]*{code}\b", _I),
            "'status code 503', ToolBench 'status_code=503', http.server page 'Error code: 503', 'HTTP/1.1 503'",
        ),
        # Only at a line start: "The 404 Not Found page of the museum" is prose, not a response.
        (
            category,
            re.compile(rf"^[ \t]*(?:<\w+>[ \t]*){{0,3}}(?:error:?[ \t]*)?{code}:?[ \t]+(?:{phrase})\b", _I | _M),
            "status line: werkzeug '503 Service Unavailable: ...', FastAPI HTTPException '503: Service "
            "Unavailable', nginx '<head><title>503 Service Temporarily Unavailable</title>'",
        ),
    )


_RULES: tuple[_Row, ...] = (
    # --- param_hallucination -------------------------------------------------------------------
    (
        PARAM_HALLUCINATION,
        re.compile(r"got an unexpected keyword argument"),
        "CPython TypeError, inspect.Signature.bind: \"f() got an unexpected keyword argument 'town'\"",
    ),
    (
        PARAM_HALLUCINATION,
        re.compile(r"Additional properties are not allowed \("),
        "jsonschema additionalProperties: \"Additional properties are not allowed ('town' was unexpected)\"",
    ),
    (
        PARAM_HALLUCINATION,
        re.compile(r"Extra inputs are not permitted|extra fields not permitted"),
        "pydantic v2 'Extra inputs are not permitted [type=extra_forbidden', v1 'extra fields not permitted'",
    ),
    (
        PARAM_HALLUCINATION,
        re.compile(r"unrecognized arguments:"),
        "argparse: 'unrecognized arguments: --town Paris'",
    ),
    # --- param_missing -------------------------------------------------------------------------
    (
        PARAM_MISSING,
        re.compile(r"missing \d+ required (?:positional|keyword-only) argument"),
        "CPython TypeError: \"f() missing 1 required positional argument: 'city'\"",
    ),
    (
        PARAM_MISSING,
        re.compile(r"missing a required (?:keyword-only )?argument"),
        "inspect.Signature.bind: \"missing a required argument: 'city'\"",
    ),
    (
        PARAM_MISSING,
        re.compile(r"missing required (?:parameter|argument|field|property|key)", _I),
        "web APIs: \"Missing required parameter: 'messages'.\"",
    ),
    (
        PARAM_MISSING,
        re.compile(r"' is a required property"),
        "jsonschema required: \"'city' is a required property\"",
    ),
    (
        PARAM_MISSING,
        re.compile(r"the following arguments are required:"),
        "argparse: 'the following arguments are required: --city'",
    ),
    (
        PARAM_MISSING,
        re.compile(
            r"Field required \[type=missing\b|field required \(type=value_error\.missing\)"
            r"|^[ \t]*Field required[ \t]*$",
            _M,
        ),
        "pydantic v2 'Field required [type=missing, ...', v1 'field required (type=value_error.missing)', "
        'FastAPI 422 body {"detail": [{"msg": "Field required", ...}]}',
    ),
    # --- tool_hallucination --------------------------------------------------------------------
    (
        TOOL_HALLUCINATION,
        re.compile(r"\bname '[\w.]+' is not defined\b"),
        "CPython NameError: \"name 'get_wether' is not defined\"",
    ),
    (
        TOOL_HALLUCINATION,
        re.compile(r"\bunknown (?:tool|function)(?: name)?[ \t]*[:'\"`(]", _I),
        "verl ToolAgentLoop \"Unknown function 'x'. Available tools: [...]\", dispatchers 'Unknown tool: x'",
    ),
    (
        TOOL_HALLUCINATION,
        re.compile(r"\bno such (?:tool|function)(?: name)?[ \t]*[:'\"`]", _I),
        "ToolBench server 'No such function name: x', sqlite3 'no such function: x'",
    ),
    (
        TOOL_HALLUCINATION,
        re.compile(
            r"\b(?:tool|function) (['\"`])[^'\"`\n]{1,200}\1 "
            r"(?:(?:is )?not found|does(?: not|n't) exist|is not (?:available|registered))\b",
            _I,
        ),
        "verl \"Function tool 'x' not found in registry\", agent loops \"Tool 'x' does not exist\"",
    ),
    (
        TOOL_HALLUCINATION,
        re.compile(
            r"^[ \t]*(?:error:[ \t]*)?(?:tool|function) [\w.-]{1,200} "
            r"(?:(?:is )?not found|does(?: not|n't) exist)\b",
            _I | _M,
        ),
        "the same unquoted, at a line start: 'Tool get_wether does not exist'",
    ),
    # --- tool_instability ----------------------------------------------------------------------
    (
        TOOL_INSTABILITY,
        re.compile(r"Max retries exceeded"),
        "urllib3 MaxRetryError, also in requests.ConnectionError: '... Max retries exceeded with url: / ...'",
    ),
    (
        TOOL_INSTABILITY,
        re.compile(
            r"(?:\[(?:Errno|WinError) ?-?\d+\][ \t]*|^[ \t]*(?:[A-Za-z_][\w.]*:[ \t]*)?)"
            r"(?:Connection (?:refused|reset by peer|aborted|timed out)|No route to host|Network is unreachable"
            r"|Name or service not known|Temporary failure in name resolution"
            r"|No connection could be made because the target machine actively refused it)",
            _I | _M,
        ),
        "OS socket errors after '[Errno N]' or opening a line: httpx '[Errno 111] Connection refused', "
        "urllib '<urlopen error [Errno 111] Connection refused>'",
    ),
    (
        TOOL_INSTABILITY,
        re.compile(
            r"\b(?:Remote end closed connection without response|Server disconnected without sending a response"
            r"|Failed to establish a new connection|Connection aborted\.)"
        ),
        "http.client RemoteDisconnected in requests \"('Connection aborted.', ...)\", httpx RemoteProtocolError, "
        "urllib3 NewConnectionError",
    ),
    (
        TOOL_INSTABILITY,
        re.compile(r"Read timed out\b|\((?:read|connect|total) timeout="),
        "urllib3 / requests: 'Read timed out. (read timeout=0.5)', '(connect timeout=0.5)'",
    ),
    # The bare word is a timeout only as the whole message: "the sensor timeout was reset" is data.
    (
        TOOL_INSTABILITY,
        re.compile(r"\A\s*(?:[A-Za-z_][\w.]*:[ \t]*)?(?:timed out|time-?out(?: error)?)[.!]*\s*\Z", _I),
        "the whole text: socket / httpx 'timed out', 'TimeoutError: timed out', ToolBench 'Timeout error...'",
    ),
    (
        TOOL_INSTABILITY,
        re.compile(r"\b(?:request|connection|operation)(?: to the API)? (?:has |had )?timed out\b", _I),
        "RapidAPI gateway (ToolBench data) 'The request to the API has timed out.', 'The operation timed out'",
    ),
    # Case-sensitive: exception classes are CamelCase, config keys like "connectTimeout: 30" are not.
    (
        TOOL_INSTABILITY,
        re.compile(
            r"^[ \t]*(?:[A-Za-z_]\w*\.)*(?:[A-Z]\w*Timeout(?:Error|Exception)?|Timeout(?:Error|Exception)"
            r"|Connect(?:ion)?(?:Refused|Reset|Aborted)?Error|RemoteDisconnected|MaxRetryError"
            r"|NewConnectionError|RemoteProtocolError|ServerDisconnectedError|ClientConnectorError"
            r"|APIConnectionError|APITimeoutError|RateLimitError|ServiceUnavailableError"
            r"|TooManyRequests(?:Error|Exception)?)[ \t]*:",
            _M,
        ),
        "a network exception class opening a line ('ConnectError: ...', 'requests.exceptions.ReadTimeout: "
        "...'): builtins, requests, httpx, urllib3, aiohttp, openai",
    ),
    (
        TOOL_INSTABILITY,
        re.compile(
            r"\brate[ _-]?limits?(?: per (?:second|minute|hour|day))?[ _-]?"
            r"(?:(?:has been |was )?(?:exceeded|reached)|error)\b"
            r"|\bexceeded your current quota\b|\bquota exceeded\b|\bRESOURCE_EXHAUSTED\b",
            _I,
        ),
        "OpenAI 'Rate limit reached for ...' / 'rate_limit_exceeded', ToolBench 'Rate limit per minute "
        "error...', Google 'Quota exceeded' / RESOURCE_EXHAUSTED",
    ),
    (
        TOOL_INSTABILITY,
        re.compile(rf"^[ \t]*(?:<\w+>[ \t]*){{0,3}}(?:error:?[ \t]*)?(?:{_UNSTABLE_BARE_PHRASE})\b", _I | _M),
        "a reason phrase alone opening a line: Starlette's 500 body 'Internal Server Error', ToolBench "
        "'Too many requests error...'",
    ),
    (
        TOOL_INSTABILITY,
        re.compile(r"^[ \t]*(?:error:[ \t]*)?(?:network|connection) error\b", _I | _M),
        "'connection error' (in TL-Training's released filter list)",
    ),
    (
        TOOL_INSTABILITY,
        re.compile(r"\bAPI (?:temporarily )?not working error\b|^[ \t]*Gateway error\.\.\.", _M),
        "ToolBench server 'API not working error...', 'API temporarily not working error...', 'Gateway error...' "
        "(the RapidAPI endpoint or gateway is down)",
    ),
    *_http_rows(TOOL_INSTABILITY, _UNSTABLE_CODE, _UNSTABLE_PHRASE),
    # --- tool_call_failure ---------------------------------------------------------------------
    *_http_rows(TOOL_CALL_FAILURE, _CLIENT_CODE, _CLIENT_PHRASE),
    (
        TOOL_CALL_FAILURE,
        re.compile(r"not JSON serializable"),
        "json.dumps TypeError: 'Object of type SerpResults is not JSON serializable' (TL-Training's list)",
    ),
    (
        TOOL_CALL_FAILURE,
        re.compile(r"slice indices must be integers"),
        "CPython TypeError: 'slice indices must be integers or None or have an __index__ method'",
    ),
    (
        TOOL_CALL_FAILURE,
        re.compile(r"Invalid API call", _I),
        "'Invalid API call' (in TL-Training's released filter list)",
    ),
    (
        TOOL_CALL_FAILURE,
        re.compile(r"Error executing tool '"),
        "verl ToolAgentLoop when the tool raised: \"Error executing tool 'x': <exception>\"",
    ),
    (
        TOOL_CALL_FAILURE,
        re.compile(r"Invalid JSON in arguments for '"),
        "verl ToolAgentLoop: \"Invalid JSON in arguments for 'x': Expecting property name ...\"",
    ),
    (
        TOOL_CALL_FAILURE,
        re.compile(
            r"Failed validating '\w+' in\b|is not of type '|is not one of \["
            r"|is not valid under any of the given schemas"
        ),
        "jsonschema's other validators: \"1 is not of type 'string'\", \"Failed validating 'type' in schema\"",
    ),
    (
        TOOL_CALL_FAILURE,
        re.compile(r"\b\d+ validation errors? for\b"),
        "pydantic ValidationError: '1 validation error for Args'",
    ),
    (
        TOOL_CALL_FAILURE,
        re.compile(
            r"takes (?:from \d+ to )?\d+ positional arguments? but \d+ (?:was|were) given"
            r"|got multiple values for (?:keyword )?argument|unsupported operand type\(s\) for"
            r"|object is not (?:subscriptable|iterable|callable)|can only concatenate \w+ \(not \"\w+\"\) to"
        ),
        'CPython TypeError text without the class name: "f() takes 1 positional argument but 2 were given"',
    ),
    # CPython's built-in exception texts, as tools pass them on with str(exc), without the class name
    # ("TypeError: ..." lines are also taken by the class-name row below). Wordings checked on 3.11 to
    # 3.13; where a version reworded a message, every wording is listed. Alternatives are spelled out
    # (_each) so that each opens on a literal, which keeps these rows cheap on long ordinary text.
    (
        TOOL_CALL_FAILURE,
        re.compile(
            r"'(?:[<>]=?|==|!=)' not supported between instances of '|indices must be integers"
            r"|unhashable type: '|argument of type '[\w.]+' is not iterable"
            r"|object of type '[\w.]+' has no len\(\)|can't multiply sequence by non-int of type '"
            r"|bad operand type for unary [-+~]: '|bad operand type for abs\(\): '"
            r"|' object (?:does not|doesn't) support item (?:assignment|deletion)"
            r"|' object cannot be interpreted as an integer|type [\w.]+ doesn't define __\w+__ method"
            r"|cannot unpack non-iterable [\w.]+ object|can't concat \w+ to \w+"
            r"|sequence item \d+: expected (?:str instance|a bytes-like object), [\w.]+ found"
        ),
        "CPython TypeError text without the class name: \"'<=' not supported between instances of 'str' and "
        "'int'\", 'list indices must be integers or slices, not str', \"unhashable type: 'list'\"",
    ),
    # "must be X, not Y" only with a type after "not": "must be a string, not a number" is prose.
    (
        TOOL_CALL_FAILURE,
        re.compile(
            rf"must be (?:an? )?(?:str|bytes|int|float|bool|list|tuple|dict|string|integer|real number"
            rf"|number|bytes-like object)\b[^\n]{{0,80}}?, not (?:'[\w.]+'|{_PY_TYPE}\b)"
            r"|a bytes-like object is required, not '|expected str, bytes or os\.PathLike object, not "
            r"|not all arguments converted during (?:string|bytes) formatting"
            r"|not enough arguments for format string|unsupported format string passed to [\w.]+\.__format__"
        ),
        "CPython TypeError for an argument of the wrong type: 'must be str, not int', \"int() argument must "
        "be a string, a bytes-like object or a real number, not 'NoneType'\", '%'-formatting, format()",
    ),
    (
        TOOL_CALL_FAILURE,
        re.compile(
            r"object has no attribute '|module '[\w.]+' has no attribute '|type object '[\w.]+' has no attribute '|"
            + _each(
                ("list", "tuple", "string", "range object", "bytearray", "deque", "pop", "list assignment"),
                " index out of range",
            )
            + r"|pop from empty list|pop from an empty (?:deque|set)\b|popitem\(\): dictionary is empty"
            r"|invalid literal for \w+\(\) with base \d+|could not convert string to float"
            r"|cannot convert float (?:NaN|infinity) to integer"
            r"|integer division or modulo by zero|0(?:\.0)? cannot be raised to a negative power"
        ),
        "CPython AttributeError / IndexError / KeyError / ValueError / ZeroDivisionError text without the "
        "class name: \"type object 'X' has no attribute 'y'\", 'pop from empty list', \"'popitem(): "
        "dictionary is empty'\"",
    ),
    (
        TOOL_CALL_FAILURE,
        re.compile(
            _each(("not enough", "too many"), r" values to unpack \(expected \d+")
            + "|"
            + _each(
                (r"list\.remove", r"list\.index", r"tuple\.index", r"deque\.remove", r"deque\.index"),
                r"\(x\): x not in \w+",
            )
            + r"|time data (?:'[^'\n]{0,300}'|\"[^\"\n]{0,300}\") does not match format |unconverted data remains: "
            r"|Invalid isoformat string: ['\"]|day is out of range for month\b|"
            + _each(("month", "hour", "minute", "second", "microsecond"), r" must be in \d+\.\.\d+\b")
            + "|"
            + _each((r"min\(\)", r"max\(\)"), r" (?:arg is an empty sequence|iterable argument is empty)")
            + r"|Exceeds the limit \(\d+ digits\) for integer string conversion"
        ),
        "CPython ValueError text without the class name: 'not enough values to unpack (expected 2, got 1)', "
        "\"time data '2024' does not match format '%Y-%m-%d'\", 'max() arg is an empty sequence' (to 3.11), "
        "'max() iterable argument is empty' (3.12+)",
    ),
    # list.index's "%R is not in list": the value's repr (quoted, a number, a bracket, None / True /
    # False) ends the line with it; the lookbehinds check that repr's end after the literal is found.
    (
        TOOL_CALL_FAILURE,
        re.compile(
            r" is not in (?:list(?:(?<=['\"\])}>\d] is not in list)|(?<=None is not in list)"
            r"|(?<=True is not in list)|(?<=False is not in list))"
            r"|deque(?<=['\"\])}>\d] is not in deque))[ \t]*$",
            _M,
        ),
        "CPython ValueError from list.index / deque.index: \"'x' is not in list\", '3 is not in list'",
    ),
    # Anchored on the position json.JSONDecodeError appends, so "Expecting value" in prose stays ok.
    (
        TOOL_CALL_FAILURE,
        re.compile(
            _each(
                (
                    "Expecting value",
                    "Expecting property name enclosed in double quotes",
                    "Expecting ',' delimiter",
                    "Expecting ':' delimiter",
                    "Unterminated string starting at",
                    "Extra data",
                    "Invalid control character at",
                    r"Invalid \\escape",
                    r"Invalid \\uXXXX escape",
                    "Illegal trailing comma before end of object",
                    "Illegal trailing comma before end of array",
                ),
                r": line \d+ column \d+ \(char \d+\)",
            )
        ),
        "json.JSONDecodeError: 'Expecting value: line 1 column 1 (char 0)', 'Extra data: line 1 column 5 "
        "(char 4)', 'Illegal trailing comma before end of object: ...' (3.13+)",
    ),
    (
        TOOL_CALL_FAILURE,
        re.compile(
            r"maximum recursion depth exceeded\b"
            r"|\[(?:Errno|WinError) \d+\] (?:No such file or directory|Is a directory|Not a directory"
            r"|Permission denied|File exists|Directory not empty"
            r"|The system cannot find the (?:file|path) specified)"
            r"|\(34, '(?:Numerical result out of range|Result too large)'\)|int too large to convert to float\b"
            r"|Python int too large to convert to C \w+|codec can't (?:de|en)code (?:bytes?|characters?)\b"
        ),
        'CPython RecursionError, FileNotFoundError / PermissionError "[Errno 2] No such file or directory: '
        "'x.csv'\" (the call named a missing file), OverflowError \"(34, 'Numerical result out of range')\", "
        "UnicodeDecodeError \"'utf-8' codec can't decode byte 0xff ...\"",
    ),
    # These short wordings are maths or docs prose unless they are the whole message.
    (
        TOOL_CALL_FAILURE,
        re.compile(
            r"\A\s*(?:(?:float |integer )?division by zero|float floor division by zero|integer modulo by zero"
            r"|float (?:modulo|divmod\(\))(?: by zero)?|math (?:domain|range) error|substring not found"
            r"|empty separator|year -?\d+ is out of range)\s*\Z"
        ),
        "the whole text: CPython ZeroDivisionError 'division by zero', 'float modulo' (to 3.12) / 'float modulo "
        "by zero' (3.13+), ValueError 'math domain error', 'substring not found', 'empty separator'",
    ),
    # Case-sensitive and needs a class-name prefix, so "Error: x" stays `other` and "error bars" stays ok.
    (
        TOOL_CALL_FAILURE,
        re.compile(r"^[ \t]*(?:[A-Za-z_]\w*\.)*[A-Za-z_]\w*(?:Error|Exception)[ \t]*:", _M),
        'a Python exception line, as f"{type(e).__name__}: {e}" and tracebacks end: "KeyError: \'city\'", '
        "'sqlite3.OperationalError: no such table: t'",
    ),
    # --- other_error ---------------------------------------------------------------------------
    (
        OTHER_ERROR,
        re.compile(r"^[ \t]*Traceback \(most recent call last\):", _M),
        "a Python traceback whose exception line is cut off",
    ),
    # "Error: 0.2%" / "Failed: 0, passed: 12" are measurements, not messages.
    (
        OTHER_ERROR,
        re.compile(
            r"^[ \t]*\[?(?:error|exception|fatal(?: error)?|failure|failed)\]?[ \t]*"
            r"(?::(?![ \t]*[-+±]?\d)|!|-[ \t]|$)",
            _I | _M,
        ),
        "a generic error marker opening a line: 'Error: city not found', 'ERROR:root:...', '[ERROR] ...', "
        "'Exception: boom'",
    ),
    (
        OTHER_ERROR,
        re.compile(
            r"\A\s*(?:an? |the )?(?:unexpected |internal |unknown )?(?:error|exception) (?:has )?"
            r"(?:occurred|occured|happened|was raised)\b|\A\s*something went wrong\b",
            _I,
        ),
        "the opening of the text: 'An error occurred while processing your request.'",
    ),
)
#: :class:`FeedbackRule` rows in priority order: the first row that matches anywhere in the text decides.
FEEDBACK_PATTERNS = tuple(FeedbackRule(*row) for row in _RULES)

# Top-level JSON keys whose non-empty value means the tool reported an error (ToolBench always
# sends "error", empty on success, so emptiness is what matters).
_ERROR_KEYS = frozenset({"error", "errors", "exception", "error_message", "error_msg", "errormessage"})
# String values that mean "no error" in an error field. ToolBench's server writes "Message error..."
# whenever the word "error" occurs anywhere in the API's answer (the over-broad test this module
# avoids), so that value is no verdict: the rest of the payload is judged instead.
_EMPTY_STRINGS = frozenset({"", "none", "null", "nil", "false", "0", "n/a", "no", "message error..."})
# Without an error key, only these fields speak for the payload: a search hit titled "Error: ..."
# is data, {"message": "Internal server error"} (AWS API Gateway) or FastAPI's
# {"detail": [{"msg": "Field required", ...}]} is the service talking.
_MESSAGE_KEYS = frozenset({"message", "messages", "msg", "detail", "reason", "error_description", "faultstring"})
# Integer fields read as an HTTP status ("code" only inside an error payload: elsewhere it is data).
_STATUS_KEYS = frozenset({"status", "status_code", "statuscode", "http_status", "http_code", "httpcode"})
_ERROR_STATUS_KEYS = _STATUS_KEYS | {"code"}
# A string field holding another payload (ToolBench's "response": "{'messages': ...}") is read
# this many levels deep; each level reads only its own string, so the total stays linear.
_MAX_NESTING = 2
# Which category wins when parts of one payload disagree: the table's order.
_PRIORITY = tuple(dict.fromkeys(category for category, _, _ in FEEDBACK_PATTERNS))


def classify_feedback(text: Any) -> str:
    """The :data:`FEEDBACK_CATEGORIES` name for one tool response; never raises.

    ``text`` is normally a string. ``None`` (the tool said nothing) is ``ok``: there is no error to
    mask. ``bytes`` are decoded as UTF-8 with replacement characters; a ``dict``, ``list`` or
    ``tuple`` is taken as an already-parsed JSON payload; anything else is read through ``str()``.
    """
    if text is None:
        return OK
    if isinstance(text, (dict, list, tuple)):
        return _classify_payload(text, 0)
    if isinstance(text, (bytes, bytearray, memoryview)):
        text = bytes(text).decode("utf-8", errors="replace")
    elif not isinstance(text, str):
        text = _to_str(text)
    return _classify_text(text, 0)


def summarize(categories: Iterable[str]) -> dict[str, int]:
    """Count ``categories`` per :data:`FEEDBACK_CATEGORIES` name, zeros included, in that order.

    >>> summarize(["ok", "other_error", "ok"])["other_error"]
    1
    >>> list(summarize([]).values())
    [0, 0, 0, 0, 0, 0, 0]

    A name that is not a category raises ``ValueError``: a typo would otherwise vanish from the report.
    An old spelling (``reward_fns.categories.RENAMED``) counts under its new name.
    """
    counts = dict.fromkeys(FEEDBACK_CATEGORIES, 0)
    for category in map(canonical_category, categories):
        if category not in counts:
            raise ValueError(f"unknown feedback category {category!r}; expected one of {FEEDBACK_CATEGORIES}")
        counts[category] += 1
    return counts


def _to_str(value: Any) -> str:
    # A broken __str__ must not make the classifier raise; repr, then the type name, will do.
    for convert in (str, repr):
        try:
            result = convert(value)
        except Exception:
            continue
        if isinstance(result, str):
            return result
    return type(value).__name__


def _match(text: str) -> str:
    for category, pattern, _source in FEEDBACK_PATTERNS:
        if pattern.search(text):
            return category
    return OK


def _classify_text(text: str, depth: int) -> str:
    stripped = text.strip()
    if not stripped:
        return OK
    if stripped[0] in "{[" and stripped[-1] in "}]":
        payload = _parse_payload(stripped)
        if isinstance(payload, (dict, list)):
            return _classify_payload(payload, depth)
    return _match(text)


def _parse_payload(text: str) -> Any:
    """``text`` as JSON, else as a Python literal (tools that return ``str(dict)``), else ``None``."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        pass
    try:
        return ast.literal_eval(text)
    except Exception:  # SyntaxError, ValueError, MemoryError, RecursionError: not a literal
        return None


def _leaves(obj: Any) -> Iterator[tuple[Any, Any]]:
    """``(lower-cased key of the enclosing dict, scalar)`` for every scalar in ``obj``, in order.

    Iterative, because parsed JSON may nest deeper than the recursion limit; a container seen
    twice (a self-referencing dict handed in directly) is walked once. Bytes come out decoded.
    """
    stack: list[tuple[Any, Any]] = [(None, obj)]
    seen: set[int] = set()
    while stack:
        key, node = stack.pop()
        if isinstance(node, (dict, list, tuple, set, frozenset)):
            if id(node) in seen:
                continue
            seen.add(id(node))
            if isinstance(node, dict):
                children = [(k.lower() if isinstance(k, str) else k, v) for k, v in node.items()]
            else:
                children = [(key, value) for value in node]
            stack.extend(reversed(children))
        elif isinstance(node, (bytes, bytearray)):
            yield key, bytes(node).decode("utf-8", errors="replace")
        else:
            yield key, node


def _meaningful(value: Any) -> bool:
    if value is None or value is False:
        return False
    if isinstance(value, str):
        return value.strip().lower() not in _EMPTY_STRINGS
    if isinstance(value, (int, float)):
        return value != 0
    return True


def _reports_error(payload: dict) -> bool:
    for key, value in payload.items():
        if not isinstance(key, str):
            continue
        lowered = key.lower()
        if lowered in _ERROR_KEYS and any(_meaningful(leaf) for _, leaf in _leaves(value)):
            return True
        # JSend: {"status": "error", "message": "..."}
        if lowered == "status" and isinstance(value, str) and value.strip().lower() == "error":
            return True
    return False


def _status_line(key: Any, leaf: Any, status_keys: frozenset) -> str | None:
    # {"error": {"code": 429, ...}} or {"statusCode": 503, ...}: let the HTTP status rows read it.
    if key in status_keys and isinstance(leaf, int) and not isinstance(leaf, bool) and 400 <= leaf < 600:
        return f"status code {leaf}"
    return None


def _classify_payload(payload: Any, depth: int) -> str:
    if isinstance(payload, dict) and _reports_error(payload):
        # The tool said it failed; every string in the payload may say how.
        lines = []
        for key, leaf in _leaves(payload):
            if isinstance(leaf, str):
                lines.append(leaf)
            elif (line := _status_line(key, leaf, _ERROR_STATUS_KEYS)) is not None:
                lines.append(line)
        category = _match("\n".join(lines))
        return TOOL_CALL_FAILURE if category in (OK, OTHER_ERROR) else category
    lines, found = [], []
    for key, leaf in _leaves(payload):
        if isinstance(leaf, str):
            if key in _MESSAGE_KEYS:
                lines.append(leaf)
            elif depth < _MAX_NESTING and leaf.lstrip()[:1] in ("{", "["):
                nested = _parse_payload(leaf.strip())
                if isinstance(nested, (dict, list)):
                    found.append(_classify_payload(nested, depth + 1))
        elif (line := _status_line(key, leaf, _STATUS_KEYS)) is not None:
            lines.append(line)
    found.append(_match("\n".join(lines)))
    errors = [category for category in found if category != OK]
    return min(errors, key=_PRIORITY.index) if errors else OK
