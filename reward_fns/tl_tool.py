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
"""

from __future__ import annotations

from functools import lru_cache

from .parsing import FORMATS, MALFORMED, parse_tool_calls
from .schemas import check_gold_against_tools, decode_gold_calls, index_tools, tools_from_gold
from .scoring import RESULT_KEYS, RewardWeights, compile_plans, empty_result, score_calls

__all__ = ["compute_score", "RESULT_KEYS", "reward_settings"]

# Keyword arguments verl's reward managers may pass through to every reward function.
_VERL_KWARGS = frozenset({"reward_router_address", "reward_model_tokenizer"})


@lru_cache(maxsize=64)
def _settings(items: tuple) -> tuple[RewardWeights, str]:
    kwargs = dict(items)
    fmt = kwargs.pop("format", "auto")
    if fmt != "auto" and fmt not in FORMATS:
        raise ValueError(f"reward_kwargs.format must be 'auto' or one of {FORMATS}, got {fmt!r}")
    unknown = set(kwargs) - RewardWeights.names() - _VERL_KWARGS
    if unknown:
        raise ValueError(
            f"unknown reward_kwargs {sorted(unknown)}; expected 'format' or reward values "
            f"{sorted(RewardWeights.names())}"
        )
    weights = {}
    for k, v in kwargs.items():
        if k in _VERL_KWARGS:
            continue
        try:
            weights[k] = float(v)
        except (TypeError, ValueError):
            raise ValueError(f"reward_kwargs.{k} must be a number, got {v!r}") from None
    return RewardWeights(**weights), fmt


_DEFAULT_SETTINGS = _settings(())
# verl passes the same reward_kwargs on every call: comparing with the last ones (one dict
# comparison) is cheaper than building a hashable key. One tuple, swapped atomically (threads).
_last_settings: tuple = ({}, _DEFAULT_SETTINGS)


def reward_settings(kwargs: dict) -> tuple[RewardWeights, str]:
    """``(weights, parse format)`` from verl's ``reward_kwargs``; ``ValueError`` names a bad key."""
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
    """Score one response; returns a dict with the same keys for every input (``RESULT_KEYS``).

    ``score`` is in [-2, 1] with the default values and is 1 exactly when the answer is fully
    right. ``kwargs`` (verl's ``reward_kwargs``) override reward values (``wrong_tool=-1.0``,
    ...) and the parse format (``format="hermes"``; default ``auto``).

    Raises ``ValueError`` for bad ground truth, tool lists or reward_kwargs, never for bad model
    output.
    """
    weights, fmt = reward_settings(kwargs)
    raw_tools = extra_info.get("tools") if isinstance(extra_info, dict) else None
    if type(ground_truth) is str and (raw_tools is None or type(raw_tools) is str):
        gold, tools, plans = _gold_and_tools(ground_truth, raw_tools)  # once per pair of strings
    else:
        gold, tools, plans = _gold_and_tools.__wrapped__(ground_truth, raw_tools)

    parsed = parse_tool_calls(solution_str, fmt)
    if parsed.status == MALFORMED:
        result = empty_result(0, len(gold))
        result["score"], result["malformed"] = weights.malformed, 1
        return result
    return score_calls(parsed.calls, gold, tools, weights, plans)
