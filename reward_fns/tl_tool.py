"""TL-Training tool-call reward (IRM) for verl: ``compute_score`` is the entry point.

Drop-in for ``verl/utils/reward_score``: pure Python, no verl import. ``ground_truth`` is a JSON
list of gold calls in BFCL possible-answer form; ``extra_info["tools"]`` holds the candidate tool
schemas (verl passes no prompt to reward functions, so the row must carry them).

>>> gt = '[{"name": "get_weather", "arguments": {"city": ["Paris"], "unit": ["", "celsius"]}}]'
>>> tools = '[{"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "unit": {"type": "string"}}, "required": ["city"]}}]'
>>> r = compute_score("bfcl", '<tool_call>{"name": "get_weather", "arguments": {"city": "paris"}}</tool_call>', gt, {"tools": tools})
>>> r["score"], r["correct"], r["ts"], r["pi"], r["cf"]
(1.0, 1, 1, 1, 1)
>>> compute_score("bfcl", "It is sunny.", gt, {"tools": tools})["score"]
-2.0
>>> compute_score("bfcl", '<tool_call>{"name": "get_weather", "arguments": {"city": "Rome"}}</tool_call>', gt, {"tools": tools}, content=-0.3)["score"]
-0.3

Feedback mode (multi-turn rollouts with executed tools, no gold calls) reads the calls the
``tl_multiturn_agent`` loop recorded, each with the category of the tool's response:

>>> record = {"calls": [{"name": "get_weather", "category": "ok"}], "final_answer": True, "unexecuted_calls": 0}
>>> text = '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call><tool_response>21 C</tool_response>Warm.'
>>> r = compute_score("tools", text, None, {"tl_feedback": record}, mode="feedback")
>>> r["score"], r["malformed"], r["va"]
(1.5, 0, 1)
>>> r = compute_score("tools", text + "<tool_call>{oops</tool_call>", None, {"tl_feedback": record}, mode="feedback")
>>> r["score"], r["malformed"], r["va"]
(-0.5, 1, 0)
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

from .feedback_reward import FEEDBACK_KEYS, FeedbackWeights, hermes_blocks, model_text, score_feedback
from .parsing import FORMATS, MALFORMED, parse_tool_calls
from .schemas import check_gold_against_tools, decode_gold_calls, index_tools, tools_from_gold
from .scoring import RESULT_KEYS, RewardWeights, compile_plans, empty_result, score_calls

__all__ = ["compute_score", "MODES", "RESULT_KEYS", "FEEDBACK_KEYS", "MIXED_KEYS", "RewardSettings", "reward_settings"]

# gold: compare with gold calls (IRM). feedback: judge executed calls by the tools' responses.
# mixed: gold where the row has a ground truth, feedback where it has none.
MODES = ("gold", "feedback", "mixed")
# Mixed mode: every key of both modes (zero where a row's mode lacks it) and which mode scored it.
MIXED_KEYS = (*dict.fromkeys((*RESULT_KEYS, *FEEDBACK_KEYS)), "feedback")
# Where the tl_multiturn_agent loop records each trajectory's tool calls (extra_info, via verl's
# agent-loop extra fields).
FEEDBACK_FIELD = "tl_feedback"

# Keyword arguments verl's reward managers may pass through to every reward function.
_VERL_KWARGS = frozenset({"reward_router_address", "reward_model_tokenizer"})
_WEIGHT_NAMES = RewardWeights.names() | FeedbackWeights.names()


class RewardSettings(NamedTuple):
    """``reward_kwargs`` decoded: gold-mode and feedback-mode values, parse format, mode."""

    weights: RewardWeights
    format: str
    mode: str
    feedback: FeedbackWeights


@lru_cache(maxsize=64)
def _settings(items: tuple) -> RewardSettings:
    kwargs = dict(items)
    fmt = kwargs.pop("format", "auto")
    if fmt != "auto" and fmt not in FORMATS:
        raise ValueError(f"reward_kwargs.format must be 'auto' or one of {FORMATS}, got {fmt!r}")
    mode = kwargs.pop("mode", "gold")
    if mode not in MODES:
        raise ValueError(f"reward_kwargs.mode must be one of {MODES}, got {mode!r}")
    unknown = set(kwargs) - _WEIGHT_NAMES - _VERL_KWARGS
    if unknown:
        raise ValueError(
            f"unknown reward_kwargs {sorted(unknown)}; expected 'format', 'mode' or reward values "
            f"{sorted(_WEIGHT_NAMES)}"
        )
    values = {}
    for k, v in kwargs.items():
        if k in _VERL_KWARGS:
            continue
        try:
            values[k] = float(v)
        except (TypeError, ValueError):
            raise ValueError(f"reward_kwargs.{k} must be a number, got {v!r}") from None
    gold = RewardWeights(**{k: v for k, v in values.items() if k in RewardWeights.names()})
    feedback = FeedbackWeights(**{k: v for k, v in values.items() if k in FeedbackWeights.names()})
    return RewardSettings(gold, fmt, mode, feedback)


_DEFAULT_SETTINGS = _settings(())
# verl passes the same reward_kwargs on every call: comparing with the last ones (one dict
# comparison) is cheaper than building a hashable key. One tuple, swapped atomically (threads).
_last_settings: tuple = ({}, _DEFAULT_SETTINGS)


def reward_settings(kwargs: dict) -> RewardSettings:
    """:class:`RewardSettings` from verl's ``reward_kwargs``; ``ValueError`` names a bad key."""
    if not kwargs:
        return _DEFAULT_SETTINGS
    global _last_settings
    last_kwargs, settings = _last_settings
    if kwargs != last_kwargs:
        try:
            settings = _settings(tuple(kwargs.items()))
        except TypeError:  # an unhashable override value: validate without the cache
            settings = _settings.__wrapped__(tuple(kwargs.items()))
        _last_settings = (dict(kwargs), settings)
    return settings


@lru_cache(maxsize=4096)
def _gold_and_tools(ground_truth, raw_tools) -> tuple:
    """Decoded gold calls, tool index, and compiled value tests; checked against each other
    (raises ``ValueError``). Cached: a GRPO group scores n responses against the same pair."""
    gold = decode_gold_calls(ground_truth)
    tools = index_tools(raw_tools) if raw_tools is not None else tools_from_gold(gold)
    check_gold_against_tools(gold, tools)
    return gold, tools, compile_plans(gold, tools)


def compute_score(data_source, solution_str, ground_truth, extra_info=None, **kwargs) -> dict:
    """Score one response; returns a dict with the same keys for every input of a mode.

    ``mode`` (a ``reward_kwargs`` key, default ``gold``): ``gold`` scores the response's calls
    against ``ground_truth`` (keys ``RESULT_KEYS``; ``score`` in [-2, 1] with the default values,
    1 exactly when the answer is fully right); ``feedback`` scores a multi-turn trajectory from
    the tool feedback the ``tl_multiturn_agent`` loop recorded in ``extra_info["tl_feedback"]``
    (keys ``FEEDBACK_KEYS``, see :mod:`reward_fns.feedback_reward`); ``mixed`` uses gold where
    ``ground_truth`` is given and feedback where it is ``None`` or empty (keys ``MIXED_KEYS``).
    Other ``kwargs`` override reward values (``wrong_tool=-1.0``, ``final_answer=1.0``, ...) and
    the parse format (``format="hermes"``; default ``auto``).

    Raises ``ValueError`` for bad ground truth, tool lists, reward_kwargs or a missing feedback
    record, never for bad model output.
    """
    settings = reward_settings(kwargs)
    if settings.mode == "gold":
        return _score_gold(solution_str, ground_truth, extra_info, settings)
    if settings.mode == "feedback":
        return _score_feedback(data_source, solution_str, extra_info, settings)
    has_gold = ground_truth is not None and not (isinstance(ground_truth, str) and not ground_truth.strip())
    result = dict.fromkeys(MIXED_KEYS, 0)
    if has_gold:
        result.update(_score_gold(solution_str, ground_truth, extra_info, settings))
    else:
        result.update(_score_feedback(data_source, solution_str, extra_info, settings))
        result["feedback"] = 1
    return result


def _score_gold(solution_str, ground_truth, extra_info, settings: RewardSettings) -> dict:
    weights = settings.weights
    raw_tools = extra_info.get("tools") if isinstance(extra_info, dict) else None
    if type(ground_truth) is str and (raw_tools is None or type(raw_tools) is str):
        gold, tools, plans = _gold_and_tools(ground_truth, raw_tools)  # once per pair of strings
    else:
        gold, tools, plans = _gold_and_tools.__wrapped__(ground_truth, raw_tools)

    parsed = parse_tool_calls(solution_str, settings.format)
    if parsed.status == MALFORMED:
        result = empty_result(0, len(gold))
        result["score"], result["malformed"] = weights.malformed, 1
        return result
    return score_calls(parsed.calls, gold, tools, weights, plans)


def _score_feedback(data_source, solution_str, extra_info, settings: RewardSettings) -> dict:
    record = extra_info.get(FEEDBACK_FIELD) if isinstance(extra_info, dict) else None
    if not isinstance(record, dict):
        raise ValueError(
            f"feedback mode needs extra_info[{FEEDBACK_FIELD!r}], which the tl_multiturn_agent agent loop "
            f"records for every trajectory; the {data_source!r} row has none. Roll it out with "
            "actor_rollout_ref.rollout.agent.default_agent_loop=tl_multiturn_agent (as +tl=multiturn does), "
            "or give it a ground truth and use mode=mixed"
        )
    text, last_turn = model_text(solution_str)
    _, n_malformed = hermes_blocks(text)
    # a final turn that tried to call a tool (a block verl dropped) is no answer
    final_answer = bool(record.get("final_answer")) and "<tool_call>" not in last_turn
    return score_feedback(
        record.get("calls") or (),
        n_malformed=n_malformed,
        final_answer=final_answer,
        n_unexecuted=int(record.get("unexecuted_calls") or 0),
        w=settings.feedback,
    )
