"""Tiny real parts for tests and CPU smoke runs: a BPE tokenizer trained on the spot.

Nothing can be downloaded at run time, so tests build a real byte-level BPE tokenizer in about a
second with ``tokenizers`` and give it the repo's Qwen2.5-style tool chat template.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

CHAT_TEMPLATE = resources.files("tl_plugin") / "data" / "qwen2_5_tool_template.jinja"

_CONTROL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
_TOOL_MARKERS = ["<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>"]


def _corpus() -> list[str]:
    calls = [
        {"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}},
        {"name": "search_flights", "arguments": {"origin": "SFO", "destination": "JFK", "passengers": 2}},
        {"name": "math.factorial", "arguments": {"number": 5}},
    ]
    lines = [json.dumps(c) for c in calls]
    lines += [
        "You are a helpful assistant. You may call one or more functions to assist with the user query.",
        "What is the weather like in Paris today? Please answer in celsius.",
        "Function signatures, one per line: name, description, parameters, properties, required, type.",
        "string integer number boolean array object dict float tuple true false null",
    ]
    return lines * 20


_STRING_ARGUMENTS = "{%- set args = fn.arguments if fn.arguments is string else (fn.arguments | tojson) -%}"


def build_tiny_tokenizer(
    out_dir, vocab_size: int = 600, special_tool_markers: bool = False, string_arguments: bool = True
):
    """Train and save a byte-level BPE tokenizer with the Qwen2.5-style tool template.

    ``special_tool_markers=True`` registers ``<tool_call>``/``</tool_call>`` as *special* tokens, as
    some model families do, so ``decode(skip_special_tokens=True)`` drops them.
    ``string_arguments=False`` renders call arguments with ``tojson`` whatever their type, as
    Qwen2.5's own template does (a JSON-string argument would then be quoted a second time).
    Returns the loaded ``PreTrainedTokenizerFast``.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=_CONTROL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_corpus(), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=["<|im_start|>"] + (_TOOL_MARKERS[:2] if special_tool_markers else []),
    )
    if not special_tool_markers:
        fast.add_tokens(_TOOL_MARKERS[:2])
    fast.add_tokens(_TOOL_MARKERS[2:])
    template = CHAT_TEMPLATE.read_text()
    assert _STRING_ARGUMENTS in template
    if not string_arguments:
        template = template.replace(_STRING_ARGUMENTS, "{%- set args = fn.arguments | tojson -%}")
    fast.chat_template = template
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(out_dir)
    return fast
