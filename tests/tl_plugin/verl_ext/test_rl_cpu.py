"""Rollout ``tl_hf`` and the ``+tl=rl_cpu`` preset, against verl's own registries and config.

Real: verl's Hydra composition of ``ppo_trainer`` with our presets, verl's ``validate_config``
(what ``main_ppo`` runs before it starts Ray), verl's rollout registries, ``RolloutConfig``. The
whole ``main_ppo`` run on CPU (Ray, FSDP workers, the server actor, weight sync) is in
tests/e2e/test_rl_smoke.py.
"""

from __future__ import annotations

import pytest

from tests.helpers.verl_config import compose_ppo


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from tl_plugin.cli.smoke import build_tiny_model
    from tl_plugin.testing import TINY_QWEN

    path = tmp_path_factory.mktemp("tiny")
    build_tiny_model(path, TINY_QWEN, 0)
    return path


def test_tl_hf_is_registered_in_both_of_verls_rollout_tables():
    import verl  # noqa: F401  loads tl_plugin.verl_ext.register
    from verl.workers.rollout.base import get_rollout_class
    from verl.workers.rollout.replica import get_rollout_replica_class

    from tl_plugin.verl_ext.rollout.backend import HFReplica, HFServerAdapter

    assert get_rollout_replica_class("tl_hf") is HFReplica
    assert get_rollout_class("tl_hf", "async") is HFServerAdapter


@pytest.mark.parametrize("algorithm", ["grpo", "ppo", "multiturn"])
@pytest.mark.parametrize("use_v1", [True, False])
def test_rl_cpu_composes_with_each_algorithm_and_passes_verls_checks(algorithm, use_v1, tiny_model):
    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import validate_config

    cfg = compose_ppo(
        [
            f"+tl=[{algorithm},rl_cpu]",
            f"trainer.use_v1={use_v1}",
            f"actor_rollout_ref.model.path={tiny_model}",
            f"critic.model.path={tiny_model}",
            "data.train_batch_size=2",
        ]
    )
    rollout, actor = cfg.actor_rollout_ref.rollout, cfg.actor_rollout_ref.actor
    assert (rollout.name, rollout.mode, rollout.dtype, cfg.trainer.device) == ("tl_hf", "async", "float32", "cpu")
    assert actor.strategy == actor.fsdp_config.strategy == "fsdp2" and not actor.use_torch_compile
    assert cfg.actor_rollout_ref.model.override_config.attn_implementation == "sdpa"
    assert cfg.ray_kwargs.ray_init.runtime_env.env_vars.TL_PLUGIN_CPU == "1"
    assert cfg.transfer_queue.backend.SimpleStorage.num_data_storage_units == 1
    # the algorithm preset keeps its own choices
    assert cfg.algorithm.adv_estimator == ("gae" if algorithm == "ppo" else "grpo")
    assert cfg.reward.reward_manager.name == "tl_tool"
    validate_config(cfg, use_reference_policy=need_reference_policy(cfg), use_critic=need_critic(cfg))


def test_server_options_come_from_verls_rollout_config():
    from verl.utils.config import omega_conf_to_dataclass

    from tl_plugin.verl_ext.rollout.backend import server_options

    cfg = compose_ppo(
        [
            "+tl=[grpo,rl_cpu]",
            "actor_rollout_ref.rollout.engine_kwargs.tl_hf.batch_wait_ms=20",
            "actor_rollout_ref.rollout.engine_kwargs.tl_hf.num_threads=3",
            "data.max_prompt_length=300",
            "data.max_response_length=40",
        ]
    )
    options = server_options(omega_conf_to_dataclass(cfg.actor_rollout_ref.rollout), "cpu")
    assert options["dtype"] == "float32" and options["device"] == "cpu"
    assert (options["prompt_length"], options["response_length"]) == (300, 40)
    assert options["batch_wait_s"] == pytest.approx(0.02) and options["num_threads"] == 3
    assert options["max_batch_size"] == cfg.actor_rollout_ref.rollout.max_num_seqs


def test_an_unknown_engine_kwarg_is_refused_by_name():
    from verl.utils.config import omega_conf_to_dataclass

    from tl_plugin.verl_ext.rollout.backend import server_options

    cfg = compose_ppo(["+tl=[grpo,rl_cpu]", "+actor_rollout_ref.rollout.engine_kwargs.tl_hf.batch_wait=5"])
    with pytest.raises(ValueError, match=r"engine_kwargs.tl_hf: unknown keys \['batch_wait'\]"):
        server_options(omega_conf_to_dataclass(cfg.actor_rollout_ref.rollout), "cpu")


def test_the_adapter_refuses_what_it_cannot_load(tiny_model):
    import asyncio

    from tl_plugin.verl_ext.rollout.backend import HFServerAdapter

    cfg = compose_ppo(["+tl=[grpo,rl_cpu]", f"actor_rollout_ref.model.path={tiny_model}"])
    adapter = HFServerAdapter(cfg.actor_rollout_ref.rollout, cfg.actor_rollout_ref.model, device_mesh=None)
    with pytest.raises(NotImplementedError, match="wire_format='named_tensors'"):
        asyncio.run(adapter.update_weights(iter(()), wire_format="delta_flush"))
    with pytest.raises(NotImplementedError, match="lora.merge=true"):
        asyncio.run(adapter.update_weights(iter(()), peft_config={"r": 8}))
