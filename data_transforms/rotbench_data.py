"""RoTBench test files as evaluation samples: the context before the last step, and its answers.

RoTBench (Ye et al., EMNLP 2024; github.com/Junjie-Ye/RoTBench, ``Data/First_Turn/*.json`` and
``Data/Third_Turn/*.json``) asks for one ReAct step. Each file is one JSON array of rows
``{"id", "conversations": [{"from", "value"}], "scenario"}``: a system prompt holding the ReAct
instructions and a JSON tool list, the user's query, for Third_Turn rows earlier assistant steps
with their ``function`` outputs (and sometimes a further user turn), and a last ``assistant`` turn
whose value is the LIST of acceptable answers, each ``Thought: ...\\nAction: name\\nAction Input:
{...}``.

Samples are named by position (``clean:12``): row ids repeat in the noisy files. The context keeps
every turn verbatim, the system prompt included, since the ReAct format the answer must follow is
described there. RoTBench's evaluation takes the finish tool to be the LAST tool of the list and
ask_to_user the SECOND-TO-LAST, whatever their (perturbed) names, so the sample records those two
names by position too. :func:`ground_truth` builds ``reward_fns.rotbench.compute_score``'s input.

>>> import json, pathlib, tempfile
>>> tools = [{"name": "get_time", "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}}},
...          {"name": "ask_to_user", "parameters": {"type": "object", "properties": {"question": {}}}},
...          {"name": "finih", "parameters": {"type": "object", "properties": {"answer": {}}}}]
>>> row = {"id": "Turn 1: Time in Oslo?", "scenario": "RS", "conversations": [
...     {"from": "system", "value": "Use these tools:\\n" + json.dumps(tools) + "\\n\\nLet's Begin!"},
...     {"from": "user", "value": "Time in Oslo?\\nBegin!\\n"},
...     {"from": "assistant", "value": ['Thought:\\nAction: get_time\\nAction Input: {"tz": "CET"}']}]}
>>> path = pathlib.Path(tempfile.mkdtemp()) / "clean.json"
>>> _ = path.write_text(json.dumps([row]))
>>> sample, = read_rotbench(path)
>>> sample.id, [m["role"] for m in sample.messages], [t["name"] for t in sample.tools]
('clean:0', ['system', 'user'], ['get_time', 'ask_to_user', 'finih'])
>>> sample.answers, sample.finish_name, sample.ask_name
([{'name': 'get_time', 'arguments': {'tz': 'CET'}}], 'finih', 'ask_to_user')
>>> ground_truth(sample)
'{"answers": [{"name": "get_time", "arguments": {"tz": "CET"}}], "finish": "finih", "ask": "ask_to_user"}'
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from data_transforms.io import iter_rows
from data_transforms.readers._common import ROLE_ALIASES, find_tool_list, turns
from data_transforms.records import RecordError, canonical_tools
from reward_fns.parsing import parse_tool_calls

__all__ = ["RoTBenchSample", "ground_truth", "read_rotbench", "rotbench_sample"]


@dataclass(frozen=True)
class RoTBenchSample:
    id: str  # "{file stem}:{0-based row position}"
    messages: list[dict]  # the context: {"role", "content"} chat messages, text verbatim
    tools: list[dict]  # canonical schemas, in the prompt's order
    answers: list[dict]  # the acceptable answers: {"name": str, "arguments": dict}
    finish_name: str  # the last tool's name: RoTBench's finish tool, by position
    ask_name: str  # the second-to-last tool's name: RoTBench's ask_to_user tool
    scenario: str | None  # TG, RS, DU, PL, AM, IR or FT


def read_rotbench(path) -> list[RoTBenchSample]:
    """Every row of a RoTBench test file (a JSON array; JSON Lines are read too) as a sample."""
    stem = Path(path).stem
    return [rotbench_sample(row, f"{stem}:{i}") for i, (_, row) in enumerate(iter_rows(path))]


def rotbench_sample(row: dict, sample_id: str) -> RoTBenchSample:
    """One row as a sample named ``sample_id``; a RecordError names the row and the field."""
    conv = row.get("conversations")
    if not isinstance(conv, list) or len(conv) < 2:
        raise RecordError(sample_id, "conversations", "must be a list of turns ending with the answer list")
    answer_texts = _answer_texts(conv[-1], sample_id)
    # The context turns are plain strings: read them with the shared ShareGPT walk (same indices).
    context = turns({"conversations": conv[:-1]}, sample_id)

    tools, tools_field, messages = None, "", []
    for turn in context:
        if turn.role == "system" and tools is None:
            found = find_tool_list(turn.text)
            if found is not None:
                tools_field = f"{turn.field}.tools"
                tools = canonical_tools(found.tools, sample_id, tools_field)
        messages.append({"role": turn.role, "content": turn.text})
    if tools is None:
        raise RecordError(sample_id, _system_field(context), "no JSON tool list in the system prompt")
    if len(tools) < 2:
        # RoTBench ends every list with ask_to_user and finish; it finds them by position.
        raise RecordError(sample_id, tools_field, f"needs at least 2 tools (ask_to_user, finish), got {len(tools)}")

    names = {t["name"] for t in tools}
    answers = []
    for j, text in enumerate(answer_texts):
        where = f"conversations[-1].value[{j}]"
        if not isinstance(text, str):
            raise RecordError(sample_id, where, f"an answer must be a string, got {type(text).__name__}")
        parsed = parse_tool_calls(text, "react")
        if parsed.status != "ok" or len(parsed.calls) != 1:
            problem = parsed.error or ("no Action line" if parsed.status != "ok" else f"{len(parsed.calls)} actions")
            raise RecordError(sample_id, where, f"must be one ReAct step ({problem}): {text[:120]!r}")
        call = parsed.calls[0]
        if call["name"] not in names:
            raise RecordError(sample_id, where, f"calls {call['name']!r}, which is not in the tool list")
        answers.append(call)

    scenario = row.get("scenario")
    return RoTBenchSample(
        id=sample_id,
        messages=messages,
        tools=tools,
        answers=answers,
        finish_name=tools[-1]["name"],
        ask_name=tools[-2]["name"],
        scenario=scenario if isinstance(scenario, str) else None,
    )


def ground_truth(sample: RoTBenchSample) -> str:
    """``reward_fns.rotbench.compute_score``'s ``ground_truth``: answers and the finish/ask names."""
    return json.dumps(
        {"answers": sample.answers, "finish": sample.finish_name, "ask": sample.ask_name}, ensure_ascii=False
    )


def _answer_texts(last, sample_id: str) -> list:
    if not isinstance(last, dict):
        raise RecordError(sample_id, "conversations[-1]", f"a turn must be an object, got {type(last).__name__}")
    speaker = last.get("from", last.get("role"))
    if not isinstance(speaker, str) or ROLE_ALIASES.get(speaker.strip().lower()) != "assistant":
        raise RecordError(
            sample_id, "conversations[-1].from", f"the last turn must be the assistant's answers, got {speaker!r}"
        )
    texts = last.get("value", last.get("content"))
    if not isinstance(texts, list) or not texts:
        got = type(texts).__name__ if not isinstance(texts, list) else "an empty list"
        raise RecordError(
            sample_id, "conversations[-1].value", f"must be a non-empty list of acceptable answers, got {got}"
        )
    return texts


def _system_field(context: list) -> str:
    for turn in context:
        if turn.role == "system":
            return turn.field
    return "conversations"
