"""Records to verl rows: RL prompts with gold calls, SFT conversations with per-message loss masks.

RL rows (docs/design.md#rl-rows), one per assistant step of a trajectory (context up to the step, gold =
that step's calls, ``[]`` for a final text answer), or one per prompt-only record (BFCL)::

    {"data_source", "prompt": [messages], "ability": "tool_use", "agent_name",
     "reward_model": {"style": "rule", "ground_truth": <JSON gold calls>},
     "extra_info": {"index", "id", "step", "split", "tools": <JSON tool list>}}

With ``label_column`` set (``tl-prepare rl.label_column=label``), each RL row also carries the gold
calls, tools and data source as one JSON string in that column: OpenRLHF's ``--label_key``
(``reward_fns/openrlhf_reward.py`` reads it).

A step whose calls got an error back is no gold: it is dropped from RL (counted), while it stays
in the context of later steps. Gold that no answer can satisfy is dropped and counted too.

SFT rows: ``{"messages": [... each with "loss_mask": 0|1], "tools": <JSON tool list>, "id"}`` (with
``tools_in_prompt=system_text``, ``tool_names`` (a list of the names) instead of ``tools``); only
assistant messages can have ``loss_mask`` 1. MAE (``mode=mask``) sets it to 0 on erroneous steps;
``mode=drop`` writes one row per good assistant step (context + that step, only it trained);
``mode=off`` trains every assistant step, erroneous or not (no MAE, for ablations).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from data_transforms.gold import gold_problem, reference_answer

# Writing files is data_transforms.io's job; these stay importable from here.
from data_transforms.masking import MODES, erroneous_steps, step_feedback
from data_transforms.records import Record, record_name, wrap_gold
from data_transforms.render import DEFAULT_SYSTEM_TEXT, TOOLS_IN_PROMPT, chat_messages, tools_json
from data_transforms.tally import Tally
from reward_fns.categories import FEEDBACK_ERRORS, canonical_category
from reward_fns.openrlhf_reward import tl_tool_label

__all__ = ["RowOptions", "rl_rows", "sft_rows"]


RESERVED_COLUMNS = ("data_source", "prompt", "ability", "agent_name", "reward_model", "extra_info")


@dataclass
class RowOptions:
    tools_in_prompt: str = "native"  # native | system_text
    system_text: str = DEFAULT_SYSTEM_TEXT
    agent_name: str | None = None  # None: tl_tool_agent for native, single_turn_agent for system_text
    data_source: str | None = None  # None: the source name (bfcl_<category> for BFCL)
    ability: str = "tool_use"
    final_answer_steps: bool = True  # RL rows for steps that answer in text (gold [])
    label_column: str | None = None  # also write gold + tools + data_source as one JSON string (OpenRLHF's label)
    mae_mode: str = "mask"  # mask | drop | off
    error_categories: tuple = FEEDBACK_ERRORS  # reward_fns.categories names (old spellings accepted)

    def __post_init__(self):
        if self.tools_in_prompt not in TOOLS_IN_PROMPT:
            raise ValueError(f"tools_in_prompt must be one of {TOOLS_IN_PROMPT}, got {self.tools_in_prompt!r}")
        if self.mae_mode not in MODES:
            raise ValueError(f"mae.mode must be one of {MODES}, got {self.mae_mode!r}")
        self.error_categories = tuple(map(canonical_category, self.error_categories))
        unknown = set(self.error_categories) - set(FEEDBACK_ERRORS)
        if unknown:
            raise ValueError(f"mae.error_categories: unknown {sorted(unknown)}; choose from {list(FEEDBACK_ERRORS)}")
        if self.label_column in RESERVED_COLUMNS:
            raise ValueError(
                f"rl.label_column must not be one of the RL row's own columns {RESERVED_COLUMNS}, got {self.label_column!r}"
            )
        if self.agent_name is None:
            self.agent_name = "tl_tool_agent" if self.tools_in_prompt == "native" else "single_turn_agent"


def _data_source(rec: Record, source: str, opts: RowOptions) -> str:
    if opts.data_source:
        return opts.data_source
    category = rec.meta.get("category")
    return f"{source}_{category}" if category else source


def _feedback(rec: Record, opts: RowOptions, tally: Tally | None) -> dict:
    # the RL and SFT writers both need it: classified (and counted) once per record
    feedback = tally.record_feedback(rec, step_feedback) if tally is not None else step_feedback(rec.messages)
    return erroneous_steps(feedback, opts.error_categories)


def rl_rows(rec: Record, source: str, opts: RowOptions, tally: Tally, split: str = "train") -> list:
    """The RL rows of one record (see module doc); drops are counted in ``tally``."""
    tools = tools_json(rec.tools)
    steps = []  # (step index, context messages, gold)
    if rec.gold is not None:
        steps.append((0, rec.messages, rec.gold))
    else:
        errors = _feedback(rec, opts, tally)
        for i, msg in enumerate(rec.messages):
            if msg["role"] != "assistant":
                continue
            if i in errors:
                tally.drop("rl", f"erroneous_step:{errors[i]}", record_name(rec))
                continue
            if not msg.get("tool_calls") and not opts.final_answer_steps:
                tally.drop("rl", "final_answer_step (rl.final_answer_steps=false)", record_name(rec))
                continue
            if not any(m["role"] == "user" for m in rec.messages[:i]):
                tally.drop("rl", "no_user_message_before_step", record_name(rec))
                continue
            steps.append((i, rec.messages[:i], wrap_gold(msg.get("tool_calls") or [], rec.tools)))
    rows = []
    for step, context, gold in steps:
        problem = gold_problem(gold, rec.tools)
        if problem is not None:
            tally.drop("rl", "unsatisfiable_gold", f"{record_name(rec)}: {problem}")
            continue
        row = {
            "data_source": _data_source(rec, source, opts),
            "prompt": chat_messages(context, rec.tools, opts.tools_in_prompt, opts.system_text),
            "ability": opts.ability,
            "agent_name": opts.agent_name,
            "reward_model": {"style": "rule", "ground_truth": json.dumps(gold, ensure_ascii=False)},
            "extra_info": {"index": 0, "id": rec.id, "step": step, "split": split, "tools": tools},
        }
        if opts.label_column:
            row[opts.label_column] = tl_tool_label(row["reward_model"]["ground_truth"], tools, row["data_source"])
        rows.append(row)
    return rows


def _sft_row(messages: list, trained: set, rec: Record, opts: RowOptions) -> dict:
    out = chat_messages(messages, rec.tools, opts.tools_in_prompt, opts.system_text)
    offset = len(out) - len(messages)  # system_text may add a system message in front
    for i, msg in enumerate(out):
        msg["loss_mask"] = 1 if (i - offset) in trained else 0
    if opts.tools_in_prompt == "system_text":
        # no tools column: the tools are in the system text, and verl's stock MultiTurnSFTDataset
        # can then read the file too (it cannot take a JSON-string tools column); the names stay
        # for PKT, which compares each called name with the others
        return {"messages": out, "tool_names": [t["name"] for t in rec.tools], "id": rec.id}
    return {"messages": out, "tools": tools_json(rec.tools), "id": rec.id}


def sft_rows(rec: Record, source: str, opts: RowOptions, tally: Tally, split: str = "train") -> list:
    """The SFT rows of one record (see module doc); masks and drops are counted in ``tally``."""
    if rec.gold is not None:
        if not rec.gold:
            text = rec.meta.get("answer_text")
            if isinstance(text, str) and text.strip():  # a source that gives the text answer (ToolRL)
                answer = {"role": "assistant", "content": text}
                return [_sft_row([*rec.messages, answer], {len(rec.messages)}, rec, opts)]
            tally.drop("sft", "no_reference_answer (gold is 'no call', no text answer given)", record_name(rec))
            return []
        problem = gold_problem(rec.gold, rec.tools)
        if problem is not None:
            tally.drop("sft", "unsatisfiable_gold", f"{record_name(rec)}: {problem}")
            return []
        answer = {"role": "assistant", "content": "", "tool_calls": reference_answer(rec.gold, rec.tools)}
        return [_sft_row([*rec.messages, answer], {len(rec.messages)}, rec, opts)]
    errors = _feedback(rec, opts, tally)  # classifies and counts the tool responses in every mode
    if opts.mae_mode == "off":
        errors = {}  # no MAE (ablations): erroneous steps are trained like the others
    assistant = [i for i, m in enumerate(rec.messages) if m["role"] == "assistant"]
    good = [i for i in assistant if i not in errors]
    if opts.mae_mode in ("mask", "off"):
        for category in errors.values():
            tally.masked[category] += 1
        if not good:
            tally.drop("sft", "nothing_to_train (every assistant step erroneous)", record_name(rec))
            return []
        last = max(good)  # messages after the last trained one teach nothing
        return [_sft_row(rec.messages[: last + 1], set(good), rec, opts)]
    for category in errors.values():
        tally.drop("sft", f"erroneous_step:{category}", record_name(rec))
    return [_sft_row(rec.messages[: i + 1], {i}, rec, opts) for i in good]
