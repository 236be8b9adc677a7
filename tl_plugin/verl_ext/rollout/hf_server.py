"""A token-in, token-out generation server on Hugging Face ``transformers``: the engine behind
verl rollout ``tl_hf`` (:mod:`tl_plugin.verl_ext.rollout.backend` puts it in a Ray actor).

It imports neither verl nor Ray, so it runs and is tested on any machine with torch and
transformers (CPU, or a CUDA device for architectures vLLM does not support).

Requests arrive one per sample, concurrently (verl's agent-loop workers send each trajectory's
turns on their own). :meth:`HFGenerationServer.generate` queues a request and awaits it; a single
background task takes every request waiting at that moment (up to ``max_batch_size``) as one
batch, left-pads it, and decodes it with a KV cache in a worker thread, so the event loop keeps
accepting requests meanwhile. Each row keeps its own sampling parameters (temperature, top-p,
top-k, repetition penalty, seed, max tokens, stop tokens) and leaves the batch when it stops, and
the cache shrinks with it. Requests that arrive during a batch form the next one.

What comes back is verl's ``TokenOutput`` (a stand-in with the same fields where verl is not
installed): the new token ids, up to and including the end-of-sequence token; and, when
``logprobs`` is asked, each token's log-probability under ``softmax(logits / temperature)``,
which is what verl's actor computes for the same tokens (top-k / top-p only choose the token).

Weights are replaced with :meth:`load_weights` (verl's weight sync after every step); it waits
for the running batch, checks the names against the model (a tied ``lm_head.weight`` may be
absent), and copies the tensors in place.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import torch

__all__ = ["HFGenerationServer", "WeightLoadError", "token_output", "weights_checksum"]

logger = logging.getLogger(__name__)

_DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "float": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
    "half": torch.float16,
    "auto": None,
}


class WeightLoadError(ValueError):
    """The weights offered do not fit the server's model (unknown, missing or misshapen names)."""


def token_output(**fields):
    """verl's ``TokenOutput`` when verl is installed, else a plain object with the same fields."""
    try:
        from verl.workers.rollout.replica import TokenOutput
    except ImportError:  # a GPU box with torch + transformers only
        return _TokenOutput(**fields)
    return TokenOutput(**fields)


@dataclass
class _TokenOutput:
    token_ids: list
    log_probs: list | None = None
    routed_experts: Any = None
    stop_reason: str | None = None
    num_preempted: int | None = None
    extra_fields: dict = field(default_factory=dict)


def weights_checksum(named_tensors: Iterable[tuple[str, torch.Tensor]]) -> str:
    """sha256 over ``(name, float32 bytes)`` in name order: the same value for the same weights
    wherever they live (actor checkpoint, rollout server), whatever their device."""
    digest = hashlib.sha256()
    for name, tensor in sorted(named_tensors, key=lambda item: item[0]):
        digest.update(name.encode())
        digest.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return digest.hexdigest()


@dataclass
class _Request:
    prompt_ids: list
    max_tokens: int
    temperature: float
    top_p: float
    top_k: int
    repetition_penalty: float
    logprobs: bool
    stop_ids: frozenset
    seed: int | None
    future: asyncio.Future
    out_ids: list = field(default_factory=list)
    out_logprobs: list = field(default_factory=list)
    stop_reason: str | None = None


class HFGenerationServer:
    """Batched generation with ``transformers`` for verl's agent loops (module docstring).

    Args:
        model_path: a Hugging Face model folder (verl passes the actor's ``model.path``).
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``...
        dtype: ``float32`` / ``bfloat16`` / ``float16`` / ``auto`` (the checkpoint's).
        prompt_length, response_length: verl's ``data.max_prompt_length`` / ``max_response_length``;
            a request without ``max_tokens`` gets ``min(response_length, prompt_length +
            response_length - len(prompt))`` new tokens, as verl's vLLM server gives it.
        max_model_len: longest prompt + response (default ``prompt_length + response_length``).
        max_batch_size: most requests decoded together.
        batch_wait_s: how long the batcher waits for more requests after the first one arrives.
        num_threads: torch CPU threads (Ray gives actors without CPUs ``OMP_NUM_THREADS=1``).
        attn_implementation: passed to ``from_pretrained`` (``sdpa`` by default).
        weights_log: a JSON Lines file; the server appends ``{"weight_version", "global_steps",
            "checksum", "tensors", "seconds"}`` when it starts and after every weight load
            (smoke runs compare the checksum with the actor's checkpoint; it costs one pass over
            the weights, so it is off by default).
        model: an already built model instead of ``model_path`` (tests).
    """

    def __init__(
        self,
        model_path: str | None = None,
        *,
        device: str = "cpu",
        dtype: str = "float32",
        prompt_length: int = 512,
        response_length: int = 512,
        max_model_len: int | None = None,
        max_batch_size: int = 256,
        batch_wait_s: float = 0.005,
        num_threads: int | None = None,
        attn_implementation: str = "sdpa",
        trust_remote_code: bool = False,
        seed: int | None = None,
        eos_token_ids: Iterable[int] | None = None,
        weights_log: str | None = None,
        model=None,
    ):
        if num_threads:
            torch.set_num_threads(int(num_threads))
        if seed is not None:
            torch.manual_seed(int(seed))
        self.device = torch.device(device)
        if model is None:
            if model_path is None:
                raise ValueError("HFGenerationServer needs model_path or model")
            from transformers import AutoModelForCausalLM

            if dtype not in _DTYPES:
                raise ValueError(f"unknown dtype {dtype!r}; one of {sorted(_DTYPES)}")
            model = AutoModelForCausalLM.from_pretrained(
                model_path,
                dtype=_DTYPES[dtype] or "auto",
                attn_implementation=attn_implementation,
                trust_remote_code=trust_remote_code,
            )
        self.model = model.to(self.device).eval()
        self.prompt_length, self.response_length = int(prompt_length), int(response_length)
        self.max_model_len = int(max_model_len or (self.prompt_length + self.response_length))
        self.max_batch_size = int(max_batch_size)
        self.batch_wait_s = float(batch_wait_s)
        self.eos_token_ids = frozenset(eos_token_ids if eos_token_ids is not None else self._model_eos_ids(model_path))
        self.pad_token_id = self._pad_id()
        self.vocab_size = int(self.model.get_input_embeddings().num_embeddings)
        self.global_steps: int | None = None
        self.weight_version = 0
        self.stats = {"batches": 0, "requests": 0, "new_tokens": 0, "decode_s": 0.0}
        self.weights_log = weights_log
        self._log_weights({"tensors": 0, "seconds": 0.0})

        self._pending: list[_Request] = []
        self._wakeup: asyncio.Event | None = None
        self._batcher: asyncio.Task | None = None
        self._resume = None  # asyncio.Event, created on first use inside the running loop
        self._paused = False
        self._abort = False
        # one thread: generation batches and weight loads run one after the other, never together
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tl-hf-gen")

    # ---------------------------------------------------------------------------------------
    # set-up helpers
    # ---------------------------------------------------------------------------------------

    def _model_eos_ids(self, model_path) -> set:
        ids: set = set()
        for source in (getattr(self.model, "generation_config", None), self.model.config):
            value = getattr(source, "eos_token_id", None) if source is not None else None
            if value is not None:
                ids.update(value if isinstance(value, (list, tuple)) else [value])
        if model_path is not None:
            try:
                from transformers import AutoTokenizer

                tok = AutoTokenizer.from_pretrained(model_path)
                if tok.eos_token_id is not None:
                    ids.add(tok.eos_token_id)
            except (OSError, ValueError):  # a model folder without a tokenizer
                pass
        return ids

    def _pad_id(self) -> int:
        pad = getattr(self.model.config, "pad_token_id", None)
        if pad is None and self.eos_token_ids:
            pad = min(self.eos_token_ids)
        return int(pad or 0)

    # ---------------------------------------------------------------------------------------
    # generation
    # ---------------------------------------------------------------------------------------

    async def generate(
        self, prompt_ids, sampling_params: dict, request_id: str = "", image_data=None, video_data=None, **kwargs
    ):
        """verl's server call: new tokens for ``prompt_ids`` as a ``TokenOutput``.

        ``sampling_params``: ``temperature`` (0 = greedy), ``top_p``, ``top_k`` (-1 or 0 = off),
        ``repetition_penalty``, ``logprobs``, ``max_tokens`` (or ``max_new_tokens``), ``seed``,
        ``ignore_eos``, ``stop_token_ids``. Raises ``ValueError`` for an empty prompt, a prompt
        that leaves no room under ``max_model_len``, or images/videos (text models only).
        ``max_tokens=0`` returns no tokens at once.
        """
        if image_data is not None or video_data is not None:
            raise ValueError("rollout tl_hf serves text-only models: this request carries images or videos")
        prompt_ids = [int(t) for t in (prompt_ids.tolist() if hasattr(prompt_ids, "tolist") else prompt_ids)]
        if not prompt_ids:
            raise ValueError(f"request {request_id!r}: empty prompt (no token ids)")
        bad = [t for t in prompt_ids if not 0 <= t < self.vocab_size]
        if bad:  # on CUDA an out-of-range id would be a device-side assert that breaks the whole process
            raise ValueError(
                f"request {request_id!r}: token id {bad[0]} outside the model's vocabulary (0..{self.vocab_size - 1})"
            )
        room = self.max_model_len - len(prompt_ids)
        if room < 1:
            raise ValueError(
                f"request {request_id!r}: prompt of {len(prompt_ids)} tokens leaves no room to generate "
                f"within max_model_len={self.max_model_len}"
            )
        params = dict(sampling_params or {})
        if "max_tokens" in params:
            max_tokens = params.pop("max_tokens")
        elif "max_new_tokens" in params:
            max_tokens = params.pop("max_new_tokens")
        else:
            max_tokens = min(self.response_length, self.prompt_length + self.response_length - len(prompt_ids))
        max_tokens = max(0, min(int(max_tokens), room))
        extra = {"global_steps": self.global_steps, "weight_version": self.weight_version}
        if max_tokens == 0:
            return token_output(
                token_ids=[],
                log_probs=[] if params.get("logprobs") else None,
                stop_reason="completed",
                extra_fields=extra,
            )
        if self._paused:  # held until resume_generation, as verl's vLLM server parks them
            await self._resume_event().wait()

        temperature = float(params.get("temperature", 1.0) or 0.0)
        top_k = int(params.get("top_k", -1) or -1)
        stop_ids = set() if params.get("ignore_eos") else set(self.eos_token_ids)
        stop_ids.update(int(t) for t in params.get("stop_token_ids") or ())
        loop = asyncio.get_running_loop()
        request = _Request(
            prompt_ids=prompt_ids,
            max_tokens=max_tokens,
            temperature=max(temperature, 0.0),
            top_p=float(params.get("top_p", 1.0) if params.get("top_p") is not None else 1.0),
            top_k=top_k if top_k > 0 else -1,
            repetition_penalty=float(params.get("repetition_penalty", 1.0) or 1.0),
            logprobs=bool(params.get("logprobs")),
            stop_ids=frozenset(stop_ids),
            seed=None if params.get("seed") is None else int(params["seed"]),
            future=loop.create_future(),
        )
        self._pending.append(request)
        self._ensure_batcher()
        await request.future
        return token_output(
            token_ids=request.out_ids,
            log_probs=request.out_logprobs if request.logprobs else None,
            stop_reason=request.stop_reason,
            # the weights the batch ran with (a sync waits for the batch to end)
            extra_fields={"global_steps": self.global_steps, "weight_version": self.weight_version},
        )

    def _ensure_batcher(self):
        if self._wakeup is None:
            self._wakeup = asyncio.Event()
        self._wakeup.set()
        if self._batcher is None or self._batcher.done():
            self._batcher = asyncio.get_running_loop().create_task(self._batch_loop())

    async def _batch_loop(self):
        loop = asyncio.get_running_loop()
        while self._pending:
            if self.batch_wait_s > 0:  # let the requests sent together arrive together
                await asyncio.sleep(self.batch_wait_s)
            batch, self._pending = self._pending[: self.max_batch_size], self._pending[self.max_batch_size :]
            if not batch:  # abort_all_requests emptied the queue while the batcher waited
                continue
            try:
                await loop.run_in_executor(self._executor, self._decode, batch)
            except Exception as exc:  # a failed batch fails its requests, never the server
                logger.exception("tl_hf: batch of %d requests failed", len(batch))
                for request in batch:
                    if not request.future.done():
                        request.future.set_exception(exc)
                continue
            for request in batch:
                if not request.future.done():
                    request.future.set_result(None)

    @torch.no_grad()
    def _decode(self, batch: list[_Request]) -> None:
        """Decode ``batch`` to completion (worker thread)."""
        start = time.perf_counter()
        dev = self.device
        n = len(batch)
        lengths = [len(r.prompt_ids) for r in batch]
        width = max(lengths)
        input_ids = torch.full((n, width), self.pad_token_id, dtype=torch.long)
        attention = torch.zeros((n, width), dtype=torch.long)
        for i, r in enumerate(batch):  # left padding: every row's next token is in the last column
            input_ids[i, width - lengths[i] :] = torch.tensor(r.prompt_ids)
            attention[i, width - lengths[i] :] = 1
        input_ids, attention = input_ids.to(dev), attention.to(dev)
        position = (attention.cumsum(-1) - 1).clamp(min=0)

        temperature = torch.tensor([r.temperature for r in batch], dtype=torch.float32, device=dev)
        greedy = temperature <= 0
        top_k = torch.tensor([r.top_k for r in batch], device=dev)
        top_p = torch.tensor([r.top_p for r in batch], dtype=torch.float32, device=dev)
        penalty = torch.tensor([r.repetition_penalty for r in batch], dtype=torch.float32, device=dev)
        generators = [self._generator(r.seed) for r in batch]
        # the tokens a repetition penalty applies to: a row's own, not its padding (a pad position
        # repeats the row's last prompt token, which is penalised anyway)
        seen = torch.where(attention.bool(), input_ids, input_ids[:, -1:]) if bool((penalty != 1.0).any()) else None

        from transformers import DynamicCache

        cache = DynamicCache()
        active = list(range(n))  # batch rows still decoding, in cache order
        logits = (
            self.model(
                input_ids=input_ids,
                attention_mask=attention,
                position_ids=position,
                past_key_values=cache,
                use_cache=True,
            )
            .logits[:, -1, :]
            .float()
        )
        next_pos = position[:, -1] + 1
        new_tokens = 0
        want_logprobs = any(r.logprobs for r in batch)
        while True:
            chosen, logprob = self._sample(
                logits, temperature, greedy, top_k, top_p, penalty, seen, generators, want_logprobs
            )
            chosen_list = chosen.tolist()
            logprob_list = logprob.tolist() if want_logprobs else None
            keep = []
            for j, i in enumerate(active):
                r = batch[i]
                token = chosen_list[j]
                r.out_ids.append(token)
                if r.logprobs:
                    r.out_logprobs.append(logprob_list[j])
                new_tokens += 1
                if self._abort:
                    r.stop_reason = "aborted"
                elif token in r.stop_ids or len(r.out_ids) >= r.max_tokens:
                    r.stop_reason = "completed"
                else:
                    keep.append(j)
            if not keep:
                break
            if len(keep) < len(active):  # finished rows leave the batch and the cache
                index = torch.tensor(keep, device=dev)
                cache.batch_select_indices(index)
                attention, next_pos, chosen = attention[index], next_pos[index], chosen[index]
                # the per-row settings follow the rows, once per departure rather than every token
                temperature, greedy, top_k, top_p, penalty = (
                    t[index] for t in (temperature, greedy, top_k, top_p, penalty)
                )
                if seen is not None:
                    seen = seen[index]
                generators = [generators[j] for j in keep]
                active = [active[j] for j in keep]
            attention = torch.cat([attention, attention.new_ones((len(active), 1))], dim=-1)
            step_ids = chosen.view(-1, 1)
            if seen is not None:
                seen = torch.cat([seen, step_ids], dim=-1)
            logits = (
                self.model(
                    input_ids=step_ids,
                    attention_mask=attention,
                    position_ids=next_pos.view(-1, 1),
                    past_key_values=cache,
                    use_cache=True,
                )
                .logits[:, -1, :]
                .float()
            )
            next_pos = next_pos + 1
        self.stats["batches"] += 1
        self.stats["requests"] += n
        self.stats["new_tokens"] += new_tokens
        self.stats["decode_s"] += time.perf_counter() - start

    def _generator(self, seed):
        if seed is None:
            return None
        gen = torch.Generator(device=self.device)
        gen.manual_seed(seed)
        return gen

    @staticmethod
    def _sample(logits, temperature, greedy, top_k, top_p, penalty, seen, generators, want_logprobs=True):
        """One token per row and (with ``want_logprobs``) its log-probability under
        ``softmax(logits / temperature)``."""
        if seen is not None and bool((penalty != 1.0).any()):
            # repetition penalty as transformers applies it: seen tokens' logits / p if > 0, else * p
            prev = torch.gather(logits, 1, seen)
            prev = torch.where(prev > 0, prev / penalty[:, None], prev * penalty[:, None])
            logits = logits.scatter(1, seen, prev)
        scaled = logits / torch.where(greedy, torch.ones_like(temperature), temperature)[:, None]
        chosen = logits.argmax(dim=-1)
        sampled = (~greedy).nonzero().flatten().tolist()
        if sampled:
            filtered = scaled[sampled]
            k, p = top_k[sampled], top_p[sampled]
            if bool((k > 0).any()) or bool((p < 1.0).any()):
                sorted_logits, order = filtered.sort(dim=-1, descending=True)
                rank = torch.arange(filtered.shape[-1], device=filtered.device)[None, :]
                drop = (k[:, None] > 0) & (rank >= k[:, None])
                probs = torch.softmax(sorted_logits, dim=-1)
                # top-p: keep the smallest prefix whose mass reaches p (the first token always stays)
                drop |= (probs.cumsum(-1) - probs) >= p[:, None]
                sorted_logits = sorted_logits.masked_fill(drop, float("-inf"))
                filtered = torch.full_like(filtered, float("-inf")).scatter(1, order, sorted_logits)
            probs = torch.softmax(filtered, dim=-1)
            if all(generators[row] is None for row in sampled):  # one draw for the whole batch
                chosen[sampled] = torch.multinomial(probs, 1).squeeze(1)
            else:  # a seeded row draws from its own generator
                chosen[sampled] = torch.cat(
                    [torch.multinomial(probs[j], 1, generator=generators[row]) for j, row in enumerate(sampled)]
                )
        if not want_logprobs:
            return chosen, None
        return chosen, torch.log_softmax(scaled, dim=-1).gather(1, chosen[:, None]).squeeze(1)

    # ---------------------------------------------------------------------------------------
    # weights
    # ---------------------------------------------------------------------------------------

    def load_state_dict(self, named_tensors, global_steps: int | None = None) -> dict:
        """Copy ``named_tensors`` (a dict or ``(name, tensor)`` pairs, Hugging Face names) into the
        model in place. Every weight must be given once (a tied ``lm_head.weight`` may be left out);
        an unknown or missing name or a wrong shape raises :class:`WeightLoadError` before anything
        is copied. Returns ``{"tensors", "seconds", "checksum"}``."""
        start = time.perf_counter()
        items = list(named_tensors.items() if isinstance(named_tensors, dict) else named_tensors)
        params = dict(self.model.named_parameters(remove_duplicate=False))
        buffers = dict(self.model.named_buffers())
        targets = {**buffers, **params}
        tied = self._tied_names()
        given = {}
        unknown = []
        for name, tensor in items:
            if name in targets:
                given[name] = tensor
            else:
                unknown.append(name)
        if unknown:
            raise WeightLoadError(
                f"weights the rollout model does not have: {sorted(unknown)[:8]}"
                f"{' ...' if len(unknown) > 8 else ''} ({len(unknown)} in all)"
            )
        missing = sorted(name for name in params if name not in given and name not in tied)
        if missing:
            raise WeightLoadError(
                f"weights missing from the update: {missing[:8]}{' ...' if len(missing) > 8 else ''} "
                f"({len(missing)} of {len(params)})"
            )
        wrong = [
            f"{n}: got {tuple(t.shape)}, model has {tuple(targets[n].shape)}"
            for n, t in given.items()
            if tuple(t.shape) != tuple(targets[n].shape)
        ]
        if wrong:
            raise WeightLoadError(f"weights of the wrong shape: {wrong[:5]}")
        with torch.no_grad():
            for name, tensor in given.items():
                targets[name].copy_(tensor.to(targets[name].device, targets[name].dtype))
        self.weight_version += 1
        if global_steps is not None:
            self.global_steps = global_steps
        return self._log_weights({"tensors": len(given), "seconds": time.perf_counter() - start})

    def _log_weights(self, info: dict) -> dict:
        if self.weights_log:
            from data_transforms.io import append_jsonl

            info = {
                "weight_version": self.weight_version,
                "global_steps": self.global_steps,
                "checksum": self.checksum(),
                **info,
            }
            append_jsonl([info], self.weights_log)
        return info

    def _tied_names(self) -> set:
        """Parameter names that share storage with another (tied embeddings): either may be omitted."""
        by_ptr: dict = {}
        for name, p in self.model.named_parameters(remove_duplicate=False):
            by_ptr.setdefault(p.data_ptr(), []).append(name)
        return {name for names in by_ptr.values() if len(names) > 1 for name in names[1:]}

    async def load_weights(self, named_tensors, global_steps: int | None = None) -> dict:
        """:meth:`load_state_dict` after the running batch (never in the middle of one)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.load_state_dict, named_tensors, global_steps)

    def checksum(self) -> str:
        """:func:`weights_checksum` of the model's weights (each tied tensor once, under its first name)."""
        return weights_checksum(self.model.named_parameters())

    # ---------------------------------------------------------------------------------------
    # verl's control calls: weights stay resident, there is no KV cache between requests
    # ---------------------------------------------------------------------------------------

    def _resume_event(self) -> asyncio.Event:
        if self._resume is None:
            self._resume = asyncio.Event()
            self._resume.set()
        return self._resume

    async def abort_all_requests(self, reset_prefix_cache: bool = True, reject_request: bool = False) -> dict:
        """Stop every running and waiting request (they return ``stop_reason="aborted"`` with the
        tokens made so far); new requests wait until :meth:`resume_generation`."""
        self._paused = True
        self._resume_event().clear()
        waiting, self._pending = self._pending, []
        for request in waiting:
            request.stop_reason = "aborted"
            if not request.future.done():
                request.future.set_result(None)
        self._abort = True
        # the running batch sees the flag at its next token; wait for it to end
        await asyncio.get_running_loop().run_in_executor(self._executor, lambda: None)
        self._abort = False
        return {"aborted_count": len(waiting), "request_ids": []}

    async def resume_generation(self):
        self._paused = False
        self._resume_event().set()

    async def abort_request(self, request_id: str, reset_prefix_cache: bool = True) -> dict:
        return {"aborted": False, "request_id": request_id, "error": "tl_hf aborts all requests only"}

    async def wait_for_requests_to_drain(self):
        while self._pending or (self._batcher is not None and not self._batcher.done()):
            await asyncio.sleep(0.01)

    async def set_global_steps(self, global_steps: int):
        self.global_steps = global_steps

    async def wake_up(self, tags=None):
        return None

    async def sleep(self):
        return None

    async def clear_kv_cache(self):
        return None

    async def release_kv_cache(self):
        return None

    async def resume_kv_cache(self):
        return None

    async def start_profile(self, **kwargs):
        return None

    async def stop_profile(self):
        return None

    async def get_stats(self) -> dict:
        return dict(
            self.stats,
            weight_version=self.weight_version,
            global_steps=self.global_steps,
            threads=torch.get_num_threads(),
            device=str(self.device),
            pid=os.getpid(),
        )

    async def get_checksum(self) -> str:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.checksum)
