"""Tiny real parts for tests and CPU smoke runs: a BPE tokenizer trained on the spot.

Nothing can be downloaded at run time, so tests build a real byte-level BPE tokenizer in about a
second with ``tokenizers`` and give it one of the repo's tool chat templates: the Qwen2.5-style one
(``tl_plugin/data/qwen2_5_tool_template.jinja``, the default) or the Llama-3.1-style one
(``tl_plugin/data/llama3_1_tool_template.jinja``), the latter with Llama 3's special tokens and
pre-tokenizer.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

CHAT_TEMPLATE = resources.files("tl_plugin") / "data" / "qwen2_5_tool_template.jinja"
LLAMA_CHAT_TEMPLATE = resources.files("tl_plugin") / "data" / "llama3_1_tool_template.jinja"
TEMPLATES = ("qwen2.5", "llama3.1")
# Qwen2Config sizes of the smallest model the tests train or load (tl_plugin.cli.smoke.build_tiny_model)
TINY_QWEN = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "num_key_value_heads": 1,
}
# Two layers and larger random weights (the next token depends on the prompt), for tests that
# train, sample or compare log-probs: the demo, tl-evolve rounds, the rollout server
SMALL_QWEN = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 4096,
    "initializer_range": 0.1,
    "tie_word_embeddings": False,
}

_CONTROL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
_TOOL_MARKERS = ["<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>"]

# Llama 3's special tokens used by the Llama 3.1 format, in the order of their ids there
_LLAMA_BOS, _LLAMA_EOS, _LLAMA_PAD = "<|begin_of_text|>", "<|eot_id|>", "<|finetune_right_pad_id|>"
_LLAMA_TOKENS = [
    _LLAMA_BOS,
    "<|end_of_text|>",
    _LLAMA_PAD,
    "<|start_header_id|>",
    "<|end_header_id|>",
    "<|eom_id|>",
    _LLAMA_EOS,
    "<|python_tag|>",
]
# Llama 3's pre-tokenizer split (its tokenizer.json): unlike GPT-2's, it keeps a run of newlines in
# one piece whatever follows, so the "\n\n" ending each header is the same token(s) in a generation
# prompt and in a rendered message
_LLAMA_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)

_CALLS = [
    {"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}},
    {"name": "search_flights", "arguments": {"origin": "SFO", "destination": "JFK", "passengers": 2}},
    {"name": "math.factorial", "arguments": {"number": 5}},
]
_QUERY = "What is the weather like in Paris today? Please answer in celsius."
_TYPES = "string integer number boolean array object dict float tuple true false null"


def _corpus() -> list[str]:
    lines = [json.dumps(c) for c in _CALLS]
    lines += [
        "You are a helpful assistant. You may call one or more functions to assist with the user query.",
        _QUERY,
        "Function signatures, one per line: name, description, parameters, properties, required, type.",
        _TYPES,
    ]
    return lines * 20


_LLAMA_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def _llama_corpus() -> list[str]:
    lines = [json.dumps({"name": c["name"], "parameters": c["arguments"]}) for c in _CALLS]
    lines += [
        "Environment: ipython\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n",
        "You have access to the following functions. To call a function, please respond with JSON for a function call.",
        "Given the following functions, please respond with a JSON for a function call "
        "with its proper arguments that best answers the given prompt.\n\n",
        'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.'
        "Do not use variables.\n\n",
        json.dumps(_LLAMA_TOOL, indent=4),  # the templates print tools this way
        "system user assistant ipython",
        _QUERY,
        '"{\\"temperature\\": 18, \\"condition\\": \\"cloudy\\"}"',
        _TYPES,
    ]
    return lines * 20


_STRING_ARGUMENTS = "{%- set args = fn.arguments if fn.arguments is string else (fn.arguments | tojson) -%}"


def build_tiny_tokenizer(
    out_dir,
    vocab_size: int = 600,
    special_tool_markers: bool = False,
    string_arguments: bool = True,
    template: str = "qwen2.5",
):
    """Train and save a byte-level BPE tokenizer with one of the repo's tool chat templates.

    ``template="qwen2.5"`` (default): ChatML control tokens and the Qwen2.5-style tool template.
    ``special_tool_markers=True`` registers ``<tool_call>``/``</tool_call>`` as *special* tokens, as
    some model families do, so ``decode(skip_special_tokens=True)`` drops them.
    ``template="llama3.1"``: Llama 3's special tokens (bos ``<|begin_of_text|>``, which encoding
    text adds in front as Llama 3's tokenizer does; eos ``<|eot_id|>``; pad
    ``<|finetune_right_pad_id|>``), Llama 3's pre-tokenizer split and the Llama-3.1-style template.
    ``string_arguments=False`` renders call arguments with ``tojson`` whatever their type, as
    Qwen2.5's and Llama 3.1's own templates do (a JSON-string argument would then be quoted a second
    time). Returns the loaded ``PreTrainedTokenizerFast``.
    """
    if template == "qwen2.5":
        fast = _qwen_tokenizer(vocab_size, special_tool_markers)
        chat_template = CHAT_TEMPLATE.read_text()
    elif template == "llama3.1":
        if special_tool_markers:
            raise ValueError("special_tool_markers applies to template='qwen2.5' only: Llama 3.1 has no tool markers")
        fast = _llama_tokenizer(vocab_size)
        chat_template = LLAMA_CHAT_TEMPLATE.read_text()
    else:
        raise ValueError(f"unknown chat template {template!r}: expected one of {', '.join(map(repr, TEMPLATES))}")
    assert _STRING_ARGUMENTS in chat_template
    if not string_arguments:
        chat_template = chat_template.replace(_STRING_ARGUMENTS, "{%- set args = fn.arguments | tojson -%}")
    fast.chat_template = chat_template
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(out_dir)
    return fast


def _bpe(vocab_size: int, special_tokens: list[str], corpus: list[str], pre_tokenizer):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizer
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=special_tokens,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus, trainer=trainer)
    return tok


def _qwen_tokenizer(vocab_size: int, special_tool_markers: bool):
    from tokenizers import pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    tok = _bpe(vocab_size, _CONTROL_TOKENS, _corpus(), pre_tokenizers.ByteLevel(add_prefix_space=False))
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=["<|im_start|>"] + (_TOOL_MARKERS[:2] if special_tool_markers else []),
    )
    if not special_tool_markers:
        fast.add_tokens(_TOOL_MARKERS[:2])
    fast.add_tokens(_TOOL_MARKERS[2:])
    return fast


def _llama_tokenizer(vocab_size: int):
    from tokenizers import Regex, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(_LLAMA_SPLIT), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok = _bpe(vocab_size, _LLAMA_TOKENS, _llama_corpus(), pre_tokenizer)
    tok.post_processor = processors.TemplateProcessing(  # as Llama 3's: a bos in front of each text
        single=f"{_LLAMA_BOS} $A",
        pair=f"{_LLAMA_BOS} $A {_LLAMA_BOS} $B:1",
        special_tokens=[(_LLAMA_BOS, tok.token_to_id(_LLAMA_BOS))],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=_LLAMA_BOS,
        eos_token=_LLAMA_EOS,
        pad_token=_LLAMA_PAD,
        additional_special_tokens=[t for t in _LLAMA_TOKENS if t not in (_LLAMA_BOS, _LLAMA_EOS, _LLAMA_PAD)],
    )


def write_united_parquet(rows: list, path) -> Path:
    """Rows of different shapes in one parquet file, their columns united as ``datasets`` writes
    them (``pa.Table.from_pylist`` alone keeps only the first row's keys)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.unify_schemas([pa.Table.from_pylist([r]).schema for r in rows], promote_options="permissive")
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
    return Path(path)
