"""Hugging Face transformers generation backend: any causal LM, on CPU or one GPU.

The slow but dependency-free backend: it runs wherever verl's transformers does (CPU smoke runs,
tests, small evaluations, GGUF checkpoints via ``gguf_file``). Prompts are rendered with the
tokenizer's own chat template, so a model sees the same text as in verl rollouts; completions are
decoded the way verl decodes responses for rewards (``skip_special_tokens=True``).

    backend = HFBackend("Qwen/Qwen2.5-0.5B-Instruct", dtype="bfloat16", batch_size=16)
    answers = backend.generate([Prompt([{"role": "user", "content": "Hi"}])], SamplingConfig())
    backend.close()
"""

from __future__ import annotations

import gc
from collections.abc import Sequence

import torch
from tqdm import tqdm
from transformers import AutoModelForCausalLM, AutoTokenizer

from tl_plugin.generation import Prompt, SamplingConfig, render_prompt

__all__ = ["HFBackend"]

_DTYPES = {"auto": "auto", "float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def _as_id_list(ids) -> list[int]:
    if ids is None:
        return []
    return [int(ids)] if isinstance(ids, int) else [int(i) for i in ids]


class HFBackend:
    """Batched ``model.generate`` with left padding; see :class:`tl_plugin.generation.GenerationBackend`.

    ``gguf_file`` names a GGUF file inside ``model_path`` (dequantised on load; needs the ``gguf``
    package); the tokenizer comes from it too unless ``tokenizer_path`` is given.
    ``device="auto"`` picks CUDA when available, else CPU. ``chat_template_kwargs`` go to
    ``apply_chat_template`` (e.g. ``{"enable_thinking": False}``). Decoding settings not named
    in :class:`SamplingConfig` (e.g. ``repetition_penalty``) come from the model's
    ``generation_config``.
    """

    def __init__(
        self,
        model_path: str,
        tokenizer_path: str | None = None,
        gguf_file: str | None = None,
        dtype: str = "auto",
        device: str = "auto",
        batch_size: int = 8,
        chat_template_kwargs: dict | None = None,
        trust_remote_code: bool = False,
    ):
        if dtype not in _DTYPES:
            raise ValueError(f"HFBackend: dtype must be one of {sorted(_DTYPES)}, got {dtype!r}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"HFBackend: batch_size must be an integer >= 1, got {batch_size!r}")
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        load_kwargs = {"trust_remote_code": trust_remote_code}
        if gguf_file is not None:
            load_kwargs["gguf_file"] = gguf_file
        # A separate tokenizer_path is an ordinary tokenizer folder, even for a GGUF model.
        tokenizer_kwargs = {"trust_remote_code": trust_remote_code} if tokenizer_path else load_kwargs

        self.tokenizer = AutoTokenizer.from_pretrained(tokenizer_path or model_path, **tokenizer_kwargs)
        # Left padding keeps every prompt's last token at the end of the row, where generation starts.
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = AutoModelForCausalLM.from_pretrained(model_path, dtype=_DTYPES[dtype], **load_kwargs)
        self.model.to(device).eval()
        self.device = torch.device(device)
        self.batch_size = batch_size
        self.chat_template_kwargs = dict(chat_template_kwargs or {})
        # Chat templates end a turn with their own token (Qwen: <|im_end|>), which the model's
        # generation_config may list next to the tokenizer's eos; stop at any of them.
        stop = _as_id_list(self.tokenizer.eos_token_id)
        stop += _as_id_list(self.model.generation_config.eos_token_id)
        self.stop_token_ids = list(dict.fromkeys(stop))
        if not self.stop_token_ids:
            raise ValueError(f"HFBackend: neither tokenizer nor model of {model_path!r} names an eos token")

    def render(self, prompt: Prompt) -> str:
        """The prompt text: the chat template with the generation prompt, call arguments as dicts."""
        return render_prompt(self.tokenizer, prompt, self.chat_template_kwargs)

    def generate(self, prompts: Sequence[Prompt], sampling: SamplingConfig) -> list[list[str]]:
        """For each prompt, in prompt order, ``sampling.n`` completions (new tokens only)."""
        if self.model is None:
            raise RuntimeError("HFBackend.generate called after close()")
        token_ids = [self.tokenizer(self.render(p), add_special_tokens=False)["input_ids"] for p in prompts]
        # Longest first, so each batch holds similar lengths (less padding) and memory
        # problems show up in the first batch; results go back to input order below.
        order = sorted(range(len(prompts)), key=lambda i: -len(token_ids[i]))
        gen_kwargs = {
            "max_new_tokens": sampling.max_new_tokens,
            "do_sample": not sampling.greedy,
            "num_return_sequences": sampling.n,
            "pad_token_id": self.tokenizer.pad_token_id,
            "eos_token_id": self.stop_token_ids,
        }
        if not sampling.greedy:
            gen_kwargs.update(temperature=sampling.temperature, top_p=sampling.top_p, top_k=sampling.top_k)

        results: list[list[str] | None] = [None] * len(prompts)
        torch.manual_seed(sampling.seed)
        bar = tqdm(total=len(prompts), desc="generate", unit="prompt", disable=None)
        with torch.inference_mode(), bar:
            for start in range(0, len(order), self.batch_size):
                batch = order[start : start + self.batch_size]
                inputs = self.tokenizer.pad(
                    {"input_ids": [token_ids[i] for i in batch]}, padding=True, return_tensors="pt"
                ).to(self.device)
                output = self.model.generate(**inputs, **gen_kwargs)
                new_tokens = output[:, inputs["input_ids"].shape[1] :].tolist()
                for row, i in enumerate(batch):
                    # A finished sequence is padded after its stop token; decoding drops the pad
                    # and any special stop token, as verl's reward decoding does.
                    results[i] = self.tokenizer.batch_decode(
                        new_tokens[row * sampling.n : (row + 1) * sampling.n], skip_special_tokens=True
                    )
                bar.update(len(batch))
        return results

    def close(self) -> None:
        """Free the model (and cached GPU memory); ``generate`` raises afterwards."""
        if self.model is None:
            return
        self.model = None
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
