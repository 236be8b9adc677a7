"""Smoke runs of verl's own trainers on CPU, end to end: ``python -m tl_plugin.cli.smoke SUBCOMMAND``.

``grpo``, ``ppo``, ``multiturn``: verl's ``main_ppo`` with the ``tl_hf`` rollout, see
:mod:`tl_plugin.cli.smoke_rl`.

``sft``: builds a tiny random Qwen2 model beside a real BPE tokenizer with our Qwen2.5-style tool
template (:func:`tl_plugin.testing.build_tiny_tokenizer`), writes a one-batch SFT parquet the way
``tl-prepare`` does (records through ``data_transforms.writers.sft_rows``: tool calls, parallel
tool answers, and a step MAE masks with ``loss_mask: 0``), then runs verl's
``verl.trainer.sft_trainer`` under ``torchrun`` with ``TL_PLUGIN_CPU=1`` and the presets
``+tl=[sft,sft_cpu]`` (TL-Training's SFT: ``TLSFTDataset`` with MAE and PKT; CPU: see
:mod:`tl_plugin.verl_ext.cpu`) and a gloo process group. Every
step trains on the same batch, so the loss must fall. It prints the per-step losses (read from
verl's file logger) and checks that they fell and that verl saved a checkpoint::

    python -m tl_plugin.cli.smoke sft                       # in a temporary directory, removed after
    python -m tl_plugin.cli.smoke sft --out runs/smoke      # keep model, data, log and checkpoint
    python -m tl_plugin.cli.smoke sft optim.lr=5e-4         # Hydra overrides go to the trainer

Exit status 0 when all checks pass, 1 when a check fails, 2 on bad usage, otherwise the
trainer's own. Config: ``tl_plugin/configs/smoke/sft.yaml``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

from omegaconf import OmegaConf

from tl_plugin.cli.config import CONFIG_DIR
from tl_plugin.cli.launch import run_logged, sft_command

__all__ = ["SmokeError", "main", "read_logged", "read_losses", "smoke_sft", "write_sft_data"]


class SmokeError(RuntimeError):
    """A smoke check failed; the message says which and why, ``status`` is the exit status."""

    def __init__(self, message: str, status: int = 1):
        super().__init__(message)
        self.status = status


# --------------------------------------------------------------------------------------------
# sft: inputs
# --------------------------------------------------------------------------------------------


def build_tiny_model(out_dir: Path, model_kwargs: dict, seed: int):
    """A tiny random ``Qwen2ForCausalLM`` saved with its tokenizer in ``out_dir``."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from tl_plugin.testing import build_tiny_tokenizer

    tokenizer = build_tiny_tokenizer(out_dir)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
        architectures=["Qwen2ForCausalLM"],
        **model_kwargs,
    )
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config)
    model.save_pretrained(out_dir)
    return sum(p.numel() for p in model.parameters())


def _records() -> list:
    """Four conversations: one trajectory with an erroneous step MAE masks, parallel calls,
    a plain chat, and a prompt-only record answered with its gold call."""
    from data_transforms.records import Record, canonical_tool, check_record

    def tool(name, props, required):
        return canonical_tool(
            {
                "name": name,
                "description": f"{name} tool",
                "parameters": {"type": "object", "properties": props, "required": required},
            }
        )

    weather = tool("get_weather", {"city": {"type": "string"}, "unit": {"type": "string"}}, ["city"])
    flights = tool(
        "search_flights",
        {"origin": {"type": "string"}, "destination": {"type": "string"}, "passengers": {"type": "integer"}},
        ["origin", "destination"],
    )
    # get_weather and get_time share two leading tokens: PKT weights the token where they part
    clock = tool("get_time", {"city": {"type": "string"}}, ["city"])

    def user(text):
        return {"role": "user", "content": text}

    def assistant(text="", *calls):
        msg = {"role": "assistant", "content": text}
        if calls:
            msg["tool_calls"] = [{"name": n, "arguments": a} for n, a in calls]
        return msg

    def answer(content):
        return {"role": "tool", "content": content}

    records = [
        Record(
            "weather-mae",
            [
                user("What is the weather like in Paris today? Please answer in celsius."),
                # erroneous step: the tool rejects the argument, so MAE gives this message loss_mask 0
                assistant("", ("get_weather", {"city": "Paris", "units": "celsius"})),
                answer("get_weather() got an unexpected keyword argument 'units'"),
                assistant("", ("get_weather", {"city": "Paris", "unit": "celsius"})),
                answer(json.dumps({"temp": 20, "unit": "celsius"})),
                assistant("It is 20 degrees celsius in Paris today."),
            ],
            [weather, clock],
        ),
        Record(
            "flights-parallel",
            [
                user("Find flights from SFO to JFK for 2 passengers, and the weather in JFK."),
                assistant(
                    "",
                    ("search_flights", {"origin": "SFO", "destination": "JFK", "passengers": 2}),
                    ("get_weather", {"city": "New York"}),
                ),
                answer(json.dumps({"flights": ["UA 100", "DL 200"]})),
                answer(json.dumps({"temp": 18})),
                assistant("Two flights: UA 100 and DL 200. It is 18 degrees in New York."),
            ],
            [weather, flights, clock],
        ),
        Record("chat", [user("Hello!"), assistant("Hello! I can call functions to assist with your query.")], []),
        Record(
            "gold-call",
            [user("What is the weather like in Paris today?")],
            [weather, clock],
            gold=[{"name": "get_weather", "arguments": {"city": ["Paris"]}}],
        ),
    ]
    return [check_record(r) for r in records]


def write_sft_data(path: Path) -> list:
    """Write the SFT parquet as ``tl-prepare`` writes it; returns the rows."""
    from data_transforms.io import write_parquet
    from data_transforms.tally import Tally
    from data_transforms.writers import RowOptions, sft_rows

    opts, tally = RowOptions(), Tally()
    rows = [row for rec in _records() for row in sft_rows(rec, "smoke", opts, tally)]
    masked = [m for row in rows for m in row["messages"] if m["role"] == "assistant" and m["loss_mask"] == 0]
    called = [m for row in rows for m in row["messages"] if m.get("tool_calls")]
    if not masked or not called:  # the point of the data: keep it honest if the writers change
        raise SmokeError("smoke data lost its masked assistant step or its tool calls")
    write_parquet(rows, path)
    return rows


# --------------------------------------------------------------------------------------------
# sft: run and checks
# --------------------------------------------------------------------------------------------


def run_trainer(name: str, cmd: list, env: dict, out_dir: Path, log_path: Path) -> float:
    """Run a verl trainer command with its output echoed and logged; its seconds, or SmokeError."""
    print(f"smoke {name}: TL_PLUGIN_CPU=1 " + " ".join(cmd[1:]), flush=True)
    start = time.monotonic()
    rc = run_logged(cmd, env, out_dir, log_path)
    if rc != 0:
        trainer = next((str(c) for c in cmd if str(c).startswith("verl.trainer.")), " ".join(map(str, cmd[:3])))
        raise SmokeError(f"{trainer} exited with status {rc} (log: {log_path})", status=rc)
    return time.monotonic() - start


def read_logged(metrics_path: Path) -> list:
    """``[(step, {metric: value})]``: every entry of verl's file logger (one JSON object per line)."""
    if not metrics_path.is_file():
        raise SmokeError(f"verl's file logger wrote no metrics file at {metrics_path}")
    from data_transforms.io import iter_rows

    return [(entry["step"], entry["data"]) for _, entry in iter_rows(metrics_path)]


class Loss(NamedTuple):
    step: int
    loss: float  # train/loss


def read_losses(metrics_path: Path) -> list:
    """``[Loss(step, train/loss)]`` from verl's file logger."""
    return [Loss(step, float(data["train/loss"])) for step, data in read_logged(metrics_path) if "train/loss" in data]


MIN_STEPS = 3
MIN_DROP = 0.01  # the last loss must be this fraction below the first (not just float noise)


def check_losses(losses: list) -> None:
    """At least ``MIN_STEPS`` consecutive steps, and the last loss ``MIN_DROP`` below the first."""
    if len(losses) < MIN_STEPS:
        raise SmokeError(f"expected at least {MIN_STEPS} logged losses, got {len(losses)}: {losses}")
    if [step for step, _ in losses] != list(range(1, len(losses) + 1)):
        raise SmokeError(f"logged steps are not 1..{len(losses)}: {[step for step, _ in losses]}")
    (_, first), (_, last) = losses[0], losses[-1]  # (step, loss) pairs: Loss or plain tuples
    if not last < first * (1 - MIN_DROP):
        raise SmokeError(
            f"the loss did not fall on the repeated batch: first {first:.4f}, last {last:.4f} "
            f"(needs at least {MIN_DROP:.0%} less)"
        )


def check_checkpoint(ckpt_root: Path, step: int) -> list:
    """What verl saved for ``step``; raises unless the step directory holds model weights."""
    step_dir = ckpt_root / f"global_step_{step}"
    if not step_dir.is_dir():
        found = sorted(p.name for p in ckpt_root.iterdir()) if ckpt_root.is_dir() else "nothing"
        raise SmokeError(f"no checkpoint directory {step_dir} (found: {found})")
    files = sorted(str(p.relative_to(step_dir)) for p in step_dir.rglob("*") if p.is_file())
    if not any(Path(f).name.startswith("model_world_size_") for f in files):
        raise SmokeError(f"checkpoint {step_dir} holds no model shard: {files}")
    latest = ckpt_root / "latest_checkpointed_iteration.txt"
    if not latest.is_file() or latest.read_text().strip() != str(step):
        raise SmokeError(f"{latest} does not name step {step}")
    return files


def print_pkt_summary(rows: list, model_dir: Path) -> None:
    """What PKT weights in the smoke data (``+tl=sft`` defaults), as ``TLSFTDataset`` computes them."""
    from transformers import AutoTokenizer

    from tl_plugin.verl_ext.sft_dataset import key_tokens

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    weights = [key_tokens(row, tokenizer) for row in rows]
    keys = sum(len(w.keys) for w in weights)
    key_weights = sorted({round(m["key_weight"], 3) for w in weights for m in w.messages if m["key_weight"]})
    if not keys:
        raise SmokeError("PKT found no key token in the smoke data")
    print(f"smoke sft: PKT: {keys} key tokens in {len(rows)} rows, key weights {key_weights} (w_max 9)")


def print_losses(losses: list) -> None:
    print("\n  step  train/loss")
    for step, loss in losses:
        print(f"  {step:>4}  {loss:10.4f}")


def smoke_sft(out_dir: Path, overrides: list) -> None:
    """The ``sft`` smoke run in ``out_dir``; raises :class:`SmokeError` on a failed check."""
    cfg = OmegaConf.load(CONFIG_DIR / "smoke" / "sft.yaml")
    steps = int(cfg.steps)
    model_dir, data_path = out_dir / "model", out_dir / "data" / "train.parquet"
    ckpt_root, metrics_path, log_path = out_dir / "checkpoints", out_dir / "metrics.jsonl", out_dir / "trainer.log"
    # a reused --out must not pass on an old run's files
    shutil.rmtree(ckpt_root, ignore_errors=True)
    metrics_path.unlink(missing_ok=True)

    n_params = build_tiny_model(model_dir, OmegaConf.to_container(cfg.model), int(cfg.seed))
    rows = write_sft_data(data_path)
    print(f"smoke sft: model {model_dir} ({n_params:,} parameters), data {data_path} ({len(rows)} rows)")
    print_pkt_summary(rows, model_dir)

    cmd = sft_command(
        1,
        [
            *cfg.trainer_overrides,
            f"model.path={model_dir}",
            f"data.train_files={data_path}",
            f"data.train_batch_size={len(rows)}",  # the whole data set is one batch ...
            f"trainer.total_epochs={steps}",  # ... so one step per epoch, always on the same batch
            f"trainer.save_freq={steps}",
            f"trainer.default_local_dir={ckpt_root}",
            *overrides,
        ],
    )
    env = {**os.environ, "TL_PLUGIN_CPU": "1", "VERL_FILE_LOGGER_PATH": str(metrics_path)}
    seconds = run_trainer("sft", cmd, env, out_dir, log_path)

    losses = read_losses(metrics_path)
    print_losses(losses)
    check_losses(losses)
    last = losses[-1].step  # verl always saves on the last step
    files = check_checkpoint(ckpt_root, last)
    print(f"\nsmoke sft: OK in {seconds:.0f}s, loss {losses[0].loss:.4f} -> {losses[-1].loss:.4f} over {last} steps")
    print(f"smoke sft: checkpoint {ckpt_root / f'global_step_{last}'}: {', '.join(files)}")


# --------------------------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------------------------


def _rl(kind: str):
    def run(out_dir: Path, overrides: list) -> None:
        from tl_plugin.cli.smoke_rl import smoke_rl

        smoke_rl(kind, out_dir, overrides)

    return run


# name -> fn(out_dir, hydra overrides); the RL runs live in tl_plugin/cli/smoke_rl.py
SUBCOMMANDS = {"sft": smoke_sft, "grpo": _rl("grpo"), "ppo": _rl("ppo"), "multiturn": _rl("multiturn")}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tl_plugin.cli.smoke", description=__doc__.split("\n\n")[0])
    parser.add_argument("subcommand", choices=sorted(SUBCOMMANDS))
    parser.add_argument("--out", type=Path, help="work directory to keep (default: a temporary one, removed after)")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides passed on to the trainer")
    args = parser.parse_intermixed_args(argv)

    out_dir = args.out.resolve() if args.out else Path(tempfile.mkdtemp(prefix=f"tl-smoke-{args.subcommand}-"))
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        SUBCOMMANDS[args.subcommand](out_dir, args.overrides)
    except SmokeError as exc:
        print(f"\nsmoke {args.subcommand}: FAILED: {exc}", file=sys.stderr)
        if not args.out:
            print(f"smoke {args.subcommand}: files kept in {out_dir}", file=sys.stderr)
        return exc.status
    if not args.out:
        shutil.rmtree(out_dir, ignore_errors=True)
        print(f"smoke {args.subcommand}: removed {out_dir} (pass --out DIR to keep the files)")
    return 0


if __name__ == "__main__":
    # run the importable module's main, so SmokeError raised from tl_plugin.cli.smoke_rl (which imports
    # tl_plugin.cli.smoke, a second copy next to __main__) is the class main() catches
    from tl_plugin.cli.smoke import main as _main

    sys.exit(_main())
