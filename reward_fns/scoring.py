"""TL-Training's IRM reward: score predicted calls against gold calls by error category.

Per matched (predicted, gold) pair, the first case that applies:

==================================  =====================================================
tool hallucination                  -2    predicted name is not a candidate tool
wrong tool                          -1.5  a candidate, but not the gold one
parameter issues (summed)           -0.8 hallucinated (not in the schema), -0.5 redundant
                                    (in the schema, not in the gold call), -0.5 missing
content                             -0.25 names right, some value not acceptable
correct                             +1
==================================  =====================================================

Calls are matched one-to-one to maximise the summed reward; an unmatched gold call is a missing
call (-1.5), an unmatched prediction an extra call (-1.5, or -2 if its name is hallucinated). The
score is the mean over ``max(#pred, #gold)`` slots, so only a fully right answer scores +1.

>>> tools = {"f": ToolSpec({"x": {"type": "integer"}, "y": {"type": "string"}}, ("x",))}
>>> gold = (GoldCall("f", {"x": [1], "y": ["", "a"]}),)
>>> score_calls([{"name": "f", "arguments": {"x": 2}}], gold, tools)["score"]
-0.25
>>> score_calls([{"name": "f", "arguments": {"x": 1}}, {"name": "g", "arguments": {}}], gold, tools)["score"]
-0.5
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from .matching import best_matching
from .schemas import GoldCall, ToolSpec
from .values import value_matches

__all__ = ["CATEGORIES", "RewardWeights", "score_calls", "score_pair", "empty_result"]

# One 0/1 key per category in every result (verl needs the same keys for every sample).
CATEGORIES = (
    "malformed",
    "no_call",
    "tool_hallucination",
    "wrong_tool",
    "param_hallucination",
    "param_redundant",
    "param_missing",
    "content",
    "missing_call",
    "extra_call",
    "correct",
)
RESULT_KEYS = ("score", "ts", "pi", "cf", *CATEGORIES, "n_pred_calls", "n_gold_calls")


@dataclass(frozen=True)
class RewardWeights:
    """Reward values (TL-Training 4.3 defaults); every one overridable via ``reward_kwargs``."""

    malformed: float = -2.0
    no_call: float = -2.0  # gold calls exist, the response made none
    tool_hallucination: float = -2.0
    wrong_tool: float = -1.5
    param_hallucination: float = -0.8
    param_redundant: float = -0.5
    param_missing: float = -0.5
    content: float = -0.25
    correct: float = 1.0
    missing_call: float = -1.5  # a gold call no prediction was matched to
    extra_call: float = -1.5  # a prediction no gold call was matched to (name is a candidate)
    unexpected_call: float = -1.5  # any call when the gold answer is "call nothing"

    @classmethod
    def names(cls) -> frozenset:
        return frozenset(f.name for f in fields(cls))


def empty_result(n_pred: int = 0, n_gold: int = 0) -> dict:
    result = dict.fromkeys(RESULT_KEYS, 0)
    result["score"] = 0.0
    result["n_pred_calls"], result["n_gold_calls"] = n_pred, n_gold
    return result


def score_pair(pred: dict, gold: GoldCall, tools: dict, w: RewardWeights) -> tuple[float, tuple, bool]:
    """``(reward, categories, params_right)`` of one predicted call against one gold call."""
    name = pred["name"]
    spec = tools.get(name)
    if spec is None:
        return w.tool_hallucination, ("tool_hallucination",), False
    if name != gold.name:
        return w.wrong_tool, ("wrong_tool",), False
    props, gold_args, args = spec.properties, gold.arguments, pred["arguments"]
    hallucinated = redundant = missing = content = False
    for param, value in args.items():
        if param not in props:
            hallucinated = True
            continue
        acceptable = gold_args.get(param)
        if acceptable is None:
            redundant = True
        elif not _accepts(value, acceptable, props[param]):
            # a gold list of only "" means "leave it out": giving a value is redundant
            if all(a == "" for a in acceptable):
                redundant = True
            else:
                content = True
    for param, acceptable in gold_args.items():
        if param not in args and "" not in acceptable:
            missing = True
    for param in spec.required:
        if param not in args:
            missing = True
    if hallucinated or redundant or missing:
        cats = tuple(
            c
            for c, on in (
                ("param_hallucination", hallucinated),
                ("param_redundant", redundant),
                ("param_missing", missing),
            )
            if on
        )
        reward = (
            hallucinated * w.param_hallucination + redundant * w.param_redundant + missing * w.param_missing
        )
        return reward, cats, False
    if content:
        return w.content, ("content",), True
    return w.correct, ("correct",), True


def _accepts(value, acceptable: list, schema) -> bool:
    try:
        return value_matches(value, acceptable, schema)
    except OverflowError:  # an int too big for a float where a float is expected: not acceptable
        return False


def score_calls(pred_calls: list, gold_calls: tuple, tools: dict, w: RewardWeights = RewardWeights()) -> dict:
    """Score parsed calls against gold calls; the result has every key of ``RESULT_KEYS``."""
    n_pred, n_gold = len(pred_calls), len(gold_calls)
    result = empty_result(n_pred, n_gold)
    if n_gold == 0:
        if n_pred == 0:
            result.update(score=w.correct, ts=1, pi=1, cf=1, correct=1)
        else:
            result.update(score=w.unexpected_call, extra_call=1)
            result["tool_hallucination"] = int(any(c["name"] not in tools for c in pred_calls))
        return result
    if n_pred == 0:
        result.update(score=w.no_call, no_call=1)
        return result

    if n_pred == 1 and n_gold == 1:
        reward, cats, params_right = score_pair(pred_calls[0], gold_calls[0], tools, w)
        total, slots = reward, [cats]
        names_right = pred_calls[0]["name"] == gold_calls[0].name
        pi = names_right and params_right
    else:
        pairs = [[score_pair(p, g, tools, w) for g in gold_calls] for p in pred_calls]
        matching = best_matching([[cell[0] for cell in row] for row in pairs])
        total, slots = 0.0, []
        for i, j in matching:
            total += pairs[i][j][0]
            slots.append(pairs[i][j][1])
        matched_pred = {i for i, _ in matching}
        for i, call in enumerate(pred_calls):
            if i not in matched_pred:
                hallucinated = call["name"] not in tools
                total += w.tool_hallucination if hallucinated else w.extra_call
                slots.append(("tool_hallucination", "extra_call") if hallucinated else ("extra_call",))
        if n_gold > n_pred:
            total += (n_gold - n_pred) * w.missing_call
            slots.append(("missing_call",))
        pred_names = sorted(c["name"] for c in pred_calls)
        names_right = pred_names == sorted(g.name for g in gold_calls)
        # PI asks whether *some* name-respecting matching gets every parameter set right; the
        # reward-maximising matching above need not be that one, so check it on its own.
        pi = names_right and _perfect(
            [[pairs[i][j][2] and pred_calls[i]["name"] == g.name for j, g in enumerate(gold_calls)] for i in range(n_pred)]
        )

    for cats in slots:
        for c in cats:
            result[c] = 1
    correct = all(cats == ("correct",) for cats in slots) and n_pred == n_gold
    result["correct"] = int(correct)
    result["score"] = w.correct if correct else total / max(n_pred, n_gold)
    result["ts"] = int(names_right)
    result["pi"] = int(pi)
    result["cf"] = int(correct)
    return result


def _perfect(ok: list[list[bool]]) -> bool:
    """Does the square 0/1 matrix ``ok`` admit a perfect matching?"""
    if not all(any(row) for row in ok):
        return False
    matching = best_matching([[1.0 if x else 0.0 for x in row] for row in ok])
    return all(ok[i][j] for i, j in matching) and len(matching) == len(ok)
