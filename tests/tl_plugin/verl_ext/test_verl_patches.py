"""tl_plugin.verl_ext.patches: every change to a verl internal is fingerprinted and does what it says.

Real: verl 0.9.1 as installed, its modules, torch's process groups and FSDP offload policy,
transformers' token-classification head. The CPU patches change verl's modules for the whole
process, so those checks run in a fresh Python process each (``TL_PLUGIN_CPU=1`` at start, as a
user sets it). End to end (both trainers, through ``main_ppo``), the patches are exercised by the
RL smoke runs in tests/e2e/test_rl_smoke.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from tl_plugin.verl_ext.patches import FINGERPRINTS, REWARD_METRIC_PREFIX, patched_source, reward_extra_metrics


@pytest.mark.parametrize("target", sorted(FINGERPRINTS))
def test_patched_verl_code_is_the_code_the_patch_was_written_for(target):
    """Fails when verl's source of a patched function (or of the code a patch relies on) changes:
    re-read the patch in tl_plugin/verl_ext/patches.py against the new code, then update the hash."""
    assert patched_source(target) == FINGERPRINTS[target], (
        f"verl changed {target}; re-check the patch in tl_plugin/verl_ext/patches.py"
    )


def test_the_fingerprint_follows_the_source(tmp_path, monkeypatch):
    (tmp_path / "fp_probe.py").write_text("class A:\n    def f(self):\n        return 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    before = patched_source("fp_probe:A.f")
    (tmp_path / "fp_probe.py").write_text("class A:\n    def f(self):\n        return 2\n")
    assert patched_source("fp_probe:A.f") != before
    with pytest.raises(AttributeError, match="fp_probe has no A.g"):
        patched_source("fp_probe:A.g")


def _run(code: str, **env) -> dict:
    """Run ``code`` in a fresh interpreter; it prints one JSON object on its last line."""
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **env},
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_cpu_patches_give_gloo_unpinned_offload_and_an_sdpa_value_model(tmp_path):
    from tl_plugin.cli.smoke import build_tiny_model
    from tl_plugin.testing import TINY_QWEN

    build_tiny_model(tmp_path, TINY_QWEN, 0)
    result = _run(
        f"""
        import json, os
        import torch, torch.distributed as dist
        import verl  # loads tl_plugin.verl_ext.register, which applies the CPU patches
        from verl.utils import distributed, fsdp_utils, model
        from transformers import AutoConfig

        os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT="29517", RANK="0", WORLD_SIZE="1")
        distributed.initialize_global_process_group_ray()   # verl's call, as its PPO workers make it
        backend = dist.get_backend()
        dist.destroy_process_group()
        policy = fsdp_utils.CPUOffloadPolicy(pin_memory=True)  # as verl builds the reference model
        config = AutoConfig.from_pretrained({str(tmp_path)!r}, num_labels=1)
        value = model.load_valuehead_model({str(tmp_path)!r}, torch.float32, config, False)
        print(json.dumps({{"backend": backend, "pin": policy.pin_memory,
                          "offload": isinstance(policy, torch.distributed.fsdp.CPUOffloadPolicy),
                          "attn": value.config._attn_implementation, "head": type(value).__name__,
                          "out": list(value(torch.tensor([[1, 2, 3]])).logits.shape)}}))
    """,
        TL_PLUGIN_CPU="1",
    )
    assert result == {
        "backend": "gloo",
        "pin": False,
        "offload": True,
        "attn": "sdpa",
        "head": "Qwen2ForTokenClassification",
        "out": [1, 3, 1],
    }


def test_cpu_patches_refuse_to_come_after_verls_workers():
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent("""
        import verl.workers.engine_workers  # binds the process-group function before the patch
        from tl_plugin.verl_ext import patches as verl_patches
        verl_patches.apply_cpu_patches()
    """),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={k: v for k, v in os.environ.items() if k != "TL_PLUGIN_CPU"},
    )
    assert out.returncode != 0
    assert "TL_PLUGIN_CPU=1 came too late: verl.workers.engine_workers is already imported" in out.stderr


def test_reward_metrics_are_wired_into_both_trainers_on_import():
    code = """
        import json
        import verl
        import verl.trainer.ppo.ray_trainer as legacy
        from verl.trainer.ppo.v1 import trainer_base
        print(json.dumps({"legacy": hasattr(legacy.compute_data_metrics, "__wrapped__"),
                          "v1": hasattr(trainer_base.PPOTrainer._compute_metrics, "__wrapped__")}))
    """
    assert _run(code) == {"legacy": True, "v1": True}
    assert _run(code, TL_PLUGIN_REWARD_METRICS="0") == {"legacy": False, "v1": False}


def test_reward_extra_metrics_are_means_of_the_numbers():
    metrics = reward_extra_metrics(
        {
            "ts": np.array([1, 0, 1, 1]),
            "score": [-2.0, 1.0, None, -0.5],
            "correct": [True, False, False, False],
            "text": ["a", "b"],
            "nan": [float("nan"), 1.0],
        }
    )
    assert metrics == {
        f"{REWARD_METRIC_PREFIX}/ts/mean": 0.75,
        f"{REWARD_METRIC_PREFIX}/score/mean": -0.5,
        f"{REWARD_METRIC_PREFIX}/correct/mean": 0.25,
        f"{REWARD_METRIC_PREFIX}/nan/mean": 1.0,
    }


def test_legacy_trainer_metrics_gain_the_reward_keys_of_the_batch():
    """The wrapper reads the keys verl's extract_reward reads (meta_info["reward_extra_keys"])."""
    import types

    from verl import DataProto

    from tl_plugin.verl_ext import patches as verl_patches

    module = types.SimpleNamespace(compute_data_metrics=lambda batch, use_critic=True: {"critic/score/mean": 0.0})
    verl_patches._patch_legacy_trainer(module)
    batch = DataProto.from_dict(
        non_tensors={"ts": np.array([1, 0]), "uid": np.array(["a", "b"], dtype=object), "cf": np.array([0, 0])},
        meta_info={"reward_extra_keys": ["ts", "cf"]},
    )
    assert module.compute_data_metrics(batch=batch, use_critic=False) == {
        "critic/score/mean": 0.0,
        f"{REWARD_METRIC_PREFIX}/ts/mean": 0.5,
        f"{REWARD_METRIC_PREFIX}/cf/mean": 0.0,
    }
