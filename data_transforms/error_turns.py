"""Synthetic erroneous turns: a wrong first attempt, the tool's error, then the correct call.

TL-Training's SFT data are agent trajectories in which some calls failed and the model then
corrected them; MAE (TL-Training 4.1) keeps those failed turns out of the loss. Public benchmark
data such as BFCL hold a prompt and a gold answer only, so MAE has nothing to mask there.
:func:`with_error_turn` turns such a record into the trajectory TL-Training describes::

    user -> assistant: wrong call -> tool: error message -> assistant: gold call

The wrong call is made from the gold call in one of :data:`KINDS`, and the error message is worded
as Python itself words it, so :func:`data_transforms.tool_feedback.classify_feedback` files it under the
same category (a test checks every kind). ``tl-prepare errors.fraction=0.3`` uses it on training
records (demos and the MAE ablation); evaluation records are never touched.

>>> import random
>>> rec = Record("r1", [{"role": "user", "content": "Weather in Paris?"}],
...              [{"name": "get_weather", "description": "", "parameters": {"type": "object",
...                "properties": {"city": {"type": "string"}}, "required": ["city"]}}],
...              gold=[{"name": "get_weather", "arguments": {"city": ["Paris"]}}])
>>> out = with_error_turn(rec, random.Random(0), kinds=("param_missing",))
>>> [m["role"] for m in out.messages]
['user', 'assistant', 'tool', 'assistant']
>>> out.messages[1]["tool_calls"], out.messages[2]["content"]
([{'name': 'get_weather', 'arguments': {}}], "TypeError: get_weather() missing 1 required positional argument: 'city'")
>>> out.messages[3]["tool_calls"], out.gold, out.meta["injected_error"]
([{'name': 'get_weather', 'arguments': {'city': 'Paris'}}], None, 'param_missing')
"""

from __future__ import annotations

import copy
import random

from data_transforms.gold import gold_problem, reference_answer
from data_transforms.records import Record
from reward_fns.categories import PARAM_HALLUCINATION, PARAM_MISSING, TOOL_HALLUCINATION, canonical_category

__all__ = ["KINDS", "EXTRA_PARAMETERS", "error_kinds", "with_error_turn"]

# reward_fns.categories names: the category the MAE classifier files each error message under
KINDS = (TOOL_HALLUCINATION, PARAM_HALLUCINATION, PARAM_MISSING)

# names for a hallucinated parameter, the first one the tool lacks is used
EXTRA_PARAMETERS = ("verbose", "format", "limit", "language", "timeout", "debug")


def _properties(rec: Record, name: str) -> dict:
    tool = next((t for t in rec.tools if t["name"] == name), None)
    return ((tool or {}).get("parameters") or {}).get("properties") or {}


def _required(rec: Record, name: str) -> list:
    tool = next((t for t in rec.tools if t["name"] == name), None)
    return list(((tool or {}).get("parameters") or {}).get("required") or [])


def _hallucinated_name(name: str, taken: set) -> str:
    # a plausible near-miss of the real name that the row does not offer
    stem = name.rsplit(".", 1)[-1]
    for candidate in (f"{stem}_info", f"get_{stem}", f"{stem}_v2", f"{stem}_tool"):
        if candidate not in taken:
            return candidate
    n = 2
    while f"{stem}_{n}" in taken:
        n += 1
    return f"{stem}_{n}"


def error_kinds(rec: Record, kinds=KINDS) -> list:
    """The kinds of :data:`KINDS` (among ``kinds``; old spellings accepted) that can be made from the
    record's first gold call."""
    if not rec.gold or gold_problem(rec.gold, rec.tools) is not None:
        return []
    call = reference_answer(rec.gold, rec.tools)[0]
    out = []
    for kind in map(canonical_category, kinds):
        if kind not in KINDS:
            raise ValueError(f"unknown error kind {kind!r}; the kinds are {list(KINDS)}")
        if kind == PARAM_MISSING and not [p for p in _required(rec, call["name"]) if p in call["arguments"]]:
            continue
        if kind == PARAM_HALLUCINATION and all(p in _properties(rec, call["name"]) for p in EXTRA_PARAMETERS):
            continue
        out.append(kind)
    return out


def with_error_turn(rec: Record, rng: random.Random, kinds=KINDS) -> Record | None:
    """``rec`` (a prompt with a non-empty gold answer) as a trajectory whose first attempt fails.

    The kind is drawn with ``rng`` from those :func:`error_kinds` allows; ``None`` when none
    applies (no gold call, an unsatisfiable gold, or no kind fits the call)."""
    possible = error_kinds(rec, kinds)
    if not possible:
        return None
    kind = rng.choice(possible)
    answer = reference_answer(rec.gold, rec.tools)
    call = copy.deepcopy(answer[0])
    name = call["name"]
    if kind == TOOL_HALLUCINATION:
        call["name"] = _hallucinated_name(name, {t["name"] for t in rec.tools})
        error = f"NameError: name '{call['name']}' is not defined"
    elif kind == PARAM_HALLUCINATION:
        extra = next(p for p in EXTRA_PARAMETERS if p not in _properties(rec, name))
        call["arguments"][extra] = True
        error = f"TypeError: {name}() got an unexpected keyword argument '{extra}'"
    else:
        present = [p for p in _required(rec, name) if p in call["arguments"]]
        missing = rng.choice(present)
        del call["arguments"][missing]
        error = f"TypeError: {name}() missing 1 required positional argument: '{missing}'"
    messages = [
        *copy.deepcopy(rec.messages),
        {"role": "assistant", "content": "", "tool_calls": [call]},
        {"role": "tool", "name": call["name"], "content": error},
        {"role": "assistant", "content": "", "tool_calls": answer},
    ]
    return Record(rec.id, messages, rec.tools, gold=None, meta={**rec.meta, "injected_error": kind})
