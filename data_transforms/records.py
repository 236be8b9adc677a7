"""The one internal record every reader produces and every writer consumes.

A :class:`Record` is a conversation in OpenAI chat shape with calls already decoded, plus the
candidate tools and, for prompt-only sources such as BFCL, the gold answer of the next turn:

- ``messages``: dicts with ``role`` in ``system | user | assistant | tool`` and a string
  ``content``; an assistant message may carry ``tool_calls``: ``[{"name": str, "arguments": dict}]``;
  a tool message may carry ``name`` (the tool that answered) and ``tool_call_id``.
- ``tools``: plain function schemas ``{"name", "description", "parameters"}`` (the OpenAI
  ``{"type": "function", "function": {...}}`` wrapper removed, BFCL type names mapped, see
  :func:`canonical_tool`).
- ``gold``: ``None`` for trajectories (the gold of each step is what the assistant called), or a
  list of gold calls in possible-answer form ``[{"name", "arguments": {param: [acceptable values]}}]``
  for the assistant turn that follows ``messages`` (``[]`` = no tool should be called).

Bad input raises :class:`RecordError`, which names the row and the field.

>>> canonical_tool({"type": "function", "function": {"name": "f", "parameters": {"type": "dict",
...     "properties": {"x": {"type": "float"}, "p": {"type": "tuple", "items": {"type": "integer"}}}}}})
{'name': 'f', 'description': '', 'parameters': {'type': 'object', 'properties': {'x': {'type': 'number'}, 'p': {'type': 'array', 'items': {'type': 'integer'}}}}}
>>> wrap_gold([{"name": "f", "arguments": {"x": 1}}])
[{'name': 'f', 'arguments': {'x': [1]}}]
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field

__all__ = [
    "ROLES",
    "Record",
    "RecordError",
    "canonical_tool",
    "canonical_tools",
    "check_record",
    "decode_json",
    "tool_call",
    "wrap_gold",
]

ROLES = ("system", "user", "assistant", "tool")

# BFCL writes Python type names; chat templates and jsonschema expect JSON-Schema names (SPEC 8).
BFCL_TYPE_NAMES = {"dict": "object", "float": "number", "tuple": "array"}


class RecordError(ValueError):
    """Bad input data: says which row and which field."""

    def __init__(self, row: str, field_name: str, problem: str):
        self.row, self.field, self.problem = row, field_name, problem
        super().__init__(f"row {row}: field {field_name!r}: {problem}")


@dataclass
class Record:
    id: str
    messages: list
    tools: list
    gold: list | None = None
    meta: dict = field(default_factory=dict)  # e.g. {"category": "live_simple"}: names the data_source


def decode_json(value, row: str, field_name: str):
    """``value`` if already decoded, else ``json.loads(value)``; a RecordError on bad JSON."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError as exc:
        raise RecordError(row, field_name, f"not valid JSON ({exc}): {value[:120]!r}") from None


def _map_types(schema):
    if isinstance(schema, dict):
        out = {}
        for key, value in schema.items():
            if key == "type" and isinstance(value, str):
                out[key] = BFCL_TYPE_NAMES.get(value, value)
            elif key == "type" and isinstance(value, list):
                out[key] = [BFCL_TYPE_NAMES.get(v, v) if isinstance(v, str) else v for v in value]
            elif key == "properties" and isinstance(value, dict):
                out[key] = {name: _map_types(sub) for name, sub in value.items()}
            else:
                out[key] = _map_types(value) if isinstance(value, (dict, list)) else value
        return out
    if isinstance(schema, list):
        return [_map_types(v) for v in schema]
    return schema


def canonical_tool(schema, row: str = "?", field_name: str = "tools") -> dict:
    """A plain ``{"name", "description", "parameters"}`` schema with JSON-Schema type names."""
    if isinstance(schema, dict) and isinstance(schema.get("function"), dict):
        schema = schema["function"]
    if not isinstance(schema, dict):
        raise RecordError(row, field_name, f"a tool schema must be an object, got {str(schema)[:120]!r}")
    name = schema.get("name")
    if not isinstance(name, str) or not name:
        raise RecordError(row, f"{field_name}.name", f"a tool needs a non-empty string name, got {name!r}")
    where = f"{field_name}[{name}].parameters"
    params = decode_json(schema.get("parameters") or {"type": "object", "properties": {}}, row, where)
    if not isinstance(params, dict):
        raise RecordError(row, f"{field_name}[{name}].parameters", f"must be an object, got {params!r}")
    props = params.get("properties", {})
    if not isinstance(props, dict):
        raise RecordError(row, f"{field_name}[{name}].parameters.properties", f"must be an object, got {props!r}")
    required = params.get("required", [])
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        raise RecordError(row, f"{field_name}[{name}].parameters.required", f"must be a list of names, got {required!r}")
    out = {k: copy.deepcopy(v) for k, v in schema.items() if k not in ("name", "description", "parameters")}
    return {"name": name, "description": str(schema.get("description") or ""), "parameters": _map_types(params), **out}


def _hoist_required(schema):
    """Move a schema-level ``required`` into ``parameters`` (RoTBench writes it beside them; ToolACE
    writes ``"required": null`` there), so it is not lost or left as a stray key."""
    if not isinstance(schema, dict) or "required" not in schema or isinstance(schema.get("function"), dict):
        return schema
    schema = dict(schema)
    required = schema.pop("required")
    params = schema.get("parameters")
    if isinstance(required, list) and required and isinstance(params, dict) and "required" not in params:
        schema["parameters"] = {**params, "required": required}
    return schema


def canonical_tools(raw, row_name: str, field_name: str) -> list:
    """Canonical tools from a list (or a JSON string of one) of schemas, plain or OpenAI-wrapped."""
    raw = decode_json(raw, row_name, field_name)
    if not isinstance(raw, list):
        raise RecordError(row_name, field_name, f"must be a list of tool schemas, got {type(raw).__name__}")
    return [canonical_tool(_hoist_required(t), row_name, f"{field_name}[{i}]") for i, t in enumerate(raw)]


def tool_call(name, arguments, row: str, field_name: str) -> dict:
    """A canonical ``{"name", "arguments"}`` call; arguments may arrive as a JSON string."""
    if not isinstance(name, str) or not name:
        raise RecordError(row, f"{field_name}.name", f"a call needs a non-empty string name, got {name!r}")
    arguments = decode_json(arguments if arguments is not None else {}, row, f"{field_name}.arguments")
    if not isinstance(arguments, dict):
        raise RecordError(row, f"{field_name}.arguments", f"must be an object, got {str(arguments)[:120]!r}")
    return {"name": name, "arguments": arguments}


def _schema_type(schema):
    typ = schema.get("type") if isinstance(schema, dict) else None
    if isinstance(typ, list):
        typ = next((t for t in typ if t != "null"), None)
    return BFCL_TYPE_NAMES.get(typ, typ) if isinstance(typ, str) else None


def _wrap_dicts(value, schema):
    # Possible-answer form nests acceptable lists in dict values ({"k": [v]}), one level deep, for
    # an object parameter (or one without a type) and for the items of an array of objects; the
    # reward refuses a bare dict there, and reference_answer would misread it.
    typ = _schema_type(schema)
    if isinstance(value, dict) and typ in ("object", None):
        return {k: [v] for k, v in value.items()}
    if isinstance(value, list) and typ == "array" and _schema_type(schema.get("items")) == "object":
        return [{k: [v] for k, v in item.items()} if isinstance(item, dict) else item for item in value]
    return value


def wrap_gold(calls: list, tools: list | None = None) -> list:
    """Possible-answer form of concrete calls: each value becomes a one-element list.

    A parameter given at its schema ``default`` may also be omitted (``""`` accepted), as BFCL's
    possible answers allow.
    """
    defaults, schemas = {}, {}
    for tool in tools or ():
        for param, schema in tool["parameters"].get("properties", {}).items():
            schemas[(tool["name"], param)] = schema
            if isinstance(schema, dict) and "default" in schema:
                defaults[(tool["name"], param)] = schema["default"]
    gold = []
    for call in calls:
        args = {}
        for param, value in call["arguments"].items():
            key = (call["name"], param)
            option = _wrap_dicts(value, schemas.get(key))
            args[param] = [option, ""] if key in defaults and defaults[key] == value and value != "" else [option]
        gold.append({"name": call["name"], "arguments": args})
    return gold


def check_record(rec: Record) -> Record:
    """Raise RecordError if ``rec`` breaks the shape documented above; return it unchanged."""
    if not rec.messages:
        raise RecordError(rec.id, "messages", "no messages")
    names = set()
    for i, tool in enumerate(rec.tools):
        if tool["name"] in names:
            raise RecordError(rec.id, f"tools[{i}].name", f"duplicate tool name {tool['name']!r}")
        names.add(tool["name"])
    for i, msg in enumerate(rec.messages):
        where = f"messages[{i}]"
        if msg.get("role") not in ROLES:
            raise RecordError(rec.id, f"{where}.role", f"must be one of {ROLES}, got {msg.get('role')!r}")
        if not isinstance(msg.get("content"), str):
            raise RecordError(rec.id, f"{where}.content", f"must be a string, got {type(msg.get('content')).__name__}")
        if msg.get("tool_calls") and msg["role"] != "assistant":
            raise RecordError(rec.id, f"{where}.tool_calls", "only assistant messages carry tool calls")
    if not any(m["role"] == "user" for m in rec.messages):
        raise RecordError(rec.id, "messages", "no user message")
    if rec.gold is None and not any(m["role"] == "assistant" for m in rec.messages):
        raise RecordError(rec.id, "messages", "a trajectory without any assistant message")
    return rec
