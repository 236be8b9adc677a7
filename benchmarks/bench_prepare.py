"""How fast is ``tl-prepare``? Source rows per second, against a read-and-copy floor, in one run.

Two workloads:

(a) BFCL: every question of the eight AST categories plus ``irrelevance`` (2,591 rows) from the
    installed ``bfcl-eval`` wheel, into RL and SFT parquet;
(b) multi-turn trajectories: the OpenAI-format sample ``tests/data/openai_chat.jsonl`` repeated to
    ``--n`` rows (ids made unique) with MAE classification, masking and per-step RL rows.

For each, the floor is what any converter must do: read the same rows (``json.loads`` per line)
and write them unchanged to parquet with pyarrow. Each timing is the best of ``--repeat`` runs
(``time.perf_counter``). Run: ``python benchmarks/bench_prepare.py [--n 20000] [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import importlib.resources
import json
import sys
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from timing import best_time  # noqa: E402  (benchmarks/timing.py, beside this script)

from data_transforms.bfcl import CALL_CATEGORIES  # noqa: E402
from tl_plugin.cli.prepare import prepare, prepare_config  # noqa: E402


def floor(paths: list, out: Path) -> int:
    """Read JSON Lines rows and write them unchanged to parquet: the least a converter does."""
    rows = [
        json.loads(line) for p in paths for line in Path(p).read_text(encoding="utf-8").splitlines() if line.strip()
    ]
    pq.write_table(pa.Table.from_pylist([{"row": json.dumps(r)} for r in rows]), out)
    return len(rows)


def run_prepare(overrides: list) -> dict:
    return prepare(prepare_config(overrides))


def trajectories(n: int, path: Path) -> None:
    sample = [
        json.loads(line) for line in (ROOT / "tests" / "data" / "openai_chat.jsonl").read_text().splitlines() if line
    ]
    with path.open("w") as fh:
        for i in range(n):
            row = dict(sample[i % len(sample)])
            row["id"] = f"traj-{i}"
            fh.write(json.dumps(row) + "\n")


def report(name: str, n: int, seconds: float, floor_seconds: float) -> None:
    print(
        f"{name:<34} {n:>7} rows  {seconds:7.2f} s  {n / seconds:9,.0f} rows/s  "
        f"{1e3 * seconds / n:6.3f} ms/row   floor {n / floor_seconds:9,.0f} rows/s  ({seconds / floor_seconds:.1f}x the floor)"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench_prepare_"))
    data = importlib.resources.files("bfcl_eval") / "data"

    categories = [*CALL_CATEGORIES, "irrelevance"]
    files = [data / f"BFCL_v4_{c}.json" for c in categories]
    files += [data / "possible_answer" / f"BFCL_v4_{c}.json" for c in CALL_CATEGORIES]
    n_bfcl = floor(files[: len(categories)], tmp / "f.parquet")  # questions only count as rows
    t_floor = best_time(lambda: floor(files, tmp / "floor.parquet"), args.repeat)
    overrides = ["source=bfcl", f"categories=[{','.join(categories)}]", f"out={tmp / 'bfcl'}"]
    summary = run_prepare(overrides)
    assert summary["rows_read"] == n_bfcl
    t = best_time(lambda: run_prepare(overrides), args.repeat)
    report("BFCL -> RL + SFT parquet", n_bfcl, t, t_floor)
    written = {k: sum(v.values()) for k, v in summary["written"].items()}
    print(f"{'':34} wrote {written}, dropped {summary['dropped']}")

    path = tmp / "traj.jsonl"
    trajectories(args.n, path)
    t_floor = best_time(lambda: floor([path], tmp / "floor2.parquet"), args.repeat)
    overrides = ["source=openai", f"input={path}", f"out={tmp / 'traj'}"]
    summary = run_prepare(overrides)
    t = best_time(lambda: run_prepare(overrides), args.repeat)
    report("trajectories (openai) -> RL + SFT", args.n, t, t_floor)
    written = {k: sum(v.values()) for k, v in summary["written"].items()}
    print(f"{'':34} wrote {written}, masked {summary['masked']}")


if __name__ == "__main__":
    main()
