"""TL-Training's Table 5 grid (MAE and PKT switched on and off) at demo scale, over seeds.

    python -m tl_plugin.demo.ablation                       # configs/ablation.yaml: 4 arms x 3 seeds
    python -m tl_plugin.demo.ablation 'seeds=[0]' 'arms=[none,mae_pkt]'

Stages of :mod:`tl_plugin.demo` per (arm, seed): SFT rows from the same BFCL split (errors injected
with the run's seed; ``mae.mode`` mask or off), verl's SFT trainer on CPU (PKT on or off), and
``tl-eval`` on the same held-out samples; the base model is evaluated once. Prints each metric's
mean and standard deviation over seeds per arm, and writes every run to ``OUT/ablation.json``. The
grid's IRM columns need PPO, so a GPU; they are not run here. As in the demo, each stage's output
(verl's trainer, warnings) goes to ``OUT/ablation.log`` and the console shows one line per stage.
"""

from __future__ import annotations

import shutil
import statistics
import sys
import time
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.table import Table

from data_transforms.io import write_json
from tl_plugin.demo.pipeline import (
    LOG_TAIL,
    StageFailed,
    StageLog,
    data_summary,
    eval_model,
    eval_summary,
    prepare_data,
    sft_summary,
    shuffled_copy,
    train_sft,
)

__all__ = ["ARMS", "run_ablation", "summarize"]

# arm -> (MAE, PKT)
ARMS = {"none": (False, False), "mae": (True, False), "pkt": (False, True), "mae_pkt": (True, True)}
METRICS = ("accuracy", "ts", "pi", "cf", "score")


def summarize(runs: list) -> dict:
    """``{arm: {metric: {"mean", "std", "values"}}}`` over the runs' seeds (std 0.0 for one seed)."""
    out = {}
    for arm in dict.fromkeys(r["arm"] for r in runs):
        values = {m: [r["metrics"][m] for r in runs if r["arm"] == arm] for m in METRICS}
        out[arm] = {
            m: {"mean": statistics.fmean(v), "std": statistics.stdev(v) if len(v) > 1 else 0.0, "values": v}
            for m, v in values.items()
        }
    return out


def _table(summary: dict, base: dict, n_seeds: int, n: int) -> Table:
    table = Table(title=f"MAE / PKT ablation: held-out BFCL samples n = {n}, mean ± std over {n_seeds} seed(s)")
    for col in ("arm", "MAE", "PKT", "accuracy %", "TS %", "PI %", "CF %", "reward"):
        table.add_column(col, justify="left" if col in ("arm", "MAE", "PKT") else "right")
    table.add_row("base model", "", "", *(f"{100 * base[m]:.1f}" for m in METRICS[:4]), f"{base['score']:+.3f}")
    for arm, stats in summary.items():
        mae, pkt = ARMS[arm]
        cells = [f"{100 * stats[m]['mean']:.1f} ± {100 * stats[m]['std']:.1f}" for m in METRICS[:4]]
        cells.append(f"{stats['score']['mean']:+.3f} ± {stats['score']['std']:.3f}")
        table.add_row(arm, "yes" if mae else "no", "yes" if pkt else "no", *cells)
    return table


def run_ablation(cfg: DictConfig, console: Console | None = None) -> dict:
    """Every (arm, seed) run; each stage's output goes to ``OUT/ablation.log``, one console line per stage."""
    console = console or Console(width=140)
    arms = list(cfg.arms)
    unknown = [a for a in arms if a not in ARMS]
    if not arms or unknown:
        raise ValueError(f"arms must be among {list(ARMS)}, got {arms}")
    seeds = [int(s) for s in cfg.seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct integers, got {seeds}")
    out = Path(cfg.out).resolve()
    log_path = out / "ablation.log"
    with StageLog(log_path, console, int(cfg.get("log_tail", LOG_TAIL))) as stages:
        stages.line(f"ablation: each stage's full output (verl's trainers, warnings, tables) goes to {log_path}")
        result = _run_grid(cfg, out, arms, seeds, stages)
        stages.line(f"full log: {log_path}")
    return result


def _run_grid(cfg: DictConfig, out: Path, arms: list, seeds: list, stages: StageLog) -> dict:
    from tl_plugin.demo.smollm2 import export_smollm2

    console = stages.console
    if cfg.model_path is not None:
        base_model = Path(cfg.model_path)
    else:
        base_model = stages.run("base model: SmolLM2-135M-Instruct", lambda c: export_smollm2(out / "base_model"), str)
    started = time.perf_counter()
    runs, base = [], None
    for seed in seeds:
        for arm in arms:
            mae, pkt = ARMS[arm]
            run_dir = out / f"{arm}_seed{seed}"
            shutil.rmtree(run_dir, ignore_errors=True)
            label = f"{arm} (MAE {'on' if mae else 'off'}, PKT {'on' if pkt else 'off'}), seed {seed}"
            run_cfg = OmegaConf.merge(cfg, {"data": {"mae": "mask" if mae else "off"}})
            start = time.perf_counter()
            data = stages.run(
                f"{label}: data",
                lambda c, run_cfg=run_cfg, run_dir=run_dir, seed=seed: prepare_data(run_cfg, run_dir / "data", c, seed),
                data_summary,
            )
            ids = run_dir / "data" / "eval_ids.txt"
            if base is None:  # the held-out split and ids depend on cfg.seed only: one base evaluation
                base = stages.run(
                    "base model: eval",
                    lambda c, ids=ids: eval_model(cfg, base_model, ids, out / "base_eval", c),
                    eval_summary,
                )["overall"]
                base_ids = ids.read_text()
            if ids.read_text() != base_ids:
                raise RuntimeError(f"{ids}: the evaluated samples differ between runs")
            train_file = shuffled_copy(run_dir / "data" / "sft" / "train.parquet", seed)
            trained = stages.run(
                f"{label}: train",
                lambda c, run_cfg=run_cfg, train_file=train_file, run_dir=run_dir, pkt=pkt: train_sft(
                    run_cfg, base_model, train_file, run_dir / "sft", c, pkt=pkt
                ),
                sft_summary,
            )
            report = stages.run(
                f"{label}: eval",
                lambda c, trained=trained, ids=ids, run_dir=run_dir: eval_model(
                    cfg, Path(trained["model"]), ids, run_dir / "eval", c
                ),
                eval_summary,
            )
            runs.append(
                {
                    "arm": arm,
                    "seed": seed,
                    "metrics": report["overall"],
                    "losses": trained["losses"],
                    "masked": data["masked"],
                    "seconds": round(time.perf_counter() - start, 1),
                }
            )
            shutil.rmtree(run_dir / "sft" / "checkpoints", ignore_errors=True)  # 0.5 GB per run
            write_json({"base": base, "runs": runs}, out / "ablation.partial.json")  # what a killed run leaves
    summary = summarize(runs)
    result = {
        "config": OmegaConf.to_container(cfg, resolve=True),
        "base": base,
        "runs": runs,
        "summary": summary,
        "seconds": round(time.perf_counter() - started, 1),
        "not_run": "IRM columns (PPO with reward=tl_tool) need a GPU: example_configs/ppo_tl_tool.sh",
        "log": str(stages.path),
    }
    write_json(result, out / "ablation.json")
    console.print(_table(summary, base, len(seeds), int(cfg.eval.n)))
    console.print(f"{len(runs)} runs in {result['seconds']:.0f} s; every run: {out / 'ablation.json'}", soft_wrap=True)
    console.print(f"not run: {result['not_run']}")
    return result


@hydra.main(config_path="../configs", config_name="ablation", version_base=None)
def main(cfg: DictConfig) -> None:
    try:
        run_ablation(cfg)
    except StageFailed:  # the console has the error, the log's tail and its path
        sys.exit(1)


if __name__ == "__main__":
    main()
