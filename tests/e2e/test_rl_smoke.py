"""RL smoke runs: verl's real ``main_ppo`` on CPU, end to end (``python -m tl_plugin.cli.smoke grpo|ppo|multiturn``).

Nothing is mocked in the slow tests: Ray (a local cluster), verl's trainers (grpo and multiturn on
the default v1 trainer, ppo on the legacy one), FSDP2 workers over gloo, the ``tl_hf`` server actor
and its weight sync, verl's reward loop with ``reward=tl_tool``, our agent loops and tools. The
model is a tiny random Qwen2 with a real BPE tokenizer; the rows come from ``tl-prepare``. The fast
tests hold the smoke's own checks to account: each must fail on the evidence it exists to catch.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tl_plugin.cli.smoke import SmokeError
from tl_plugin.cli.smoke_rl import STEP_METRICS, check_metrics, check_weight_sync


@pytest.mark.slow
@pytest.mark.parametrize(
    "kind, reward_keys",
    [
        ("grpo", ["score", "ts", "pi", "cf", "tool_hallucination", "correct"]),
        ("ppo", ["score", "ts", "pi", "cf"]),
        ("multiturn", ["score", "de", "ce", "va", "call_ok"]),
    ],
)
def test_rl_smoke_trains_through_verls_main_ppo(tmp_path, kind, reward_keys):
    proc = subprocess.run(
        [sys.executable, "-m", "tl_plugin.cli.smoke", kind, "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert f"smoke {kind}: OK in" in proc.stdout
    assert "after step 1 the rollout server holds the actor's weights" in proc.stdout
    steps = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    train = [s for s in steps if "training/global_step" in s["data"]]
    assert [s["step"] for s in train] == [1, 2, 3]
    for s in train:
        for key in reward_keys:
            assert f"reward_extra/{key}/mean" in s["data"], (s["step"], key)
        assert all(k in s["data"] for k in STEP_METRICS)
        # the server's log-probs are the actor's: verl compares them every step
        assert s["data"]["training/rollout_probs_diff_max"] < 1e-4
    if kind == "ppo":
        assert all("critic/vf_loss" in s["data"] for s in train)
    # one sync at start-up and one after each step, every one a full set of weights
    syncs = [json.loads(line) for line in (tmp_path / "rollout_weights.jsonl").read_text().splitlines()][1:]
    assert [s["global_steps"] for s in syncs] == [0, 1, 2, 3]
    assert len({s["tensors"] for s in syncs}) == 1 and syncs[0]["tensors"] > 0


def _steps(n, drop=None):
    data = {k: 0.0 for k in STEP_METRICS} | {"training/global_step": 0, "reward_extra/score/mean": -2.0}
    return [(i, {k: v for k, v in data.items() if k != drop}) for i in range(1, n + 1)]


def test_check_metrics_wants_every_key_at_every_step():
    check_metrics(_steps(3), 3, ["score"])
    with pytest.raises(SmokeError, match=r"step 1: metrics missing from verl's log: \['reward_extra/ts/mean'\]"):
        check_metrics(_steps(3), 3, ["score", "ts"])
    with pytest.raises(SmokeError, match=r"\['actor/pg_loss'\]"):
        check_metrics(_steps(3, drop="actor/pg_loss"), 3, ["score"])
    with pytest.raises(SmokeError, match=r"expected training steps 1..3"):
        check_metrics(_steps(2), 3, ["score"])


def _checkpoint(root, tensors):
    import torch
    from safetensors.torch import save_file

    hf = root / "global_step_1" / "actor" / "huggingface"
    hf.mkdir(parents=True)
    save_file({k: torch.tensor(v) for k, v in tensors.items()}, str(hf / "model.safetensors"))


def _log(path, *entries):
    path.write_text("".join(json.dumps(e) + "\n" for e in entries))


def test_check_weight_sync_compares_the_server_with_the_actors_checkpoint(tmp_path):
    import torch

    from tl_plugin.verl_ext.rollout.hf_server import weights_checksum

    start = {"w": [0.0, 1.0]}
    trained = {"w": [0.5, 1.0]}
    _checkpoint(tmp_path / "ckpt", trained)
    digest = {
        name: weights_checksum([(k, torch.tensor(v)) for k, v in d.items()])
        for name, d in (("start", start), ("trained", trained))
    }
    log = tmp_path / "weights.jsonl"
    _log(
        log,
        {"global_steps": None, "checksum": digest["start"]},
        {"global_steps": 0, "checksum": digest["start"]},
        {"global_steps": 1, "checksum": digest["trained"]},
    )
    assert check_weight_sync(log, tmp_path / "ckpt")["syncs"] == 2
    # the server kept its old weights after step 1
    _log(log, {"global_steps": None, "checksum": digest["start"]}, {"global_steps": 1, "checksum": digest["start"]})
    with pytest.raises(SmokeError, match="differ from the actor's step-1 checkpoint"):
        check_weight_sync(log, tmp_path / "ckpt")
    # no sync after step 1 at all
    _log(log, {"global_steps": None, "checksum": digest["start"]}, {"global_steps": 0, "checksum": digest["start"]})
    with pytest.raises(SmokeError, match="got no weights after step 1"):
        check_weight_sync(log, tmp_path / "ckpt")


def test_check_weight_sync_refuses_a_step_that_moved_nothing(tmp_path):
    import torch

    from tl_plugin.verl_ext.rollout.hf_server import weights_checksum

    same = {"w": [0.0, 1.0]}
    _checkpoint(tmp_path / "ckpt", same)
    digest = weights_checksum([("w", torch.tensor(same["w"]))])
    log = tmp_path / "weights.jsonl"
    _log(log, {"global_steps": None, "checksum": digest}, {"global_steps": 1, "checksum": digest})
    with pytest.raises(SmokeError, match="the weights did not change in step 1"):
        check_weight_sync(log, tmp_path / "ckpt")
