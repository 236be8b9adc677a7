"""Every launch script in example_configs/ composes against verl's real config, and sets the papers'
hyperparameters (so none can rot).

Each script is run for real with DRY_RUN=1, which makes Hydra print the composed config
(`--cfg job`) instead of starting Ray and GPUs; unknown or misspelled overrides fail composition.
The printed YAML is then read back and the values that matter (TL-Training 5.4, ToolDev 4.1 and
appendix A) are compared key by key. The RL configs also go through verl's own start-up checks
(`validate_config`: batch sizes against the GPU count), the `tl-prepare` commands in the headers are
composed against tl-prepare's config, and tl-evolve's per-round training overrides against verl's
SFT config.
"""

from __future__ import annotations

import functools
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf

from tests.helpers import ROOT, tiny_model_folder

SCRIPTS = sorted((ROOT / "example_configs").glob("*.sh"))
NAMES = [s.name for s in SCRIPTS]
# the scripts read these from the environment; the test wants each script's own defaults
SCRIPT_ENV = ("MODEL", "CRITIC", "TRAIN", "VAL", "NGPUS", "TOOLS", "QUERIES", "OUT", "DRY_RUN", "PYTHON")

# reward=tl_tool as main_ppo reads it (top-level custom_reward_function is ignored by verl 0.9.1)
TL_TOOL = {
    "reward.reward_manager.source": "register",
    "reward.reward_manager.name": "tl_tool",
    "reward.custom_reward_function.path": "pkg://reward_fns.tl_tool",
    "reward.custom_reward_function.name": "compute_score",
}
# MAE masks (loss_mask 0 from tl-prepare) and PKT weights reach verl's loss through this class
TL_SFT_DATASET = {"data.custom_cls.path": "pkg://tl_plugin.sft", "data.custom_cls.name": "TLSFTDataset"}
# ToolDev 4.1: LoRA on all modules, rank 16, alpha 32, global batch 64, lr 1e-4, cosine, warmup 0.1
TOOLDEV_SFT = {
    **TL_SFT_DATASET,
    "model.lora_rank": 16,
    "model.lora_alpha": 32,
    "model.target_modules": "all-linear",
    "optim.lr": 1e-4,
    "optim.lr_scheduler_type": "cosine",
    "optim.lr_warmup_steps_ratio": 0.1,
    "data.train_batch_size": 64,
    "data.pkt.enable": False,  # ToolDev does not weight key tokens
}
MODEL_7B = "Qwen/Qwen2.5-7B-Instruct"

# composed config of each script (its DRY_RUN output): key -> value
EXPECTED = {
    "sft_tl.sh": {  # TL-Training 5.4, SFT stage
        **TL_SFT_DATASET,
        "optim.lr": 1e-6,
        "optim.lr_scheduler_type": "cosine",
        "optim.lr_warmup_steps_ratio": 0.01,
        "data.train_batch_size": 4,
        "trainer.total_epochs": 1,
        "data.pkt.enable": True,
        "data.pkt.w_max": 9,
        "data.pad_mode": "no_padding",  # float PKT weights reach verl's sft_loss only in this mode
        "trainer.n_gpus_per_node": 4,  # one row of the batch of 4 per GPU
        "checkpoint.save_contents": ["model", "optimizer", "extra", "hf_model"],  # PPO starts from the HF copy
    },
    "ppo_tl_tool.sh": {  # TL-Training 5.4, RL stage
        **TL_TOOL,
        "algorithm.adv_estimator": "gae",
        "actor_rollout_ref.actor.optim.lr": 2e-6,
        "critic.optim.lr": 1e-6,
        "data.train_batch_size": 8,
        "actor_rollout_ref.actor.ppo_mini_batch_size": 8,
        "critic.ppo_mini_batch_size": 8,
        "trainer.total_epochs": 3,  # "3 epochs": passes over the prompts (tl/ppo.yaml says why)
        "actor_rollout_ref.actor.ppo_epochs": 1,
        "critic.ppo_epochs": 1,
        "actor_rollout_ref.rollout.n": 1,
        "algorithm.use_kl_in_reward": True,  # the paper's objective: R - beta * KL(M || M_sft)
        "algorithm.kl_penalty": "kl",
        "algorithm.kl_ctrl.type": "fixed",
        "algorithm.kl_ctrl.kl_coef": 0.4,
        "actor_rollout_ref.actor.use_kl_loss": False,
        "algorithm.gamma": 1.0,
        "algorithm.lam": 0.95,
        "critic.cliprange_value": 0.2,
        "actor_rollout_ref.model.path": MODEL_7B,
        "critic.model.path": MODEL_7B,  # the critic starts from the actor's weights
        "actor_rollout_ref.rollout.agent.default_agent_loop": "tl_tool_agent",
        "trainer.n_gpus_per_node": 8,
    },
    "grpo_tl_tool.sh": {
        **TL_TOOL,
        "algorithm.adv_estimator": "grpo",
        "actor_rollout_ref.rollout.agent.default_agent_loop": "tl_tool_agent",
        "actor_rollout_ref.rollout.n": 8,
        "actor_rollout_ref.actor.use_kl_loss": True,
        "actor_rollout_ref.actor.kl_loss_type": "low_var_kl",
        "actor_rollout_ref.actor.optim.lr": 1e-6,
        "data.train_batch_size": 64,
        "trainer.total_epochs": 3,
    },
    "multiturn_tl.sh": {
        **TL_TOOL,
        "reward.custom_reward_function.reward_kwargs.mode": "feedback",
        "algorithm.adv_estimator": "grpo",
        "actor_rollout_ref.rollout.agent.default_agent_loop": "tl_multiturn_agent",
        "actor_rollout_ref.rollout.multi_turn.enable": True,
        "actor_rollout_ref.rollout.multi_turn.max_assistant_turns": 9,  # ToolEyes' nine turns
        "actor_rollout_ref.rollout.multi_turn.format": "hermes",
        "actor_rollout_ref.rollout.multi_turn.tool_config_path": str(ROOT / "example_configs/tools/weather_tools.yaml"),
        "actor_rollout_ref.actor.optim.lr": 1e-6,
        "data.train_batch_size": 64,
        "trainer.total_epochs": 3,
    },
    "tooldev_sft.sh": {  # ToolDev stages 1-2
        **TOOLDEV_SFT,
        "trainer.total_epochs": 1,
        "trainer.n_gpus_per_node": 8,
        "checkpoint.save_contents": ["model", "optimizer", "extra", "hf_model"],  # tl-evolve needs the HF copy
    },
    "evolve_tooldev.sh": {  # tl-evolve's own config (ToolDev 4.1 and appendix A)
        "generation.backend": "vllm",
        "rounds": 3,
        "queries_per_round": 10000,
        "tool_sampling.temperature": 1.0,
        "k": 5,
        "call_sampling.temperature": 1.0,
        "call_sampling.top_k": 50,  # top-k sampling
        "train.enable": True,
        "train.presets": ["tooldev"],
        "train.batch_size": 64,
        "train.nproc_per_node": 8,
    },
}

# the tl-prepare config of the command(s) in each script's header
PREPARE = {
    "sft_tl.sh": {"source": "toolace", "kinds": ["rl", "sft"], "mae.mode": "mask"},
    "tooldev_sft.sh": {
        "source": "toolace",
        "kinds": ["sft"],
        "mae.mode": "mask",
        "tooldev.ratios.invocation": 1.0,
        "tooldev.ratios.adaption": 1.0,
        "tooldev.ratios.generation": 1.0,
    },
    "grpo_tl_tool.sh": {"source": "bfcl", "kinds": ["rl", "sft"], "split.by": "tools"},
    "ppo_tl_tool.sh": {"source": "bfcl", "kinds": ["rl", "sft"], "split.by": "tools"},
}


@functools.cache
def dry_run(name: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in SCRIPT_ENV}
    env.update(DRY_RUN="1", PYTHON=sys.executable, HF_HUB_OFFLINE="1")
    return subprocess.run(
        ["bash", str(ROOT / "example_configs" / name)], capture_output=True, text=True, env=env, timeout=300
    )


def composed(name: str):
    out = dry_run(name)
    assert out.returncode == 0, out.stderr[-3000:]
    return OmegaConf.create(yaml.safe_load(out.stdout))


def mismatches(cfg, expected: dict) -> dict:
    """{key: (found, wanted)} for every key whose value differs (bools compared by identity)."""
    bad = {}
    for key, want in expected.items():
        got = OmegaConf.select(cfg, key, default="<missing>")
        if OmegaConf.is_config(got):
            got = OmegaConf.to_container(got, resolve=True)
        same = got is want if isinstance(want, bool) else (not isinstance(got, bool) and got == want)
        if not same:
            bad[key] = (got, want)
    return bad


def header(script: Path) -> list:
    lines = script.read_text().splitlines()
    return [line for line in lines[1:] if line.startswith("#")] if lines else []


def prepare_commands(script: Path) -> list:
    """The `tl-prepare ...` commands in a script's header comment (continuation lines joined)."""
    commands, current = [], None
    for line in header(script):
        text = line.lstrip("#").strip()
        if current is not None:
            current += " " + text
        elif text.startswith("tl-prepare "):
            current = text
        if current is not None:
            if current.endswith("\\"):
                current = current[:-1]
            else:
                commands.append(shlex.split(current)[1:])
                current = None
    return commands


@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS, ids=NAMES)
def test_example_script_composes_with_verl(script):
    out = dry_run(script.name)
    assert out.returncode == 0, out.stderr[-3000:]
    # the plugin's part is in the composed config: the reward, the SFT dataset, or tl-evolve's preset
    assert any(mark in out.stdout for mark in ("tl_tool", "TLSFTDataset", "- tooldev")), out.stdout[-3000:]


@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS, ids=NAMES)
def test_example_script_sets_the_papers_hyperparameters(script):
    assert mismatches(composed(script.name), EXPECTED[script.name]) == {}


def test_every_script_has_expected_values_and_a_header():
    assert SCRIPTS, "example_configs/ holds no launch script"
    assert set(EXPECTED) == set(NAMES), "add the hyperparameters of a new script to EXPECTED"
    for script in SCRIPTS:
        text = "\n".join(header(script))
        for part in ("# Resources:", "# Time (estimated, not measured", "DRY_RUN=1"):
            assert part in text, f"{script.name}: header lacks {part!r}"
        body = script.read_text()
        assert '"$@" ${DRY_RUN:+--cfg job}' in body, f"{script.name}: extra overrides or DRY_RUN not passed on"
        assert os.access(script, os.X_OK), f"{script.name} is not executable"


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A local model folder: verl's critic config loads the tokenizer of critic.model.path."""
    return tiny_model_folder(
        tmp_path_factory,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
    )


RL_SCRIPTS = [s for s in SCRIPTS if "verl.trainer.main_ppo" in s.read_text()]


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Disabled critic")
@pytest.mark.parametrize("script", RL_SCRIPTS, ids=[s.name for s in RL_SCRIPTS])
def test_rl_script_passes_verls_start_up_checks(script, tiny_model):
    """main_ppo runs verl.utils.config.validate_config before it starts Ray: batch sizes must divide
    over the GPUs the script asks for (PPO's batch of 8 over 8 GPUs included)."""
    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import validate_config

    cfg = composed(script.name)
    cfg.actor_rollout_ref.model.path = cfg.critic.model.path = str(tiny_model)
    use_critic = need_critic(cfg)
    assert use_critic is (script.name == "ppo_tl_tool.sh")  # GAE needs the critic, GRPO does not
    assert need_reference_policy(cfg)  # every script keeps a KL term to the starting model
    validate_config(cfg, use_reference_policy=need_reference_policy(cfg), use_critic=use_critic)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(PREPARE))
def test_the_tl_prepare_command_in_the_header_composes(name):
    commands = prepare_commands(ROOT / "example_configs" / name)
    assert commands, f"{name}: no tl-prepare command in the header"
    for args in commands:
        out = subprocess.run(
            [sys.executable, "-m", "tl_plugin.cli.prepare", *args, "--cfg", "job"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0, f"tl-prepare {shlex.join(args)}:\n{out.stderr[-2000:]}"
        assert mismatches(OmegaConf.create(yaml.safe_load(out.stdout)), PREPARE[name]) == {}, shlex.join(args)


@pytest.mark.slow
def test_each_evolve_round_trains_with_the_tooldev_settings_on_verls_sft_config(tmp_path):
    """DRY_RUN of evolve_tooldev.sh prints tl-evolve's config; the SFT overrides it builds for a round
    (presets, train.* and the script's train.overrides) must compose against verl's SFT config."""
    import verl
    from hydra import compose, initialize_config_dir

    from tl_plugin.cli.evolve import train_overrides

    cfg = composed("evolve_tooldev.sh")
    overrides = train_overrides(cfg, 1, tmp_path / "round_1", str(cfg.model), rows=50_000)
    config_dir = str(Path(verl.__file__).parent / "trainer" / "config")
    with initialize_config_dir(config_dir=config_dir, version_base=None):
        sft = compose(config_name="sft_trainer_engine", overrides=overrides)
    assert (
        mismatches(
            sft,
            {
                **TOOLDEV_SFT,
                "data.micro_batch_size_per_gpu": 2,
                "data.max_length": 8192,
                "trainer.n_gpus_per_node": 8,
                "model.path": str(cfg.model),
            },
        )
        == {}
    )


def test_ppo_preset_composes_into_verls_config_and_stays_overridable():
    from tests.helpers.verl_config import compose_ppo

    cfg = compose_ppo(["+tl=ppo", "trainer.total_epochs=1", "critic.optim.lr=5e-7"])
    assert (
        mismatches(
            cfg,
            {
                **TL_TOOL,
                "algorithm.adv_estimator": "gae",
                "algorithm.use_kl_in_reward": True,
                "actor_rollout_ref.actor.optim.lr": 2e-6,
                "actor_rollout_ref.actor.ppo_epochs": 1,
                "data.train_batch_size": 8,
                "actor_rollout_ref.rollout.agent.default_agent_loop": "tl_tool_agent",
                "trainer.total_epochs": 1,
                "critic.optim.lr": 5e-7,
            },
        )
        == {}
    )
