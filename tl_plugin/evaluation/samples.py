"""Benchmark questions as :class:`EvalSample`: what to prompt with and how to judge the answer.

BFCL's single-turn categories come from the installed ``bfcl-eval`` wheel (``data_transforms.bfcl``);
RoTBench-format files are read by ``data_transforms.rotbench_data``. Each sample carries its judging
``rule``:

- ``calls``: the gold calls (BFCL possible-answer form) must be matched; accuracy is the reward's
  binary correctness, the same rule BFCL's AST checker applies (tests/reward_fns/test_bfcl_agreement.py).
- ``no_call`` (irrelevance, live_irrelevance): correct iff the answer holds no call.
- ``any_call`` (live_relevance): correct iff the answer holds some call.
- ``rotbench``: RoTBench's TS/PI/CF cascade over the acceptable answers; accuracy is CF.

>>> s = next(iter(bfcl_samples(["simple_python"])))
>>> s.id, s.category, s.rule, s.tools[0]["type"]
('simple_python_0', 'simple_python', 'calls', 'function')
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from data_transforms.bfcl import CALL_CATEGORIES, EVAL_CATEGORIES, NO_CALL_CATEGORIES, iter_bfcl
from data_transforms.render import DEFAULT_SYSTEM_TEXT, chat_messages, openai_tools

__all__ = ["BFCL_CATEGORIES", "RULES", "EvalSample", "bfcl_samples", "rotbench_samples"]

BFCL_CATEGORIES = EVAL_CATEGORIES
RULES = ("calls", "no_call", "any_call", "rotbench")


@dataclass(frozen=True)
class EvalSample:
    id: str
    benchmark: str  # "bfcl" | "rotbench"
    category: str  # BFCL category, or the RoTBench file's stem
    rule: str  # one of RULES
    messages: list  # the prompt, as chat messages (calls as OpenAI tool_calls with JSON-string arguments)
    tools: list | None  # OpenAI-form schemas for the chat template; None: the prompt text lists them
    ground_truth: str  # JSON string the scorer reads
    tools_json: str  # JSON string of the candidate tools, for the scorer


def _rule(category: str) -> str:
    if category in CALL_CATEGORIES:
        return "calls"
    return "no_call" if category in NO_CALL_CATEGORIES else "any_call"


def bfcl_samples(
    categories, dot_to_underscore: bool = False, tools_in_prompt: str = "native", system_text: str | None = None
):
    """Yield the samples of BFCL ``categories`` (any of :data:`BFCL_CATEGORIES`), in file order.

    The prompt is built as ``tl-prepare`` builds RL rows, so a model is evaluated on the format it
    was trained on: ``native`` hands the tools to the chat template in OpenAI form;
    ``system_text`` writes them into the system message (``system_text`` template, ``{tools}``)."""
    native = tools_in_prompt == "native"
    template = system_text or DEFAULT_SYSTEM_TEXT
    for _, rec in iter_bfcl(list(categories), dot_to_underscore=dot_to_underscore, relevance=True):
        category = rec.meta["category"]
        yield EvalSample(
            id=rec.id,
            benchmark="bfcl",
            category=category,
            rule=_rule(category),
            messages=chat_messages(rec.messages, rec.tools, tools_in_prompt, template),
            tools=openai_tools(rec.tools) if native else None,
            ground_truth=json.dumps(rec.gold or [], ensure_ascii=False),
            tools_json=json.dumps(rec.tools, ensure_ascii=False),
        )


def rotbench_samples(paths):
    """Yield the samples of RoTBench-format files; the category is the file's stem (``clean``)."""
    from data_transforms.rotbench_data import ground_truth, read_rotbench

    stems = [Path(p).stem for p in paths]
    if len(set(stems)) != len(stems):
        raise ValueError(f"RoTBench files must have different names (they name the categories): {list(paths)}")
    for path in paths:
        for s in read_rotbench(path):
            yield EvalSample(
                id=s.id,
                benchmark="rotbench",
                category=Path(path).stem,
                rule="rotbench",
                messages=s.messages,
                tools=None,
                ground_truth=ground_truth(s),
                tools_json=json.dumps(s.tools, ensure_ascii=False),
            )
