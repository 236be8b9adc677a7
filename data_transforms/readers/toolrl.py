"""ToolRL and Tool-N1 rows: verl rows whose system prompt carries the tools and whose ground truth
is the next assistant turn written as text.

Both projects publish verl-format data (parquet or JSON): ``prompt`` is a list of chat messages,
``reward_model.ground_truth`` the answer. ToolRL's SFT file has the same content as
``{"instruction": system prompt, "input": user text, "output": answer}``. Accepted:

- **Tools** in the first system message, in either project's layout:
  ToolRL's numbered entries ``N. Name: X`` / ``Description: ...`` / ``Parameters: {...}``, or
  Tool-N1's ``<tools>`` block with one function schema per line (OpenAI wrapper or plain).
  ``Parameters`` may be a JSON schema or the flat xLAM form ``{param: {"type", "description",
  "default"}}`` (read as an object schema with those properties and no ``required`` list: the gold
  call says what must be given). Python-style types (``"str, optional"``, ``"List[int]"``) are
  mapped like every source's (:mod:`reward_fns.schema_types`).
- **History**: ToolRL writes the whole dialogue into the user message as tagged text after
  ``**Dialogue Records History**``: ``<user>`` (user), ``<tool_call>`` (assistant calls, one JSON
  object per line, ``"parameters"`` or ``"arguments"``), ``<obs>`` (the tools' results; a JSON
  list with one item per call becomes one tool message per call), ``<response>`` (assistant text);
  ``<think>`` is dropped. Tool-N1 uses real messages; an assistant message whose content is its
  calls as JSON (Tool-N1 encodes that list twice) becomes a call message.
- **Gold**: ``<tool_call>`` blocks in the ground truth (after ``<think>``, which is dropped: a
  ``<tool_call>`` quoted inside the reasoning is not the answer) are the gold calls; a ground
  truth with only ``<response>`` text means "call no tool" (gold ``[]``; the text is kept in
  ``meta["answer_text"]``, the SFT target of that row); a JSON list of
  ``{"name", "arguments"}`` (Tool-N1) is read as the calls.

The system prompt itself is not kept: the tools go to ``extra_info.tools`` and the chat template
(or ``tools_in_prompt=system_text``) presents them. Gold calls that name no listed tool (ToolRL's
names cut at ``(``) are read here and counted later as ``unsatisfiable_gold`` with the name quoted.

>>> system = 'Tools:\\n1. Name: get_news\\nDescription: News.\\nParameters: {"page": {"type": "int, optional", "default": ""}}\\n\\n**Steps**'
>>> rec = read_toolrl({"prompt": [{"role": "system", "content": system},
...     {"role": "user", "content": "**Dialogue Records History**\\n<user> Azure news? </user>"}],
...     "reward_model": {"ground_truth": '<think> ok </think>\\n<tool_call>\\n{"name": "get_news", "parameters": {"page": 1}}\\n</tool_call>'}},
...     "test.parquet[0]")
>>> rec.messages, rec.gold
([{'role': 'user', 'content': 'Azure news?'}], [{'name': 'get_news', 'arguments': {'page': [1]}}])
>>> rec.tools[0]["parameters"]
{'type': 'object', 'properties': {'page': {'type': 'integer', 'default': ''}}}
"""

from __future__ import annotations

import json
import re

from data_transforms.readers._common import CallTracker, finish, row_id
from data_transforms.records import Record, RecordError, canonical_tools, decode_json, tool_call, wrap_gold
from reward_fns.parsing import MALFORMED, parse_tool_calls

__all__ = ["read_toolrl"]

_DECODER = json.JSONDecoder()
# ToolRL: "1. Name: X" at a line start, then Description and Parameters lines.
_NUMBERED_TOOL = re.compile(r"^[ \t]*\d+\.[ \t]*Name:[ \t]*([^\n]*)$", re.MULTILINE)
_FIELD = re.compile(r"^[ \t]*(Description|Parameters):[ \t]?", re.MULTILINE)
_HISTORY_MARK = "**Dialogue Records History**"
_HISTORY_TAGS = ("user", "think", "tool_call", "obs", "response")
_ROLES = {"user": "user", "assistant": "assistant", "tool": "tool", "function": "tool", "observation": "tool"}


def _numbered_tools(text: str, row_name: str, field: str) -> list | None:
    """ToolRL's ``N. Name:`` entries as schemas, or None if the text has none."""
    heads = list(_NUMBERED_TOOL.finditer(text))
    if not heads:
        return None
    tools = []
    for k, head in enumerate(heads):
        end = heads[k + 1].start() if k + 1 < len(heads) else len(text)
        body = text[head.end() : end]
        fields, marks = {}, list(_FIELD.finditer(body))
        for j, m in enumerate(marks):
            stop = marks[j + 1].start() if j + 1 < len(marks) else len(body)
            fields[m.group(1)] = body[m.end() : stop]
        name = head.group(1).strip()
        where = f"{field}: tool {k + 1} ({name!r})"
        if "Parameters" not in fields:
            raise RecordError(row_name, where, "has no 'Parameters:' line")
        try:
            params, _ = _DECODER.raw_decode(fields["Parameters"].lstrip())
        except ValueError as exc:
            raise RecordError(row_name, where, f"Parameters is not JSON ({exc})") from None
        tools.append({"name": name, "description": fields.get("Description", "").strip(), "parameters": params})
    return tools


def _tools_block(text: str, row_name: str, field: str) -> list | None:
    """Tool-N1's ``<tools>`` block (one schema per line, or a JSON list), or None."""
    start = text.find("<tools>")
    if start < 0:
        return None
    end = text.find("</tools>", start)
    if end < 0:
        raise RecordError(row_name, field, "<tools> without </tools>")
    body, pos, tools = text[start + len("<tools>") : end], 0, []
    while True:
        while pos < len(body) and body[pos] in " \t\r\n":
            pos += 1
        if pos >= len(body):
            return tools
        try:
            value, pos = _DECODER.raw_decode(body, pos)
        except ValueError as exc:
            raise RecordError(row_name, field, f"<tools> entry {len(tools)} is not JSON ({exc})") from None
        tools.extend(value if isinstance(value, list) else [value])


def _flat_parameters(tool):
    """xLAM's flat ``{param: {"type", ...}}`` as an object schema (a real schema is kept)."""
    if not isinstance(tool, dict):
        return tool
    fn = tool["function"] if isinstance(tool.get("function"), dict) else tool
    params = fn.get("parameters")
    if (
        isinstance(params, dict)
        and params
        and "properties" not in params
        and all(isinstance(v, dict) for v in params.values())
    ):
        fn = {**fn, "parameters": {"type": "object", "properties": params}}
    elif params == {}:
        fn = {**fn, "parameters": {"type": "object", "properties": {}}}
    return fn


def _calls_from_text(text: str, row_name: str, field: str) -> list | None:
    """Calls in ``<tool_call>`` blocks of ``text`` (None when it has none); malformed: RecordError."""
    if "<tool_call>" not in text:
        return None
    parsed = parse_tool_calls(text, "hermes")
    if parsed.status == MALFORMED:
        raise RecordError(row_name, field, f"a <tool_call> block is not JSON calls ({parsed.error}): {text[:120]!r}")
    if not parsed.calls:
        return None  # the only <tool_call> was inside <think>
    return [tool_call(c["name"], c["arguments"], row_name, field) for c in parsed.calls]


def _json_calls(text: str, row_name: str, field: str) -> list | None:
    """A JSON list of ``{"name", "arguments"}`` (possibly encoded twice, as Tool-N1 does), or None."""
    value = text.strip()
    for _ in range(2):
        if not isinstance(value, str) or value[:1] not in '[{"':
            break
        try:
            value = json.loads(value)
        except ValueError:
            return None
    if isinstance(value, dict) and "name" in value:
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, dict) and isinstance(v.get("name"), str) for v in value):
        return None
    return [
        tool_call(v["name"], v.get("arguments", v.get("parameters")), row_name, f"{field}[{i}]")
        for i, v in enumerate(value)
    ]


def _history(text: str, row_name: str, field: str) -> list:
    """ToolRL's tagged dialogue text as messages."""
    messages, tracker, pos = [], CallTracker(), 0
    mark = text.find(_HISTORY_MARK)
    if mark >= 0:
        pos = mark + len(_HISTORY_MARK)
    while True:
        start = text.find("<", pos)
        if start < 0:
            break
        tag = next((t for t in _HISTORY_TAGS if text.startswith(f"<{t}>", start)), None)
        if tag is None:
            pos = start + 1
            continue
        body_start = start + len(tag) + 2
        end = text.find(f"</{tag}>", body_start)
        if end < 0:
            raise RecordError(row_name, field, f"<{tag}> at character {start} is never closed")
        body = text[body_start:end].strip()
        pos = end + len(tag) + 3
        if tag == "user":
            messages.append({"role": "user", "content": body})
        elif tag == "response":
            messages.append({"role": "assistant", "content": body})
        elif tag == "tool_call":
            calls = _calls_from_text(f"<tool_call>{body}</tool_call>", row_name, field) or []
            tracker.called(calls)
            messages.append({"role": "assistant", "content": "", "tool_calls": calls})
        elif tag == "obs":
            results = _obs_results(body, len(tracker.names))
            for result in results:
                msg = {"role": "tool", "content": result}
                name = tracker.answer()
                if name:
                    msg["name"] = name
                messages.append(msg)
    if not messages:  # no tags at all: the user message is the query itself
        messages.append({"role": "user", "content": text.strip()})
    return messages


def _obs_results(body: str, n_calls: int) -> list:
    # ToolRL's <obs> is a JSON list with one {"name", "results"} per call when it decodes
    try:
        value = json.loads(body)
    except ValueError:
        return [body]
    if isinstance(value, list) and n_calls > 1 and len(value) == n_calls:
        return [json.dumps(v, ensure_ascii=False) for v in value]
    return [body]


def _response_text(gt: str) -> str:
    start = gt.find("<response>")
    if start < 0:
        return ""
    end = gt.find("</response>", start)
    return gt[start + len("<response>") : end if end >= 0 else len(gt)].strip()


def _fields(row: dict, row_name: str):
    """``(messages, ground truth, prompt field name)`` from either row shape."""
    if row.get("prompt") is not None:
        prompt = decode_json(row["prompt"], row_name, "prompt")
        reward_model = decode_json(row.get("reward_model"), row_name, "reward_model")
        gt = reward_model.get("ground_truth") if isinstance(reward_model, dict) else None
        if not isinstance(prompt, list) or not prompt:
            raise RecordError(row_name, "prompt", f"must be a non-empty list of messages, got {type(prompt).__name__}")
        return prompt, gt, "reward_model.ground_truth"
    if row.get("instruction") is not None and row.get("output") is not None:
        prompt = [{"role": "system", "content": row["instruction"]}, {"role": "user", "content": row.get("input", "")}]
        return prompt, row["output"], "output"
    raise RecordError(
        row_name, "prompt", "a ToolRL / Tool-N1 row needs 'prompt' + 'reward_model', or 'instruction' + 'output'"
    )


def read_toolrl(row: dict, row_name: str) -> Record:
    """One ToolRL or Tool-N1 row as a prompt-only Record with gold calls (see module docstring)."""
    prompt, gt, gt_field = _fields(row, row_name)
    tools, messages, tracker = None, [], CallTracker()
    for i, msg in enumerate(prompt):
        where = f"prompt[{i}]"
        if not isinstance(msg, dict) or not isinstance(msg.get("content"), str):
            raise RecordError(row_name, where, f"a message needs a string 'content', got {str(msg)[:120]!r}")
        role, text = msg.get("role"), msg["content"]
        if role == "system":
            if tools is None:
                found = _numbered_tools(text, row_name, f"{where}.content")
                tools = found if found is not None else _tools_block(text, row_name, f"{where}.content")
            continue
        if role == "user" and (_HISTORY_MARK in text or "<user>" in text):
            messages.extend(_history(text, row_name, f"{where}.content"))
            continue
        mapped = _ROLES.get(role) if isinstance(role, str) else None
        if mapped is None:
            raise RecordError(row_name, f"{where}.role", f"unknown role {role!r}")
        out = {"role": mapped, "content": text}
        if mapped == "assistant":
            calls = _calls_from_text(text, row_name, f"{where}.content") or _json_calls(
                text, row_name, f"{where}.content"
            )
            if calls:
                out = {"role": "assistant", "content": "", "tool_calls": calls}
                tracker.called(calls)
        elif mapped == "tool":
            name = tracker.answer()
            if name:
                out["name"] = name
        messages.append(out)
    if tools is None:
        raise RecordError(
            row_name,
            "prompt[0].content",
            "no tool list found in the system prompt ('N. Name:' entries or a <tools> block)",
        )
    tools = canonical_tools([_flat_parameters(t) for t in tools], row_name, "tools")

    if not isinstance(gt, str):
        raise RecordError(row_name, gt_field, f"must be a string, got {type(gt).__name__}")
    calls = _calls_from_text(gt, row_name, gt_field)
    if calls is None and gt.strip()[:1] in ("[", "{", '"'):
        calls = _json_calls(gt, row_name, gt_field)
        if calls is None:
            raise RecordError(row_name, gt_field, f"neither <tool_call> text nor a JSON list of calls: {gt[:120]!r}")
    if calls is None:
        if "<response>" not in gt:
            raise RecordError(row_name, gt_field, f"holds no <tool_call> block and no <response>: {gt[:120]!r}")
        calls = []  # a text answer: no tool should be called
    meta = {"category": row["data_source"]} if isinstance(row.get("data_source"), str) and row["data_source"] else {}
    if not calls:
        meta["answer_text"] = _response_text(gt)  # the SFT target where no tool is called
    return finish(
        Record(id=row_id(row, row_name), messages=messages, tools=tools, gold=wrap_gold(calls, tools), meta=meta),
        row_name,
    )
