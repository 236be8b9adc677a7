"""``reward=tl_tool`` inside real verl 0.9.1: Hydra composition, plugin registration, reward loop.

Everything here runs verl's own code on CPU: its Hydra config tree, its ``verl.plugins`` entry
point loading, its ``RewardLoopWorker`` (in-process instead of as a Ray actor; nothing else is
replaced) with a real byte-level BPE tokenizer trained in the test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from transformers import AutoTokenizer

from reward_fns.feedback_reward import FeedbackWeights
from reward_fns.scoring import RewardWeights
from tests.helpers.verl_config import compose_ppo
from tl_plugin.testing import build_tiny_tokenizer
from tl_plugin.verl_ext.reward_manager import TLToolRewardManager, special_tool_markers

TOOLS = json.dumps(
    [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Current weather in a city.",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}, "unit": {"type": "string"}},
                    "required": ["city"],
                },
            },
        },
        {
            "type": "function",
            "function": {
                "name": "search_flights",
                "description": "Flights between two airports.",
                "parameters": {
                    "type": "object",
                    "properties": {"origin": {"type": "string"}, "destination": {"type": "string"}},
                    "required": ["origin", "destination"],
                },
            },
        },
    ]
)
GOLD = json.dumps([{"name": "get_weather", "arguments": {"city": ["Paris"], "unit": ["", "celsius"]}}])

RESPONSES = {
    "correct": '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>',
    "wrong_tool": '<tool_call>\n{"name": "search_flights", "arguments": {"origin": "CDG", "destination": "JFK"}}\n</tool_call>',
    "content": '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Rome", "unit": "celsius"}}\n</tool_call>',
    "malformed": '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"\n</tool_call>',
    "no_call": "The weather in Paris is sunny.",
}
EXPECTED_SCORE = {"correct": 1.0, "wrong_tool": -1.5, "content": -0.25, "malformed": -2.0, "no_call": -2.0}


# ----------------------------------------------------------------------------- Hydra


def test_reward_tl_tool_composes_into_verls_ppo_config():
    cfg = compose_ppo(["reward=tl_tool"])
    reward = cfg.reward
    assert reward.custom_reward_function.path == "pkg://reward_fns.tl_tool"
    assert reward.custom_reward_function.name == "compute_score"
    assert reward.reward_manager.source == "register" and reward.reward_manager.name == "tl_tool"
    kwargs = reward.custom_reward_function.reward_kwargs
    assert kwargs.wrong_tool == -1.5 and kwargs.param_hallucination == -0.8 and kwargs.format == "auto"
    # the YAML carries every reward value, equal to the code's defaults (they cannot drift apart)
    assert OmegaConf.to_container(kwargs) == {
        **asdict(RewardWeights()),
        **asdict(FeedbackWeights()),
        "format": "auto",
        "mode": "gold",
    }
    # verl's own reward.yaml is extended, not replaced
    assert reward.num_workers == 8 and reward.reward_model.enable is False
    assert reward._target_ == "verl.workers.config.RewardConfig"
    # the stock default is untouched when the group is not selected
    assert compose_ppo([]).reward.reward_manager.name == "naive"


def test_reward_values_are_overridable_from_the_command_line():
    cfg = compose_ppo(
        [
            "reward=tl_tool",
            "reward.custom_reward_function.reward_kwargs.wrong_tool=-1.0",
            "reward.custom_reward_function.reward_kwargs.format=hermes",
        ]
    )
    kwargs = cfg.reward.custom_reward_function.reward_kwargs
    assert kwargs.wrong_tool == -1.0 and kwargs.format == "hermes"


@pytest.mark.slow
def test_main_ppo_cli_resolves_reward_tl_tool():
    """The exact user command, stopped by Hydra's --cfg flag before any GPU work."""
    out = subprocess.run(
        [sys.executable, "-m", "verl.trainer.main_ppo", "reward=tl_tool", "--cfg", "job", "--package", "reward"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "path: pkg://reward_fns.tl_tool" in out.stdout
    assert "name: tl_tool" in out.stdout


@pytest.mark.parametrize("policy, registered", [("auto", True), ("none", False)])
def test_import_verl_registers_manager_through_entry_point(policy, registered):
    code = (
        "import verl\n"
        "from verl.experimental.reward_loop.reward_manager.registry import REWARD_MANAGER\n"
        "print('tl_tool' in REWARD_MANAGER)\n"
    )
    env = {**os.environ, "VERL_USE_EXTERNAL_PLUGINS": policy}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().splitlines()[-1] == str(registered)


# ----------------------------------------------------------------------------- reward loop


def _make_batch(tokenizer, responses: list[str], prompt_len=8, response_len=64):
    """A DataProto shaped as verl's rollout leaves it: left-padded prompts, right-padded responses."""
    from verl import DataProto

    pad = tokenizer.pad_token_id
    eos = tokenizer.eos_token_id
    prompts, resps, masks = [], [], []
    for i, text in enumerate(responses):
        p = tokenizer.encode(f"question {i}")[-prompt_len:]
        r = (tokenizer.encode(text) + [eos])[:response_len]
        prompts.append([pad] * (prompt_len - len(p)) + p)
        resps.append(r + [pad] * (response_len - len(r)))
        masks.append([0] * (prompt_len - len(p)) + [1] * len(p) + [1] * len(r) + [0] * (response_len - len(r)))
    prompts_t, resps_t = torch.tensor(prompts), torch.tensor(resps)
    batch = {
        "prompts": prompts_t,
        "responses": resps_t,
        "input_ids": torch.cat([prompts_t, resps_t], dim=1),
        "attention_mask": torch.tensor(masks),
    }
    n = len(responses)
    non_tensor = {
        "data_source": np.array(["bfcl_live_simple"] * n, dtype=object),
        "reward_model": np.array([{"style": "rule", "ground_truth": GOLD} for _ in range(n)], dtype=object),
        "extra_info": np.array([{"index": i, "tools": TOOLS} for i in range(n)], dtype=object),
    }
    return DataProto.from_dict(tensors=batch, non_tensors=non_tensor)


def _score_with_worker(tok_dir, responses, manager="tl_tool"):
    from verl.experimental.reward_loop import RewardLoopWorker

    cfg = compose_ppo(
        ["reward=tl_tool", f"reward.reward_manager.name={manager}", f"actor_rollout_ref.model.path={tok_dir}"]
    )
    worker = RewardLoopWorker(cfg)
    tokenizer = worker.input_tokenizer
    data = _make_batch(tokenizer, responses)
    outputs = worker.loop.run_until_complete(worker.compute_score_batch(data))
    return worker, data, outputs


@pytest.fixture(scope="module")
def tokenizer_dirs(tmp_path_factory):
    plain = tmp_path_factory.mktemp("tok_plain")
    special = tmp_path_factory.mktemp("tok_special_markers")
    build_tiny_tokenizer(plain)
    build_tiny_tokenizer(special, special_tool_markers=True)
    return {"plain": str(plain), "special": str(special)}


def test_reward_loop_worker_scores_lands_on_last_token_with_extra_keys(tokenizer_dirs):
    names = list(RESPONSES)
    worker, data, outputs = _score_with_worker(tokenizer_dirs["plain"], [RESPONSES[k] for k in names])
    assert isinstance(worker.reward_manager, TLToolRewardManager)
    scores = [o["reward_score"] for o in outputs]
    assert scores == pytest.approx([EXPECTED_SCORE[k] for k in names])

    # same extra keys for every sample, as verl's RewardLoopManager stacks them into arrays
    keys = [tuple(o["reward_extra_info"]) for o in outputs]
    assert len(set(keys)) == 1
    extra = {k: np.array([o["reward_extra_info"][k] for o in outputs]) for k in keys[0]}
    for key in ("ts", "pi", "cf", "malformed", "no_call", "wrong_tool", "content", "correct"):
        assert key in extra
    assert extra["correct"].tolist() == [1, 0, 0, 0, 0]
    assert extra["malformed"].tolist() == [0, 0, 0, 1, 0]
    assert extra["no_call"].tolist() == [0, 0, 0, 0, 1]
    assert extra["wrong_tool"].tolist() == [0, 1, 0, 0, 0]
    assert extra["ts"].tolist() == [1, 0, 1, 0, 0]

    # verl's own assembly puts each score on the last valid response token, zeros elsewhere
    rm_scores = worker.reward_manager.assemble_rm_scores(data, scores)
    response_len = data.batch["responses"].shape[1]
    valid = data.batch["attention_mask"][:, -response_len:].sum(dim=1)
    for i, score in enumerate(scores):
        assert rm_scores[i, valid[i] - 1].item() == pytest.approx(score)
        assert rm_scores[i].abs().sum().item() == pytest.approx(abs(score))


def test_special_tool_markers_survive_decoding(tokenizer_dirs):
    """With <tool_call> registered as a special token, verl's naive decode loses the call."""
    tok = AutoTokenizer.from_pretrained(tokenizer_dirs["special"])
    assert set(special_tool_markers(tok)) == {"<tool_call>", "</tool_call>"}
    assert special_tool_markers(AutoTokenizer.from_pretrained(tokenizer_dirs["plain"])) == {}

    # prose before the call: without its markers the call is no longer recognisable
    responses = ["Let me look that up.\n" + RESPONSES["correct"], RESPONSES["no_call"]]
    _, _, ours = _score_with_worker(tokenizer_dirs["special"], responses, manager="tl_tool")
    _, _, naive = _score_with_worker(tokenizer_dirs["special"], responses, manager="naive")
    assert [o["reward_score"] for o in ours] == [1.0, -2.0]
    # naive decoding drops the markers: the correct call is read as prose ("no_call", -2)
    assert naive[0]["reward_score"] == -2.0 and naive[0]["reward_extra_info"]["no_call"] == 1


def test_manager_defaults_to_tl_tool_compute_score_and_keeps_markers_configurable(tokenizer_dirs):
    tok = AutoTokenizer.from_pretrained(tokenizer_dirs["special"])
    cfg = compose_ppo(["reward=tl_tool", "reward.tl_tool.tool_markers=[]"])
    manager = TLToolRewardManager(cfg, tok, compute_score=None)
    assert manager.tool_markers == {}  # explicitly none: plain skip_special_tokens decoding
    data = _make_batch(tok, ["Let me look that up.\n" + RESPONSES["correct"]])
    out = manager.loop.run_until_complete(manager.run_single(data[0:1]))
    assert out["reward_score"] == -2.0  # markers dropped on request, so no call is found

    manager = TLToolRewardManager(compose_ppo(["reward=tl_tool"]), tok, compute_score=None)
    out = manager.loop.run_until_complete(manager.run_single(data[0:1]))
    assert out["reward_score"] == 1.0 and out["reward_extra_info"]["cf"] == 1
