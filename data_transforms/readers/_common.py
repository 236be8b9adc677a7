"""Pieces the readers share: row ids, ShareGPT-style turns, tool lists embedded in prompt text,
and naming tool responses after the calls they answer.

>>> text = 'Tools:\\n[{"name": "f", "parameters": {"type": "dict", "properties": {}}}].\\nBe brief.'
>>> tools, start, end = find_tool_list(text)
>>> tools, text[:start] + text[end:]
([{'name': 'f', 'parameters': {'type': 'dict', 'properties': {}}}], 'Tools:\\n.\\nBe brief.')
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import NamedTuple

from data_transforms.records import Record, RecordError, check_record

__all__ = ["ROLE_ALIASES", "CallTracker", "Turn", "finish", "find_tool_list", "row_id", "turns"]

# Field names that datasets use for their own row id, most specific first.
ID_FIELDS = ("id", "sample_id", "conversation_id", "conv_id", "uuid")

# ShareGPT speaker names (and the role names of role/content dumps), lower-cased.
ROLE_ALIASES = {
    "system": "system",
    "user": "user",
    "human": "user",
    "assistant": "assistant",
    "gpt": "assistant",
    "tool": "tool",
    "function": "tool",  # RoTBench, ToolLLaMA, TL-Training
    "observation": "tool",  # ShareGPT / LLaMA-Factory
    "output": "tool",  # TL-Training
}

_DECODER = json.JSONDecoder()
# `[` then optional whitespace then `{`: where an embedded JSON list of schemas may start.
_LIST_START = re.compile(r"\[\s*\{")
# Real prompts hold a handful of `[{` that are not the tool list (examples, placeholders).
MAX_FAILED_CANDIDATES = 64


def row_id(row: dict, row_name: str) -> str:
    """The row's own id (``id``, ``sample_id``, ...) as a string, else ``row_name``."""
    for key in ID_FIELDS:
        value = row.get(key)
        if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value):
            return str(value)
    return row_name


def finish(rec: Record, row_name: str) -> Record:
    """``check_record(rec)``, with errors naming the source row rather than only the record id."""
    try:
        return check_record(rec)
    except RecordError as exc:
        if rec.id == row_name:
            raise
        raise RecordError(f"{row_name} (id {rec.id})", exc.field, exc.problem) from None


@dataclass
class Turn:
    index: int  # position in the source list, for error messages
    role: str  # one of system / user / assistant / tool
    text: str
    field: str  # e.g. "conversations[3].value"


def turns(row: dict, row_name: str, key: str = "conversations") -> list[Turn]:
    """The turns of ``row[key]``: ``{"from", "value"}`` or ``{"role", "content"}`` dicts.

    Speaker names are matched case-insensitively through :data:`ROLE_ALIASES`; an unknown speaker,
    a missing list or a non-string value raises RecordError.
    """
    raw = row.get(key)
    if not isinstance(raw, list) or not raw:
        got = "missing" if raw is None else f"{type(raw).__name__} {str(raw)[:60]!r}"
        raise RecordError(row_name, key, f"must be a non-empty list of turns, got {got}")
    out = []
    for i, turn in enumerate(raw):
        where = f"{key}[{i}]"
        if not isinstance(turn, dict):
            raise RecordError(row_name, where, f"a turn must be an object, got {type(turn).__name__}")
        role_key, text_key = ("from", "value") if "from" in turn else ("role", "content")
        speaker = turn.get(role_key)
        role = ROLE_ALIASES.get(speaker.strip().lower()) if isinstance(speaker, str) else None
        if role is None:
            raise RecordError(row_name, f"{where}.{role_key}", f"unknown speaker {speaker!r}")
        text = turn.get(text_key)
        if not isinstance(text, str):
            raise RecordError(row_name, f"{where}.{text_key}", f"must be a string, got {type(text).__name__}")
        out.append(Turn(i, role, text, f"{where}.{text_key}"))
    return out


def _looks_like_tool(item) -> bool:
    if not isinstance(item, dict):
        return False
    if isinstance(item.get("function"), dict):
        item = item["function"]
    return isinstance(item.get("name"), str)


class ToolList(NamedTuple):
    """A JSON list of tool schemas found in a text, and where: ``text[start:end]``."""

    tools: list
    start: int
    end: int


def find_tool_list(text: str) -> ToolList | None:
    """The first JSON list of tool schemas embedded in ``text`` (a :class:`ToolList`), or None.

    Candidates are the places where ``[`` is followed (after whitespace) by ``{``; the first that
    decodes to a non-empty list of objects with a ``name`` (or an OpenAI ``function`` wrapper)
    wins. A candidate that decodes is skipped as a whole, and one that fails resumes the scan where
    the decoder stopped. Building a JSONDecodeError counts the lines before it (time proportional
    to its offset), so after :data:`MAX_FAILED_CANDIDATES` failures the scan gives up: linear time.
    """
    pos, failed = 0, 0
    while failed < MAX_FAILED_CANDIDATES:
        m = _LIST_START.search(text, pos)
        if m is None:
            return None
        try:
            value, end = _DECODER.raw_decode(text, m.start())
        except json.JSONDecodeError as exc:
            pos, failed = max(exc.pos, m.start() + 1), failed + 1
            continue
        except RecursionError:
            pos, failed = m.start() + 1, failed + 1
            continue
        if isinstance(value, list) and value and all(_looks_like_tool(v) for v in value):
            return ToolList(value, m.start(), end)
        pos = end
    return None


class CallTracker:
    """Names each tool response after the call it answers.

    By ``tool_call_id`` when the source has ids, else by position: the k-th response after an
    assistant turn answers that turn's k-th call.
    """

    def __init__(self):
        self.names: list[str] = []  # names of the latest assistant turn's calls
        self._by_id: dict[str, str] = {}
        self._answered = 0

    def called(self, calls: list, ids=()) -> None:
        self.names = [c["name"] for c in calls]
        self._answered = 0
        for call_id, call in zip(ids, calls):
            if isinstance(call_id, str) and call_id:
                self._by_id[call_id] = call["name"]

    def answer(self, call_id=None) -> str | None:
        k, self._answered = self._answered, self._answered + 1
        if isinstance(call_id, str) and call_id in self._by_id:
            return self._by_id[call_id]
        return self.names[k] if k < len(self.names) else None
