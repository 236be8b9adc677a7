"""Parse tool calls out of raw model text.

One entry point, :func:`parse_tool_calls`, turns a response into a :class:`ParseResult`
holding canonical calls ``{"name": str, "arguments": dict}``. Formats:

* ``hermes``: ``<tool_call>{"name": "f", "arguments": {...}}</tool_call>`` (Qwen, Hermes); a
  block may also hold several calls, one JSON object after another (one per line, as ToolRL and
  Tool-N1 prompt for) or a JSON list of them;
* ``react``:  ``Action: f`` / ``Action Input: {...}`` (RoTBench, ToolEyes, ToolLLaMA);
* ``json``:   a call object or a list of them, bare or in a ```json fence (xLAM);
* ``python``: ``[f(a=1), g()]`` or ``f(a=1)`` (BFCL prompt mode, ToolACE).

``auto`` tries them in that order and reports which one matched. ``<think>...</think>``
reasoning is removed first: calls drafted while thinking are not the answer.

>>> r = parse_tool_calls('<tool_call>{"name": "f", "arguments": {"x": 1}}</tool_call>')
>>> r.status, r.format, r.calls
('ok', 'hermes', [{'name': 'f', 'arguments': {'x': 1}}])
>>> parse_tool_calls('[get_weather(city="Paris", days=-1)]').calls
[{'name': 'get_weather', 'arguments': {'city': 'Paris', 'days': -1}}]
>>> parse_tool_calls('<tool_call>\\n{"name": "f", "parameters": {}}\\n{"name": "g", "parameters": {}}\\n</tool_call>').calls
[{'name': 'f', 'arguments': {}}, {'name': 'g', 'arguments': {}}]
>>> parse_tool_calls('<tool_call>{"name": "f", "arguments": {</tool_call>').status
'malformed'

Guarantees: never raises, never evaluates code (Python calls go through :mod:`ast` and only
literal nodes are read), and runs in time linear in the input: blocks are located with
``str.find`` and anchored regexes without nested quantifiers, each JSON value is decoded once by
the C scanner, and parsing stops at the first block that fails. A block that looks like a call but
does not decode makes the whole response ``malformed``; it is never dropped silently.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field

__all__ = ["FORMATS", "ParseResult", "parse_tool_calls"]

FORMATS = ("hermes", "react", "json", "python")

OK, NO_CALL, MALFORMED = "ok", "no_call", "malformed"

_DECODER = json.JSONDecoder()
_HERMES_OPEN, _HERMES_CLOSE = "<tool_call>", "</tool_call>"
_WS = " \t\r\n"
# Anchored at line starts; `[^\n]*` cannot backtrack across lines, so matching stays linear.
_REACT_ACTION = re.compile(r"^[ \t]*Action[ \t]*:[ \t]*([^\n]*)$", re.MULTILINE)
_REACT_INPUT = re.compile(r"\s*Action[ \t]+Input[ \t]*:")
# The two blank runs are separated by a tag that must start with a letter: with an optional tag
# between two `[ \t]*`, a fence followed by a long blank run would backtrack quadratically.
_FENCE = re.compile(r"```[ \t]*(?:(json|python|py|tool_code)[ \t]*)?\n")
# "looks like a Python call": optional `[`, a (dotted) identifier, then `(` straight away.
_PY_CALL_START = re.compile(r"\[?\s*[A-Za-z_][\w.]*\(")
# ... and, for text that is not a valid expression, a call *attempt*: `name()` or `name(kw=`.
# Without this, prose that opens with `word(` ("Sure(ish), ...", "f(x) = x^2") would be malformed.
_PY_KW_CALL_START = re.compile(r"\[?\s*[A-Za-z_][\w.]*\(\s*(?:\)|[A-Za-z_]\w*\s*=(?!=))")
_REACT_INPUT_LINE = re.compile(r"^[ \t]*Action[ \t]+Input[ \t]*:", re.MULTILINE)
# A JSON object is a call attempt only if it has one of these keys; other JSON is an answer.
_CALL_KEYS = ("name", "function", "arguments", "parameters")
# Special-token markers some templates put before a JSON / Python call (Llama 3.x, Mistral); the
# tl_tool reward manager keeps them when decoding, so the parsers skip one at the start.
_LEAD_MARKERS = ("<|python_tag|>", "[TOOL_CALLS]")


@dataclass
class ParseResult:
    """``status`` is ``ok`` (calls found), ``no_call`` (nothing call-like) or ``malformed``."""

    calls: list = field(default_factory=list)
    status: str = NO_CALL
    format: str = "none"
    error: str = ""


def parse_tool_calls(text, fmt: str = "auto") -> ParseResult:
    """Parse ``text`` in format ``fmt`` (one of :data:`FORMATS` or ``auto``). Never raises."""
    if not isinstance(text, str):
        return ParseResult(status=MALFORMED, error=f"response is {type(text).__name__}, not str")
    if fmt != "auto" and fmt not in FORMATS:
        raise ValueError(f"unknown tool-call format {fmt!r}; expected 'auto' or one of {FORMATS}")
    try:
        text = _drop_reasoning(text)
        if fmt == "auto":
            for name in FORMATS:
                result = _PARSERS[name](text)
                if result is not None:
                    return result
            return ParseResult()
        return _PARSERS[fmt](text) or ParseResult()
    except Exception as exc:  # pragma: no cover - defence: model output must never crash training
        return ParseResult(status=MALFORMED, format=fmt, error=f"{type(exc).__name__}: {exc}")


_THINK_CLOSE = "</think>"
# A reasoning block opens with <think> at the start of a line: inside a JSON or Python string a
# newline is escaped, so a call's argument cannot fake one.
_THINK_OPEN = re.compile(r"^[ \t]*<think>", re.MULTILINE)
_LINE_END = re.compile(r"[ \t\r]*(?:\n|\Z)")


def _drop_reasoning(text: str) -> str:
    """Remove ``<think>...</think>`` reasoning (Qwen3, R1-style models): it is not the answer.

    A block opens with ``<think>`` at the start of a line and ends at the next ``</think>``. A
    first ``</think>`` that ends its line with no ``<think>`` before it closes reasoning begun in
    the prompt (R1-style templates), so the text before it goes too. An unclosed ``<think>`` (a
    truncated response) is kept and parsed. A ``</think>`` inside a call's string value is neither.
    """
    close = text.find(_THINK_CLOSE)
    if close < 0:
        return text
    pos = 0
    first_open = _THINK_OPEN.search(text)
    if (first_open is None or first_open.start() > close) and _LINE_END.match(text, close + len(_THINK_CLOSE)):
        pos = close + len(_THINK_CLOSE)
    kept = []
    while True:
        opener = _THINK_OPEN.search(text, pos)
        end = text.find(_THINK_CLOSE, opener.end()) if opener is not None else -1
        if end < 0:
            kept.append(text[pos:])
            return "\n".join(kept)
        kept.append(text[pos : opener.start()])
        pos = end + len(_THINK_CLOSE)


# --------------------------------------------------------------------------- call objects


def _call_from_object(obj) -> dict | None:
    """``{"name": str, "arguments"|"parameters": dict | JSON string}`` -> canonical call."""
    if not isinstance(obj, dict):
        return None
    if "function" in obj and isinstance(obj["function"], dict) and "name" not in obj:
        obj = obj["function"]  # OpenAI's {"type": "function", "function": {...}} wrapper
    name = obj.get("name")
    if not isinstance(name, str) or not name:
        return None
    args = obj["arguments"] if "arguments" in obj else obj.get("parameters", {})
    if isinstance(args, str):
        args = _loads(args.strip() or "{}")
    if args is None:
        args = {}
    if not isinstance(args, dict):
        return None
    return {"name": name, "arguments": args}


_FAILED = object()


def _loads(s: str):
    try:
        return json.loads(s)
    except (ValueError, RecursionError):
        return _FAILED


def _raw_decode(text: str, start: int):
    """Decode one JSON value at ``text[start:]`` (after whitespace); ``(value, end)`` or None."""
    n = len(text)
    while start < n and text[start] in _WS:
        start += 1
    try:
        return _DECODER.raw_decode(text, start)
    except (ValueError, RecursionError):
        return None


# --------------------------------------------------------------------------- hermes


def _parse_hermes(text: str) -> ParseResult | None:
    """Every ``<tool_call>`` block; a block holds one call object, several one after another
    (one per line, as ToolRL's and Tool-N1's prompts ask), or a JSON list of them."""
    pos = text.find(_HERMES_OPEN)
    if pos < 0:
        return None
    calls, block = [], 0
    while pos >= 0:
        end = pos + len(_HERMES_OPEN)
        n_in_block = 0
        while True:
            decoded = _raw_decode(text, end)
            if decoded is None:
                return _malformed("hermes", f"block {block}: content is not JSON")
            obj, end = decoded
            items = obj if isinstance(obj, list) else [obj]
            if not items:
                return _malformed("hermes", f"block {block}: an empty list holds no call")
            for item in items:
                call = _call_from_object(item)
                if call is None:
                    return _malformed("hermes", f"block {block}: not a call object")
                calls.append(call)
            n_in_block += len(items)
            while end < len(text) and text[end] in _WS:
                end += 1
            if text.startswith(_HERMES_CLOSE, end):
                break
            if end >= len(text) or text[end] not in "{[":
                return _malformed("hermes", f"block {block}: no closing {_HERMES_CLOSE}")
        block += 1
        pos = text.find(_HERMES_OPEN, end + len(_HERMES_CLOSE))
    return ParseResult(calls, OK, "hermes")


# --------------------------------------------------------------------------- react


def _parse_react(text: str) -> ParseResult | None:
    actions = list(_REACT_ACTION.finditer(text))
    if not actions:
        if _REACT_INPUT_LINE.search(text):
            return _malformed("react", "'Action Input:' without an 'Action:' line")
        return None
    calls = []
    for i, m in enumerate(actions):
        name = m.group(1).strip()
        if not name:
            return _malformed("react", f"action {i}: empty tool name")
        inp = _REACT_INPUT.match(text, m.end())
        if inp is None:
            return _malformed("react", f"action {i}: no 'Action Input:' line")
        arguments, _end = _raw_decode(text, inp.end()) or (None, None)
        if not isinstance(arguments, dict):
            return _malformed("react", f"action {i}: Action Input is not a JSON object")
        calls.append({"name": name, "arguments": arguments})
    return ParseResult(calls, OK, "react")


# --------------------------------------------------------------------------- json / python


def _fenced_body(text: str) -> tuple[str | None, str]:
    """Body and language tag of the first ``` fence, or (None, "")."""
    m = _FENCE.search(text)
    if m is None:
        return None, ""
    end = text.find("```", m.end())
    body = text[m.end() :] if end < 0 else text[m.end() : end]
    return body.strip(), (m.group(1) or "")


def _strip_marker(text: str) -> str:
    text = text.strip()
    for marker in _LEAD_MARKERS:
        if text.startswith(marker):
            return text[len(marker) :].lstrip()
    return text


def _parse_json(text: str) -> ParseResult | None:
    body, lang = _fenced_body(text)
    if body is None or lang not in ("", "json"):
        body = _strip_marker(text)
    if not body or body[0] not in "{[":
        return None
    value = _loads(body)
    if value is _FAILED:
        if body[0] == "[" and _PY_CALL_START.match(body):
            return None  # `[f(x=1)]` is Python syntax; leave it to the python parser
        return _malformed("json", "not valid JSON")
    if isinstance(value, dict) and isinstance(value.get("tool_calls"), list):
        value = value["tool_calls"]
    items = value if isinstance(value, list) else [value]
    if not any(isinstance(item, dict) and any(k in item for k in _CALL_KEYS) for item in items):
        return None  # JSON data ([1, 2], {"answer": 42}, []) that is not a call attempt: an answer
    calls = []
    for i, item in enumerate(items):
        call = _call_from_object(item)
        if call is None:
            return _malformed("json", f"item {i}: not a call object")
        calls.append(call)
    return ParseResult(calls, OK, "json")


def _parse_python(text: str) -> ParseResult | None:
    body, _ = _fenced_body(text)  # any fence: models put `[f(x=1)]` in ```json fences too
    if body is None or not _PY_CALL_START.match(body):
        body = _strip_marker(text)
    if not _PY_CALL_START.match(body):
        return None
    try:
        tree = ast.parse(body, mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        if not _PY_KW_CALL_START.match(body):
            return None  # prose that happens to open with `word(`
        return _malformed("python", "not a valid Python expression")
    nodes = tree.elts if isinstance(tree, (ast.List, ast.Tuple)) else [tree]
    calls = []
    for i, node in enumerate(nodes):
        if not isinstance(node, ast.Call):
            return _malformed("python", f"item {i}: not a call")
        name = _dotted_name(node.func)
        if name is None:
            return _malformed("python", f"item {i}: callee is not a (dotted) name")
        if node.args:
            return _malformed("python", f"call {i} ({name}): positional arguments have no names")
        args = {}
        for kw in node.keywords:
            if kw.arg is None:
                return _malformed("python", f"call {i} ({name}): **kwargs")
            if kw.arg in args:  # ast accepts it; Python's compiler would not
                return _malformed("python", f"call {i} ({name}): argument {kw.arg!r} repeated")
            value = _literal(kw.value)
            if value is _FAILED:
                return _malformed("python", f"call {i} ({name}): argument {kw.arg!r} is not a literal")
            args[kw.arg] = value
        calls.append({"name": name, "arguments": args})
    return ParseResult(calls, OK, "python")


def _dotted_name(node) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


def _literal(node):
    """Value of a literal node (tuples and sets become lists); ``_FAILED`` for anything else.

    Recursion depth is bounded by CPython's parser, which rejects more than ~200 nested brackets.
    """
    if isinstance(node, ast.Constant):
        return node.value if not isinstance(node.value, (bytes, complex, type(...))) else _FAILED
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        out = []
        for elt in node.elts:
            v = _literal(elt)
            if v is _FAILED:
                return _FAILED
            out.append(v)
        return out
    if isinstance(node, ast.Dict):
        out = {}
        for k, v in zip(node.keys, node.values):
            key = _literal(k) if k is not None else _FAILED
            val = _literal(v)
            if key is _FAILED or val is _FAILED or not isinstance(key, (str, int, float, bool)):
                return _FAILED
            out[key] = val
        return out
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        v = _literal(node.operand)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return -v if isinstance(node.op, ast.USub) else v
    return _FAILED


def _malformed(fmt: str, error: str) -> ParseResult:
    return ParseResult([], MALFORMED, fmt, error)


_PARSERS = {"hermes": _parse_hermes, "react": _parse_react, "json": _parse_json, "python": _parse_python}
