"""OpenAI chat rows: ``{"messages": [...], "tools": [...]}``, as the Chat Completions API takes them.

This is the shape most fine-tuning dumps use (OpenAI fine-tuning files, Hugging Face chat
datasets). Accepted variations:

- ``tools`` as a list or a JSON string of one, each schema plain or in the
  ``{"type": "function", "function": {...}}`` wrapper; the legacy ``functions`` field likewise;
- assistant ``tool_calls`` as ``{"id", "type": "function", "function": {"name", "arguments"}}``
  or flat ``{"name", "arguments"}``, arguments a JSON string or an object; the legacy single
  ``function_call``; ``content: null`` read as ``""``;
- ``content`` as a list of ``{"type": "text", "text": ...}`` parts, joined with newlines (as vLLM
  joins them); other part types cannot be represented and raise;
- tool responses with ``role: "tool"`` or the legacy ``role: "function"``; each gets the ``name``
  of the call it answers, found by ``tool_call_id``, else by position after the assistant turn;
- ``developer`` (the newer name of the system role) read as ``system``.

Call ids are dropped from the calls (the record keeps calls as ``{"name", "arguments"}``); tool
messages keep their ``tool_call_id``.

>>> rec = read_openai({"messages": [
...     {"role": "user", "content": "Weather in Paris?"},
...     {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function",
...         "function": {"name": "get_weather", "arguments": "{\\"city\\": \\"Paris\\"}"}}]},
...     {"role": "tool", "tool_call_id": "c1", "content": "18 C"},
...     {"role": "assistant", "content": "18 C in Paris."}]}, "chats.jsonl:1")
>>> rec.messages[1:3]
[{'role': 'assistant', 'content': '', 'tool_calls': [{'name': 'get_weather', 'arguments': {'city': 'Paris'}}]}, {'role': 'tool', 'content': '18 C', 'name': 'get_weather', 'tool_call_id': 'c1'}]
"""

from __future__ import annotations

import json

from data_transforms.readers._common import CallTracker, finish, row_id
from data_transforms.records import Record, RecordError, canonical_tools, tool_call

__all__ = ["read_openai"]

_ROLES = {
    "system": "system",
    "developer": "system",
    "user": "user",
    "assistant": "assistant",
    "tool": "tool",
    "function": "tool",
}


def _content(value, role: str, row_name: str, where: str) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        texts = []
        for j, part in enumerate(value):
            if isinstance(part, str):
                texts.append(part)
            elif isinstance(part, dict) and part.get("type", "text") == "text" and isinstance(part.get("text"), str):
                texts.append(part["text"])
            else:
                raise RecordError(
                    row_name,
                    f"{where}[{j}]",
                    f"only text parts {{'type': 'text', 'text': str}} can be read, got {str(part)[:120]!r}",
                )
        return "\n".join(texts)
    if role == "tool" and isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)  # some dumps keep a tool's JSON result decoded
    raise RecordError(row_name, where, f"must be a string or a list of text parts, got {type(value).__name__}")


def _calls(msg: dict, row_name: str, where: str) -> tuple[list, list]:
    """``(calls, ids)`` of an assistant message (``tool_calls`` or legacy ``function_call``)."""
    if msg.get("function_call") is not None and not msg.get("tool_calls"):
        fc = msg["function_call"]
        if not isinstance(fc, dict):
            raise RecordError(row_name, f"{where}.function_call", f"must be an object, got {type(fc).__name__}")
        return [tool_call(fc.get("name"), fc.get("arguments"), row_name, f"{where}.function_call")], []
    raw = msg.get("tool_calls") or []
    if not isinstance(raw, list):
        raise RecordError(row_name, f"{where}.tool_calls", f"must be a list, got {type(raw).__name__}")
    calls, ids = [], []
    for j, item in enumerate(raw):
        field = f"{where}.tool_calls[{j}]"
        if not isinstance(item, dict):
            raise RecordError(row_name, field, f"a call must be an object, got {str(item)[:120]!r}")
        if isinstance(item.get("function"), dict):
            fn, field = item["function"], f"{field}.function"
        else:
            fn = item
        calls.append(tool_call(fn.get("name"), fn.get("arguments"), row_name, field))
        ids.append(item.get("id"))
    return calls, ids


def read_openai(row: dict, row_name: str) -> Record:
    """One OpenAI chat row as a Record (see the module docstring for what is accepted)."""
    raw_messages = row.get("messages")
    if not isinstance(raw_messages, list) or not raw_messages:
        got = "missing" if raw_messages is None else type(raw_messages).__name__
        raise RecordError(row_name, "messages", f"must be a non-empty list of messages, got {got}")
    tools_key = "tools" if row.get("tools") is not None else "functions"
    tools = canonical_tools(row.get(tools_key) or [], row_name, tools_key)

    tracker = CallTracker()
    messages = []
    for i, msg in enumerate(raw_messages):
        where = f"messages[{i}]"
        if not isinstance(msg, dict):
            raise RecordError(row_name, where, f"a message must be an object, got {type(msg).__name__}")
        role = _ROLES.get(msg.get("role")) if isinstance(msg.get("role"), str) else None
        if role is None:
            raise RecordError(row_name, f"{where}.role", f"unknown role {msg.get('role')!r}")
        out = {"role": role, "content": _content(msg.get("content"), role, row_name, f"{where}.content")}
        if role == "assistant":
            calls, ids = _calls(msg, row_name, where)
            tracker.called(calls, ids)
            if calls:
                out["tool_calls"] = calls
        elif role == "tool":
            call_id = msg.get("tool_call_id")
            name = msg.get("name") if isinstance(msg.get("name"), str) and msg.get("name") else None
            resolved = tracker.answer(call_id)
            if name or resolved:
                out["name"] = name or resolved
            if isinstance(call_id, str) and call_id:
                out["tool_call_id"] = call_id
        messages.append(out)
    return finish(Record(id=row_id(row, row_name), messages=messages, tools=tools), row_name)
