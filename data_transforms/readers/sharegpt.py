"""ShareGPT-style tool-use rows: ``{"conversations": [{"from", "value"}, ...]}`` (``role`` /
``content`` keys are read too), in two styles of call text.

**ToolACE** (:func:`read_toolace`; Team-ACE/ToolACE ``data.json``, paper "ToolACE: Winning the
Points of LLM Function Calling"): ``{"system", "conversations"}`` with speakers ``user`` /
``assistant`` / ``tool``. The tools are a JSON list inside the ``system`` prompt, the assistant
calls are a Python call list ``[get_weather(city="Paris"), get_time(tz="CET")]`` (parsed with
:func:`reward_fns.parsing.parse_tool_calls`, format ``python``; tool names with spaces, which
ToolACE has, are read too). Anything else is a text answer, except text that starts like a call
list but does not parse (``[f(x=``...), which raises RecordError. A tool turn that is a JSON list
``[{"name", "results"}, ...]`` with one item per call becomes one tool message per item (content:
the ``results``); any other tool turn is one message.

**ReAct** (:func:`read_react`; RoTBench, ToolEyes, ToolLLaMA/ToolBench): speakers ``system`` /
``user`` / ``assistant`` / ``function``; the tools are a JSON list inside the system turn or a
``tools`` / ``functions`` field; an assistant step is ``Thought: ...\\nAction: name\\nAction Input:
{...}``. The call becomes ``tool_calls`` and the thought (its ``Thought:`` label removed) the
message content; a step without an ``Action:`` line is a text answer; an ``Action`` block that
does not decode raises RecordError. A ``function`` turn is the response to the previous call.

Speakers are matched case-insensitively with the usual aliases (``human`` = user, ``gpt`` =
assistant, ``observation`` / ``function`` = tool).

**System text.** A system text from which the tool list was taken is the source's tool-use
instruction prompt: it describes the source's call syntax (Python lists, ReAct), which would
contradict the format the writers render calls in (the chat template's own, or ``<tool_call>``
blocks). So by default it is dropped, and only ``tools`` carries the list; with
``keep_system_text=True`` the rest of the text (the JSON list cut out) is kept as the system
message. A system text that held no tool list is kept as it is. A row whose assistant calls tools
but that has no JSON tool list anywhere raises RecordError (field ``tools``) rather than yielding
calls without schemas; ToolBench's Python-repr lists end up there, as they are not JSON.

**Auto-detection** (:func:`read_sharegpt`, :func:`sharegpt_style`): a row is ReAct if some assistant
turn has a line starting with ``Action:``; otherwise ToolACE. The ReAct marker is checked first
because it is specific, whereas a ``system`` field is common to ShareGPT dumps of every style; a
row with neither Python calls nor ``Action:`` lines (plain chat) reads the same either way.

>>> row = {"system": 'Functions:\\n[{"name": "get_weather", "parameters": {"type": "dict", '
...        '"properties": {"city": {"type": "string"}}, "required": ["city"]}}]',
...        "conversations": [{"from": "user", "value": "Weather in Paris?"},
...                          {"from": "assistant", "value": '[get_weather(city="Paris")]'}]}
>>> rec = read_sharegpt(row, "toolace.json[0]")
>>> rec.messages
[{'role': 'user', 'content': 'Weather in Paris?'}, {'role': 'assistant', 'content': '', 'tool_calls': [{'name': 'get_weather', 'arguments': {'city': 'Paris'}}]}]
>>> rec.tools[0]["parameters"]["type"]
'object'
"""

from __future__ import annotations

import json
import re

from data_transforms.readers._common import (
    ROLE_ALIASES,
    CallTracker,
    Turn,
    find_tool_list,
    finish,
    row_id,
    turns,
)
from data_transforms.records import Record, RecordError, canonical_tools
from reward_fns.parsing import parse_tool_calls

__all__ = ["read_react", "read_sharegpt", "read_toolace", "sharegpt_style"]

# Same anchoring as the ReAct parser: an `Action:` line (not `Action Input:`).
_ACTION_LINE = re.compile(r"^[ \t]*Action[ \t]*:", re.MULTILINE)
_THOUGHT_LABEL = re.compile(r"Thought[ \t]*:[ \t]*", re.IGNORECASE)


# --------------------------------------------------------------------------- shared walk


def _system_turns(row: dict, row_name: str, conv: list) -> list:
    """A row-level ``system`` field (ToolACE, LLaMA-Factory) goes before the conversation."""
    system = row.get("system")
    if system is None or system == "":
        return conv
    if not isinstance(system, str):
        raise RecordError(row_name, "system", f"must be a string, got {type(system).__name__}")
    return [Turn(-1, "system", system, "system"), *conv]


def _read(row, row_name, keep_system_text, assistant, tool) -> Record:
    """Walk the turns; ``assistant(turn, tool_names) -> (content, calls)`` and
    ``tool(turn, tracker) -> [tool messages]`` supply the style-specific parts."""
    conv = _system_turns(row, row_name, turns(row, row_name))
    tools_key = "tools" if row.get("tools") is not None else "functions"
    tools = None  # None: not given (yet); an empty field, like LLaMA-Factory's "[]", counts as not given
    if row.get(tools_key) is not None:
        tools = canonical_tools(row[tools_key], row_name, tools_key) or None

    tracker = CallTracker()
    messages, called = [], False
    for turn in conv:
        if turn.role == "system":
            found = find_tool_list(turn.text)
            if found is None:
                messages.append({"role": "system", "content": turn.text})
                continue
            if tools is None:
                tools = canonical_tools(found.tools, row_name, f"{turn.field}.tools")
            rest = (turn.text[: found.start] + turn.text[found.end :]).strip()
            if keep_system_text and rest:
                messages.append({"role": "system", "content": rest})
        elif turn.role == "assistant":
            content, calls = assistant(turn, {t["name"] for t in tools or ()})
            tracker.called(calls)
            called = called or bool(calls)
            messages.append({"role": "assistant", "content": content, **({"tool_calls": calls} if calls else {})})
        elif turn.role == "tool":
            messages.extend(tool(turn, tracker))
        else:
            messages.append({"role": "user", "content": turn.text})
    if called and not tools:
        # Calls without schemas cannot be rendered or checked; most likely the embedded list is
        # not JSON (ToolBench prints Python reprs) or has a syntax error.
        raise RecordError(
            row_name,
            "tools",
            "the assistant calls tools, but no JSON list of tool schemas was "
            "found in the system prompt and the row has no tools/functions field",
        )
    return finish(Record(id=row_id(row, row_name), messages=messages, tools=tools or []), row_name)


def _tool_message(content: str, name: str | None) -> dict:
    return {"role": "tool", "content": content, **({"name": name} if name else {})}


# --------------------------------------------------------------------------- ToolACE

_IDENTIFIER = re.compile(r"[A-Za-z_][\w.]*\Z")
_ALIAS = "__tl_tool_"
_ALIAS_CALL = re.compile(r"__tl_tool_(\d+)__\(")
_PY_DELIMITERS = re.compile(r"([\[\](),=])")


def _restore(value, odd: list):
    if isinstance(value, str):
        return _ALIAS_CALL.sub(lambda m: odd[int(m.group(1))] + "(", value) if _ALIAS in value else value
    if isinstance(value, list):
        return [_restore(v, odd) for v in value]
    if isinstance(value, dict):
        return {_restore(k, odd): _restore(v, odd) for k, v in value.items()}
    return value


def _parse_python_calls(text: str, tool_names: set):
    """``parse_tool_calls(text, "python")``, also for tool names that are not Python identifiers.

    ToolACE names tools like ``Get Stock Quote``; such a name in front of ``(`` is swapped for an
    identifier alias before parsing and swapped back after (in string values too, where an alias
    can land when a string holds ``, Get Stock Quote(``). One split on delimiters: linear.
    """
    odd = sorted(n for n in tool_names if not _IDENTIFIER.match(n))
    if not odd or _ALIAS in text:
        return parse_tool_calls(text, "python")
    alias_of = {name: f"{_ALIAS}{i}__" for i, name in enumerate(odd)}
    parts = _PY_DELIMITERS.split(text)  # text, delimiter, text, delimiter, ...
    changed = False
    for k in range(0, len(parts) - 1, 2):
        if parts[k + 1] == "(" and parts[k].strip() in alias_of:
            seg = parts[k]
            parts[k] = seg[: len(seg) - len(seg.lstrip())] + alias_of[seg.strip()]
            changed = True
    if not changed:
        return parse_tool_calls(text, "python")
    result = parse_tool_calls("".join(parts), "python")
    name_of = {alias: name for name, alias in alias_of.items()}
    for call in result.calls:
        call["name"] = name_of.get(call["name"], call["name"])
        call["arguments"] = _restore(call["arguments"], odd)
    return result


def _toolace_assistant(row_name: str):
    def assistant(turn: Turn, tool_names: set):
        result = _parse_python_calls(turn.text, tool_names)
        if result.status == "ok":
            return "", result.calls
        if result.status == "malformed":
            # It starts like a call list (`[name(` + keyword) but does not parse: bad data, not an answer.
            raise RecordError(
                row_name, turn.field, f"a Python call list that does not parse ({result.error}): {turn.text[:120]!r}"
            )
        return turn.text, []

    return assistant


def _result_items(text: str, n_calls: int):
    """The items of a ``[{"name", "results"}, ...]`` tool turn with one item per call, else None."""
    if n_calls == 0 or not text.lstrip().startswith("["):
        return None
    try:
        items = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(items, list) or len(items) != n_calls:
        return None
    if not all(isinstance(it, dict) and isinstance(it.get("name"), str) and it["name"] for it in items):
        return None
    return items


def _toolace_tool(turn: Turn, tracker: CallTracker) -> list:
    items = _result_items(turn.text, len(tracker.names))
    if items is None:
        # One response for the whole turn: named only when it can answer just one call.
        return [_tool_message(turn.text, tracker.names[0] if len(tracker.names) == 1 else None)]
    out = []
    for item in items:
        results = item.get("results", item)
        content = results if isinstance(results, str) else json.dumps(results, ensure_ascii=False)
        out.append(_tool_message(content, item["name"]))
    return out


def read_toolace(row: dict, row_name: str, *, keep_system_text: bool = False) -> Record:
    """One ToolACE row (Python call lists) as a Record; see the module docstring."""
    return _read(row, row_name, keep_system_text, _toolace_assistant(row_name), _toolace_tool)


# --------------------------------------------------------------------------- ReAct


def _react_assistant(row_name: str):
    def assistant(turn: Turn, tool_names: set):
        result = parse_tool_calls(turn.text, "react")
        if result.status == "malformed":
            raise RecordError(
                row_name, turn.field, f"a ReAct step that does not parse ({result.error}): {turn.text[:120]!r}"
            )
        if result.status != "ok":
            return turn.text, []
        action = _ACTION_LINE.search(turn.text)  # None only if the Action line sat after a </think>
        thought = turn.text[: action.start()].strip() if action else ""
        label = _THOUGHT_LABEL.match(thought)
        return (thought[label.end() :] if label else thought), result.calls

    return assistant


def _react_tool(turn: Turn, tracker: CallTracker) -> list:
    return [_tool_message(turn.text, tracker.answer())]


def read_react(row: dict, row_name: str, *, keep_system_text: bool = False) -> Record:
    """One ReAct-style row (RoTBench, ToolEyes, ToolLLaMA) as a Record; see the module docstring."""
    return _read(row, row_name, keep_system_text, _react_assistant(row_name), _react_tool)


# --------------------------------------------------------------------------- auto-detection


def sharegpt_style(row: dict) -> str:
    """``"react"`` if some assistant turn has an ``Action:`` line, else ``"toolace"``."""
    conv = row.get("conversations")
    for turn in conv if isinstance(conv, list) else ():
        if not isinstance(turn, dict):
            continue
        speaker, text = (turn.get("from"), turn.get("value"))
        if "from" not in turn:
            speaker, text = turn.get("role"), turn.get("content")
        role = ROLE_ALIASES.get(speaker.strip().lower()) if isinstance(speaker, str) else None
        if role == "assistant" and isinstance(text, str) and _ACTION_LINE.search(text):
            return "react"
    return "toolace"


def read_sharegpt(row: dict, row_name: str, *, keep_system_text: bool = False) -> Record:
    """A ShareGPT row in either style, chosen by :func:`sharegpt_style`."""
    read = read_react if sharegpt_style(row) == "react" else read_toolace
    return read(row, row_name, keep_system_text=keep_system_text)
