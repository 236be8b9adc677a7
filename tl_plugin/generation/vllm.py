"""vLLM offline-engine generation backend: fast batched sampling on one or more GPUs.

vLLM is an optional GPU extra (``pip install tl-plugin[gpu]``) and is imported only when a
:class:`VLLMBackend` is built, so this module imports anywhere. Prompts are rendered with the
engine tokenizer's chat template by :func:`tl_plugin.generation.render_prompt`, the same text
:class:`~tl_plugin.generation.hf.HFBackend` feeds its model; completions are decoded by vLLM with
``skip_special_tokens=True``, as verl decodes responses for rewards.

    backend = VLLMBackend("Qwen/Qwen2.5-7B-Instruct", tensor_parallel_size=2)
    answers = backend.generate(prompts, SamplingConfig(n=8, temperature=1.0, max_new_tokens=1024))
    backend.close()
"""

from __future__ import annotations

import gc
from collections.abc import Sequence

from tl_plugin.generation import Prompt, SamplingConfig, render_prompt

__all__ = ["VLLMBackend"]


class VLLMBackend:
    """``vllm.LLM.generate`` over rendered prompts; see :class:`tl_plugin.generation.GenerationBackend`.

    The constructor arguments go to ``vllm.LLM`` (``tokenizer_path=None``: the model's own
    tokenizer). ``chat_template_kwargs`` go to ``apply_chat_template`` (e.g.
    ``{"enable_thinking": False}``). Decoding settings not named in
    :class:`~tl_plugin.generation.SamplingConfig` keep vLLM's ``SamplingParams`` defaults; the
    model's generation_config still adds its eos tokens as stop tokens.
    """

    def __init__(
        self,
        model_path: str,
        tokenizer_path: str | None = None,
        dtype: str = "auto",
        tensor_parallel_size: int = 1,
        gpu_memory_utilization: float = 0.9,
        max_model_len: int | None = None,
        enforce_eager: bool = False,
        chat_template_kwargs: dict | None = None,
        trust_remote_code: bool = False,
    ):
        try:
            import vllm
        except ImportError as exc:
            raise ImportError(
                "VLLMBackend needs vLLM, an optional GPU dependency: pip install tl-plugin[gpu] (or pip install vllm)"
            ) from exc
        self._vllm = vllm
        self.llm = vllm.LLM(
            model=model_path,
            tokenizer=tokenizer_path,
            dtype=dtype,
            tensor_parallel_size=tensor_parallel_size,
            gpu_memory_utilization=gpu_memory_utilization,
            max_model_len=max_model_len,
            enforce_eager=enforce_eager,
            trust_remote_code=trust_remote_code,
        )
        self.tokenizer = self.llm.get_tokenizer()
        self.chat_template_kwargs = dict(chat_template_kwargs or {})

    def render(self, prompt: Prompt) -> str:
        """The prompt text, exactly as :meth:`tl_plugin.generation.hf.HFBackend.render` gives it."""
        return render_prompt(self.tokenizer, prompt, self.chat_template_kwargs)

    def sampling_params(self, sampling: SamplingConfig):
        """``sampling`` as ``vllm.SamplingParams`` (temperature 0 is vLLM's greedy, top_k -1 is off)."""
        return self._vllm.SamplingParams(
            n=sampling.n,
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            top_k=sampling.top_k if sampling.top_k > 0 else -1,
            max_tokens=sampling.max_new_tokens,
            seed=sampling.seed,
        )

    def generate(self, prompts: Sequence[Prompt], sampling: SamplingConfig) -> list[list[str]]:
        """For each prompt, in prompt order, ``sampling.n`` completions in vLLM's output-index order."""
        if self.llm is None:
            raise RuntimeError("VLLMBackend.generate called after close()")
        if not prompts:
            return []
        # Rendered here rather than through LLM.chat: LLM.chat takes one tools list for all
        # conversations, and each prompt may list its own tools. Token ids, as LLM.chat hands
        # them over: a text prompt would be tokenized with special tokens added, and templates
        # that write the bos token themselves (Llama 3) would get it twice.
        inputs = [
            {"prompt_token_ids": self.tokenizer(self.render(p), add_special_tokens=False)["input_ids"]} for p in prompts
        ]
        outputs = self.llm.generate(inputs, self.sampling_params(sampling), use_tqdm=True)
        if len(outputs) != len(prompts):
            raise RuntimeError(f"VLLMBackend: vLLM answered {len(outputs)} of {len(prompts)} prompts")
        return [[o.text for o in sorted(out.outputs, key=lambda o: o.index)] for out in outputs]

    def close(self) -> None:
        """Free the engine (and cached GPU memory); ``generate`` raises afterwards."""
        if self.llm is None:
            return
        self.llm = None
        gc.collect()
        try:
            import torch
        except ImportError:  # pragma: no cover - vLLM brings torch
            return
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
