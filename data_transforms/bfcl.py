"""BFCL questions and possible answers (from the installed ``bfcl-eval`` wheel) as records.

``bfcl-eval`` ships its data as JSON Lines under ``bfcl_eval/data/`` (``BFCL_v4_<category>.json``,
one object per line despite the name) and the gold under ``possible_answer/``. Install it with
``pip install --no-deps bfcl-eval``: its own dependencies pin old numpy and many API SDKs.

A question row ``{"id", "question": [[messages]], "function": [schemas]}`` becomes a record whose
messages are the single turn's messages, whose tools are the schemas with BFCL's type names mapped
(``dict``/``float``/``tuple`` -> ``object``/``number``/``array``) and whose ``gold`` is the
possible answer ``[{name: {param: [values]}}]`` rewritten as ``[{"name", "arguments"}]``. The
irrelevance categories have no possible answer: their gold is ``[]`` (no tool should be called).
``live_relevance`` ("correct iff some call") has no gold at all: only ``iter_bfcl(...,
relevance=True)`` (tl-eval) reads it, as records with ``gold=None``; there is nothing to train on.

Dotted names (``math.factorial``) are kept by default: the reward compares names exactly and sees
the same names in the tools and the gold. ``dot_to_underscore=True`` renames both consistently,
for chat templates or APIs that only accept ``[A-Za-z0-9_-]`` names.

>>> rec = read_bfcl("simple_python", {"id": "s0", "question": [[{"role": "user", "content": "5!?"}]],
...     "function": [{"name": "math.factorial", "parameters": {"type": "dict",
...     "properties": {"n": {"type": "integer"}}, "required": ["n"]}}]},
...     {"id": "s0", "ground_truth": [{"math.factorial": {"n": [5]}}]}, dot_to_underscore=True)
>>> rec.gold, rec.tools[0]["name"], rec.tools[0]["parameters"]["type"]
([{'name': 'math_factorial', 'arguments': {'n': [5]}}], 'math_factorial', 'object')
"""

from __future__ import annotations

import importlib.resources

from data_transforms.io import iter_rows
from data_transforms.records import Record, RecordError, canonical_tool, check_record

__all__ = [
    "CALL_CATEGORIES",
    "NO_CALL_CATEGORIES",
    "RELEVANCE_CATEGORIES",
    "CATEGORIES",
    "EVAL_CATEGORIES",
    "bfcl_data_dir",
    "iter_bfcl",
    "read_bfcl",
]

# Single-turn categories whose gold is a list of calls (BFCL's AST categories, Python).
CALL_CATEGORIES = (
    "simple_python",
    "multiple",
    "parallel",
    "parallel_multiple",
    "live_simple",
    "live_multiple",
    "live_parallel",
    "live_parallel_multiple",
)
# Correct iff no call: gold [].
NO_CALL_CATEGORIES = ("irrelevance", "live_irrelevance")
CATEGORIES = CALL_CATEGORIES + NO_CALL_CATEGORIES
# Correct iff some call; no gold answer to train on, so only tl-eval reads it.
RELEVANCE_CATEGORIES = ("live_relevance",)
EVAL_CATEGORIES = CATEGORIES + RELEVANCE_CATEGORIES


def bfcl_data_dir():
    try:
        root = importlib.resources.files("bfcl_eval")
    except ModuleNotFoundError:
        raise RuntimeError(
            "source=bfcl needs the bfcl-eval package: pip install --no-deps bfcl-eval "
            "(its data ships in the wheel; never install its dependencies)"
        ) from None
    return root / "data"


def _jsonl(path) -> list:
    return [row for _, row in iter_rows(path)]


def _rename(name: str, dot_to_underscore: bool) -> str:
    return name.replace(".", "_") if dot_to_underscore else name


def read_bfcl(category: str, question: dict, answer: dict | None, dot_to_underscore: bool = False) -> Record:
    """One BFCL question (and its possible answer, ``None`` for (ir)relevance) as a Record."""
    row = str(question.get("id", "?"))
    turns = question.get("question")
    if not isinstance(turns, list) or len(turns) != 1 or not isinstance(turns[0], list):
        raise RecordError(row, "question", "expected one turn [[messages]] (multi-turn BFCL is not supported)")
    messages = []
    for i, msg in enumerate(turns[0]):
        if not isinstance(msg, dict) or not isinstance(msg.get("content"), str):
            raise RecordError(row, f"question[0][{i}]", f"expected {{'role', 'content': str}}, got {str(msg)[:120]!r}")
        messages.append({"role": msg.get("role"), "content": msg["content"]})
    tools = []
    for i, fn in enumerate(question.get("function") or []):
        tool = canonical_tool(fn, row, f"function[{i}]")
        tool["name"] = _rename(tool["name"], dot_to_underscore)
        tools.append(tool)
    if category in NO_CALL_CATEGORIES:
        gold = []
    elif category in RELEVANCE_CATEGORIES:
        gold = None
    else:
        if answer is None:
            raise RecordError(row, "ground_truth", f"no possible answer for {category} question {row}")
        gold = []
        for i, item in enumerate(answer.get("ground_truth") or []):
            if not isinstance(item, dict) or len(item) != 1:
                raise RecordError(row, f"ground_truth[{i}]", f"expected {{name: {{param: [values]}}}}, got {item!r}")
            ((name, args),) = item.items()
            if not isinstance(args, dict) or not all(isinstance(v, list) for v in args.values()):
                raise RecordError(row, f"ground_truth[{i}].{name}", "arguments must map parameters to lists")
            gold.append({"name": _rename(name, dot_to_underscore), "arguments": args})
        if not gold:
            raise RecordError(row, "ground_truth", "empty possible answer")
    # check_record reads gold=None as "a trajectory"; a relevance question is a prompt like the others
    rec = Record(row, messages, tools, gold=[] if gold is None else gold, meta={"category": category})
    if len({t["name"] for t in tools}) != len(tools) and dot_to_underscore:
        raise RecordError(row, "function", "dot_to_underscore makes two tool names equal")
    check_record(rec)
    rec.gold = gold
    return rec


def iter_bfcl(categories, dot_to_underscore: bool = False, relevance: bool = False):
    """Yield ``(row name, Record)`` for every question of ``categories``, in file order.

    ``relevance=True`` also allows ``live_relevance`` (records without gold, for evaluation)."""
    known = EVAL_CATEGORIES if relevance else CATEGORIES
    unknown = [c for c in categories if c not in known]
    if unknown:
        hint = "" if relevance else " (live_relevance has no gold answer: score it with tl-eval)"
        raise ValueError(f"unknown or unsupported BFCL categories {unknown}; choose from {list(known)}{hint}")
    data = bfcl_data_dir()
    for category in categories:
        answers = {}
        if category in CALL_CATEGORIES:
            answers = {a["id"]: a for a in _jsonl(data / "possible_answer" / f"BFCL_v4_{category}.json")}
        for question in _jsonl(data / f"BFCL_v4_{category}.json"):
            yield (
                f"BFCL_v4_{category}:{question.get('id')}",
                read_bfcl(category, question, answers.get(question.get("id")), dot_to_underscore),
            )
