"""Majority vote over sampled answers (self-consistency, ToolDev 3.4).

Each answer (a list of calls ``{"name", "arguments"}``) is reduced to a canonical key, so answers
that the reward would judge equal vote together:

* the calls form a multiset: order does not matter, a repeated call counts twice;
* values are normalised as the reward compares them (``reward_fns.values``): strings by
  :func:`~reward_fns.values.standardize_string` (``"New York"`` = ``"new-york"``), ``1`` = ``1.0``,
  ``True`` never equals ``1``; lists keep their order, dicts are compared key by key.

Tie-break: among answers with the most votes, ``tie_break="first"`` picks the one whose first
sample came first (sample order is the backend's output order, fixed by the seed), and
``"drop"`` picks none. The winner's representative is its first sample, written as the model wrote
it. A winner needs at least ``min_votes`` votes. Unparsable samples (``None``) vote for nothing
but still count in ``n_samples``, so agreement is ``votes / n_samples``.

>>> a = [{"name": "f", "arguments": {"city": "New York"}}]
>>> b = [{"name": "f", "arguments": {"city": "new-york"}}]
>>> c = [{"name": "f", "arguments": {"city": "Boston"}}]
>>> v = majority_vote([c, a, b, None, c, a], min_votes=2)
>>> v.winner, v.votes, v.counts, v.tie
(1, 3, [3, 2], False)
>>> majority_vote([a, c], min_votes=1).winner, majority_vote([a, c], tie_break="drop").reason
(0, 'tie')
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from reward_fns.values import standardize_string

__all__ = ["TIE_BREAKS", "Vote", "canonical_answer", "canonical_value", "majority_vote"]

TIE_BREAKS = ("first", "drop")


def canonical_value(value):
    """A JSON-ready normal form of a call value (see module doc); tags keep types apart."""
    if isinstance(value, bool):
        return ["b", value]
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            return ["n", repr(value)]
        # 3 and 3.0 vote together; an integral float becomes its int (exact, unlike int -> float)
        return ["n", int(value) if isinstance(value, float) and value.is_integer() else value]
    if isinstance(value, str):
        return ["s", standardize_string(value)]
    if isinstance(value, (list, tuple)):
        return ["l", [canonical_value(v) for v in value]]
    if isinstance(value, dict):
        return ["d", sorted([str(k), canonical_value(v)] for k, v in value.items())]
    return ["z", None] if value is None else ["?", repr(value)]


def canonical_answer(calls: list) -> str:
    """The vote key of an answer: its calls as a sorted multiset of canonical calls."""
    keys = sorted(json.dumps([call["name"], canonical_value(call["arguments"])], ensure_ascii=False) for call in calls)
    return json.dumps(keys, ensure_ascii=False)


@dataclass(frozen=True)
class Vote:
    winner: int | None  # index of the winner's first sample; None when there is none
    votes: int  # the winner's votes (the top count when there is no winner)
    n_samples: int  # all samples, unparsable ones included
    counts: list  # votes per distinct answer, most first
    tie: bool  # several answers share the top count
    reason: str  # "" when there is a winner, else why not: no_answer | tie | min_votes

    @property
    def agreement(self) -> float:
        return self.votes / self.n_samples if self.n_samples else 0.0


def majority_vote(answers: list, min_votes: int = 1, tie_break: str = "first") -> Vote:
    """Vote over ``answers`` (each a list of calls, or ``None`` when unparsable)."""
    if tie_break not in TIE_BREAKS:
        raise ValueError(f"tie_break must be one of {TIE_BREAKS}, got {tie_break!r}")
    if isinstance(min_votes, bool) or not isinstance(min_votes, int) or min_votes < 1:
        raise ValueError(f"min_votes must be an integer >= 1, got {min_votes!r}")
    first, counts = {}, {}
    for i, calls in enumerate(answers):
        if calls is None:
            continue
        try:
            key = canonical_answer(calls)
        except RecursionError:  # absurdly deep values: no vote, as if unparsable
            continue
        first.setdefault(key, i)
        counts[key] = counts.get(key, 0) + 1
    ranked = sorted(counts, key=lambda k: (-counts[k], first[k]))
    tally = [counts[k] for k in ranked]
    if not ranked:
        return Vote(None, 0, len(answers), tally, False, "no_answer")
    top = tally[0]
    tie = len(tally) > 1 and tally[1] == top
    if tie and tie_break == "drop":
        return Vote(None, top, len(answers), tally, True, "tie")
    if top < min_votes:
        return Vote(None, top, len(answers), tally, tie, "min_votes")
    return Vote(first[ranked[0]], top, len(answers), tally, tie, "")
