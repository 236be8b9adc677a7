"""Aggregate result rows into a report: per category and overall, JSON, a table, a PNG chart.

Per category: ``n``, the mean of each metric (``accuracy``, reward ``score``, ``ts``, ``pi``,
``cf``; ``None`` where the category's rule gives none) and ``errors``, the fraction of samples with
each error flag. ``overall`` holds the same over every sample (micro average) plus
``macro_accuracy``, the unweighted mean of the category accuracies.

A RoTBench report names its judging (``rotbench_judging``): ``"evaluate.py"`` (RoTBench's own
reading, comparable with the paper's figures) or ``"lenient (format=...)"``, which the console
table and the chart mark, with a warning that the figures are not comparable.

>>> rows = [{"category": "a", "accuracy": 1, "score": 1.0, "ts": 1, "pi": 1, "cf": 1, "malformed": 0},
...         {"category": "a", "accuracy": 0, "score": -2.0, "ts": 0, "pi": 0, "cf": 0, "malformed": 1},
...         {"category": "b", "accuracy": 1, "score": None, "ts": None, "pi": None, "cf": None, "malformed": 0}]
>>> s = summarize(rows, error_flags=("malformed",))
>>> s["categories"]["a"]["accuracy"], s["categories"]["a"]["errors"], s["categories"]["b"]["ts"]
(0.5, {'malformed': 0.5}, None)
>>> s["overall"]["n"], round(s["overall"]["accuracy"], 4), s["overall"]["macro_accuracy"], s["overall"]["ts"]
(3, 0.6667, 0.75, 0.5)
"""

from __future__ import annotations

from pathlib import Path

from data_transforms.io import atomic_path, write_jsonl
from reward_fns.categories import CORRECT, GOLD_CATEGORIES
from reward_fns.rotbench import EVALUATE_PY

from .judge import METRICS

__all__ = ["ERROR_FLAGS", "judging_note", "plot_report", "print_report", "summarize", "write_results"]

# The reward's error categories (reward_fns.categories), as fractions of samples ("correct" is the
# accuracy's business).
ERROR_FLAGS = tuple(c for c in GOLD_CATEGORIES if c != CORRECT)


def _mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def _stats(rows: list, error_flags) -> dict:
    stats = {"n": len(rows)}
    for metric in METRICS:
        stats[metric] = _mean([r[metric] for r in rows])
    stats["errors"] = {flag: _mean([r[flag] for r in rows]) for flag in error_flags}
    return stats


def summarize(rows: list, error_flags=ERROR_FLAGS) -> dict:
    """``{"categories": {name: stats}, "overall": stats}`` in first-seen category order."""
    groups: dict[str, list] = {}
    for row in rows:
        groups.setdefault(row["category"], []).append(row)
    categories = {name: _stats(group, error_flags) for name, group in groups.items()}
    overall = _stats(rows, error_flags)
    overall["macro_accuracy"] = _mean([c["accuracy"] for c in categories.values()])
    return {"categories": categories, "overall": overall}


def write_results(rows: list, path) -> Path:
    """One result row per line (``results.jsonl``); ``tl-eval compare`` pairs runs on it."""
    return write_jsonl(rows, path)


def judging_note(report: dict) -> str | None:
    """The warning for a RoTBench report judged leniently; ``None`` otherwise.

    >>> judging_note({"rotbench_judging": "evaluate.py"}) is None, judging_note({"benchmark": "bfcl"}) is None
    (True, True)
    >>> judging_note({"rotbench_judging": "lenient (format=auto)"})[:38]
    'RoTBench judged lenient (format=auto),'
    """
    judging = report.get("rotbench_judging")
    if not judging or judging == EVALUATE_PY:
        return None
    return (
        f"RoTBench judged {judging}, not as RoTBench's evaluate.py: TS/PI/CF are NOT comparable with "
        "the paper's figures (leave reward_kwargs.format unset, or rotbench, for RoTBench's own judging)"
    )


def _pct(value) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def print_report(report: dict, console) -> None:
    from rich.table import Table

    judging = report.get("rotbench_judging")
    title = f"tl-eval {report['benchmark']}: {report['overall']['n']} samples"
    table = Table(title=title + (f", judging: {judging}" if judging else ""))
    for col in ("category", "n", "accuracy %", "TS %", "PI %", "CF %", "reward", "top errors (% of samples)"):
        table.add_column(col, justify="left" if col in ("category", "top errors (% of samples)") else "right")
    entries = list(report["categories"].items()) + [("overall", report["overall"])]
    last_category = list(report["categories"])[-1] if report["categories"] else None
    for name, s in entries:
        errors = sorted(((v, k) for k, v in s["errors"].items() if v), reverse=True)[:3]
        table.add_row(
            name,
            str(s["n"]),
            _pct(s["accuracy"]),
            _pct(s["ts"]),
            _pct(s["pi"]),
            _pct(s["cf"]),
            "-" if s["score"] is None else f"{s['score']:.3f}",
            ", ".join(f"{k} {_pct(v)}" for v, k in errors),
            end_section=name == last_category,
        )
    console.print(table)
    console.print(f"macro accuracy (mean over categories): {_pct(report['overall']['macro_accuracy'])} %")
    note = judging_note(report)
    if note:
        console.print(f"[bold yellow]warning: {note}[/]")


def plot_report(report: dict, path) -> Path:
    """A PNG with, per category, bars for accuracy/TS/PI/CF (top) and the error breakdown (bottom)."""
    import matplotlib

    matplotlib.use("Agg")  # no display; also safe inside Ray / SLURM jobs
    import matplotlib.pyplot as plt

    names = list(report["categories"])
    stats = [report["categories"][n] for n in names]
    width = max(6.0, 1.1 * len(names) + 2)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(width, 8), sharex=True)
    metrics = ("accuracy", "ts", "pi", "cf")
    bar = 0.8 / len(metrics)
    for k, metric in enumerate(metrics):
        xs = [i + (k - 1.5) * bar for i in range(len(names))]
        values = [100 * (s[metric] or 0.0) for s in stats]
        top.bar(xs, values, width=bar, label=metric.upper() if metric != "accuracy" else "accuracy")
    top.set_ylim(0, 100)
    top.set_ylabel("% of samples")
    lenient = judging_note(report) is not None
    top.set_title(
        f"tl-eval {report['benchmark']}"
        + (f": {report['model']}" if report.get("model") else "")
        + (f" [judging: {report['rotbench_judging']}]" if lenient else "")
    )
    top.legend(ncol=4, fontsize="small")
    base = [0.0] * len(names)
    for flag in ERROR_FLAGS:
        values = [100 * (s["errors"].get(flag) or 0.0) for s in stats]
        if any(values):
            bottom.bar(range(len(names)), values, bottom=base, label=flag)
            base = [b + v for b, v in zip(base, values)]
    bottom.set_ylabel("% of samples with the error")
    bottom.set_xticks(range(len(names)))
    bottom.set_xticklabels(names, rotation=30, ha="right")
    if any(base):
        bottom.legend(ncol=3, fontsize="small")
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return path
