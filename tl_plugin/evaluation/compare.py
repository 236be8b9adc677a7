"""``tl-eval compare A.json B.json``: what changed between two evaluation runs.

For every category (and overall) and every metric: A, B and B - A. When both reports have their
per-sample ``results.jsonl`` beside them, accuracy is also compared pair-wise on the samples both
runs scored: ``b`` samples right in A only, ``c`` right in B only, and the exact McNemar p-value
(two-sided binomial test of ``min(b, c)`` out of ``b + c`` at 1/2), so a user can tell a real
gain from noise. Two RoTBench runs judged differently (``rotbench_judging``: RoTBench's
``evaluate.py`` vs a lenient format) are compared with a warning.

>>> a = {"categories": {"x": {"n": 2, "accuracy": 0.5, "cf": 0.5}}, "overall": {"n": 2, "accuracy": 0.5, "cf": 0.5}}
>>> b = {"categories": {"x": {"n": 2, "accuracy": 1.0, "cf": 0.5}}, "overall": {"n": 2, "accuracy": 1.0, "cf": 0.5}}
>>> [(r["category"], r["metric"], r["delta"]) for r in compare_reports(a, b, metrics=("accuracy", "cf"))]
[('x', 'accuracy', 0.5), ('x', 'cf', 0.0), ('overall', 'accuracy', 0.5), ('overall', 'cf', 0.0)]
>>> mcnemar({"q1": 1, "q2": 0, "q3": 0}, {"q1": 1, "q2": 1, "q3": 1})
{'n': 3, 'a_only': 0, 'b_only': 2, 'p_value': 0.5}
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NamedTuple

from omegaconf import OmegaConf

from data_transforms.io import iter_rows, read_json, write_json

from .judge import METRICS

__all__ = ["SampleKey", "compare_reports", "load_report", "main", "mcnemar"]

USAGE = "usage: tl-eval compare A.json B.json [metrics=[accuracy,ts,pi,cf,score]] [out=DELTAS.json]"


class SampleKey(NamedTuple):
    """One sample of a run, as ``results.jsonl`` names it."""

    category: str
    id: str


def load_report(path) -> tuple[dict, dict | None]:
    """The report and, if its results file sits beside it, ``{SampleKey: accuracy}``."""
    path = Path(path)
    report = read_json(path, "report")
    if not isinstance(report, dict) or "categories" not in report or "overall" not in report:
        raise ValueError(f"{path}: not a tl-eval report (no 'categories'/'overall'); pass report.json")
    results = None
    name = report.get("results_file")
    if name and (path.parent / name).is_file():
        results = {SampleKey(row["category"], row["id"]): row["accuracy"] for _, row in iter_rows(path.parent / name)}
    return report, results


def mcnemar(a: dict, b: dict) -> dict:
    """Paired comparison of 0/1 verdicts keyed alike; only keys in both count."""
    from scipy.stats import binomtest

    shared = a.keys() & b.keys()
    a_only = sum(1 for k in shared if a[k] and not b[k])
    b_only = sum(1 for k in shared if b[k] and not a[k])
    discordant = a_only + b_only
    p = binomtest(min(a_only, b_only), discordant, 0.5).pvalue if discordant else 1.0
    return {"n": len(shared), "a_only": a_only, "b_only": b_only, "p_value": float(p)}


def compare_reports(a: dict, b: dict, a_results=None, b_results=None, metrics=METRICS) -> list[dict]:
    """One row per (category, metric): A's value, B's, and the delta (None if either lacks it)."""
    names = list(a["categories"]) + [n for n in b["categories"] if n not in a["categories"]]
    rows = []
    for name in [*names, "overall"]:
        sa = a["overall"] if name == "overall" else a["categories"].get(name)
        sb = b["overall"] if name == "overall" else b["categories"].get(name)
        paired = None
        if a_results is not None and b_results is not None:
            keep = (lambda k: True) if name == "overall" else (lambda k, n=name: k.category == n)
            paired = mcnemar(
                {k: v for k, v in a_results.items() if keep(k)}, {k: v for k, v in b_results.items() if keep(k)}
            )
        for metric in metrics:
            va = None if sa is None else sa.get(metric)
            vb = None if sb is None else sb.get(metric)
            row = {
                "category": name,
                "metric": metric,
                "n_a": None if sa is None else sa["n"],
                "n_b": None if sb is None else sb["n"],
                "a": va,
                "b": vb,
                "delta": None if va is None or vb is None else round(vb - va, 6),
            }
            if metric == "accuracy" and paired is not None:
                row["paired"] = paired
            rows.append(row)
    return rows


def _fmt(value, metric: str) -> str:
    if value is None:
        return "-"
    return f"{value:+.3f}" if metric == "score" else f"{100 * value:.1f}"


def print_comparison(rows: list, a_name: str, b_name: str, console) -> None:
    from rich.table import Table

    table = Table(title=f"tl-eval compare: A={a_name}  B={b_name}  (percent; reward score as is)")
    for col in ("category", "metric", "n A/B", "A", "B", "B - A", "paired accuracy: A only / B only, p"):
        table.add_column(col, justify="left" if col in ("category", "metric") else "right")
    for row in rows:
        delta = row["delta"]
        if delta is None:
            shown = "-"
        else:
            shown = f"{delta:+.3f}" if row["metric"] == "score" else f"{100 * delta:+.1f}"
            if delta:
                shown = f"[{'green' if delta > 0 else 'red'}]{shown}[/]"
        paired = row.get("paired")
        table.add_row(
            row["category"],
            row["metric"],
            f"{row['n_a']}/{row['n_b']}",
            _fmt(row["a"], row["metric"]),
            _fmt(row["b"], row["metric"]),
            shown,
            "" if not paired else f"{paired['a_only']} / {paired['b_only']}, p={paired['p_value']:.3g}",
        )
    console.print(table)
    mismatched = sorted({r["category"] for r in rows if r["n_a"] != r["n_b"]})
    if mismatched:
        console.print(f"[yellow]note: the runs scored different numbers of samples in {mismatched}[/]")


def main(argv=None) -> int:
    """``tl-eval compare A.json B.json [key=value ...]`` (OmegaConf dot-list overrides)."""
    from rich.console import Console

    argv = sys.argv[2:] if argv is None else list(argv)
    paths = [a for a in argv if "=" not in a]
    if len(paths) != 2:
        print(USAGE, file=sys.stderr)
        return 2
    opts = OmegaConf.merge(
        OmegaConf.create({"metrics": list(METRICS), "out": None}), OmegaConf.from_dotlist([a for a in argv if "=" in a])
    )
    unknown = set(opts) - {"metrics", "out"}
    if unknown:
        raise ValueError(f"unknown compare options {sorted(unknown)}; {USAGE}")
    metrics = tuple(opts.metrics)
    bad = set(metrics) - set(METRICS)
    if bad:
        raise ValueError(f"metrics must be among {list(METRICS)}, got {sorted(bad)}")
    (a, ar), (b, br) = load_report(paths[0]), load_report(paths[1])
    rows = compare_reports(a, b, ar, br, metrics)
    console = Console(width=160)
    print_comparison(rows, paths[0], paths[1], console)
    if "rotbench" in (a.get("benchmark"), b.get("benchmark")):
        ja, jb = (r.get("rotbench_judging") or "not recorded" for r in (a, b))
        if ja != jb:
            console.print(
                f"[bold yellow]warning: the runs judged RoTBench differently (A: {ja}, B: {jb}); "
                "their TS/PI/CF differences are partly the judging's[/]"
            )
    if opts.out:
        write_json({"a": paths[0], "b": paths[1], "rows": rows}, opts.out)
    return 0
