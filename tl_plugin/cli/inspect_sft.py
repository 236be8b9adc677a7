"""``tl-inspect``: see what MAE and PKT do to SFT rows before training on them.

    tl-inspect data.train_files=out/sft/train.parquet model.path=MODEL 'rows=[0,3]'
    tl-inspect data.train_files=... model.path=... format=json data.pkt.w_max=5

Each row is built by :class:`tl_plugin.verl_ext.sft_dataset.TLSFTDataset` with the given ``data`` config, exactly as
verl's SFT trainer builds it; key tokens are printed in ``⟦ ⟧`` with their weight.
"""

from __future__ import annotations

import json

import hydra
from omegaconf import DictConfig
from rich.console import Console
from rich.markup import escape

from tl_plugin.cli.config import as_list
from tl_plugin.verl_ext.sft_dataset import RowWeights, TLSFTDataset

__all__ = ["inspect_rows", "render_row"]


def inspect_rows(cfg: DictConfig) -> tuple[TLSFTDataset, list[RowWeights]]:
    from verl.utils import hf_tokenizer

    tokenizer = hf_tokenizer(cfg.model.path, trust_remote_code=cfg.model.trust_remote_code)
    files = as_list(cfg.data.train_files)
    dataset = TLSFTDataset(files[:1], tokenizer, cfg.data)
    rows = [int(r) for r in as_list(cfg.rows)]
    bad = [r for r in rows if not 0 <= r < len(dataset)]
    if bad:
        raise ValueError(f"rows {bad} out of range: {files[0]} has {len(dataset)} rows")
    return dataset, [dataset.row_weights(r) for r in rows]


def _fmt(w: float) -> str:
    return f"{w:.3g}"


def render_row(index: int, weights: RowWeights, all_messages: bool = False) -> list[str]:
    """Rich-markup lines for one row: a summary, then its messages with key tokens in ⟦ ⟧."""
    trained = sum(1 for w in weights.weights if w > 0)
    lines = [
        f"[bold]row {index}[/bold]: {len(weights.input_ids)} tokens, {trained} trained, "
        f"{len(weights.keys)} key, loss weight sum {_fmt(sum(weights.weights))}"
    ]
    keys = set(weights.keys)
    for n, msg in enumerate(weights.messages):
        span = range(msg["start"], msg["end"])
        is_trained = any(weights.weights[i] > 0 for i in span)
        head = f"  #{n} {msg['role']:<9} tokens {msg['start']}-{msg['end']}  "
        if not is_trained:
            why = "masked (MAE)" if msg["role"] == "assistant" else "no loss"
            text = "".join(weights.tokens[i] for i in span)
            if not all_messages:
                text = text if len(text) <= 70 else text[:67] + "..."
            lines.append(
                f"{head}[dim]{why}: {escape(text)!r}[/dim]"
                if not all_messages
                else f"{head}[dim]{why}[/dim]\n[dim]{escape(text)}[/dim]"
            )
            continue
        key_w = msg["key_weight"]
        lines.append(head + ("trained" if key_w is None else f"trained, key weight {_fmt(key_w)}"))
        pieces = []
        for i in span:
            tok = escape(weights.tokens[i])
            if i in keys:
                pieces.append(f"[bold reverse]⟦{tok}⟧[/bold reverse]")
            elif weights.weights[i] > 0:
                pieces.append(tok)
            else:
                pieces.append(f"[dim]{tok}[/dim]")
        lines.append("    " + "".join(pieces).replace("\n", "\n    "))
        if msg["key_weight"] is not None:
            listed = ", ".join(f"{i} {weights.tokens[i]!r} x{_fmt(weights.weights[i])}" for i in span if i in keys)
            lines.append(f"    key tokens: {escape(listed)}")
    return lines


@hydra.main(config_path="../configs", config_name="inspect", version_base=None)
def main(cfg: DictConfig) -> None:
    if cfg.format not in ("text", "json"):
        raise ValueError(f"format must be text or json, got {cfg.format!r}")
    dataset, rows = inspect_rows(cfg)
    if cfg.format == "json":
        for index, row in zip(as_list(cfg.rows), rows):
            print(json.dumps({"row": int(index), **row.__dict__}, ensure_ascii=False))
        return
    console = Console(highlight=False, soft_wrap=True)
    console.print(
        f"{as_list(cfg.data.train_files)[0]}: {len(dataset)} rows; PKT "
        + (f"on, w_max {_fmt(dataset.pkt.w_max)}" if dataset.pkt.enable else "off")
    )
    for index, row in zip(as_list(cfg.rows), rows):
        for line in render_row(int(index), row, cfg.all_messages):
            console.print(line)


if __name__ == "__main__":
    main()
