"""verl's own SFT trainer on CPU: ``tl_plugin.verl_ext.cpu`` (the ``TL_PLUGIN_CPU=1`` switch), the preset
``+tl=sft_cpu`` and the end-to-end ``python -m tl_plugin.cli.smoke sft``.

The switch changes global state of the process (verl's platform registry, one verl function, env
vars), so every check of it runs in a fresh interpreter.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from hydra import compose, initialize_config_dir

from tests.helpers import ROOT
from tl_plugin.cli.smoke import SmokeError, check_checkpoint, check_losses, read_losses

# variables the switch sets or reads: the parent's must not leak into the child under test
SWITCH_VARS = ("TL_PLUGIN_CPU", "VERL_PLATFORM", "VERL_ENGINE_DEVICE", "VERL_USE_EXTERNAL_PLUGINS")


def _python(code: str, flag: bool, timeout: int = 180, **extra_env) -> dict:
    """Run ``code`` in a fresh interpreter; it prints one JSON object as its last line."""
    env = {k: v for k, v in os.environ.items() if k not in SWITCH_VARS}
    if flag:
        env["TL_PLUGIN_CPU"] = "1"
    env.update(extra_env)
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=timeout,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


STATE = """
    import json, os, sys
    import verl
    from verl.plugin.platform import PlatformRegistry
    from verl.utils import distributed
    state = {
        "platforms": PlatformRegistry.registered_names(),
        "init_pg_module": distributed.initialize_global_process_group.__module__,
        "env": {k: os.environ.get(k) for k in ("VERL_PLATFORM", "VERL_ENGINE_DEVICE")},
        "cpu_module_loaded": "tl_plugin.verl_ext.cpu" in sys.modules,
    }
"""


def test_without_the_flag_nothing_changes():
    state = _python(STATE + "    print(json.dumps(state))\n", flag=False)
    assert set(state["platforms"]) == {"nvidia", "huawei", "amd"}  # verl's own, nothing else
    assert state["init_pg_module"] == "verl.utils.distributed"
    assert state["env"] == {"VERL_PLATFORM": None, "VERL_ENGINE_DEVICE": None}
    assert not state["cpu_module_loaded"]


def test_with_the_flag_verl_runs_on_cpu_with_a_gloo_group_and_the_fsdp_engine():
    result = _python(
        STATE
        + """
    import torch
    from verl.utils.device import get_device_id, get_device_name, get_nccl_backend, get_torch_device
    from verl.utils.distributed import destroy_global_process_group, initialize_global_process_group
    from verl.utils.memory_utils import aggressive_empty_cache
    from verl.workers.engine.base import EngineRegistry

    ranks = initialize_global_process_group()  # verl's entry, as run_sft calls it
    backend = torch.distributed.get_backend()
    t = torch.ones(3)
    torch.distributed.all_reduce(t)
    aggressive_empty_cache(force_sync=True)  # the trainer calls it every epoch
    dev = get_torch_device()
    engine = EngineRegistry.get_engine_cls("language_model", "fsdp2")
    destroy_global_process_group()
    state.update({
        "device": get_device_name(), "backend_name": get_nccl_backend(), "pg_backend": backend,
        "ranks": list(ranks), "reduced": t.tolist(), "device_id": str(torch.ones(1).to(get_device_id()).device),
        "mem": [dev.memory_allocated(), len(dev.mem_get_info())], "engine": engine.__name__,
    })
    print(json.dumps(state))
    """,
        flag=True,
        RANK="0",
        LOCAL_RANK="0",
        WORLD_SIZE="1",
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(_free_port()),
    )
    assert "cpu" in result["platforms"]
    assert result["init_pg_module"] == "tl_plugin.verl_ext.patches"  # every patch of verl lives there
    assert result["env"] == {"VERL_PLATFORM": "cpu", "VERL_ENGINE_DEVICE": "cuda"}
    assert result["device"] == "cpu"
    assert result["backend_name"] == "gloo"
    assert result["pg_backend"] == "gloo"
    assert result["ranks"] == [0, 0, 1] and result["reduced"] == [1.0, 1.0, 1.0]
    assert result["device_id"] == "cpu"
    assert result["mem"] == [0, 2]
    assert result["engine"] == "FSDPEngineWithLMHead"


def test_the_flag_fails_loudly_on_a_conflicting_platform():
    code = "import verl, json; from verl.utils.device import get_device_name; print(json.dumps(get_device_name()))"
    env = {k: v for k, v in os.environ.items() if k not in SWITCH_VARS}
    env.update(TL_PLUGIN_CPU="1", VERL_PLATFORM="huawei")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=180)
    assert "TL_PLUGIN_CPU=1 needs VERL_PLATFORM=cpu or unset, got 'huawei'" in out.stderr
    # too late: verl already resolved its platform when enable() is called
    late = _python(
        """
        import json, verl
        from verl.plugin.platform import get_platform
        from tl_plugin.verl_ext import cpu
        get_platform()
        try:
            cpu.enable()
            print(json.dumps("enabled"))
        except RuntimeError as exc:
            print(json.dumps(str(exc)))
        """,
        flag=False,
    )
    assert "came too late" in late


def test_the_preset_sets_the_cpu_keys_on_verls_sft_config():
    import verl

    config_dir = Path(verl.__file__).parent / "trainer" / "config"
    with initialize_config_dir(config_dir=str(config_dir), version_base=None):
        plain = compose(config_name="sft_trainer_engine")
        cfg = compose(config_name="sft_trainer_engine", overrides=["+tl=sft_cpu", "data.num_workers=1"])
        both = compose(config_name="sft_trainer_engine", overrides=["+tl=[sft,sft_cpu]"])
    assert plain.engine.strategy != "fsdp2" and plain.trainer.device == "cuda"  # what the preset is for
    assert cfg.engine.strategy == "fsdp2"
    assert cfg.engine.use_torch_compile is False
    assert cfg.model.override_config.attn_implementation == "sdpa"
    assert cfg.trainer.device == "cpu"
    assert list(cfg.trainer.logger) == ["console"]
    assert cfg.data.num_workers == 1  # still overridable
    # combined with TL-Training's SFT preset, as its header says
    assert both.engine.strategy == "fsdp2" and both.trainer.device == "cpu"
    assert both.data.custom_cls.name == "TLSFTDataset"


# --------------------------------------------------------------------------------------------
# the smoke's checks, on made-up results
# --------------------------------------------------------------------------------------------


def test_smoke_checks_reject_bad_results(tmp_path):
    check_losses([(1, 3.0), (2, 2.5), (3, 2.0)])
    too_few = [(1, 3.0), (2, 2.0)]
    rising = [(1, 3.0), (2, 3.1), (3, 3.01)]
    flat = [(1, 3.0), (2, 3.0), (3, 2.999)]  # float noise is no fall
    gap = [(1, 3.0), (3, 2.0), (4, 1.0)]
    for bad in (too_few, rising, flat, gap):
        with pytest.raises(SmokeError):
            check_losses(bad)

    metrics = tmp_path / "metrics.jsonl"
    with pytest.raises(SmokeError, match="no metrics file"):
        read_losses(metrics)
    metrics.write_text('{"step": 1, "data": {"train/loss": 2.5}}\n{"step": 1, "data": {"val/loss": 9}}\n')
    assert read_losses(metrics) == [(1, 2.5)]

    root = tmp_path / "ckpt"
    with pytest.raises(SmokeError, match="no checkpoint directory"):
        check_checkpoint(root, 3)
    (root / "global_step_3").mkdir(parents=True)
    with pytest.raises(SmokeError, match="no model shard"):
        check_checkpoint(root, 3)
    (root / "global_step_3" / "model_world_size_1_rank_0.pt").write_bytes(b"x")
    with pytest.raises(SmokeError, match="latest_checkpointed_iteration"):
        check_checkpoint(root, 3)
    (root / "latest_checkpointed_iteration.txt").write_text("3")
    assert check_checkpoint(root, 3) == ["model_world_size_1_rank_0.pt"]


# --------------------------------------------------------------------------------------------
# end to end: verl.trainer.sft_trainer under torchrun
# --------------------------------------------------------------------------------------------


def _smoke(out_dir: Path, *overrides: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in SWITCH_VARS}
    return subprocess.run(
        [sys.executable, "-m", "tl_plugin.cli.smoke", "sft", "--out", str(out_dir), *overrides],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=400,
    )


def _hand_losses(model_dir: Path, data_path: Path) -> tuple[float, float]:
    """The initial model's loss on the smoke batch: weighted by the loss mask, and unweighted."""
    import torch
    from omegaconf import OmegaConf
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tl_plugin.verl_ext.sft_dataset import TLSFTDataset

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    config = OmegaConf.create({"pad_mode": "no_padding", "max_length": 1024, "pkt": {"w_max": 9}})
    dataset = TLSFTDataset([str(data_path)], tokenizer, config)
    sums = [0.0, 0.0, 0.0, 0.0]
    with torch.no_grad():
        for i in range(len(dataset)):
            ids, w = dataset[i]["input_ids"], dataset[i]["loss_mask"]
            logp = torch.log_softmax(model(ids[None]).logits[0], -1)[:-1].gather(-1, ids[1:, None])[:, 0]
            sums[0] += float((w[1:] * logp).sum())
            sums[1] += float(w.sum())
            sums[2] += float(((w[1:] > 0) * logp).sum())
            sums[3] += float((w > 0).sum())
    return -sums[0] / sums[1], -sums[2] / sums[3]


@pytest.mark.slow
def test_smoke_sft_trains_verls_sft_trainer_on_cpu(tmp_path):
    out = _smoke(tmp_path)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]

    table = re.findall(r"^\s+(\d+)\s+(\d+\.\d+)$", out.stdout, flags=re.M)
    losses = [float(loss) for _, loss in table]
    assert [int(step) for step, _ in table] == list(range(1, len(table) + 1))
    assert len(losses) >= 3
    assert losses[-1] < losses[0]
    assert "smoke sft: OK" in out.stdout
    # verl's own trainer ran on the cpu platform with a gloo group and our dataset class
    assert "Platform override from VERL_PLATFORM: cpu" in out.stdout
    assert "'custom_cls': {'path': 'pkg://tl_plugin.sft', 'name': 'TLSFTDataset'}" in out.stdout
    assert "'strategy': 'fsdp2'" in out.stdout

    step_dir = tmp_path / "checkpoints" / f"global_step_{len(losses)}"
    assert (step_dir / "model_world_size_1_rank_0.pt").stat().st_size > 0
    assert (step_dir / "optim_world_size_1_rank_0.pt").is_file()
    assert (step_dir / "huggingface" / "config.json").is_file()
    assert (tmp_path / "checkpoints" / "latest_checkpointed_iteration.txt").read_text().strip() == str(len(losses))

    # the first step's loss is TL-Training's weighted loss of the initial model on the batch,
    # -sum(w * log p) / sum(w) with TLSFTDataset's MAE and PKT weights, computed here by hand:
    # the weights went through verl's collator, engine and sft_loss unchanged
    first = json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[0])["data"]["train/loss"]
    weighted, plain = _hand_losses(tmp_path / "model", tmp_path / "data" / "train.parquet")
    assert first == pytest.approx(weighted, abs=1e-5)
    assert abs(weighted - plain) > 1e-3  # and the weights make a difference the check can see

    # the data is tl-prepare's SFT format with a tool call and an MAE-masked assistant step
    rows = pq.read_table(tmp_path / "data" / "train.parquet").to_pylist()
    messages = [m for row in rows for m in row["messages"]]
    assert any(m["tool_calls"] for m in messages)
    assert any(m["role"] == "assistant" and m["loss_mask"] == 0 for m in messages)
    assert all(isinstance(row["tools"], str) for row in rows)


@pytest.mark.slow
def test_smoke_sft_fails_when_the_loss_does_not_fall(tmp_path):
    out = _smoke(tmp_path, "optim.lr=0")  # command-line overrides reach the trainer
    assert out.returncode == 1
    assert "smoke sft: FAILED: the loss did not fall" in out.stderr
