"""Score a file of responses with the ``tl_tool`` reward: score a file of responses and print what the reward sees.

python -m tl_plugin.demo.reward_demo                       # the shipped sample
python -m tl_plugin.demo.reward_demo responses=my.jsonl reward_kwargs.wrong_tool=-1.0
"""

from __future__ import annotations

from collections import Counter
from importlib import resources
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.table import Table

from data_transforms.io import iter_rows
from reward_fns.parsing import parse_tool_calls
from reward_fns.scoring import CATEGORIES
from reward_fns.tl_tool import compute_score

SAMPLE = resources.files("tl_plugin") / "data" / "reward_demo.jsonl"


def load_rows(path) -> list[dict]:
    """The responses file (JSON Lines, a JSON array or parquet; the shipped sample by default)."""
    rows = []
    for name, row in iter_rows(Path(str(SAMPLE)) if path is None else Path(path)):
        missing = [k for k in ("response", "ground_truth") if k not in row]
        if missing:
            raise ValueError(f"{name} lacks field(s) {missing}")
        rows.append(row)
    return rows


def score_rows(rows: list[dict], reward_kwargs: dict) -> list[dict]:
    results = []
    for row in rows:
        extra_info = {"tools": row["tools"]} if row.get("tools") is not None else None
        result = compute_score(
            row.get("data_source", "demo"), row["response"], row["ground_truth"], extra_info, **reward_kwargs
        )
        result["format"] = parse_tool_calls(row["response"], reward_kwargs.get("format", "auto")).format
        results.append(result)
    return results


def render(rows: list[dict], results: list[dict], console: Console) -> None:
    table = Table(title="tl_tool reward, per response")
    for col in ("id", "case", "format", "score", "TS", "PI", "CF", "categories"):
        table.add_column(col, justify="right" if col in ("score", "TS", "PI", "CF") else "left")
    for i, (row, res) in enumerate(zip(rows, results)):
        cats = ", ".join(c for c in CATEGORIES if res[c] and c != "correct") or "correct"
        table.add_row(
            str(row.get("id", i)),
            row.get("case", ""),
            res["format"],
            f"{res['score']:+.3f}",
            str(res["ts"]),
            str(res["pi"]),
            str(res["cf"]),
            cats,
        )
    console.print(table)

    n = len(results)
    summary = Table(title=f"TS / PI / CF over {n} responses")
    for col in ("mean score", "TS", "PI", "CF"):
        summary.add_column(col, justify="right")
    mean = lambda k: sum(r[k] for r in results) / n  # noqa: E731
    summary.add_row(
        f"{mean('score'):+.3f}", f"{100 * mean('ts'):.1f}%", f"{100 * mean('pi'):.1f}%", f"{100 * mean('cf'):.1f}%"
    )
    console.print(summary)

    counts = Table(title="responses per category (a response can have several)")
    counts.add_column("category")
    counts.add_column("count", justify="right")
    for c in CATEGORIES:
        counts.add_row(c, str(sum(r[c] for r in results)))
    console.print(counts)
    formats = Counter(r["format"] for r in results)
    console.print("parse formats: " + ", ".join(f"{k}={v}" for k, v in sorted(formats.items())))


@hydra.main(config_path="../configs", config_name="reward_demo", version_base=None)
def main(cfg: DictConfig) -> None:
    rows = load_rows(cfg.responses)
    reward_kwargs = OmegaConf.to_container(cfg.reward_kwargs, resolve=True)
    render(rows, score_rows(rows, reward_kwargs), Console(width=160))


if __name__ == "__main__":
    main()
