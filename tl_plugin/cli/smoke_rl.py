"""RL smoke runs: verl's real ``python -m verl.trainer.main_ppo`` on CPU, end to end.

``python -m tl_plugin.cli.smoke grpo|ppo|multiturn`` (see :mod:`tl_plugin.cli.smoke`):

1. builds a tiny random Qwen2 beside a real BPE tokenizer with our Qwen2.5-style tool template;
2. writes RL rows with ``tl-prepare`` (``source=openai``) from ``tl_plugin/data/smoke_rl.jsonl``
   (weather, time-zone and flight tools; parallel calls; final answers);
3. runs ``main_ppo`` with the run's presets (``grpo``: ``+tl=[grpo,rl_cpu]``, reward ``tl_tool``
   and the ``tl_tool_agent`` loop with each row's tools; ``ppo``: ``+tl=[ppo,rl_cpu]``, GAE with a
   critic; ``multiturn``: ``+tl=[multiturn,rl_cpu]``, ``tl_multiturn_agent`` executing
   ``example_configs/tools/weather_tools.yaml`` and the feedback reward), rollout ``tl_hf``;
4. checks, from verl's own file logger, that every step logged the reward's extra keys
   (``reward_extra/<key>/mean``), the policy loss (and the value loss for PPO) and the timing of
   generation, update and step; and that after step 1 the rollout server holds exactly the
   actor's weights: the checksum the server records after each weight sync
   (``engine_kwargs.tl_hf.weights_log``) equals the checksum of the actor's step-1 checkpoint
   (saved by verl as a Hugging Face model), and differs from the starting weights.

Config: ``tl_plugin/configs/smoke/rl.yaml``. Exit status as for ``smoke sft``.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from omegaconf import OmegaConf

from tl_plugin.cli.config import CONFIG_DIR

# tl_plugin.cli.smoke imports this module only when an RL run is asked for, so no import cycle
from tl_plugin.cli.smoke import SmokeError, build_tiny_model, read_logged, run_trainer

__all__ = ["RL_RUNS", "check_metrics", "check_weight_sync", "main_ppo_command", "read_metrics", "smoke_rl"]

RL_RUNS = ("grpo", "ppo", "multiturn")
DATA_FILE = Path(__file__).resolve().parents[1] / "data" / "smoke_rl.jsonl"
TOOLS_DIR = Path(__file__).resolve().parents[2] / "example_configs" / "tools"
# metrics every step must log, besides the reward's keys
STEP_METRICS = (
    "actor/pg_loss",
    "actor/grad_norm",
    "timing_s/gen",
    "timing_s/update_actor",
    "timing_s/update_weights",
    "timing_s/step",
)


def main_ppo_command(overrides: list) -> list:
    return [sys.executable, "-m", "verl.trainer.main_ppo", *overrides]


def write_rl_data(out_dir: Path, agent_name) -> Path:
    """``tl-prepare source=openai`` on the smoke records; returns the RL train parquet."""
    from tl_plugin.cli.prepare import prepare, prepare_config

    overrides = ["source=openai", f"input={DATA_FILE}", f"out={out_dir}", "kinds=[rl]"]
    if agent_name:
        overrides.append(f"rl.agent_name={agent_name}")
    summary = prepare(prepare_config(overrides))
    n_rows = summary["written"]["rl"]["train"]
    print(f"smoke: tl-prepare wrote {n_rows} RL rows to {out_dir / 'rl' / 'train.parquet'}")
    return out_dir / "rl" / "train.parquet"


def read_metrics(metrics_path: Path) -> list:
    """``[(step, {metric: value})]`` from verl's file logger, training steps only."""
    return [(int(step), data) for step, data in read_logged(metrics_path) if "training/global_step" in data]


def check_metrics(steps: list, n_steps: int, reward_keys, extra_metrics=()) -> None:
    """Every step 1..n logged each reward key and each of :data:`STEP_METRICS` (+ ``extra_metrics``)."""
    from tl_plugin.verl_ext.patches import REWARD_METRIC_PREFIX

    if [s for s, _ in steps] != list(range(1, n_steps + 1)):
        raise SmokeError(f"expected training steps 1..{n_steps} in verl's metrics, got {[s for s, _ in steps]}")
    wanted = [f"{REWARD_METRIC_PREFIX}/{k}/mean" for k in reward_keys] + list(STEP_METRICS) + list(extra_metrics)
    for step, data in steps:
        missing = [k for k in wanted if k not in data]
        if missing:
            raise SmokeError(f"step {step}: metrics missing from verl's log: {missing}")


def _checkpoint_checksum(step_dir: Path) -> str:
    from safetensors.torch import load_file

    from tl_plugin.verl_ext.rollout.hf_server import weights_checksum

    hf_dir = step_dir / "actor" / "huggingface"
    shards = sorted(hf_dir.glob("*.safetensors"))
    if not shards:
        raise SmokeError(f"verl saved no Hugging Face weights in {hf_dir}")
    state = {}
    for shard in shards:
        state.update(load_file(shard))
    return weights_checksum(state.items())


def check_weight_sync(weights_log: Path, ckpt_root: Path) -> dict:
    """The server's weights after the sync that follows step 1 are the actor's step-1 weights."""
    if not weights_log.is_file():
        raise SmokeError(f"the rollout server wrote no weights log at {weights_log}")
    from data_transforms.io import iter_rows

    entries = [entry for _, entry in iter_rows(weights_log)]
    start = entries[0]["checksum"]
    after_step1 = [e for e in entries if e.get("global_steps") == 1]
    if not after_step1:
        raise SmokeError(f"the rollout server got no weights after step 1: {entries}")
    actor = _checkpoint_checksum(ckpt_root / "global_step_1")
    server = after_step1[-1]["checksum"]
    if server != actor:
        raise SmokeError(
            f"after step 1 the rollout server's weights (sha256 {server[:16]}) differ from the "
            f"actor's step-1 checkpoint ({actor[:16]})"
        )
    if server == start:
        raise SmokeError("the weights did not change in step 1, so the sync check proves nothing")
    return {"syncs": len(entries) - 1, "checksum": server, "start": start}


def _metric(data: dict, key: str) -> str:
    value = data.get(key)
    return "-" if value is None else f"{float(value):.3f}"


def print_steps(steps: list, reward_keys) -> None:
    from tl_plugin.verl_ext.patches import REWARD_METRIC_PREFIX

    keys = [f"{REWARD_METRIC_PREFIX}/{k}/mean" for k in reward_keys[:4]] + [
        "actor/pg_loss",
        "timing_s/gen",
        "timing_s/step",
    ]
    names = list(reward_keys[:4]) + ["pg_loss", "gen s", "step s"]
    print("\n  step  " + "  ".join(f"{n:>8}" for n in names))
    for step, data in steps:
        print(f"  {step:>4}  " + "  ".join(f"{_metric(data, k):>8}" for k in keys))


def smoke_rl(kind: str, out_dir: Path, overrides: list) -> None:
    """The ``kind`` RL smoke run in ``out_dir``; raises ``SmokeError`` on a failed check."""

    cfg = OmegaConf.load(CONFIG_DIR / "smoke" / "rl.yaml")
    run = cfg.runs[kind]
    steps = int(cfg.steps)
    model_dir, data_dir = out_dir / "model", out_dir / "data"
    ckpt_root, metrics_path = out_dir / "checkpoints", out_dir / "metrics.jsonl"
    weights_log, log_path = out_dir / "rollout_weights.jsonl", out_dir / "trainer.log"
    # a reused --out must not pass on an old run's files
    for path in (ckpt_root, data_dir):
        shutil.rmtree(path, ignore_errors=True)
    for path in (metrics_path, weights_log):
        path.unlink(missing_ok=True)

    n_params = build_tiny_model(model_dir, OmegaConf.to_container(cfg.model), int(cfg.seed))
    train = write_rl_data(data_dir, run.agent_name)
    print(f"smoke {kind}: model {model_dir} ({n_params:,} parameters)")

    presets = ",".join(run.presets)
    cmd = main_ppo_command(
        [
            f"+tl=[{presets}]",
            *cfg.trainer_overrides,
            f"data.train_files={train}",
            f"data.val_files={train}",
            f"actor_rollout_ref.model.path={model_dir}",
            f"trainer.total_training_steps={steps}",
            f"trainer.default_local_dir={ckpt_root}",
            f"trainer.experiment_name={kind}",
            f"+actor_rollout_ref.rollout.engine_kwargs.tl_hf.weights_log={weights_log}",
            *([f"critic.model.path={model_dir}"] if kind == "ppo" else []),
            *(
                [f"actor_rollout_ref.rollout.multi_turn.tool_config_path={TOOLS_DIR / 'weather_tools.yaml'}"]
                if kind == "multiturn"
                else []
            ),
            *run.overrides,
            *overrides,
        ]
    )
    env = {**os.environ, "TL_PLUGIN_CPU": "1", "VERL_FILE_LOGGER_PATH": str(metrics_path)}
    if kind == "multiturn":  # weather_tools.yaml names its functions as weather_tools:get_weather
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(TOOLS_DIR), env.get("PYTHONPATH")) if p)
    seconds = run_trainer(kind, cmd, env, out_dir, log_path)

    logged = read_metrics(metrics_path)
    print_steps(logged, list(run.reward_keys))
    check_metrics(logged, steps, run.reward_keys, ["critic/vf_loss"] if kind == "ppo" else [])
    sync = check_weight_sync(weights_log, ckpt_root)
    print(
        f"\nsmoke {kind}: OK in {seconds:.0f}s: {steps} steps, reward keys "
        f"{', '.join(run.reward_keys)} logged every step; after step 1 the rollout server holds the "
        f"actor's weights (sha256 {sync['checksum'][:16]}, {sync['syncs']} syncs)"
    )
