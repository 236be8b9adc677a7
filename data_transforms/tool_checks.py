"""ToolDev's rule checkers: are model-written tools usable, is a model-written answer valid for them?

Self-evolution (ToolDev 3.4, docs/design.md#tooldev-steps) keeps a generated tool set only if it
passes the tool rules, and a voted answer only if it passes the answer rules. Both checkers return a list of
:class:`Problem` (empty = passed); each names a ``code`` (counted in the round report), where it
is, and what is wrong. Nothing raises on model output.

Tool rules (:func:`check_tools`), all through ``jsonschema``:

* the text holds a ``<tools>...</tools>`` block of JSON: one schema, a list of them, or several
  schemas one after another (as chat templates list tools one per line);
* each tool matches :data:`TOOL_SCHEMA`: a string ``name`` (matching ``name_pattern`` when one is
  given), a non-empty ``description``, ``parameters`` an object schema whose every property has a
  ``type`` and a non-empty ``description``;
* ``parameters`` is a valid JSON Schema (meta-validated against draft 7, the draft most function-
  calling APIs follow, and five times faster to check than 2020-12: ``"type": "dict"`` fails);
* ``required`` names only declared properties; tool names are unique.

>>> tools, problems = parse_tools('<tools>{"name": "f", "description": "d", "parameters": {"type": "object",'
...     ' "properties": {"x": {"type": "dict", "description": "an x"}}, "required": ["x", "y"]}}</tools>')
>>> [p.code for p in check_tools(tools)]
['invalid_json_schema', 'required_not_in_properties']

Answer rules (:func:`check_answer`): every call names a given tool, every argument a declared
parameter, every required parameter is present, and every value is valid against its
parameter's schema (``jsonschema``):

>>> tool = {"name": "f", "description": "d", "parameters": {"type": "object", "properties": {
...     "x": {"type": "integer", "description": "an x"}}, "required": ["x"]}}
>>> [p.code for p in check_answer([{"name": "f", "arguments": {"x": "1", "z": 2}}, {"name": "g", "arguments": {}}], [tool])]
['invalid_value', 'hallucinated_parameter', 'hallucinated_tool']
"""

from __future__ import annotations

import json
import re
from typing import NamedTuple

from jsonschema import Draft7Validator
from jsonschema.exceptions import SchemaError
from jsonschema.validators import extend

__all__ = [
    "ANSWER_CODES",
    "DEFAULT_NAME_PATTERN",
    "TOOL_CODES",
    "TOOL_SCHEMA",
    "Problem",
    "check_answer",
    "check_tools",
    "parse_tools",
]

TOOLS_OPEN, TOOLS_CLOSE = "<tools>", "</tools>"
# OpenAI's rule for function names; verl, vLLM and most chat APIs reject other names.
DEFAULT_NAME_PATTERN = r"^[a-zA-Z0-9_.-]{1,64}$"

# Shape of one tool, checked with jsonschema (the meta-validation of `parameters` comes after).
TOOL_SCHEMA = {
    "type": "object",
    "required": ["name", "description", "parameters"],
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "description": {"type": "string", "minLength": 1},
        "parameters": {
            "type": "object",
            "required": ["type", "properties"],
            "properties": {
                "type": {"const": "object"},
                "properties": {
                    "type": "object",
                    "additionalProperties": {
                        "type": "object",
                        "required": ["type", "description"],
                        "properties": {"description": {"type": "string", "minLength": 1}},
                    },
                },
                "required": {"type": "array", "items": {"type": "string"}},
            },
        },
    },
}
_TOOL_VALIDATOR = Draft7Validator(TOOL_SCHEMA)


# Values are checked without the regex keywords: a model-written pattern such as "(a+)+$" would
# make Python's backtracking `re` take exponential time on a model-written value.
def _skip(validator, value, instance, schema):
    return None


_ValueValidator = extend(Draft7Validator, {"pattern": _skip, "patternProperties": _skip})

TOOL_CODES = (
    "no_tools_block",  # no <tools> tag
    "unclosed_tools_block",  # <tools> without </tools> (often: cut off at max_new_tokens)
    "not_json",
    "no_tools",  # an empty list
    "not_object",
    "missing_name",
    "missing_description",
    "missing_parameters",
    "bad_name",
    "bad_parameters",  # parameters not an object schema with properties
    "parameter_missing_type",
    "parameter_missing_description",
    "invalid_json_schema",
    "required_not_in_properties",
    "duplicate_name",
)
ANSWER_CODES = ("no_call", "hallucinated_tool", "hallucinated_parameter", "missing_required", "invalid_value")


class Problem(NamedTuple):
    code: str  # one of TOOL_CODES / ANSWER_CODES
    where: str  # e.g. "tools[0].parameters.properties.city"
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.code}: {self.message}"


_DECODER = json.JSONDecoder()
_WS = " \t\r\n"


def parse_tools(text) -> tuple[list, list]:
    """``(tools, problems)`` from the first ``<tools>...</tools>`` block of ``text``.

    The block holds one JSON schema, a list of schemas, or several schemas one after another.
    ``tools`` is empty when a problem is found. Linear in the text; never raises.
    """
    if not isinstance(text, str):
        return [], [Problem("not_json", "text", f"model output is {type(text).__name__}, not str")]
    start = text.find(TOOLS_OPEN)
    if start < 0:
        return [], [Problem("no_tools_block", "text", f"no {TOOLS_OPEN} tag")]
    start += len(TOOLS_OPEN)
    end = text.find(TOOLS_CLOSE, start)
    if end < 0:
        return [], [Problem("unclosed_tools_block", "text", f"{TOOLS_OPEN} is never closed by {TOOLS_CLOSE}")]
    body, values, pos = text[start:end], [], 0
    while True:
        while pos < len(body) and body[pos] in _WS:
            pos += 1
        if pos == len(body):
            break
        try:
            value, pos = _DECODER.raw_decode(body, pos)
        except (ValueError, RecursionError) as exc:
            return [], [Problem("not_json", "tools", f"the {TOOLS_OPEN} block is not JSON: {exc}")]
        values.append(value)
    tools = values[0] if len(values) == 1 and isinstance(values[0], list) else values
    if not tools:
        return [], [Problem("no_tools", "tools", f"the {TOOLS_OPEN} block holds no tool")]
    return tools, []


def _property_problems(where: str, error) -> list:
    """Codes for a TOOL_SCHEMA violation (``error`` is a jsonschema ValidationError)."""
    path = list(error.absolute_path)
    loc = ".".join([where, *map(str, path)])
    if error.validator == "required":
        missing = [k for k in error.validator_value if isinstance(error.instance, dict) and k not in error.instance]
        if len(path) == 3 and path[:2] == ["parameters", "properties"]:
            return [Problem(f"parameter_missing_{k}", loc, f"parameter {path[2]!r} has no {k}") for k in missing]
        if not path:
            return [Problem(f"missing_{k}", loc, f"the tool has no {k!r}") for k in missing]
    if path[:1] == ["name"]:
        return [Problem("bad_name", loc, error.message)]
    if path[:1] == ["description"]:
        return [Problem("missing_description", loc, error.message)]
    if len(path) == 4 and path[:2] == ["parameters", "properties"] and path[3] == "description":
        return [Problem("parameter_missing_description", loc, error.message)]
    if not path and error.validator == "type":
        return [Problem("not_object", loc, error.message)]
    return [Problem("bad_parameters", loc, error.message)]


def _outside_reference(schema) -> str | None:
    """The first ``$ref``/``$dynamicRef`` not local to the schema (``#...``), else None.

    jsonschema would try to resolve it (a file or URL) when a value is checked."""
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("$ref", "$dynamicRef") and isinstance(value, str) and not value.startswith("#"):
                    return value
                stack.append(value)
        elif isinstance(node, list):
            stack.extend(node)
    return None


def check_tools(tools: list, name_pattern: str | None = DEFAULT_NAME_PATTERN) -> list:
    """Problems of a list of tool schemas (see module doc); ``[]`` when every rule holds."""
    if not isinstance(tools, list) or not tools:
        return [Problem("no_tools", "tools", "no tool given")]
    pattern = re.compile(name_pattern) if name_pattern else None
    problems, seen = [], set()
    for i, tool in enumerate(tools):
        where = f"tools[{i}]"
        found = [p for e in _TOOL_VALIDATOR.iter_errors(tool) for p in _property_problems(where, e)]
        if not isinstance(tool, dict):
            problems.extend(found)
            continue
        name = tool.get("name")
        if isinstance(name, str) and name:
            if pattern is not None and not pattern.fullmatch(name):
                found.append(Problem("bad_name", f"{where}.name", f"{name!r} does not match {name_pattern}"))
            if name in seen:
                found.append(Problem("duplicate_name", f"{where}.name", f"{name!r} is defined twice"))
            seen.add(name)
        params = tool.get("parameters")
        if isinstance(params, dict):
            try:
                Draft7Validator.check_schema(params)
            except SchemaError as exc:
                loc = ".".join([f"{where}.parameters", *map(str, exc.path)])
                found.append(Problem("invalid_json_schema", loc, exc.message))
            ref = _outside_reference(params)
            if ref is not None:
                found.append(
                    Problem("invalid_json_schema", f"{where}.parameters", f"$ref {ref!r} points outside the schema")
                )
            props, required = params.get("properties"), params.get("required")
            if isinstance(props, dict) and isinstance(required, list):
                for name in required:
                    if isinstance(name, str) and name not in props:
                        found.append(
                            Problem(
                                "required_not_in_properties",
                                f"{where}.parameters.required",
                                f"{name!r} is required but not a declared parameter",
                            )
                        )
        problems.extend(found)
    return problems


def check_answer(calls: list, tools: list) -> list:
    """Problems of ``calls`` (``[{"name", "arguments"}]``) against ``tools`` that passed
    :func:`check_tools`; ``[]`` when the answer is valid. An empty answer is ``no_call``."""
    if not calls:
        return [Problem("no_call", "answer", "the answer calls no tool")]
    by_name = {t["name"]: t for t in tools}
    problems = []
    for i, call in enumerate(calls):
        where = f"calls[{i}]"
        tool = by_name.get(call["name"])
        if tool is None:
            problems.append(Problem("hallucinated_tool", f"{where}.name", f"no tool named {call['name']!r}"))
            continue
        props = tool["parameters"].get("properties", {})
        for param, value in call["arguments"].items():
            if param not in props:
                problems.append(
                    Problem(
                        "hallucinated_parameter",
                        f"{where}.arguments.{param}",
                        f"{call['name']} has no parameter {param!r}",
                    )
                )
                continue
            try:
                error = next(_ValueValidator(props[param]).iter_errors(value), None)
                message = None if error is None else error.message
            except Exception as exc:  # a schema jsonschema cannot apply: the value cannot be valid
                message = f"the parameter's schema cannot be applied: {exc}"
            if message is not None:
                problems.append(Problem("invalid_value", f"{where}.arguments.{param}", message[:300]))
        for param in tool["parameters"].get("required", []):
            if param not in call["arguments"]:
                problems.append(
                    Problem(
                        "missing_required",
                        f"{where}.arguments",
                        f"{call['name']} needs {param!r}",
                    )
                )
    return problems
