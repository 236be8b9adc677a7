"""Feedback-mode reward: score a multi-turn trajectory from what its tools answered.

In a multi-turn rollout with real tools there is no gold call per turn. TL-Training's error
categories still apply, read from the tools' own responses (the MAE classifier's categories,
which the ``tl_multiturn_agent`` agent loop records for every executed call). Each call slot gets
a value, the trajectory gets the mean over its slots, and ending with a final answer within the
turn limit adds ``final_answer`` (ToolEyes' "valid answer", VA):

==============================  =====  ===============================================
category                        value  counted in
==============================  =====  ===============================================
ok                              +1     ``call_ok``
tool_hallucination              -2     DE (documentation understanding error)
param_hallucination             -0.8   DE
param_missing                   -0.5   DE
tool_call_failure               -0.25  CE (tool call error)
tool_instability                 0     CE (the environment failed, not the model)
other_error                     -0.25  CE (an error no rule could place)
malformed call block            -2     CE (found in the response text, never executed)
==============================  =====  ===============================================

Category names are :mod:`reward_fns.categories`' (the classifier's, the result keys and the
``reward_kwargs`` values are one spelling); each error's value and result key carry its name.

Malformed blocks are counted from the text with the rule verl's ``hermes`` tool parser applies
before it drops a block without a word (:func:`hermes_blocks`).

>>> calls = [{"name": "get_weather", "category": "param_missing"}, {"name": "get_weather", "category": "ok"}]
>>> r = score_feedback(calls, n_malformed=0, final_answer=True)
>>> r["score"], r["de"], r["ce"], r["va"], r["param_missing"]
(0.75, 0.5, 0.0, 1, 1)
>>> score_feedback([], n_malformed=1, final_answer=False)["score"]
-2.0
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields

from .categories import (
    CALL_OK,
    FEEDBACK_CATEGORIES,
    MALFORMED,
    OK,
    OTHER_ERROR,
    PARAM_HALLUCINATION,
    PARAM_MISSING,
    RENAMED,
    TOOL_CALL_FAILURE,
    TOOL_HALLUCINATION,
    TOOL_INSTABILITY,
)

__all__ = [
    "FEEDBACK_KEYS",
    "CATEGORY_KEYS",
    "FeedbackWeights",
    "hermes_blocks",
    "score_feedback",
    "model_text",
]

# MAE category (reward_fns.categories.FEEDBACK_CATEGORIES) -> (weight / result key, error group):
# the key is the category's own name, but ok's is call_ok. Old spellings map like their new names.
# (This order is the order of the result keys.)
_GROUPS = {
    OK: None,
    TOOL_HALLUCINATION: "de",
    PARAM_HALLUCINATION: "de",
    PARAM_MISSING: "de",
    TOOL_CALL_FAILURE: "ce",
    TOOL_INSTABILITY: "ce",
    OTHER_ERROR: "ce",
}
assert set(_GROUPS) == set(FEEDBACK_CATEGORIES)
CATEGORY_KEYS = {category: (CALL_OK if category == OK else category, group) for category, group in _GROUPS.items()}
_LOOKUP = {**CATEGORY_KEYS, **{old: CATEGORY_KEYS[new] for old, new in RENAMED.items()}}
_OTHER = CATEGORY_KEYS[OTHER_ERROR]
_MALFORMED_GROUP = "ce"
_FLAG_KEYS = tuple(dict.fromkeys([MALFORMED, *(key for key, _ in CATEGORY_KEYS.values())]))
# Every feedback-mode result has exactly these keys (verl needs the same keys for every sample).
FEEDBACK_KEYS = ("score", "de", "ce", "va", "n_tool_calls", "n_unexecuted_calls", *_FLAG_KEYS)


@dataclass(frozen=True)
class FeedbackWeights:
    """Values of feedback mode (docs/design.md#feedback-mode).

    Names shared with gold mode mean the same error.
    """

    call_ok: float = 1.0
    tool_hallucination: float = -2.0
    param_hallucination: float = -0.8
    param_missing: float = -0.5
    tool_call_failure: float = -0.25
    tool_instability: float = 0.0
    other_error: float = -0.25
    malformed: float = -2.0
    final_answer: float = 0.5  # added when the trajectory ends with an answer within the turn limit

    @classmethod
    def names(cls) -> frozenset:
        return frozenset(f.name for f in fields(cls))


def score_feedback(
    calls: list,
    n_malformed: int = 0,
    final_answer: bool = False,
    n_unexecuted: int = 0,
    w: FeedbackWeights = FeedbackWeights(),
) -> dict:
    """Score one trajectory; the result has exactly :data:`FEEDBACK_KEYS`.

    ``calls``: one ``{"category": str, ...}`` per executed call (an unknown category counts as
    ``other_error``); ``n_malformed``: call blocks that never ran; ``final_answer``: the trajectory ended
    with an answer within the turn limit; ``n_unexecuted``: well-formed calls verl parsed but did
    not run (beyond ``max_parallel_calls``), reported and not scored.
    """
    result = dict.fromkeys(FEEDBACK_KEYS, 0)
    total, errors = 0.0, {"de": 0, "ce": 0}
    for call in calls:
        category = call.get("category") if isinstance(call, dict) else None
        key, group = _LOOKUP.get(category, _OTHER)
        total += getattr(w, key)
        result[key] = 1
        if group is not None:
            errors[group] += 1
    if n_malformed:
        total += n_malformed * w.malformed
        result[MALFORMED] = 1
        errors[_MALFORMED_GROUP] += n_malformed
    slots = len(calls) + n_malformed
    va = int(bool(final_answer))
    result["score"] = (total / slots if slots else 0.0) + va * w.final_answer
    result["de"] = errors["de"] / slots if slots else 0.0
    result["ce"] = errors["ce"] / slots if slots else 0.0
    result["va"] = va
    result["n_tool_calls"] = slots
    result["n_unexecuted_calls"] = int(n_unexecuted)
    return result


_OPEN, _CLOSE = "<tool_call>", "</tool_call>"
_RESPONSE_OPEN, _RESPONSE_CLOSE = "<tool_response>", "</tool_response>"


def model_text(text: str) -> tuple[str, str]:
    """``(model_part, last_turn)``: ``text`` without the ``<tool_response>...</tool_response>``
    regions a Hermes/Qwen-style chat template wraps tool output in, and the text after the last
    one (the model's final turn). Linear: one ``str.find`` pass.

    >>> model_text("<tool_call>{}</tool_call>user\\n<tool_response>\\nsunny\\n</tool_response>It is sunny.")
    ('<tool_call>{}</tool_call>user\\nIt is sunny.', 'It is sunny.')
    """
    if not isinstance(text, str):
        return "", ""
    parts, pos, last = [], 0, 0
    while True:
        start = text.find(_RESPONSE_OPEN, pos)
        if start < 0:
            break
        end = text.find(_RESPONSE_CLOSE, start + len(_RESPONSE_OPEN))
        if end < 0:  # an unclosed response runs to the end of the text
            parts.append(text[pos:start])
            return "".join(parts), ""
        parts.append(text[pos:start])
        pos = last = end + len(_RESPONSE_CLOSE)
    parts.append(text[pos:])
    return "".join(parts), text[last:]


def hermes_blocks(text: str) -> tuple[int, int]:
    """``(well_formed, malformed)`` counts of ``<tool_call>`` blocks in ``text``.

    A block runs from ``<tool_call>`` to the first ``</tool_call>`` (verl's non-greedy regex). It
    is well formed exactly when verl's ``hermes`` parser would run it: the content is one JSON
    object with a string ``"name"`` and an ``"arguments"`` key. Everything else (no closing tag,
    not JSON, a ``"parameters"`` alias, a missing name) is malformed: verl logs it and drops it.
    Never raises; each character is read a bounded number of times.

    >>> hermes_blocks('<tool_call>{"name": "f", "arguments": {}}</tool_call><tool_call>{"name": "f"</tool_call>')
    (1, 1)
    """
    if not isinstance(text, str):
        return 0, 0
    ok = bad = 0
    pos = text.find(_OPEN)
    while pos >= 0:
        start = pos + len(_OPEN)
        end = text.find(_CLOSE, start)
        if end < 0:
            # verl finds no call in a turn without a closing tag; the model meant one here
            return ok, bad + 1
        if _is_call_object(text[start:end]):
            ok += 1
        else:
            bad += 1
        pos = text.find(_OPEN, end + len(_CLOSE))
    return ok, bad


def _is_call_object(content: str) -> bool:
    try:
        obj = json.loads(content)
    except (ValueError, RecursionError):
        return False
    return isinstance(obj, dict) and isinstance(obj.get("name"), str) and "arguments" in obj
