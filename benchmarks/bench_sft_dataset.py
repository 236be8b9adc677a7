"""How much does TLSFTDataset cost per row? ``__getitem__`` time against verl's stock class, in one run.

The same 1,000 SFT rows for every variant: tl-prepare's SFT rows of BFCL's simple_python,
multiple, parallel and parallel_multiple questions (400 + 200 + 200 + 200), written with
``tools_in_prompt=system_text`` so that verl's stock ``MultiTurnSFTDataset`` can read them too (it
cannot take the JSON-string ``tools`` column of native rows). PKT takes the candidate names from
the rows' ``tool_names``. A fifth line times native rows (tools through the chat template), which
only TLSFTDataset reads.

Every variant: ``data.pad_mode=no_padding`` (verl's SFT default), the repo's tiny byte-level BPE
tokenizer with the Qwen2.5-style tool template, one pass over all rows, best of ``--repeat``.
Run: ``python benchmarks/bench_sft_dataset.py [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from omegaconf import OmegaConf  # noqa: E402
from verl.utils.dataset.multiturn_sft_dataset import MultiTurnSFTDataset  # noqa: E402

from tl_plugin.cli.prepare import prepare, prepare_config  # noqa: E402
from tl_plugin.testing import build_tiny_tokenizer  # noqa: E402
from tl_plugin.verl_ext.sft_dataset import TLSFTDataset  # noqa: E402

CATEGORIES = "[simple_python,multiple,parallel,parallel_multiple]"


def rows_file(out: Path, tools_in_prompt: str) -> Path:
    prepare(
        prepare_config(
            [
                "source=bfcl",
                f"categories={CATEGORIES}",
                f"out={out}",
                "kinds=[sft]",
                f"tools_in_prompt={tools_in_prompt}",
            ]
        )
    )
    return out / "sft" / "train.parquet"


def per_row_ms(dataset, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for i in range(len(dataset)):
            dataset[i]
        best = min(best, time.perf_counter() - start)
    return 1000 * best / len(dataset)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        tokenizer = build_tiny_tokenizer(tmp / "tok")
        text_rows = rows_file(tmp / "system_text", "system_text")
        native_rows = rows_file(tmp / "native", "native")
        base = {"pad_mode": "no_padding", "max_length": 1 << 20, "truncation": "error"}

        def build(cls, path, **extra):
            return cls([str(path)], tokenizer, OmegaConf.create({**base, **extra}))

        variants = [
            ("verl MultiTurnSFTDataset (stock)", build(MultiTurnSFTDataset, text_rows)),
            ("TLSFTDataset, PKT off", build(TLSFTDataset, text_rows, pkt={"enable": False})),
            ("TLSFTDataset, PKT on (w_max 9)", build(TLSFTDataset, text_rows)),
            ("TLSFTDataset, PKT on, native tools", build(TLSFTDataset, native_rows)),
        ]
        n = len(variants[0][1])
        assert all(len(ds) == n for _, ds in variants), "every variant reads the same rows"
        # same tokens, and PKT really weighted something
        assert variants[0][1][0]["input_ids"].tolist() == variants[2][1][0]["input_ids"].tolist()
        n_weighted = sum(float(variants[2][1][i]["loss_mask"].max()) > 1 for i in range(n))

        print(
            f"{n} rows (BFCL simple_python, multiple, parallel, parallel_multiple), {n_weighted} with PKT weights > 1"
        )
        print(f"__getitem__ per row, best of {args.repeat} passes:")
        stock_ms = None
        for name, ds in variants:
            ms = per_row_ms(ds, args.repeat)
            stock_ms = stock_ms or ms
            print(f"  {name:<38} {ms:7.3f} ms  {ms / stock_ms:5.2f}x stock")


if __name__ == "__main__":
    main()
