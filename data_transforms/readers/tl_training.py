"""TL-Training's released trajectories (``data/raw_data.json`` of github.com/Junjie-Ye/TL-Training,
read by their ``code/mae/mae.py``; paper: "TL-Training: A Task-Feature-Based Framework for Training
Large Language Models in Tool Use").

A row is ``{"id", "conversations": [{"role", "content"}, ...]}``:

- the first turn is ``system`` and its content is exactly the JSON list of tools in OpenAI
  ``{"type": "function", "function": {...}}`` form; it becomes ``tools`` and no system message;
- every ``assistant`` turn is one call: the tool name on the first line, a JSON object of
  arguments on the rest. A name missing from the tools is still recorded as a call (it is a
  hallucination in the data, for the feedback classifier to catch); arguments that are not a JSON
  object raise RecordError;
- the final step is a call to the ``finish`` tool (``{"answer": ...}``); it stays a call, as the
  data has it, rather than being turned into a text answer: ``finish`` is one of the row's tools,
  so the step is scored like any other call;
- ``function`` (or ``output``) turns are tool responses, named after the preceding call.

Roles are matched case-insensitively (``System``, ``Assistant``, ``Function``, ...).

>>> rec = read_tl_training({"id": "t1", "conversations": [
...     {"role": "system", "content": '[{"type": "function", "function": {"name": "finish", "parameters": '
...                                   '{"type": "object", "properties": {"answer": {"type": "string"}}}}}]'},
...     {"role": "User", "content": "Say hi."},
...     {"role": "Assistant", "content": 'finish\\n{"answer": "hi"}'}]}, "raw_data.json[0]")
>>> rec.messages
[{'role': 'user', 'content': 'Say hi.'}, {'role': 'assistant', 'content': '', 'tool_calls': [{'name': 'finish', 'arguments': {'answer': 'hi'}}]}]
"""

from __future__ import annotations

import json

from data_transforms.readers._common import CallTracker, finish, row_id, turns
from data_transforms.records import Record, RecordError, canonical_tools, tool_call

__all__ = ["read_tl_training"]


def _call(text: str, row_name: str, field: str) -> dict:
    name, _, rest = text.partition("\n")
    try:
        arguments = json.loads(rest)
    except (ValueError, RecursionError) as exc:
        raise RecordError(
            row_name, field, f"must be a tool name line then a JSON object of arguments ({exc}): {text[:120]!r}"
        ) from None
    if not isinstance(arguments, dict):
        raise RecordError(row_name, field, f"arguments must be a JSON object, got {rest.strip()[:120]!r}")
    return tool_call(name.strip(), arguments, row_name, field)


def read_tl_training(row: dict, row_name: str) -> Record:
    """One row of TL-Training's ``raw_data.json`` as a Record (see the module docstring)."""
    conv = turns(row, row_name)
    if conv[0].role != "system":
        raise RecordError(row_name, conv[0].field, "the first turn must be the system turn holding the tool list")
    tools = canonical_tools(conv[0].text, row_name, conv[0].field)

    tracker = CallTracker()
    messages = []
    for turn in conv[1:]:
        if turn.role == "assistant":
            call = _call(turn.text, row_name, turn.field)
            tracker.called([call])
            messages.append({"role": "assistant", "content": "", "tool_calls": [call]})
        elif turn.role == "tool":
            name = tracker.answer()
            messages.append({"role": "tool", "content": turn.text, **({"name": name} if name else {})})
        else:
            messages.append({"role": turn.role, "content": turn.text})
    return finish(Record(id=row_id(row, row_name), messages=messages, tools=tools), row_name)
