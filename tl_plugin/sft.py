"""``TLSFTDataset``: verl's ``MultiTurnSFTDataset`` reading tl-prepare's SFT parquet, with MAE masks.

Select it with ``data.custom_cls.path=pkg://tl_plugin.sft data.custom_cls.name=TLSFTDataset``.
On top of verl's class it

- decodes the ``tools`` column (a JSON string: parquet would merge differently-shaped schemas) and
  the call arguments inside ``messages`` (JSON strings), and drops the ``None`` fields parquet adds,
  so the chat template sees what the data holds (verl's own class passes the JSON string on and
  transformers rejects it);
- honours each message's ``loss_mask``: an assistant message with ``loss_mask: 0`` (an erroneous
  step found by MAE) gets no loss on any of its tokens but stays in the context of later turns;
- tokenises a run of consecutive ``tool`` messages (the answers to parallel calls) as one piece.
  verl renders every message on its own, but Qwen2.5-style templates put a whole run of tool
  results into one user turn, so message-by-message rendering would break verl's check that the
  concatenated turns equal the whole conversation. The run's tokens go to its first message
  (tool messages carry no loss either way).

Tokenisation, padding, truncation and verl's per-turn sanity check are verl's own code.
"""

from __future__ import annotations

import torch
from verl.utils.dataset.multiturn_sft_dataset import MultiTurnSFTDataset
from verl.utils.tokenizer.chat_template import apply_chat_template

from tl_plugin.row_format import chat_template_messages, decode_tools

__all__ = ["TLSFTDataset"]


class TLSFTDataset(MultiTurnSFTDataset):
    def _read_files_and_process(self):
        super()._read_files_and_process()
        if self.tools is not None:
            self.tools = [decode_tools(t, f"row {i}", self.tools_key) for i, t in enumerate(self.tools)]

    def _build_messages(self, example: dict):
        return chat_template_messages(super()._build_messages(example))

    def _process_single_message(self, index, message, full_message, tools=None, enable_thinking=None):
        if message["role"] == "tool" and index > 0:
            start, end = _tool_run(full_message, index)
            if end > start:
                if index > start:  # already tokenised with the first message of the run
                    empty = torch.zeros(0, dtype=torch.long)
                    return empty, empty, empty, {}
                return self._tool_run_tokens(full_message[start : end + 1], enable_thinking)
        input_ids, loss_mask, attention_mask, inputs = super()._process_single_message(
            index, message, full_message, tools=tools, enable_thinking=enable_thinking
        )
        if message.get("loss_mask", 1) == 0:
            loss_mask = torch.zeros_like(loss_mask)
        return input_ids, loss_mask, attention_mask, inputs

    def _tool_run_tokens(self, run: list, enable_thinking):
        kwargs = dict(self.apply_chat_template_kwargs)
        if enable_thinking is not None:
            kwargs["enable_thinking"] = enable_thinking
        processor = self.processor if self.processor is not None else self.tokenizer
        inputs = dict(
            apply_chat_template(
                processor, messages=run, add_generation_prompt=False, tokenize=True, return_dict=True,
                return_tensors="pt", **kwargs,
            )
        )
        # as verl does for every turn but the first: drop the default system prompt the template adds
        input_ids = inputs.pop("input_ids")[0][len(self.system_prompt) :]
        attention_mask = inputs.pop("attention_mask")[0][len(self.system_prompt) :]
        return input_ids, torch.zeros_like(attention_mask), attention_mask, inputs


def _tool_run(messages: list, index: int) -> tuple[int, int]:
    """First and last index of the run of consecutive tool messages containing ``index``."""
    start = end = index
    while start > 0 and messages[start - 1]["role"] == "tool":
        start -= 1
    while end + 1 < len(messages) and messages[end + 1]["role"] == "tool":
        end += 1
    return start, end
