"""The ``tl_tool`` reward as an OpenRLHF reward file: ``--remote_rm_url /path/to/openrlhf_reward.py``.

OpenRLHF loads this file by path and calls ``reward_func(queries, prompts, labels)``: ``queries``
are the decoded prompt + response texts, ``prompts`` the prompt texts, ``labels`` the dataset's
``--label_key`` column. Here each label is ONE JSON string carrying the gold calls, the tools and
the data source, as ``tl-prepare rl.label_column=label`` writes it::

    {"ground_truth": "<gold calls JSON>", "tools": "<tool schemas JSON>", "data_source": "bfcl_live_simple"}

It returns what OpenRLHF reads: ``rewards`` (the tl_tool score, for the advantage), ``scores``
(1 where the answer is fully right, else 0: the [0, 1] value OpenRLHF's dynamic filtering reads)
and ``extra_logs`` (TS / PI / CF and each error category, 0/1 per sample, which OpenRLHF averages
into its logged metrics). ``rewards`` and ``scores`` are tensors when torch is importable
(OpenRLHF always has it); an extra log is a number for one query (OpenRLHF calls the file one
query at a time and makes each a tensor itself) and a tensor for several.

The response is the query after the prompt: OpenRLHF decodes prompt and response tokens together,
so the query normally starts with the prompt text; when decoding changed the prompt's text, the
response is taken after the longest common prefix.

>>> label = json.dumps({"ground_truth": '[{"name": "f", "arguments": {"x": [1]}}]',
...                     "tools": '[{"name": "f", "parameters": {"type": "object", "properties": {"x": {"type": "integer"}}}}]'})
>>> out = reward_func(['<|im_start|>user\\nDo f.<|im_end|>\\n<|im_start|>assistant\\n<tool_call>{"name": "f", "arguments": {"x": 1}}</tool_call>'],
...                   ["<|im_start|>user\\nDo f.<|im_end|>\\n<|im_start|>assistant\\n"], [label])
>>> out["rewards"].tolist(), out["scores"].tolist(), out["extra_logs"]["tl_tool/cf"]
([1.0], [1.0], 1.0)

Reward values and the parse format can be set through the environment variable
``TL_TOOL_REWARD_KWARGS`` (a JSON object, e.g. ``{"wrong_tool": -1.0}``), since OpenRLHF passes
nothing else to the file.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache

from reward_fns.tl_tool import compute_score, reward_settings
from reward_fns.trl_reward import LOGGED_KEYS

__all__ = ["LABEL_FIELDS", "reward_func", "response_text", "tl_tool_label"]

#: Fields of the JSON label (``tl-prepare rl.label_column``).
LABEL_FIELDS = ("ground_truth", "tools", "data_source")
_KWARGS_ENV = "TL_TOOL_REWARD_KWARGS"


def tl_tool_label(ground_truth: str, tools: str | None, data_source: str = "tl_tool") -> str:
    """The one-string label OpenRLHF hands to :func:`reward_func`."""
    return json.dumps({"ground_truth": ground_truth, "tools": tools, "data_source": data_source}, ensure_ascii=False)


def response_text(query: str, prompt: str) -> str:
    """``query`` (prompt + response as OpenRLHF decodes it) without the prompt.

    >>> response_text("PROMPT answer", "PROMPT "), response_text("PROMPT  answer", "PROMPT answer")
    ('answer', ' answer')
    """
    if not isinstance(query, str):
        return ""
    if isinstance(prompt, str) and query.startswith(prompt):
        return query[len(prompt) :]
    n = 0
    if isinstance(prompt, str):
        limit = min(len(query), len(prompt))
        while n < limit and query[n] == prompt[n]:
            n += 1
    return query[n:]


def _reward_kwargs() -> dict:
    return _parse_kwargs(os.environ.get(_KWARGS_ENV) or "")


@lru_cache(maxsize=8)
def _parse_kwargs(raw: str) -> dict:
    if not raw:
        return {}
    kwargs = json.loads(raw)
    if not isinstance(kwargs, dict):
        raise ValueError(f"{_KWARGS_ENV} must be a JSON object, got {raw[:100]!r}")
    reward_settings(kwargs)  # a bad key fails with its name
    return kwargs


def _decode_label(label, i: int) -> dict:
    if isinstance(label, (bytes, bytearray)):
        label = label.decode("utf-8")
    if isinstance(label, str):
        try:
            label = json.loads(label)
        except ValueError as exc:
            raise ValueError(f"labels[{i}] is not the JSON label tl-prepare rl.label_column writes: {exc}") from None
    if not isinstance(label, dict) or "ground_truth" not in label:
        raise ValueError(f"labels[{i}] must be a JSON object with {list(LABEL_FIELDS)}, got {str(label)[:200]!r}")
    return label


def reward_func(queries, prompts, labels, **kwargs) -> dict:
    """OpenRLHF's reward-function interface; see the module docstring."""
    reward_kwargs = _reward_kwargs()
    results = []
    for i, query in enumerate(queries):
        label = _decode_label(labels[i], i)
        extra = {"tools": label["tools"]} if label.get("tools") is not None else None
        text = response_text(query, prompts[i] if i < len(prompts) else "")
        results.append(
            compute_score(label.get("data_source") or "tl_tool", text, label["ground_truth"], extra, **reward_kwargs)
        )
    keys = [key for key in LOGGED_KEYS if results and key in results[0]]
    rewards = [float(r["score"]) for r in results]
    scores = [float(r.get("correct", 0)) for r in results]
    logs = {f"tl_tool/{key}": [float(r[key]) for r in results] for key in keys}
    try:
        import torch
    except ImportError:  # plain lists outside OpenRLHF
        return {"rewards": rewards, "scores": scores, "extra_logs": logs}
    if len(results) == 1:
        # OpenRLHF calls the file with one query and makes a tensor of each extra log itself;
        # a tensor per log here would cost more than the reward (see benchmarks/bench_reward.py)
        logs = {key: values[0] for key, values in logs.items()}
    else:
        logs = {key: torch.tensor(values) for key, values in logs.items()}
    return {"rewards": torch.tensor(rewards), "scores": torch.tensor(scores), "extra_logs": logs}
