"""verl rollout ``tl_hf``: Hugging Face ``transformers`` generation behind verl's agent loops.

verl 0.9.1 rolls out only through vLLM, SGLang or TensorRT-LLM servers (GPU builds); its HF and
naive rollouts are unregistered and ``rollout.mode=sync`` raises. This backend fills the gap with
verl's own extension points, no fork::

    python -m verl.trainer.main_ppo +tl=grpo actor_rollout_ref.rollout.name=tl_hf ...
    python -m verl.trainer.main_ppo +tl=[grpo,rl_cpu] ...          # CPU: sets the name too

Three parts, as verl's vLLM backend has them:

- :class:`HFReplica` (``RolloutReplica``, registered with ``RolloutReplicaRegistry``): starts one
  server actor per replica, named ``tl_hf_server_<replica>_0``, on the node of the replica's first
  trainer worker and, on a GPU, on that worker's device (``CUDA_VISIBLE_DEVICES``, as vLLM's);
  the actor asks Ray for no CPU or GPU of its own (it shares the trainer's, like vLLM in hybrid
  mode), so on CPU it sets torch's thread count itself (Ray gives such actors one thread).
- the server actor: :class:`tl_plugin.verl_ext.rollout.hf_server.HFGenerationServer`, which batches the
  requests verl's agent-loop workers send one per sample and returns verl's ``TokenOutput``.
- :class:`HFServerAdapter` (``BaseRollout``, entered in verl's ``_ROLLOUT_REGISTRY`` as
  ``("tl_hf", "async")``): lives in each trainer worker; verl's ``naive`` checkpoint engine hands
  it the actor's weights after every update (``update_weights``). Every rank drains the weight
  generator (FSDP gathers each tensor collectively); the replica's first rank sends the full CPU
  tensors to its server, which checks the names and loads them in place.

Settings come from verl's rollout config: ``dtype``, ``prompt_length``/``response_length``,
``max_model_len``, ``max_num_seqs`` (the largest batch), and ``engine_kwargs.tl_hf``
(``batch_wait_ms``, ``num_threads``, ``attn_implementation``, ``max_batch_size``, ``weights_log``). Weights stay resident: sleep, wake-up and
KV-cache calls are accepted and do nothing (there is no cache between requests).
"""

from __future__ import annotations

import logging
import os

import ray
import torch
from verl.utils.config import omega_conf_to_dataclass
from verl.utils.device import get_device_name
from verl.workers.config import HFModelConfig
from verl.workers.rollout.base import BaseRollout
from verl.workers.rollout.replica import RolloutReplica

from tl_plugin.verl_ext.rollout.hf_server import HFGenerationServer

__all__ = ["NAME", "HFReplica", "HFServerAdapter", "server_actor_name", "server_options"]

logger = logging.getLogger(__name__)

NAME = "tl_hf"
# actor_rollout_ref.rollout.engine_kwargs.tl_hf.* (see tl_plugin/configs/tl/rl_cpu.yaml)
ENGINE_KWARGS = ("batch_wait_ms", "num_threads", "attn_implementation", "max_batch_size", "weights_log")


def server_actor_name(replica_rank: int, kind: str = "", suffix: str = "") -> str:
    """The Ray actor name of a replica's server (``kind``: "", "reward" or "teacher")."""
    return f"{NAME}_server_{kind + '_' if kind else ''}{replica_rank}_0{suffix}"


def server_options(rollout_config, device: str) -> dict:
    """Keyword arguments of :class:`HFGenerationServer` from verl's rollout config."""
    extra = dict((rollout_config.engine_kwargs or {}).get(NAME) or {})
    unknown = sorted(set(extra) - set(ENGINE_KWARGS))
    if unknown:
        raise ValueError(
            f"actor_rollout_ref.rollout.engine_kwargs.{NAME}: unknown keys {unknown}; known: {', '.join(ENGINE_KWARGS)}"
        )
    num_threads = extra.get("num_threads")
    if num_threads is None and device == "cpu":
        num_threads = os.cpu_count()
    return {
        "device": device,
        "dtype": str(rollout_config.dtype),
        "prompt_length": int(rollout_config.prompt_length),
        "response_length": int(rollout_config.response_length),
        "max_model_len": rollout_config.max_model_len,
        "max_batch_size": int(extra.get("max_batch_size") or rollout_config.max_num_seqs),
        "batch_wait_s": float(extra.get("batch_wait_ms", 5)) / 1000.0,
        "num_threads": num_threads,
        "attn_implementation": extra.get("attn_implementation", "sdpa"),
        "weights_log": extra.get("weights_log"),
        "seed": int(rollout_config.seed) if getattr(rollout_config, "seed", None) is not None else None,
    }


class HFReplica(RolloutReplica):
    """One ``tl_hf`` server per replica (see the module docstring)."""

    def rollout_worker_use_gpu(self) -> bool:
        return get_device_name() != "cpu"

    async def launch_servers(self):
        kind = "reward" if self.is_reward_model else "teacher" if self.is_teacher_model else ""
        name = server_actor_name(self.replica_rank, kind, self.name_suffix)
        device = get_device_name()
        options = {"name": name, "num_cpus": 0, "num_gpus": 0, "max_concurrency": self.max_concurrency}
        env_vars = {}
        if self.workers:  # on the node (and device) of the replica's first worker
            node_id, accelerators = await self.workers[0].__ray_call__.remote(
                lambda self: (ray.get_runtime_context().get_node_id(), ray.get_runtime_context().get_accelerator_ids())
            )
            options["scheduling_strategy"] = ray.util.scheduling_strategies.NodeAffinitySchedulingStrategy(
                node_id=node_id, soft=False
            )
            gpu_ids = accelerators.get("GPU") or []
            if device == "cuda" and gpu_ids:
                env_vars["CUDA_VISIBLE_DEVICES"] = ",".join(str(i) for i in gpu_ids[: self.world_size])
                env_vars["RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES"] = "1"
        if env_vars:
            options["runtime_env"] = {"env_vars": env_vars}
        kwargs = server_options(self.config, device)
        model_config = omega_conf_to_dataclass(self.model_config, dataclass_type=HFModelConfig)
        logger.info("tl_hf: starting %s for %s (%s)", name, model_config.local_path, kwargs)
        server = (
            ray.remote(HFGenerationServer)
            .options(**options)
            .remote(model_config.local_path, trust_remote_code=bool(model_config.trust_remote_code), **kwargs)
        )
        await server.get_stats.remote()  # the model is loaded: fail here, not at the first request
        self.servers = [server]
        self._server_handle = server
        # verl keys its load balancer by address; the server speaks only Ray, not HTTP
        self._server_address = f"{name}.ray"


class HFServerAdapter(BaseRollout):
    """The trainer-side end of ``tl_hf``: forwards the actor's weights to the replica's server."""

    def __init__(self, config, model_config, device_mesh, replica_rank: int = -1):
        super().__init__(config, model_config, device_mesh)
        rank = int(os.environ.get("RANK", 0))
        world = (
            self.config.tensor_model_parallel_size
            * self.config.data_parallel_size
            * self.config.pipeline_model_parallel_size
        )
        self.replica_rank = rank // world if replica_rank == -1 else replica_rank
        self.is_sender = rank % world == 0
        self._server = None

    def _server_handle(self):
        if self._server is None:
            self._server = ray.get_actor(server_actor_name(self.replica_rank))
        return self._server

    async def resume(self, tags: list[str]):
        return None  # weights and cache stay resident

    async def release(self):
        return None

    @torch.no_grad()
    async def update_weights(
        self,
        weights,
        global_steps: int | None = None,
        wire_format: str = "named_tensors",
        peft_config=None,
        **kwargs,
    ):
        if wire_format != "named_tensors":
            raise NotImplementedError(
                f"rollout {NAME} takes full tensors (wire_format='named_tensors'), "
                f"got {wire_format!r}: use checkpoint_engine.backend=naive"
            )
        if peft_config is not None:
            raise NotImplementedError(
                f"rollout {NAME} loads merged weights only: set actor_rollout_ref.model.lora.merge=true for LoRA"
            )
        from verl.workers.rollout.utils import ensure_async_iterator

        state = {}
        # every rank drains the generator: FSDP gathers each full tensor collectively
        async for name, tensor in ensure_async_iterator(weights):
            if self.is_sender:
                state[name] = tensor.detach().to("cpu", copy=True)
        if not self.is_sender:
            return None
        info = await self._server_handle().load_weights.remote(state, global_steps=global_steps)
        logger.info(
            "tl_hf: loaded %d tensors into %s in %.2fs (step %s)",
            info["tensors"],
            server_actor_name(self.replica_rank),
            info["seconds"],
            global_steps,
        )
        return None

    def generate_sequences(self, prompts):
        raise NotImplementedError(f"rollout {NAME} serves verl's agent loops (async server mode) only")


def register() -> None:
    """Make ``actor_rollout_ref.rollout.name=tl_hf`` known to verl (both of its tables)."""
    from verl.workers.rollout import base, replica

    replica.RolloutReplicaRegistry.register(NAME, lambda: HFReplica)
    base._ROLLOUT_REGISTRY[(NAME, "async")] = f"{__name__}.HFServerAdapter"
