"""``tl_tool`` reward manager for verl's reward loop.

verl's ``naive`` manager decodes responses with ``skip_special_tokens=True``. When a model's
template marks tool calls with *special* tokens (Llama 3.1's ``<|python_tag|>``, tokenizers that
register ``<tool_call>`` as special), that decode erases the very markers the reward parses, and
every call would look like prose. This manager keeps those markers: it drops the other special
tokens itself and decodes the rest. Everything else follows ``naive``: the response's last
sequence is scored, the row's ``extra_info`` (which carries the tool schemas as
``extra_info.tools``) is passed to ``compute_score``, and every key of the returned dict becomes
reward extra info that verl logs as metrics.
"""

from __future__ import annotations

import inspect
import logging
import re

from verl import DataProto
from verl.experimental.reward_loop.reward_manager import register
from verl.experimental.reward_loop.reward_manager.base import RewardManagerBase

from reward_fns import tl_tool
from reward_fns.tl_tool import FEEDBACK_FIELD

logger = logging.getLogger(__name__)

_MARKER_NAME = re.compile(r"tool|function|python_tag", re.IGNORECASE)


def special_tool_markers(tokenizer, configured=None) -> dict[str, int]:
    """Tool-call markers that are special tokens, ``{text: id}``.

    ``configured`` names them explicitly; otherwise a special token counts as a marker when its
    text looks like one (tool / function / python_tag) and the chat template uses it (any such
    token when the tokenizer has no template).
    """
    template = getattr(tokenizer, "chat_template", None)
    if isinstance(template, dict):  # several named templates
        template = "\n".join(template.values())
    special = {}
    for tok in tokenizer.all_special_tokens:
        special[tok] = tokenizer.convert_tokens_to_ids(tok)
    for tok_id, added in getattr(tokenizer, "added_tokens_decoder", {}).items():
        if getattr(added, "special", False):
            special[added.content] = tok_id
    if configured is not None:
        return {t: special[t] for t in configured if t in special}
    return {
        t: i for t, i in special.items() if _MARKER_NAME.search(t) and (not isinstance(template, str) or t in template)
    }


@register("tl_tool")
class TLToolRewardManager(RewardManagerBase):
    """Scores tool-call responses with ``reward_fns.tl_tool.compute_score`` by default."""

    def __init__(self, config, tokenizer, compute_score, reward_router_address=None, reward_model_tokenizer=None):
        super().__init__(config, tokenizer, compute_score)
        self.compute_score = compute_score or tl_tool.compute_score
        self.is_async_reward_score = inspect.iscoroutinefunction(self.compute_score)
        settings = config.get("reward", {}).get("tl_tool", None) or {}
        configured = settings.get("tool_markers", None)
        self.tool_markers = special_tool_markers(tokenizer, list(configured) if configured is not None else None)
        # ids to drop when decoding by hand: every special token except the markers
        all_special = set(tokenizer.all_special_ids) | {
            i for i, t in getattr(tokenizer, "added_tokens_decoder", {}).items() if getattr(t, "special", False)
        }
        self._drop_ids = frozenset(all_special - set(self.tool_markers.values()))
        if self.tool_markers:
            logger.info("tl_tool: keeping special tool-call markers %s when decoding", sorted(self.tool_markers))

    def decode(self, response_ids) -> str:
        """The response text as the reward must see it (tool-call markers kept)."""
        if not self.tool_markers:
            return self.tokenizer.decode(response_ids, skip_special_tokens=True)
        ids = [i for i in response_ids.tolist() if i not in self._drop_ids]
        return self.tokenizer.decode(ids, skip_special_tokens=False)

    async def run_single(self, data: DataProto) -> dict:
        data_item = data[-1:][0]  # multi-sequence outputs: the last sequence is scored, as in naive
        response_ids = data_item.batch["responses"]
        valid_length = int(data_item.batch["attention_mask"][-response_ids.shape[-1] :].sum())
        valid_ids = response_ids[:valid_length]

        non_tensor = data_item.non_tensor_batch
        extra_info = dict(non_tensor.get("extra_info", None) or {})
        tool_extra_fields = non_tensor.get("tool_extra_fields", None)
        if tool_extra_fields is not None:
            extra_info.update(tool_extra_fields.items())
        elif FEEDBACK_FIELD in non_tensor:
            # reward computed after the rollout (not streamed): the loop's extra fields are columns
            extra_info[FEEDBACK_FIELD] = non_tensor[FEEDBACK_FIELD]
        extra_info["num_turns"] = non_tensor.get("__num_turns__", None)
        extra_info["rollout_reward_scores"] = non_tensor.get("reward_scores", {})

        response_str = await self.loop.run_in_executor(None, self.decode, valid_ids)
        kwargs = dict(
            data_source=non_tensor["data_source"],
            solution_str=response_str,
            ground_truth=non_tensor["reward_model"]["ground_truth"],
            extra_info=extra_info,
        )
        if self.is_async_reward_score:
            result = await self.compute_score(**kwargs)
        else:
            result = await self.loop.run_in_executor(None, lambda: self.compute_score(**kwargs))

        if isinstance(result, dict):
            return {"reward_score": result["score"], "reward_extra_info": dict(result)}
        return {"reward_score": result, "reward_extra_info": {"acc": result}}
