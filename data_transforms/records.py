"""The one internal record every reader produces and every writer consumes.

A :class:`Record` is a conversation in OpenAI chat shape with calls already decoded, plus the
candidate tools and, for prompt-only sources such as BFCL, the gold answer of the next turn:

- ``messages``: dicts with ``role`` in ``system | user | assistant | tool`` and a string
  ``content``; an assistant message may carry ``tool_calls``: ``[{"name": str, "arguments": dict}]``;
  a tool message may carry ``name`` (the tool that answered) and ``tool_call_id``.
- ``tools``: plain function schemas ``{"name", "description", "parameters"}`` (the OpenAI
  ``{"type": "function", "function": {...}}`` wrapper removed, type names mapped to JSON Schema
  by :func:`reward_fns.schema_types.canonical_schema`, see :func:`canonical_tool`: the reward's
  own reader, :func:`reward_fns.schemas.canonical_tool`).
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

import json
from dataclasses import dataclass, field

from reward_fns import schemas
from reward_fns.schema_types import canonical_schema
from reward_fns.values import dict_form

__all__ = [
    "ROLES",
    "Record",
    "RecordError",
    "canonical_tool",
    "canonical_tools",
    "DUPLICATE_POLICIES",
    "check_record",
    "decode_json",
    "dedupe_tools",
    "record_name",
    "tool_call",
    "type_problems",
    "wrap_gold",
]

ROLES = ("system", "user", "assistant", "tool")


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
    # e.g. {"category": "live_simple"} (names the data_source); "answer_text": the text answer of a
    # prompt-only record whose gold is [] (the SFT target; ToolRL gives one)
    meta: dict = field(default_factory=dict)


def decode_json(value, row: str, field_name: str):
    """``value`` if already decoded, else ``json.loads(value)``; a RecordError on bad JSON."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError as exc:
        raise RecordError(row, field_name, f"not valid JSON ({exc}): {value[:120]!r}") from None


def canonical_tool(schema, row: str = "?", field_name: str = "tools") -> dict:
    """A plain ``{"name", "description", "parameters"}`` schema with JSON-Schema type names:
    :func:`reward_fns.schemas.canonical_tool` (the reward's own reading), its errors as RecordErrors."""
    try:
        return schemas.canonical_tool(schema, field_name)
    except schemas.SchemaError as exc:
        raise RecordError(row, exc.field, exc.problem) from None


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


def _wrap_dicts(value, schema):
    # Possible-answer form nests acceptable lists in dict values ({"k": [v]}), one level deep,
    # exactly where the reward reads that form (reward_fns.values.dict_form): refusing or
    # misreading a bare dict there would stop a verl run.
    form = dict_form([value], schema)
    if form == "dict":
        return {k: [v] for k, v in value.items()}
    if form == "dict_items":
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


def record_name(rec: Record) -> str:
    """How reports name a record: its id, and the source row it came from when that differs
    (ids repeat in some datasets; ``file.jsonl:LINE`` finds the row)."""
    row = rec.meta.get("source_row")
    return f"{row} (id {rec.id})" if row and row != rec.id else rec.id


def type_problems(tools: list) -> list[str]:
    """Why the tools' parameter types cannot be read, one line per node (``[]`` when they can).

    >>> type_problems([{"name": "f", "parameters": {"type": "object", "properties": {"df": {"type": "DataFrame"}}}}])
    ["tool 'f' parameters.properties.df: type 'DataFrame': unknown type name"]
    """
    out = []
    for tool in tools:
        for problem in canonical_schema(tool.get("parameters"), "parameters").problems:
            out.append(f"tool {tool['name']!r} {problem.path}: type {problem.type!r}: {problem.why}")
    return out


DUPLICATE_POLICIES = ("refuse", "keep_first")


def dedupe_tools(tools: list, policy: str = "refuse") -> tuple[list, list[str], str | None]:
    """``(tools, removed, refusal)``: one schema per tool name.

    An exact copy of an earlier schema is always removed (listed in ``removed``). Two different
    schemas under one name are ambiguous for the reward (which one did the gold call mean?):
    ``policy="refuse"`` returns a ``refusal`` naming them; ``"keep_first"`` keeps the first and
    lists the others in ``removed``.

    >>> f1 = {"name": "f", "parameters": {"type": "object", "properties": {"a": {}}}}
    >>> f2 = {"name": "f", "parameters": {"type": "object", "properties": {"b": {}}}}
    >>> dedupe_tools([f1, f1])[1:], dedupe_tools([f1, f2])[2]
    ((["identical copy of tool 'f'"], None), "two different schemas named 'f' (duplicate_tools=refuse)")
    >>> [t["parameters"]["properties"] for t in dedupe_tools([f1, f2], "keep_first")[0]]
    [{'a': {}}]
    """
    if policy not in DUPLICATE_POLICIES:
        raise ValueError(f"duplicate_tools must be one of {DUPLICATE_POLICIES}, got {policy!r}")
    first: dict = {}
    kept, removed = [], []
    for tool in tools:
        seen = first.get(tool["name"])
        if seen is None:
            first[tool["name"]] = tool
            kept.append(tool)
        elif seen == tool:
            removed.append(f"identical copy of tool {tool['name']!r}")
        elif policy == "refuse":
            return tools, removed, f"two different schemas named {tool['name']!r} (duplicate_tools=refuse)"
        else:
            removed.append(f"second schema named {tool['name']!r} (duplicate_tools=keep_first)")
    return kept, removed, None


def check_record(rec: Record) -> Record:
    """Raise RecordError if ``rec`` breaks the shape documented above; return it unchanged.

    Tool names may repeat here; :func:`dedupe_tools` settles them (``tl-prepare`` counts each).
    """
    if not rec.messages:
        raise RecordError(rec.id, "messages", "no messages")
    for i, msg in enumerate(rec.messages):
        where = f"messages[{i}]"
        if msg.get("role") not in ROLES:
            raise RecordError(rec.id, f"{where}.role", f"must be one of {ROLES}, got {msg.get('role')!r}")
        if not isinstance(msg.get("content"), str):
            raise RecordError(rec.id, f"{where}.content", f"must be a string, got {type(msg.get('content')).__name__}")
        if msg.get("tool_calls") and msg["role"] != "assistant":
            raise RecordError(rec.id, f"{where}.tool_calls", "only assistant messages carry tool calls")
        if msg["role"] == "tool":
            # a tool answer needs a call before it; without one the calls were not read (data of
            # another format, e.g. ReAct text read as ToolACE), and training on it would be wrong
            before = next((m for m in reversed(rec.messages[:i]) if m["role"] != "tool"), None)
            if before is None or before["role"] != "assistant" or not before.get("tool_calls"):
                raise RecordError(
                    rec.id,
                    where,
                    "a tool message that follows no tool call: were the calls "
                    "written in another format than this source reads?",
                )
    if not any(m["role"] == "user" for m in rec.messages):
        raise RecordError(rec.id, "messages", "no user message")
    if rec.gold is None and not any(m["role"] == "assistant" for m in rec.messages):
        raise RecordError(rec.id, "messages", "a trajectory without any assistant message")
    return rec
