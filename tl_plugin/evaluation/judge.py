"""Judge one model response to one :class:`~tl_plugin.evaluation.samples.EvalSample`.

Every result has the same keys (:data:`RESULT_FIELDS`): ``accuracy`` (0/1, the benchmark's own
verdict), the TL-Training reward ``score``, ``ts``/``pi``/``cf``, one 0/1 flag per error
category of the reward (``malformed``, ``tool_hallucination``, ...) and the call counts. Values a
rule cannot give are ``None`` (live_relevance has no gold answer: no score, no TS/PI/CF).

BFCL's relevance rules follow its checker: an answer "holds a call" when it decodes to at least one
call. An unparsable answer (our ``malformed``) holds none, so it is right for irrelevance and wrong
for live_relevance, as in BFCL, and it still shows in the ``malformed`` flag.

``reward_kwargs.format`` left out or ``None`` (eval.yaml's default) means each benchmark's own
reading: ``auto`` for BFCL, RoTBench's own (``evaluate.py``'s) for RoTBench; any other value is
used as given, which for RoTBench is the lenient judging (:func:`reward_fns.rotbench.judging`).

>>> from tl_plugin.evaluation.samples import EvalSample
>>> s = EvalSample("q0", "bfcl", "irrelevance", "no_call", [], None, "[]", '[{"name": "f", "parameters": {"type": "object", "properties": {}}}]')
>>> r = score_sample(s, "I cannot help with that.")
>>> r["accuracy"], r["score"], r["no_call"]
(1, 1.0, 0)
>>> score_sample(s, "<tool_call>{\\"name\\": \\"f\\", \\"arguments\\": {}}</tool_call>")["accuracy"]
0
"""

from __future__ import annotations

from reward_fns import rotbench as rotbench_reward
from reward_fns.categories import CORRECT, GOLD_CATEGORIES, MALFORMED, NO_CALL
from reward_fns.tl_tool import compute_score

__all__ = ["RESULT_FIELDS", "METRICS", "score_sample"]

METRICS = ("accuracy", "score", "ts", "pi", "cf")
# what a row copies from the reward's result: every metric but accuracy, the category flags, the counts
_REWARD_FIELDS = (*METRICS[1:], *GOLD_CATEGORIES, "n_pred_calls", "n_gold_calls")
RESULT_FIELDS = ("id", "benchmark", "category", "accuracy", *_REWARD_FIELDS)


def score_sample(sample, response: str, reward_kwargs: dict | None = None) -> dict:
    """The result row of ``response`` (raw model text) for ``sample``; never raises on the text."""
    kwargs = reward_kwargs or {}
    if "format" in kwargs and kwargs["format"] is None:  # the benchmark's own reading
        kwargs = {k: v for k, v in kwargs.items() if k != "format"}
    extra_info = {"tools": sample.tools_json}
    if sample.rule == "rotbench":
        r = rotbench_reward.compute_score(sample.benchmark, response, sample.ground_truth, extra_info, **kwargs)
        accuracy = r["cf"]
    else:
        # irrelevance and live_relevance are scored against "call nothing": the counts tell whether
        # the answer held a call, and for irrelevance the reward is the right one as well
        r = compute_score(sample.benchmark, response, sample.ground_truth, extra_info, **kwargs)
        if sample.rule == "calls":
            accuracy = r["correct"]
        elif sample.rule == "no_call":
            accuracy = int(r["n_pred_calls"] == 0)
        else:  # any_call: only "did it call" is known; no gold to score against
            called = int(r["n_pred_calls"] > 0)
            flags = dict.fromkeys(GOLD_CATEGORIES, 0)
            flags[MALFORMED] = r[MALFORMED]
            flags[NO_CALL] = int(not called and not r[MALFORMED])
            flags[CORRECT] = called
            r = {**r, **flags, "score": None, "ts": None, "pi": None, "cf": None}
            accuracy = called
    row = {"id": sample.id, "benchmark": sample.benchmark, "category": sample.category, "accuracy": accuracy}
    for key in _REWARD_FIELDS:
        row[key] = r[key]
    return row
