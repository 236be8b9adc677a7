"""ToolDev's training tasks as verl SFT rows (ToolDev 3.2-3.3, appendix B; docs/design.md#tooldev-steps).

Three tasks, each a short chat whose last assistant message is trained (``loss_mask`` 1):

* documentation adaption: the tool-signature system prompt, user "Generate a tool definition
  according to the description: {description}", assistant ``<tools>\\n{schema JSON}\\n</tools>``;
* query-aware tool generation: the same system prompt, user "Generate tools to solve the query:
  {query}", assistant ``<tools>\\n[{schema}, ...]\\n</tools>``;
* invocation: the candidate tools in the chat template's tool block (the Qwen2.5 template's
  block is appendix B's Figure 5 prompt) and the query; assistant ``<tool_call>`` blocks. These
  rows are ordinary SFT rows (:func:`data_transforms.writers.sft_rows`).

Rows have the shape of every SFT row we write (``messages`` with ``loss_mask``, ``tools`` as a
JSON string, ``id``), so ``TLSFTDataset`` renders them through the model's chat template. The
paper's figures write the schema with ``"arguments"`` and BFCL type names; rows use the
``"parameters"`` key and JSON-Schema types the rule checker (:mod:`data_transforms.tool_checks`)
and chat templates expect.

>>> tool = {"name": "get_weather", "description": "Current weather in a city.",
...         "parameters": {"type": "object", "properties": {}}}
>>> row = adaption_row(tool, "ex-1")
>>> [m["role"] for m in row["messages"]], [m["loss_mask"] for m in row["messages"]], row["tools"]
(['system', 'user', 'assistant'], [0, 0, 1], '[]')
>>> row["messages"][1]["content"]
'Generate a tool definition according to the description: Current weather in a city.'
>>> mix_rows({"invocation": [1, 2], "adaption": [3, 4, 5, 6]}, {"invocation": 2.0, "adaption": 0.5}, seed=0)[1]
{'invocation': 4, 'adaption': 2}
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass

from data_transforms.records import Record
from data_transforms.render import chat_message

__all__ = [
    "TASKS",
    "TaskPrompts",
    "adaption_row",
    "generation_prompt",
    "generation_row",
    "mix_rows",
    "query_of",
    "task_rows",
    "tools_answer",
]

TASKS = ("invocation", "adaption", "generation")

_SCHEMA_EXAMPLE = json.dumps(
    {
        "name": "xxx",
        "description": "xxx",
        "parameters": {
            "type": "object",
            "properties": {"arg1": {"type": "xxx", "description": "xxx"}, "arg2": "..."},
            "required": ["arg1", "..."],
        },
    },
    indent=2,
)

# Appendix B, Figures 6 and 7, with our schema keys (see module doc).
SIGNATURE_SYSTEM = (
    "You are a helpful assistant. You are skilled in generating tool signatures. You can generate "
    "high-quality tool signature according to the instruction.\n\n"
    f"Output the tool signature within <tools></tools> XML tags:\n<tools>\n{_SCHEMA_EXAMPLE}\n</tools>"
)


@dataclass(frozen=True)
class TaskPrompts:
    """The task prompts; ``{description}`` / ``{query}`` are filled in."""

    signature_system: str = SIGNATURE_SYSTEM
    adaption_user: str = "Generate a tool definition according to the description: {description}"
    generation_user: str = "Generate tools to solve the query: {query}"

    def __post_init__(self):
        if "{description}" not in self.adaption_user:
            raise ValueError("prompts.adaption_user must contain the placeholder {description}")
        if "{query}" not in self.generation_user:
            raise ValueError("prompts.generation_user must contain the placeholder {query}")


def tools_answer(tools) -> str:
    """The assistant text of a tool task: ``tools`` (one schema or a list) in a ``<tools>`` block."""
    return f"<tools>\n{json.dumps(tools, ensure_ascii=False)}\n</tools>"


def _task_row(row_id: str, system: str, user: str, answer: str, tools_in_prompt: str) -> dict:
    messages = [
        {"role": "system", "content": system},
        {"role": "user", "content": user},
        {"role": "assistant", "content": answer},
    ]
    out = [chat_message(m) for m in messages]
    for msg in out:
        msg["loss_mask"] = 1 if msg["role"] == "assistant" else 0
    # no candidate tools: the tools are the answer, so the chat template gets an empty list
    # (system_text rows name their tools in a list instead, as data_transforms.writers does)
    if tools_in_prompt == "system_text":
        return {"messages": out, "tool_names": [], "id": row_id}
    return {"messages": out, "tools": "[]", "id": row_id}


def adaption_row(
    tool: dict, row_id: str, prompts: TaskPrompts = TaskPrompts(), tools_in_prompt: str = "native"
) -> dict:
    """Documentation adaption: the tool's description in, its whole schema out."""
    user = prompts.adaption_user.format(description=tool["description"])
    return _task_row(row_id, prompts.signature_system, user, tools_answer(tool), tools_in_prompt)


def generation_prompt(query: str, prompts: TaskPrompts = TaskPrompts()) -> list:
    """The messages that ask the model for tools (self-evolution step 1 and the SFT row)."""
    return [
        {"role": "system", "content": prompts.signature_system},
        {"role": "user", "content": prompts.generation_user.format(query=query)},
    ]


def generation_row(
    query: str, tools: list, row_id: str, prompts: TaskPrompts = TaskPrompts(), tools_in_prompt: str = "native"
) -> dict:
    """Query-aware tool generation: the query in, the candidate tools out."""
    system, user = (m["content"] for m in generation_prompt(query, prompts))
    return _task_row(row_id, system, user, tools_answer(tools), tools_in_prompt)


def query_of(rec: Record) -> str | None:
    """The query of a record: its first user message, or None when empty."""
    for msg in rec.messages:
        if msg["role"] == "user":
            return msg["content"].strip() or None
    return None


def task_rows(records: list, prompts: TaskPrompts, tally, tools_in_prompt: str = "native") -> dict:
    """Adaption and generation rows from ``records``: ``{"adaption": rows, "generation": rows}``.

    Adaption: one row per distinct tool (same name and schema) with a description. Generation:
    one row per record that has tools and a user query. What is skipped is counted in ``tally``.
    """
    seen, adaption, generation = set(), [], []
    for rec in records:
        for tool in rec.tools:
            key = json.dumps(tool, sort_keys=True, ensure_ascii=False)
            if key in seen:
                continue
            seen.add(key)
            if not tool["description"].strip():
                tally.drop("sft:adaption", "tool_without_description", f"{rec.id}: {tool['name']}")
                continue
            adaption.append(adaption_row(tool, f"{rec.id}:adaption:{tool['name']}", prompts, tools_in_prompt))
        query = query_of(rec)
        if not rec.tools:
            tally.drop("sft:generation", "record_without_tools", rec.id)
        elif query is None:
            tally.drop("sft:generation", "record_without_query", rec.id)
        else:
            generation.append(generation_row(query, rec.tools, f"{rec.id}:generation", prompts, tools_in_prompt))
    return {"adaption": adaption, "generation": generation}


def mix_rows(rows_by_task: dict, ratios: dict, seed: int = 0) -> tuple[list, dict]:
    """Rows of several tasks mixed by ``ratios``: ``(rows, {task: rows kept})``.

    A ratio multiplies a task's rows: ``2.0`` repeats each row twice, ``0.5`` keeps a random
    half (seeded), ``0`` drops the task; ``2.5`` is two copies plus a random half.
    """
    rng = random.Random(seed)
    mixed, counts = [], {}
    for task, rows in rows_by_task.items():
        ratio = ratios.get(task, 1.0)
        if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or ratio < 0:
            raise ValueError(f"mixing ratio of task {task!r} must be a number >= 0, got {ratio!r}")
        whole, part = int(ratio), ratio - int(ratio)
        kept = [row for _ in range(whole) for row in rows]
        kept += rng.sample(rows, round(part * len(rows)))
        counts[task] = len(kept)
        mixed.extend(kept)
    return mixed, counts
