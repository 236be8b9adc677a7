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
from functools import cached_property
from typing import NamedTuple

from .categories import (
    CONTENT,
    CORRECT,
    EXTRA_CALL,
    GOLD_CATEGORIES,
    MISSING_CALL,
    PARAM_HALLUCINATION,
    PARAM_MISSING,
    PARAM_REDUNDANT,
    TOOL_HALLUCINATION,
    WRONG_TOOL,
)
from .matching import best_matching
from .schemas import GoldCall, ToolSpec
from .values import acceptance_test

__all__ = [
    "CATEGORIES",
    "CallPlan",
    "GoldPlan",
    "PairScore",
    "RewardWeights",
    "score_calls",
    "score_pair",
    "empty_result",
]

# One 0/1 key per category in every result (verl needs the same keys for every sample); the
# names are reward_fns.categories' (the result keys and the RewardWeights fields spell them alike).
CATEGORIES = GOLD_CATEGORIES
RESULT_KEYS = ("score", "ts", "pi", "cf", *CATEGORIES, "n_pred_calls", "n_gold_calls")


class PairScore(NamedTuple):
    """One predicted call judged against one gold call."""

    reward: float
    categories: tuple  # the category names that apply (one tuple object per outcome)
    params_right: bool  # the names agree and every parameter is right (content errors aside)


class _Verdicts(NamedTuple):
    """Every :class:`PairScore` one set of weights can give, built once (``RewardWeights.verdicts``)."""

    tool_hallucination: PairScore
    wrong_tool: PairScore
    content: PairScore
    correct: PairScore
    params: dict  # (hallucinated, redundant, missing) -> PairScore, for each combination with an issue
    correct_is_best: bool  # see _correct_is_best


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

    @cached_property
    def verdicts(self) -> _Verdicts:
        """The pair outcomes under these values, computed on first use and kept with them (the
        scorer then builds no tuple per pair)."""
        params = {
            (h, r, m): PairScore(
                h * self.param_hallucination + r * self.param_redundant + m * self.param_missing, categories, False
            )
            for (h, r, m), categories in _PARAM_CATEGORIES.items()
        }
        return _Verdicts(
            tool_hallucination=PairScore(self.tool_hallucination, _TOOL_HALLUCINATION, False),
            wrong_tool=PairScore(self.wrong_tool, _WRONG_TOOL, False),
            content=PairScore(self.content, _CONTENT, True),
            correct=PairScore(self.correct, _CORRECT, True),
            params=params,
            correct_is_best=_correct_is_best(self, params),
        )


_EMPTY = dict.fromkeys(RESULT_KEYS, 0)
_EMPTY["score"] = 0.0


def empty_result(n_pred: int = 0, n_gold: int = 0) -> dict:
    result = _EMPTY.copy()
    result["n_pred_calls"], result["n_gold_calls"] = n_pred, n_gold
    return result


_CORRECT, _CONTENT = (CORRECT,), (CONTENT,)
_TOOL_HALLUCINATION, _WRONG_TOOL = (TOOL_HALLUCINATION,), (WRONG_TOOL,)
# (hallucinated, redundant, missing) -> categories, for every combination with an issue
_PARAM_CATEGORIES = {
    (h, r, m): tuple(c for c, on in ((PARAM_HALLUCINATION, h), (PARAM_REDUNDANT, r), (PARAM_MISSING, m)) if on)
    for h in (False, True)
    for r in (False, True)
    for m in (False, True)
    if h or r or m
}


class CallPlan(NamedTuple):
    """What judging a call against one gold call needs, built once per (gold call, schema)."""

    tests: dict  # a value test per parameter both in the gold call and in the schema
    must: frozenset  # parameters that must be present (gold without "", schema-required)
    leave_out: frozenset  # parameters the gold says to leave out (only "")
    props: dict  # the schema's properties


class GoldPlan(NamedTuple):
    """A gold call's name and its :class:`CallPlan` (None where the name is no candidate tool)."""

    name: str
    plan: CallPlan | None


def score_pair(pred: dict, gold: GoldCall, tools: dict, w: RewardWeights) -> PairScore:
    """One predicted call judged against one gold call."""
    name = pred["name"]
    spec = tools.get(name)
    if spec is None:
        return w.verdicts.tool_hallucination
    if name != gold.name:
        return w.verdicts.wrong_tool
    return _judge(pred["arguments"], _plan(gold, spec), w)


def _judge(args: dict, plan: CallPlan, w: RewardWeights) -> PairScore:
    """``score_pair`` once the names agree: the parameter categories, from the compiled plan."""
    tests, must, leave_out, props = plan
    hallucinated = redundant = content = False
    for param, value in args.items():
        test = tests.get(param)  # tests: the parameters both in the schema and in the gold call
        if test is None:
            if param in props:
                redundant = True
            else:
                hallucinated = True
        elif not test(value):
            # a gold list of only "" means "leave it out": giving a value is redundant
            if param in leave_out:
                redundant = True
            else:
                content = True
    missing = not must.issubset(args)
    if hallucinated or redundant or missing:
        return w.verdicts.params[hallucinated, redundant, missing]
    if content:
        return w.verdicts.content
    return w.verdicts.correct


def _plan(gold: GoldCall, spec: ToolSpec) -> CallPlan:
    props, gold_args = spec.properties, gold.arguments
    return CallPlan(
        tests={p: acceptance_test(acc, props[p]) for p, acc in gold_args.items() if p in props},
        must=frozenset([p for p, acc in gold_args.items() if "" not in acc] + list(spec.required)),
        leave_out=frozenset(p for p, acc in gold_args.items() if all(a == "" for a in acc)),
        props=props,
    )


def compile_plans(gold_calls: tuple, tools: dict) -> tuple:
    """A :class:`GoldPlan` per gold call.

    Building the value tests is the costly part of scoring; ``tl_tool`` caches the result per
    (ground truth, tools) pair, so a GRPO group of ``n`` responses compiles it once.
    """
    return tuple(GoldPlan(g.name, _plan(g, tools[g.name]) if g.name in tools else None) for g in gold_calls)


def _correct_is_best(w: RewardWeights, params: dict) -> bool:
    """Is a correct pair worth strictly more than any other pair? (True for the defaults.) Then
    a one-to-one assignment of correct pairs is the unique kind of optimal matching."""
    issue_sums = [verdict.reward for verdict in params.values()]
    return w.correct > max(w.tool_hallucination, w.wrong_tool, w.content, *issue_sums)


def score_calls(
    pred_calls: list, gold_calls: tuple, tools: dict, w: RewardWeights = RewardWeights(), plans: tuple | None = None
) -> dict:
    """Score parsed calls against gold calls; the result has every key of ``RESULT_KEYS``.

    ``plans`` is ``compile_plans(gold_calls, tools)``, passed in when the caller caches it.
    """
    n_pred, n_gold = len(pred_calls), len(gold_calls)
    result = empty_result(n_pred, n_gold)
    if n_gold == 0:
        if n_pred == 0:
            result.update(score=w.correct, ts=1, pi=1, cf=1, correct=1)
        else:
            result.update(score=w.unexpected_call, extra_call=1)
            result[TOOL_HALLUCINATION] = int(any(c["name"] not in tools for c in pred_calls))
        return result
    if n_pred == 0:
        result.update(score=w.no_call, no_call=1)
        return result

    if plans is None:
        plans = compile_plans(gold_calls, tools)
    if n_pred == 1 and n_gold == 1:  # the common case, without the bookkeeping below
        pred = pred_calls[0]
        gold_name, plan = plans[0]
        if pred["name"] not in tools:
            reward, cats, params_right = w.verdicts.tool_hallucination
        elif pred["name"] != gold_name:
            reward, cats, params_right = w.verdicts.wrong_tool
        else:
            reward, cats, params_right = _judge(pred["arguments"], plan, w)
        for c in cats:
            result[c] = 1
        if cats is _CORRECT:
            result["score"] = w.correct
            result["ts"] = result["pi"] = result["cf"] = 1
        else:
            result["score"] = reward
            names_right = pred["name"] == gold_name
            result["ts"] = int(names_right)
            result["pi"] = int(names_right and params_right)
        return result

    pairs = [[None] * n_gold for _ in range(n_pred)]
    if n_pred == n_gold and w.verdicts.correct_is_best and _all_correct(pred_calls, plans, pairs, w):
        # every optimal matching pairs each call correctly: the answer is fully right
        result["score"] = w.correct
        result["correct"] = result["ts"] = result["pi"] = result["cf"] = 1
        return result
    _fill_pairs(pairs, pred_calls, plans, tools, w)
    if n_pred > n_gold:
        # Maximise the whole score, not only the matched pairs: a prediction left unmatched costs
        # its extra-call value, so a -1.8 pair can be worse than leaving that call extra (-1.5).
        # Scoring each pair relative to that cost does it (every row matched: no shift needed).
        extra = [w.extra_call if c["name"] in tools else w.tool_hallucination for c in pred_calls]
        matching = best_matching([[cell.reward - extra[i] for cell in row] for i, row in enumerate(pairs)])
    else:
        matching = best_matching([[cell.reward for cell in row] for row in pairs])
    total = 0.0
    correct = n_pred == n_gold
    params_right = True  # in every matched pair
    for i, j in matching:
        reward, cats, right = pairs[i][j]
        total += reward
        for c in cats:
            result[c] = 1
        if cats is not _CORRECT:
            correct = False
        if not right or pred_calls[i]["name"] != plans[j].name:
            params_right = False
    if n_pred > n_gold:  # predictions left unmatched
        matched = {i for i, _ in matching}
        for i, call in enumerate(pred_calls):
            if i not in matched:
                if call["name"] in tools:
                    total += w.extra_call
                else:
                    total += w.tool_hallucination
                    result[TOOL_HALLUCINATION] = 1
                result[EXTRA_CALL] = 1
    elif n_gold > n_pred:
        total += (n_gold - n_pred) * w.missing_call
        result[MISSING_CALL] = 1
    names_right = n_pred == n_gold and sorted([c["name"] for c in pred_calls]) == sorted([n for n, _ in plans])
    # PI asks whether *some* name-respecting matching gets every parameter set right; the
    # reward-maximising matching above need not be that one, so unless it is, check on its own.
    pi = names_right and (
        params_right
        or _perfect(
            [
                [cell.params_right and pred["name"] == plans[j].name for j, cell in enumerate(row)]
                for pred, row in zip(pred_calls, pairs)
            ]
        )
    )
    result["correct"] = result["cf"] = int(correct)
    result["score"] = w.correct if correct else total / max(n_pred, n_gold)
    result["ts"] = int(names_right)
    result["pi"] = int(pi)
    return result


def _fill_pairs(pairs: list, pred_calls: list, plans: list, tools: dict, w: RewardWeights) -> None:
    """Complete ``pairs[i][j] = score_pair(pred_calls[i], gold_calls[j], tools, w)`` where it is
    still None, with each gold call's plan looked up once."""
    hallucination, wrong_tool = w.verdicts.tool_hallucination, w.verdicts.wrong_tool
    for pred, row in zip(pred_calls, pairs):
        name = pred["name"]
        known = name in tools
        args = pred["arguments"]
        for j, (gold_name, plan) in enumerate(plans):
            if row[j] is None:
                if not known:
                    row[j] = hallucination
                elif gold_name != name:
                    row[j] = wrong_tool
                else:
                    row[j] = _judge(args, plan, w)


def _all_correct(pred_calls: list, plans: list, pairs: list, w: RewardWeights) -> bool:
    """Greedy search for a one-to-one assignment of correct pairs, scoring into ``pairs`` the
    pairs it looks at. Finding one proves that it exists; missing one proves nothing (the
    caller then solves the assignment exactly)."""
    free = list(range(len(plans)))
    for pred, row in zip(pred_calls, pairs):
        name, args = pred["name"], pred["arguments"]
        for k, j in enumerate(free):
            gold_name, plan = plans[j]
            if gold_name == name and plan is not None:
                row[j] = cell = _judge(args, plan, w)
                if cell.categories is _CORRECT:
                    del free[k]
                    break
        else:
            return False
    return True


def _perfect(ok: list[list[bool]]) -> bool:
    """Does the square 0/1 matrix ``ok`` admit a perfect matching?"""
    if not all(any(row) for row in ok):
        return False
    matching = best_matching([[1.0 if x else 0.0 for x in row] for row in ok])
    return all(ok[i][j] for i, j in matching) and len(matching) == len(ok)
