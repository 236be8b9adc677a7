"""Run verl's SFT trainer on CPU (tests, smoke runs, laptops): everything CPU needs, in one place.

Switch it on with ONE flag, the environment variable ``TL_PLUGIN_CPU=1``; ``import verl`` then runs
:func:`enable` (through our ``verl.plugins`` entry point, ``tl_plugin.verl_ext.register``) before verl
resolves its platform. Add the Hydra preset ``+tl=sft_cpu`` (``tl_plugin/configs/tl/sft_cpu.yaml``)
for the config keys::

    TL_PLUGIN_CPU=1 torchrun --standalone --nproc_per_node=1 -m verl.trainer.sft_trainer +tl=sft_cpu \\
        model.path=MODEL data.train_files=train.parquet ...

verl 0.9.1 as shipped cannot train on CPU: it knows the platforms ``nvidia``, ``huawei`` (NPU) and
``amd`` (ROCm) only, builds its process group as ``cpu:gloo,<device>:<backend>`` (NCCL for the
accelerator), registers its FSDP engines for ``cuda``/``npu`` only, and defaults to
flash-attention, torch.compile and ``trainer.device=cuda``. What CPU needs, and how each is done:

1. A ``cpu`` platform (:class:`PlatformCPU`, registered with ``verl.plugin.platform.PlatformRegistry``):
   device ``cpu``, ``communication_backend_name()`` ``gloo``, ``current_device()`` ``"cpu"`` (as
   ``torch.cpu.current_device()``; verl calls ``tensor.to(get_device_id())``, where an integer
   would mean ``cuda:N``), and a ``device_module`` that is ``torch.cpu`` plus the
   ``torch.cuda``-style calls verl makes on it (``memory_allocated``, ``mem_get_info``,
   ``empty_cache``, RNG state ...), which ``torch.cpu`` lacks.
2. ``VERL_PLATFORM=cpu`` (env, read by verl's platform detection): use that platform. Auto-detection
   never picks it (its ``is_platform_available`` is False), so nothing changes without the flag.
3. ``VERL_ENGINE_DEVICE=cuda`` (env, read by ``verl.workers.engine.base.EngineRegistry``): pick the
   FSDP engine verl registered for ``cuda``. The engine code is device-agnostic (it asks the
   platform for device name, id and backend); only its registration names ``cuda``/``npu``.
4. Three patches of verl internals, all in :mod:`tl_plugin.verl_ext.patches` (items 1-3 there): gloo
   process groups (verl's backend string would be ``cpu:gloo,cpu:gloo``, which torch rejects:
   "Duplicate device type cpu"), for the SFT trainer and for the PPO workers; FSDP's
   ``CPUOffloadPolicy`` without pinned memory (verl pins the reference model's weights, which
   needs an accelerator); and PPO's value model loaded with sdpa instead of the flash-attention
   that verl writes into the call.
5. The Hydra preset ``+tl=sft_cpu`` (config keys): ``engine.strategy=fsdp2`` (FSDP2's
   ``fully_shard`` runs on a CPU device mesh), ``engine.use_torch_compile=false``,
   ``model.override_config.attn_implementation=sdpa`` (verl's default is ``flash_attention_2``;
   with ``use_remove_padding`` and ``use_cache=False``, as verl calls the model, transformers'
   sdpa mask keeps packed sequences apart through the restarting ``position_ids``),
   ``trainer.device=cpu`` (the trainer moves per-step token counts there; verl's
   ``auto_set_device`` never rewrites it to ``cpu``), ``data.num_workers=0`` (no loader worker
   processes) and ``trainer.logger=[console]`` (no wandb).

The environment variables are set with ``setdefault`` and inherited by child processes (torchrun
workers); a ``VERL_PLATFORM`` other than ``cpu`` together with the flag is an error. verl swallows
exceptions raised while it loads plugins, so :func:`enable` also logs its errors.
"""

from __future__ import annotations

import logging
import os
import types
from contextlib import contextmanager
from typing import Any

import torch
from verl.plugin.platform import PlatformBase, PlatformRegistry

__all__ = ["ENV_FLAG", "PLATFORM_NAME", "PlatformCPU", "enable"]

ENV_FLAG = "TL_PLUGIN_CPU"
PLATFORM_NAME = "cpu"
# env vars verl reads, and the values CPU needs (see the module docstring, items 2 and 3)
ENV = {"VERL_PLATFORM": PLATFORM_NAME, "VERL_ENGINE_DEVICE": "cuda"}


def _zero(*args, **kwargs) -> int:
    return 0


def _noop(*args, **kwargs) -> None:
    return None


def _mem_get_info(*args, **kwargs) -> tuple[int, int]:
    page = os.sysconf("SC_PAGE_SIZE")
    return os.sysconf("SC_AVPHYS_PAGES") * page, os.sysconf("SC_PHYS_PAGES") * page


def _cpu_device_module() -> types.ModuleType:
    """``torch.cpu`` plus the ``torch.cuda``-style calls verl makes on ``get_torch_device()``."""
    module = types.ModuleType("tl_plugin_cpu_device", "torch.cpu with no-op memory/cache calls")
    for name in dir(torch.cpu):
        if not name.startswith("__"):
            setattr(module, name, getattr(torch.cpu, name))
    extra = {
        # the process heap is not a device allocator: nothing to report or release
        "empty_cache": _noop,
        "ipc_collect": _noop,
        "reset_peak_memory_stats": _noop,
        "set_per_process_memory_fraction": _noop,
        "memory_allocated": _zero,
        "memory_reserved": _zero,
        "max_memory_allocated": _zero,
        "max_memory_reserved": _zero,
        "mem_get_info": _mem_get_info,
        # on CPU the device RNG is torch's default generator
        "manual_seed": torch.manual_seed,
        "manual_seed_all": torch.manual_seed,
        "get_rng_state": torch.get_rng_state,
        "set_rng_state": torch.set_rng_state,
        "get_device_name": lambda *a, **k: "cpu",
    }
    for name, fn in extra.items():
        setattr(module, name, fn)
    return module


_DEVICE_MODULE = _cpu_device_module()


class PlatformCPU(PlatformBase):
    """verl platform ``cpu``: the host CPU as the only device, gloo for collectives."""

    @property
    def device_name(self) -> str:
        return "cpu"

    @property
    def vendor_name(self) -> str:
        return "cpu"

    @property
    def device_module(self) -> types.ModuleType:
        return _DEVICE_MODULE

    def is_available(self) -> bool:
        return True

    def is_platform_available(self, use_smi_check=False) -> bool:
        return False  # never auto-detected: only VERL_PLATFORM=cpu selects it

    def current_device(self):
        # "cpu", as torch.cpu.current_device() returns: verl calls tensor.to(get_device_id()),
        # and an integer index would mean cuda:<index>
        return "cpu"

    def device_count(self) -> int:
        return 1

    def set_device(self, device_index: int) -> None:
        return None

    def synchronize(self, device_index: int | None = None) -> None:
        return None

    def manual_seed(self, seed: int) -> None:
        torch.manual_seed(seed)

    def manual_seed_all(self, seed: int) -> None:
        torch.manual_seed(seed)

    def set_allocator_settings(self, settings: str) -> None:
        return None

    def empty_cache(self) -> None:
        return None

    def get_device_capability(self, device_index: int = 0) -> tuple[int | None, int | None]:
        return None, None

    def communication_backend_name(self) -> str:
        return "gloo"

    def visible_devices_envvar(self) -> str:
        return "TL_PLUGIN_CPU_VISIBLE_DEVICES"  # no such devices; set by nobody

    @contextmanager
    def nvtx_range(self, msg: str):
        yield

    def profiler_start(self) -> None:
        return None

    def profiler_stop(self) -> None:
        return None

    def ray_resource_name(self) -> str:
        return "CPU"

    def ray_resource_options(self, num_gpus: float) -> dict[str, Any]:
        return {"num_cpus": num_gpus}

    def ray_noset_envvars(self) -> list[str]:
        return []

    def is_ipc_supported(self) -> bool:
        return False

    def cudart(self) -> Any:
        return None


def enable() -> None:
    """Register the ``cpu`` platform, set the env vars verl reads and apply the CPU patches
    (module docstring, 1-4).

    Call it before verl resolves its platform (``tl_plugin.verl_ext.register`` does, at ``import verl``);
    raises if verl already settled on another platform in this process.
    """
    from verl.plugin.platform import platform_manager

    from tl_plugin.verl_ext import patches as verl_patches

    current = platform_manager._current_platform
    if current is not None and current.device_name != "cpu":
        _fail(
            f"{ENV_FLAG}=1 came too late: verl already uses platform {current.device_name!r}; "
            f"set {ENV_FLAG}=1 in the environment before starting Python"
        )
    for key, value in ENV.items():
        os.environ.setdefault(key, value)
    if os.environ["VERL_PLATFORM"] != PLATFORM_NAME:
        _fail(f"{ENV_FLAG}=1 needs VERL_PLATFORM={PLATFORM_NAME} or unset, got {os.environ['VERL_PLATFORM']!r}")
    if PlatformRegistry.get(PLATFORM_NAME) is not PlatformCPU:
        PlatformRegistry.register(platform=PLATFORM_NAME)(PlatformCPU)
    # gloo, no pinned memory, an sdpa value model: tl_plugin/verl_ext/patches.py, items 1-3
    verl_patches.apply_cpu_patches()


def _fail(message: str):
    # verl catches what a plugin raises at `import verl` and logs it at debug level only
    logging.getLogger(__name__).error(message)
    raise RuntimeError(message)
