"""The ``tl_tool`` reward as a reward function for Hugging Face TRL's ``GRPOTrainer``.

TRL calls each reward function with the completions and every dataset column as keyword
arguments (one list entry per completion) and wants one float per completion back. This function
reads the gold calls and the tool schemas from the columns ``tl-prepare`` writes
(``reward_model.ground_truth`` and ``extra_info.tools``; flat ``ground_truth`` / ``tools``
columns work too) and scores with :func:`reward_fns.tl_tool.compute_score`, so TRL, verl and
OpenRLHF runs give the same number for the same answer. TS / PI / CF and each error category's
rate go to TRL's logs through the ``log_metric`` callable TRL (>= 1.0) hands to reward functions,
as ``tl_tool/<key>``.

Completions may be plain text or chat messages (``[{"role": "assistant", "content": ...}]``);
calls TRL already parsed into a message's ``tool_calls`` are scored too.

>>> gt = '[{"name": "get_weather", "arguments": {"city": ["Paris"]}}]'
>>> tools = '[{"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]'
>>> logged = {}
>>> tl_tool_reward(
...     completions=[[{"role": "assistant", "content": '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>'}],
...                  "It is sunny."],
...     reward_model=[{"ground_truth": gt}] * 2, extra_info=[{"tools": tools}] * 2,
...     log_metric=lambda name, value: logged.setdefault(name, value))
[1.0, -2.0]
>>> logged["tl_tool/ts"], logged["tl_tool/no_call"]
(0.5, 0.5)

Another column layout or other reward values: ``make_tl_tool_reward(ground_truth_column="answer",
tools_column="functions", wrong_tool=-1.0)``.
"""

from __future__ import annotations

import json

from .categories import GOLD_CATEGORIES
from .tl_tool import compute_score, reward_settings

__all__ = ["LOGGED_KEYS", "completion_text", "make_tl_tool_reward", "tl_tool_reward"]

#: Result keys whose batch mean is logged as ``tl_tool/<key>``.
LOGGED_KEYS = ("ts", "pi", "cf", *GOLD_CATEGORIES)


def completion_text(completion) -> str:
    """The model's text of one TRL completion: a string, or the assistant messages of a chat
    completion joined, with calls TRL parsed into ``tool_calls`` written back as hermes blocks.

    >>> completion_text([{"role": "assistant", "content": "", "tool_calls": [{"type": "function",
    ...     "function": {"name": "f", "arguments": {"x": 1}}}]}])
    '<tool_call>{"name": "f", "arguments": {"x": 1}}</tool_call>'
    """
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        completion = [completion]
    if not isinstance(completion, list):
        return ""
    parts = []
    for msg in completion:
        if not isinstance(msg, dict) or msg.get("role", "assistant") != "assistant":
            continue
        content = msg.get("content")
        if isinstance(content, list):  # content parts
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        if isinstance(content, str) and content:
            parts.append(content)
        for call in msg.get("tool_calls") or ():
            fn = call.get("function", call) if isinstance(call, dict) else None
            if isinstance(fn, dict):
                block = {"name": fn.get("name"), "arguments": fn.get("arguments", {})}
                parts.append(f"<tool_call>{json.dumps(block, ensure_ascii=False)}</tool_call>")
    return "\n".join(parts)


def _column(kwargs: dict, name: str, n: int) -> list:
    values = kwargs.get(name)
    if values is None:
        raise ValueError(
            f"the tl_tool reward needs the dataset column {name!r} (tl-prepare's RL rows have "
            f"'reward_model' and 'extra_info'); the columns TRL passed are {sorted(k for k in kwargs if not k.startswith('log_'))}"
        )
    if len(values) != n:
        raise ValueError(f"column {name!r} has {len(values)} values for {n} completions")
    return values


def _field(value, key: str):
    # tl-prepare nests the field in a struct column; a flat column holds it directly
    return value.get(key) if isinstance(value, dict) else value


def make_tl_tool_reward(
    ground_truth_column: str = "reward_model",
    tools_column: str = "extra_info",
    data_source_column: str = "data_source",
    **reward_kwargs,
):
    """A TRL reward function over the given columns, with ``reward_kwargs`` as in verl
    (``format``, ``mode``, reward values). A column may hold the value itself or, as tl-prepare
    writes it, a struct with a ``ground_truth`` / ``tools`` field."""
    reward_settings(reward_kwargs)  # a bad key fails here, not at the first training step

    def tl_tool_reward(completions, **kwargs) -> list[float]:
        n = len(completions)
        gt_col = (
            ground_truth_column if ground_truth_column in kwargs or "ground_truth" not in kwargs else "ground_truth"
        )
        tools_col = tools_column if tools_column in kwargs or "tools" not in kwargs else "tools"
        truths = _column(kwargs, gt_col, n)
        tools = kwargs.get(tools_col) or [None] * n
        sources = kwargs.get(data_source_column) or ["tl_tool"] * n
        results = []
        for i, completion in enumerate(completions):
            extra = {"tools": _field(tools[i], "tools")} if tools[i] is not None else None
            results.append(
                compute_score(
                    sources[i], completion_text(completion), _field(truths[i], "ground_truth"), extra, **reward_kwargs
                )
            )
        log_metric = kwargs.get("log_metric")
        if callable(log_metric) and results:
            for key in LOGGED_KEYS:
                if key in results[0]:
                    log_metric(f"tl_tool/{key}", sum(r[key] for r in results) / len(results))
        return [float(r["score"]) for r in results]

    return tl_tool_reward


tl_tool_reward = make_tl_tool_reward()
