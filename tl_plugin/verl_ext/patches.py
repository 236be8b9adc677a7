"""Every change tl-plugin makes to verl internals, in one place.

verl has extension points for most of what the plugin adds (registries for reward managers,
agent loops, rollout replicas and platforms; ``data.custom_cls``; Hydra config groups). Where it
has none, the change is made here, and only here, as a wrapper or replacement of one verl name.
Each entry records the sha256 of the verl source it was written against
(:data:`FINGERPRINTS`); ``tests/tl_plugin/verl_ext/test_verl_patches.py`` fails when verl's source differs, so a
verl upgrade shows which patch to re-read.

CPU only (``TL_PLUGIN_CPU=1``, applied by :func:`tl_plugin.verl_ext.cpu.enable` at ``import verl``):

1. ``verl.utils.distributed.initialize_global_process_group`` (SFT trainer, torchrun) and
   ``initialize_global_process_group_ray`` (PPO workers, bound by ``verl.workers.engine_workers``
   at its import, so this runs first): verl passes ``"cpu:gloo,<device>:<backend>"``, which is
   ``"cpu:gloo,cpu:gloo"`` on the CPU platform and torch rejects ("Duplicate device type cpu").
   Replaced by versions that use plain ``gloo``.
2. ``verl.utils.fsdp_utils.CPUOffloadPolicy``: verl's FSDP engine builds every forward-only model
   (the reference policy) with ``CPUOffloadPolicy(pin_memory=True)``; pinning needs an
   accelerator ("Cannot access accelerator device when none is available"). Replaced by a
   subclass that never pins.
3. ``verl.utils.model.load_valuehead_model`` (PPO's critic): verl loads the value model with
   ``attn_implementation="flash_attention_2"`` written into the call, whatever
   ``critic.model.override_config`` says, and flash-attention needs CUDA. Replaced by a loader of
   the same ``AutoModelForTokenClassification`` head with ``sdpa``.

Always (applied at ``import verl`` through a post-import hook, so verl's trainer modules are not
imported early):

4. Reward extra info in the training-step metrics. verl 0.9.1 logs a reward function's extra keys
   (for ``tl_tool``: ts, pi, cf, the error categories; de, ce, va in feedback mode) only for
   validation, on both trainers. :func:`reward_extra_metrics` turns them into
   ``reward_extra/<key>/mean`` for every training step: in the legacy trainer
   (``trainer.use_v1=false``) around ``verl.trainer.ppo.ray_trainer.compute_data_metrics``, which
   sees the keys in ``batch.meta_info["reward_extra_keys"]``; in the v1 trainer around
   ``PPOTrainer._compute_metrics``, which reads each sample's ``extra_fields.reward_extra_info``
   from the TransferQueue the same way verl's own metrics code reads other fields. Switch off with
   ``TL_PLUGIN_REWARD_METRICS=0``.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.abc
import importlib.util
import os
import sys
from collections.abc import Callable
from datetime import timedelta

import numpy as np

__all__ = [
    "FINGERPRINTS",
    "REWARD_METRIC_PREFIX",
    "apply_cpu_patches",
    "install_reward_metrics",
    "patched_source",
    "reward_extra_metrics",
]

REWARD_METRIC_PREFIX = "reward_extra"

# "module:qualname" of each patched verl object (and of the code each patch relies on) -> sha256 of
# its source in verl 0.9.1. get_rollout_class reads the private table _ROLLOUT_REGISTRY, into which
# tl_plugin.verl_ext.rollout.backend.register enters the "tl_hf" adapter (no public register function).
FINGERPRINTS = {
    "verl.utils.distributed:initialize_global_process_group": "c0dcd8ce78be8d832148d570cad848afe305478a7a8ad4b396ccb12973b58aa9",
    "verl.utils.distributed:initialize_global_process_group_ray": "e9ec517a0089c3c5e6917f28bdd2f55bf493b452aa70fd85c7c17bd12a3e485f",
    "verl.workers.engine.fsdp.transformer_impl:FSDPEngine._build_fsdp_module": "6855699967a0ec5e9996f42f240405f7fa19ac04ee3d15b9af5367d21f0994f1",
    "verl.utils.model:load_valuehead_model": "d7528f4ff909c7c31e6485e97756fd076f2cddd7004a0feab8ff89be2a14fa17",
    "verl.trainer.ppo.ray_trainer:RayPPOTrainer.fit": "944e6e643c52fd27ae2498a783b81f49d82ec83bf1dbba7f224a0860415a385e",
    "verl.trainer.ppo.reward:extract_reward": "565d4e6b10e8d666c3c2a7336f76c2136eb8065f89cbab241366217315ff5fc8",
    "verl.trainer.ppo.v1.trainer_base:PPOTrainer._compute_metrics": "610f09e74f42ef49565c8f7cc579bb6ea387f2630744b909b83e49910db2194f",
    "verl.trainer.ppo.v1.agent_loop_tq:AgentLoopWorkerTQ._agent_loop_postprocess": "22fb25639254534ee32f60920da268f3a6ff6a8f6e2ccd2e1c0ad384de80aa3e",
    "verl.workers.rollout.base:get_rollout_class": "b82e97bb3ad28dee524dcf72e9039b9992c37f115aa4308a4a892eb2694951e9",
}


def patched_source(target: str) -> str:
    """sha256 of verl's source of ``"module:qualname"`` as installed (what :data:`FINGERPRINTS`
    records), read from the file, so a patch already applied in this process does not hide it."""
    import ast

    module_name, qualname = target.split(":")
    spec = importlib.util.find_spec(module_name)
    if spec is None or not spec.origin:
        raise ModuleNotFoundError(f"{module_name} is not installed")
    with open(spec.origin, encoding="utf-8") as f:
        source = f.read()
    nodes = ast.parse(source).body
    node = None
    for part in qualname.split("."):
        node = next(
            (
                n
                for n in nodes
                if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and n.name == part
            ),
            None,
        )
        if node is None:
            raise AttributeError(f"{module_name} has no {qualname} (verl changed: re-read this patch)")
        nodes = node.body
    return hashlib.sha256(ast.get_source_segment(source, node).encode()).hexdigest()


# ------------------------------------------------------------------------------------------------
# 1-3: CPU
# ------------------------------------------------------------------------------------------------


def _initialize_global_process_group(timeout_second=36000):
    """verl's ``initialize_global_process_group`` with a plain gloo backend (no device to set)."""
    import torch.distributed

    torch.distributed.init_process_group(
        backend="gloo",
        timeout=timedelta(seconds=timeout_second),
        init_method=os.environ.get("DIST_INIT_METHOD", None),
    )
    return int(os.environ["LOCAL_RANK"]), int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])


def _load_valuehead_model(local_path, torch_dtype, model_config, trust_remote_code):
    """verl's ``load_valuehead_model`` with sdpa attention (the token-classification head only)."""
    from transformers import AutoModelForTokenClassification

    try:
        return AutoModelForTokenClassification.from_pretrained(
            pretrained_model_name_or_path=local_path,
            torch_dtype=torch_dtype,
            config=model_config,
            attn_implementation="sdpa",
            trust_remote_code=trust_remote_code,
        )
    except ValueError as exc:  # transformers has no token-classification class for this model
        raise RuntimeError(
            f"critic on CPU: {local_path} cannot be loaded as a value model (AutoModelForTokenClassification): {exc}"
        ) from exc


def apply_cpu_patches() -> None:
    """Patches 1 to 3 (module docstring). Must run before ``verl.workers.engine_workers`` and
    verl's FSDP engine are imported, which bind the names at import (``import verl`` is early enough)."""
    from torch.distributed.fsdp import CPUOffloadPolicy as TorchCPUOffloadPolicy
    from verl.utils import distributed, fsdp_utils, model

    for bound in ("verl.workers.engine_workers", "verl.workers.engine.fsdp.transformer_impl"):
        if bound in sys.modules:
            raise RuntimeError(
                f"TL_PLUGIN_CPU=1 came too late: {bound} is already imported; set it in the "
                "environment before Python starts"
            )

    original_ray = getattr(
        distributed.initialize_global_process_group_ray, "__wrapped__", distributed.initialize_global_process_group_ray
    )

    @functools.wraps(original_ray)
    def initialize_global_process_group_ray(timeout_second=None, backend=None):
        return original_ray(timeout_second=timeout_second, backend=backend or "gloo")

    distributed.initialize_global_process_group = _initialize_global_process_group
    distributed.initialize_global_process_group_ray = initialize_global_process_group_ray

    if not getattr(fsdp_utils.CPUOffloadPolicy, "_tl_never_pins", False):

        class CPUOffloadPolicy(TorchCPUOffloadPolicy):
            """torch's policy with ``pin_memory`` always off (pinning needs an accelerator)."""

            _tl_never_pins = True

            def __init__(self, pin_memory: bool = False, **kwargs):
                super().__init__(pin_memory=False, **kwargs)

        fsdp_utils.CPUOffloadPolicy = CPUOffloadPolicy

    model.load_valuehead_model = _load_valuehead_model


# ------------------------------------------------------------------------------------------------
# 4: reward extra info in every training step's metrics
# ------------------------------------------------------------------------------------------------


def reward_extra_metrics(extra: dict) -> dict:
    """``{"reward_extra/<key>/mean": mean}`` over the numeric values of each key (None, text and
    other non-numbers are left out; a key with no number gives no metric).

    >>> reward_extra_metrics({"ts": [1, 0, 1, 1], "correct": [True, False, False, False], "note": ["x"] * 4})
    {'reward_extra/ts/mean': 0.75, 'reward_extra/correct/mean': 0.25}
    """
    metrics = {}
    for key, values in extra.items():
        numbers = [
            float(v)
            for v in list(values)
            if isinstance(v, (bool, int, float, np.integer, np.floating, np.bool_)) and v == v
        ]
        if numbers:
            metrics[f"{REWARD_METRIC_PREFIX}/{key}/mean"] = float(np.mean(numbers))
    return metrics


def _patch_legacy_trainer(module) -> None:
    original = module.compute_data_metrics

    @functools.wraps(original)
    def compute_data_metrics(batch, use_critic: bool = True):
        metrics = original(batch=batch, use_critic=use_critic)
        keys = batch.meta_info.get("reward_extra_keys", []) or []
        metrics.update(
            reward_extra_metrics({k: batch.non_tensor_batch[k] for k in keys if k in batch.non_tensor_batch})
        )
        return metrics

    module.compute_data_metrics = compute_data_metrics


def _patch_v1_trainer(module) -> None:
    trainer_cls = module.PPOTrainer
    original = trainer_cls._compute_metrics

    @functools.wraps(original)
    def _compute_metrics(self, batch, metrics, timing_raw, global_steps, epoch):
        result = original(self, batch, metrics, timing_raw, global_steps, epoch)
        keep = [not tag.get("is_padding", False) for tag in batch.tags]
        data = module.tq.kv_batch_get(keys=batch.keys, partition_id=batch.partition_id, select_fields=["extra_fields"])
        extra_fields = [f for f, k in zip(data.pop("extra_fields").tolist(), keep) if k]
        per_key: dict = {}
        for fields in extra_fields:
            info = fields.get("reward_extra_info", {}) if isinstance(fields, dict) else {}
            for key, value in (info or {}).items():
                per_key.setdefault(key, []).append(value)
        metrics.update(reward_extra_metrics(per_key))
        return result

    trainer_cls._compute_metrics = _compute_metrics


_POST_IMPORT: dict[str, Callable] = {
    "verl.trainer.ppo.ray_trainer": _patch_legacy_trainer,
    "verl.trainer.ppo.v1.trainer_base": _patch_v1_trainer,
}


class _PostImportFinder(importlib.abc.MetaPathFinder):
    """Runs a patch right after one of :data:`_POST_IMPORT`'s modules has been executed."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in _POST_IMPORT:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None:
                spec.loader = _PatchingLoader(spec.loader, _POST_IMPORT[fullname])
                return spec
        return None


class _PatchingLoader(importlib.abc.Loader):
    def __init__(self, loader, patch):
        self.loader, self.patch = loader, patch

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        self.loader.exec_module(module)
        self.patch(module)
        module._tl_reward_metrics = True


def install_reward_metrics() -> None:
    """Patch 4 (module docstring): now for trainer modules already imported, else on their import."""
    if os.environ.get("TL_PLUGIN_REWARD_METRICS", "1") == "0":
        return
    for name, patch in _POST_IMPORT.items():
        module = sys.modules.get(name)
        if module is not None and not getattr(module, "_tl_reward_metrics", False):
            patch(module)
            module._tl_reward_metrics = True
    if not any(isinstance(f, _PostImportFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _PostImportFinder())
