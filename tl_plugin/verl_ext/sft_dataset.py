"""``TLSFTDataset``: verl's ``MultiTurnSFTDataset`` reading tl-prepare's SFT parquet, with MAE masks
and PKT key-token weights (TL-Training 4.1 and 4.2; docs/design.md#sft-rows, docs/design.md#pkt).

Select it with ``data.custom_cls.path=pkg://tl_plugin.sft data.custom_cls.name=TLSFTDataset`` (or
the preset ``+tl=sft``). On top of verl's class it

- decodes the ``tools`` column (a JSON string: parquet would merge differently-shaped schemas) and
  the call arguments inside ``messages`` (JSON strings), and drops the ``None`` fields parquet adds,
  so the chat template sees what the data holds (verl's own class passes the JSON string on and
  transformers rejects it);
- honours each message's ``loss_mask``: an assistant message with ``loss_mask: 0`` (an erroneous
  step found by MAE) gets no loss on any of its tokens but stays in the context of later turns;
- PKT (``data.pkt.enable``, default on): in every trained assistant message, the key tokens of each
  tool call's name (:mod:`data_transforms.pkt`) weigh ``clip(|NK| / |K|, 1, data.pkt.w_max)``, the
  message's other trained tokens 1. The weights ride in ``loss_mask`` as floats, and verl's
  ``sft_loss`` computes ``-sum(w * logp) / sum(w)`` with them in ``data.pad_mode=no_padding``
  (verl's default; in ``right`` mode it casts the mask to bool, so PKT refuses that mode).
  Candidate names come from the row's ``tools``; in rows with the tools in the system text
  (``tool_names`` column) the calls are read from the assistant text with the reward's parser;
- tokenises a run of consecutive ``tool`` messages (the answers to parallel calls) as one piece.
  verl renders every message on its own, but Qwen2.5-style templates put a whole run of tool
  results into one user turn, so message-by-message rendering would break verl's check that the
  concatenated turns equal the whole conversation. The run's tokens go to its first message
  (tool messages carry no loss either way).

Tokenisation, padding, truncation and verl's per-turn sanity check are verl's own code.
:func:`key_tokens` shows the weights of one row; ``tl-inspect`` prints them for a file.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import torch
from verl.utils.dataset.multiturn_sft_dataset import MultiTurnSFTDataset
from verl.utils.tokenizer.chat_template import apply_chat_template

from data_transforms.pkt import DEFAULT_W_MAX, token_weights
from reward_fns.parsing import parse_tool_calls
from tl_plugin.verl_ext.pkt_tokens import PKTError, message_key_positions
from tl_plugin.verl_ext.row_format import chat_template_messages, decode_tools

__all__ = ["PKTConfig", "RowWeights", "TLSFTDataset", "key_tokens"]


@dataclass(frozen=True)
class PKTConfig:
    """``data.pkt``: ``enable`` (default true) and ``w_max`` (default 9, TL-Training 5.4)."""

    enable: bool = True
    w_max: float = DEFAULT_W_MAX

    @classmethod
    def from_data_config(cls, config) -> PKTConfig:
        raw = (config or {}).get("pkt") or {}
        unknown = sorted(set(raw) - {"enable", "w_max"})
        if unknown:
            raise ValueError(f"data.pkt: unknown key(s) {unknown}; known: enable, w_max")
        enable, w_max = raw.get("enable", True), raw.get("w_max", DEFAULT_W_MAX)
        if not isinstance(enable, bool):
            raise ValueError(f"data.pkt.enable must be true or false, got {enable!r}")
        if isinstance(w_max, bool) or not isinstance(w_max, (int, float)) or w_max < 1:
            raise ValueError(f"data.pkt.w_max must be a number >= 1, got {w_max!r}")
        pad_mode = (config or {}).get("pad_mode", "right")
        if enable and pad_mode != "no_padding":
            raise ValueError(
                f"data.pkt.enable=true needs data.pad_mode=no_padding (got {pad_mode!r}): in other pad modes "
                "verl's sft_loss casts the loss mask to bool and the PKT weights would be lost. "
                "Set data.pad_mode=no_padding, or ++data.pkt.enable=false for MAE masks alone."
            )
        return cls(enable=enable, w_max=float(w_max))


@dataclass
class RowWeights:
    """One row as the trainer sees it: tokens, per-token loss weights, and where the keys are."""

    input_ids: list[int]
    tokens: list[str]
    weights: list[float]
    keys: list[int]  # positions in input_ids
    messages: list[dict] = field(default_factory=list)  # role, start, end, loss_mask, key_weight


class TLSFTDataset(MultiTurnSFTDataset):
    def __init__(self, parquet_files, tokenizer, config, processor=None, max_samples: int = -1):
        self.pkt = PKTConfig.from_data_config(config)
        super().__init__(parquet_files, tokenizer, config, processor=processor, max_samples=max_samples)

    def _read_files_and_process(self):
        super()._read_files_and_process()
        if self.tools is not None:
            self.tools = [decode_tools(t, f"row {i}", self.tools_key) for i, t in enumerate(self.tools)]
        self.tool_names = [self._row_tool_names(i) for i in range(len(self.messages))]

    def _row_tool_names(self, i: int) -> list[str]:
        if self.tools is not None and self.tools[i]:
            return [t["function"]["name"] for t in self.tools[i]]
        if "tool_names" in self.dataframe.columns:
            names = self.dataframe["tool_names"].iloc[i]
            return [str(n) for n in names] if names is not None else []
        return []

    def _build_messages(self, example: dict):
        return chat_template_messages(super()._build_messages(example))

    def __getitem__(self, item):
        self._row = item
        self._lengths, self._keys = [], {}
        try:
            out = super().__getitem__(item)
        except PKTError as exc:
            raise PKTError(f"row {item}: {exc} (set ++data.pkt.enable=false to train without PKT)") from None
        if self.pkt.enable:
            out["loss_mask"] = out["loss_mask"].float()
        return out

    def _process_single_message(self, index, message, full_message, tools=None, enable_thinking=None):
        if message["role"] == "tool" and index > 0:
            start, end = _tool_run(full_message, index)
            if end > start:
                if index > start:  # already tokenised with the first message of the run
                    empty = torch.zeros(0, dtype=torch.long)
                    self._lengths.append(0)
                    return empty, empty, empty, {}
                out = self._tool_run_tokens(full_message[start : end + 1], enable_thinking)
                self._lengths.append(len(out[0]))
                return out
        input_ids, loss_mask, attention_mask, inputs = super()._process_single_message(
            index, message, full_message, tools=tools, enable_thinking=enable_thinking
        )
        self._lengths.append(len(input_ids))
        if message.get("loss_mask", 1) == 0:
            loss_mask = torch.zeros_like(loss_mask)
        elif self.pkt.enable and message["role"] == "assistant" and (names := self._call_names(message)):
            keys = self._key_positions(index, message, names, input_ids, tools, enable_thinking)
            self._keys[index] = keys
            loss_mask = torch.tensor(token_weights(loss_mask.tolist(), keys, self.pkt.w_max), dtype=torch.float32)
        return input_ids, loss_mask, attention_mask, inputs

    def _call_names(self, message) -> list[str]:
        """The names of the message's tool calls: structured ``tool_calls``, or calls written in the
        text (``tools_in_prompt=system_text`` rows) that name one of the row's tools."""
        if message.get("tool_calls"):
            return [(c.get("function") or c).get("name", "") for c in message["tool_calls"]]
        content = message.get("content")
        if not isinstance(content, str) or not content:
            return []
        known = set(self.tool_names[self._row])
        return [c["name"] for c in parse_tool_calls(content).calls if c.get("name") in known]

    def _key_positions(self, index, message, names, input_ids, tools, enable_thinking) -> list[int]:
        """Key-token positions in this message's tokens (as verl tokenised them)."""
        kwargs = self._template_kwargs(enable_thinking)
        text = apply_chat_template(
            self._processor, messages=[message], tools=tools, add_generation_prompt=False, tokenize=False, **kwargs
        )
        try:
            ids, keys = message_key_positions(self.tokenizer, text, names, self.tool_names[self._row])
        except PKTError as exc:
            raise PKTError(f"message {index}: {exc}") from None
        strip = len(self.system_prompt) if index != 0 and message["role"] != "system" else 0  # as verl does
        if ids[strip:] != input_ids.tolist():
            raise PKTError(
                f"message {index}: tokenising the rendered text does not give the chat template's tokens, so "
                "key tokens cannot be placed (PKT needs a fast tokenizer)"
            )
        return [k - strip for k in keys if k >= strip]

    @property
    def _processor(self):
        return self.processor if self.processor is not None else self.tokenizer  # as verl picks it

    def _template_kwargs(self, enable_thinking) -> dict:
        kwargs = dict(self.apply_chat_template_kwargs)
        if enable_thinking is not None:
            kwargs["enable_thinking"] = enable_thinking
        return kwargs

    def _tool_run_tokens(self, run: list, enable_thinking):
        inputs = dict(
            apply_chat_template(
                self._processor,
                messages=run,
                add_generation_prompt=False,
                tokenize=True,
                return_dict=True,
                return_tensors="pt",
                **self._template_kwargs(enable_thinking),
            )
        )
        # as verl does for every turn but the first: drop the default system prompt the template adds
        input_ids = inputs.pop("input_ids")[0][len(self.system_prompt) :]
        attention_mask = inputs.pop("attention_mask")[0][len(self.system_prompt) :]
        return input_ids, torch.zeros_like(attention_mask), attention_mask, inputs

    def row_weights(self, item: int) -> RowWeights:
        """Row ``item`` as the trainer gets it, with its key-token positions (before padding)."""
        out = self[item]
        starts = [sum(self._lengths[:i]) for i in range(len(self._lengths) + 1)]
        n = starts[-1]
        ids = out["input_ids"][:n].tolist()
        weights = out["loss_mask"][:n].float().tolist()
        keys = sorted(starts[i] + k for i, ks in self._keys.items() for k in ks)
        messages = []
        for i, msg in enumerate(self._build_messages(self.dataframe.iloc[item].to_dict())):
            key_w = [weights[starts[i] + k] for k in self._keys.get(i, [])]
            messages.append(
                {
                    "role": msg["role"],
                    "start": starts[i],
                    "end": starts[i + 1],
                    "loss_mask": msg.get("loss_mask", 1),
                    "key_weight": max(key_w) if key_w else None,
                }
            )
        tokens = [self.tokenizer.decode([t]) for t in ids]
        return RowWeights(ids, tokens, weights, keys, messages)


def key_tokens(row: dict, tokenizer, **data_config) -> RowWeights:
    """PKT weights of one SFT row (tl-prepare's format: ``messages`` with per-message ``loss_mask``,
    ``tools`` as a JSON string or list), computed by :class:`TLSFTDataset` itself.

    ``data_config`` takes the same keys as verl's ``data`` config (``pkt={"w_max": 9}``,
    ``apply_chat_template_kwargs``, ``max_length``...).
    """
    from data_transforms.io import write_parquet

    config = {"pad_mode": "no_padding", "max_length": 1 << 20, "truncation": "error", **data_config}
    with tempfile.TemporaryDirectory() as tmp:
        path = write_parquet([row], Path(tmp) / "row.parquet")
        return TLSFTDataset([str(path)], tokenizer, config).row_weights(0)


def _tool_run(messages: list, index: int) -> tuple[int, int]:
    """First and last index of the run of consecutive tool messages containing ``index``."""
    start = end = index
    while start > 0 and messages[start - 1]["role"] == "tool":
        start -= 1
    while end + 1 < len(messages) and messages[end + 1]["role"] == "tool":
        end += 1
    return start, end
