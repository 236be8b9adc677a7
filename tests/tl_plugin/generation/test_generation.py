"""The generation interface and its Hugging Face backend, with a tiny random Qwen2 model on CPU.

The model is random, so its text is noise, but noise that depends on the prompt (weights are
initialised large enough): batched and one-by-one greedy decoding must agree token for token,
which fails if padding goes on the wrong side or results come back out of order. A second model
has its weights edited so one chosen token always wins, to test where generation stops.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf
from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

from tl_plugin.generation import (
    BACKENDS,
    GenerationBackend,
    Prompt,
    SamplingConfig,
    make_backend,
    sampling_config,
)
from tl_plugin.generation.hf import HFBackend
from tl_plugin.testing import TINY_QWEN, build_tiny_tokenizer

CONFIGS = Path(str(resources.files("tl_plugin") / "configs"))

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather in a city.",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    },
    {  # plain (non-OpenAI) schema: handed to the template as it is
        "name": "search_flights",
        "description": "Flights between two airports.",
        "parameters": {"type": "object", "properties": {"origin": {"type": "string"}}},
    },
]

QUESTIONS = [
    "Hi",
    "What is the weather like in Paris today? Please answer in celsius.",
    "Search flights from SFO to JFK for 2 passengers.",
    "factorial of 5",
    "You may call one or more functions to assist with the user query about the weather in Paris.",
]
PROMPTS = [Prompt([{"role": "user", "content": q}], tools=TOOLS if i % 2 else None) for i, q in enumerate(QUESTIONS)]

GREEDY = SamplingConfig(max_new_tokens=12)


def _save_model(path: Path, tok, **config_kwargs) -> Qwen2ForCausalLM:
    config = Qwen2Config(
        vocab_size=len(tok),
        **TINY_QWEN,
        architectures=["Qwen2ForCausalLM"],
        eos_token_id=tok.convert_tokens_to_ids("<|im_end|>"),
        pad_token_id=tok.pad_token_id,
        # Large random weights, so the next token depends on the prompt (at the default 0.02 the
        # tiny model says the same thing whatever it is asked, and padding bugs go unseen).
        initializer_range=0.5,
        **config_kwargs,
    )
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(config)
    model.save_pretrained(path)
    return model


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("tiny_qwen2")
    _save_model(path, build_tiny_tokenizer(path))
    return str(path)


@pytest.fixture(scope="module")
def backend(model_dir):
    hf = HFBackend(model_dir, batch_size=3, device="cpu")
    yield hf
    hf.close()


def _forced_model_dir(path: Path, token: str, extra_eos: list[str] = ()) -> tuple[str, int]:
    """A model whose greedy next token is always ``token``; ``extra_eos`` join its eos ids.

    Residual dimension 0 holds +10 for every input token and no layer writes to it, so after the
    final norm it is positive; ``token``'s lm_head row reads only that dimension, with a large
    weight, and no other row reads it.
    """
    tok = build_tiny_tokenizer(path)
    model = _save_model(path, tok)
    forced = tok.convert_tokens_to_ids(token)
    with torch.no_grad():
        model.model.embed_tokens.weight[:, 0] = 10.0
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight[0, :] = 0.0
            layer.mlp.down_proj.weight[0, :] = 0.0
        model.lm_head.weight[:, 0] = 0.0
        model.lm_head.weight[forced, :] = 0.0
        model.lm_head.weight[forced, 0] = 1000.0
    if extra_eos:
        model.generation_config.eos_token_id = [model.config.eos_token_id] + tok.convert_tokens_to_ids(list(extra_eos))
    model.save_pretrained(path)
    return str(path), forced


def _reference_generate(model_dir: str, prompts: list[Prompt], max_new_tokens: int) -> list[list[str]]:
    """What one would write by hand with transformers, one prompt at a time."""
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = Qwen2ForCausalLM.from_pretrained(model_dir).eval()
    answers = []
    for prompt in prompts:
        inputs = tok.apply_chat_template(
            prompt.messages, tools=prompt.tools, add_generation_prompt=True, return_dict=True, return_tensors="pt"
        )
        with torch.inference_mode():
            out = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
        answers.append([tok.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)])
    return answers


def _count_new_tokens(hf: HFBackend, monkeypatch) -> list[int]:
    """Record the number of new tokens per ``model.generate`` call."""
    counts, original = [], hf.model.generate

    def spy(**kwargs):
        out = original(**kwargs)
        counts.append(out.shape[1] - kwargs["input_ids"].shape[1])
        return out

    monkeypatch.setattr(hf.model, "generate", spy)
    return counts


# ---- rendering ---------------------------------------------------------------------------------


def test_render_is_the_chat_template_with_tools(backend):
    prompt = PROMPTS[1]
    text = backend.render(prompt)
    assert text == backend.tokenizer.apply_chat_template(
        prompt.messages, tools=TOOLS, add_generation_prompt=True, tokenize=False
    )
    assert "<tools>" in text and "get_weather" in text and "search_flights" in text
    assert text.endswith("<|im_start|>assistant\n")


def test_render_without_tools_has_no_tools_block(backend):
    text = backend.render(PROMPTS[0])
    assert "<tools>" not in text and "get_weather" not in text
    assert "<|im_start|>user\nHi<|im_end|>" in text


def test_render_decodes_json_string_arguments_for_tojson_templates(model_dir, tmp_path):
    """A template that renders ``arguments | tojson`` must get a dict, not the JSON string again."""
    build_tiny_tokenizer(tmp_path, string_arguments=False)
    hf = HFBackend(model_dir, tokenizer_path=str(tmp_path), device="cpu")
    call = {"type": "function", "function": {"name": "get_weather", "arguments": json.dumps({"city": "Paris"})}}
    messages = [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "content": '{"temperature": 21}'},
    ]
    text = hf.render(Prompt(messages, tools=TOOLS[:1]))
    assert '{"name": "get_weather", "arguments": {"city": "Paris"}}' in text
    assert '\\"city\\"' not in text  # no doubly encoded JSON string
    assert '<tool_response>\n{"temperature": 21}\n</tool_response>' in text
    assert isinstance(messages[1]["tool_calls"][0]["function"]["arguments"], str)  # prompt not mutated


def test_chat_template_kwargs_reach_the_template(model_dir):
    hf = HFBackend(model_dir, device="cpu", chat_template_kwargs={"greeting": "Bonjour"})
    hf.tokenizer.chat_template = "{{ greeting }}:{% for m in messages %}{{ m.content }}{% endfor %}"
    assert hf.render(PROMPTS[0]) == "Bonjour:Hi"


# ---- generation --------------------------------------------------------------------------------


def test_batched_greedy_equals_one_by_one_and_hand_written_generate(backend, model_dir):
    reference = _reference_generate(model_dir, PROMPTS, GREEDY.max_new_tokens)
    assert len({r[0] for r in reference}) == len(PROMPTS), "the tiny model should answer each prompt differently"

    assert backend.generate(PROMPTS, GREEDY) == reference  # batches of 3: left padding in play
    backend.batch_size = 1
    try:
        assert backend.generate(PROMPTS, GREEDY) == reference
    finally:
        backend.batch_size = 3


def test_results_come_back_in_input_order(backend):
    forward = backend.generate(PROMPTS, GREEDY)
    order = [3, 0, 4, 2, 1]
    assert backend.generate([PROMPTS[i] for i in order], GREEDY) == [forward[i] for i in order]
    assert backend.generate([], GREEDY) == []


def test_sampling_n_answers_reproducible_by_seed(backend):
    sampling = SamplingConfig(n=3, temperature=1.0, top_k=50, top_p=0.95, max_new_tokens=8, seed=1)
    first = backend.generate(PROMPTS[:4], sampling)
    assert [len(answers) for answers in first] == [3, 3, 3, 3]
    assert all(isinstance(a, str) for answers in first for a in answers)
    assert backend.generate(PROMPTS[:4], sampling) == first
    other_seed = backend.generate(PROMPTS[:4], dataclasses.replace(sampling, seed=2))
    assert other_seed != first
    assert len(set(first[0])) > 1  # the n samples of one prompt differ


def test_max_new_tokens_bounds_generation(backend, monkeypatch):
    counts = _count_new_tokens(backend, monkeypatch)
    backend.generate(PROMPTS, SamplingConfig(max_new_tokens=4))
    assert counts and max(counts) == 4  # the random model does not stop early by chance
    counts.clear()
    backend.generate(PROMPTS[:2], SamplingConfig(n=2, temperature=1.0, max_new_tokens=6))
    assert counts == [6]


def test_generation_stops_at_eos_and_drops_it(tmp_path, monkeypatch):
    model_dir, _ = _forced_model_dir(tmp_path, "<|im_end|>")
    hf = HFBackend(model_dir, batch_size=2, device="cpu")
    counts = _count_new_tokens(hf, monkeypatch)
    assert hf.generate(PROMPTS[:3], SamplingConfig(max_new_tokens=8)) == [[""], [""], [""]]
    assert counts == [1, 1]  # stopped right away, not after 8 tokens


def test_generation_stops_at_generation_config_eos(tmp_path, monkeypatch):
    """A stop token named only by the model's generation_config, and not special in the tokenizer."""
    model_dir, forced = _forced_model_dir(tmp_path, "<tool_response>", extra_eos=["<tool_response>"])
    hf = HFBackend(model_dir, device="cpu")
    assert hf.tokenizer.eos_token_id != forced and forced in hf.stop_token_ids
    counts = _count_new_tokens(hf, monkeypatch)
    # Kept as verl keeps it: only special tokens are dropped when decoding.
    assert hf.generate(PROMPTS[:2], SamplingConfig(max_new_tokens=8)) == [["<tool_response>"], ["<tool_response>"]]
    assert counts == [1]


def test_dtype_and_close(model_dir):
    hf = HFBackend(model_dir, dtype="bfloat16", device="cpu")
    assert hf.model.dtype == torch.bfloat16
    assert isinstance(hf, GenerationBackend)
    assert len(hf.generate(PROMPTS[:2], SamplingConfig(max_new_tokens=2))) == 2
    hf.close()
    hf.close()  # idempotent
    with pytest.raises(RuntimeError, match="after close"):
        hf.generate(PROMPTS[:1], SamplingConfig())
    with pytest.raises(ValueError, match="dtype"):
        HFBackend(model_dir, dtype="fp8")


# ---- registry and configs ----------------------------------------------------------------------


def test_make_backend_builds_hf_and_ignores_sampling(model_dir):
    hf = make_backend({"backend": "hf", "model_path": model_dir, "batch_size": 2, "sampling": {"n": 5}})
    assert isinstance(hf, HFBackend) and hf.batch_size == 2
    hf.close()


def test_make_backend_rejects_unknown_names_and_keys(model_dir):
    with pytest.raises(ValueError, match=r"unknown generation backend 'llama'.*\['hf', 'openai', 'vllm'\]"):
        make_backend({"backend": "llama", "model_path": model_dir})
    with pytest.raises(ValueError, match="needs a 'backend' key"):
        make_backend({"model_path": model_dir})
    with pytest.raises(TypeError, match=r"unknown keys \['max_len', 'temprature'\]"):
        make_backend({"backend": "hf", "model_path": model_dir, "temprature": 1.0, "max_len": 3})


def test_hf_yaml_matches_the_constructor(model_dir):
    """Every key of configs/generation/hf.yaml is an HFBackend argument, and the file composes."""
    from hydra import compose, initialize_config_dir

    yaml_cfg = OmegaConf.load(CONFIGS / "generation" / "hf.yaml")
    with pytest.raises(Exception, match="model_path"):  # ??? must be filled in
        make_backend(yaml_cfg)

    with initialize_config_dir(config_dir=str(CONFIGS), version_base=None):
        cfg = compose(overrides=["+generation=hf", f"generation.model_path={model_dir}"])
    assert set(cfg.generation) == set(yaml_cfg)
    hf = make_backend(cfg.generation)
    assert isinstance(hf, HFBackend) and hf.batch_size == 8 and hf.chat_template_kwargs == {}
    hf.close()
    # make_backend already rejects extra keys; check the other direction: nothing left out.
    params = set(inspect.signature(HFBackend).parameters)
    assert set(yaml_cfg) - {"backend"} == params


def test_sampling_config_from_mappings():
    assert sampling_config(None) == SamplingConfig()
    cfg = OmegaConf.create({"n": 5, "temperature": 1.0, "top_k": 20, "max_new_tokens": 64, "seed": 3})
    assert sampling_config(cfg) == SamplingConfig(n=5, temperature=1.0, top_k=20, max_new_tokens=64, seed=3)
    with pytest.raises(ValueError, match=r"unknown sampling keys \['temprature'\]"):
        sampling_config({"temprature": 1.0})


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"n": 0}, "n"),
        ({"n": 2.0, "temperature": 1.0}, "n"),
        ({"temperature": -0.1}, "temperature"),
        ({"top_p": 0.0}, "top_p"),
        ({"top_p": 1.5}, "top_p"),
        ({"top_k": -1}, "top_k"),
        ({"max_new_tokens": 0}, "max_new_tokens"),
    ],
)
def test_sampling_config_validation_names_the_field(kwargs, field):
    with pytest.raises(ValueError, match=rf"\b{field}\b"):
        SamplingConfig(**kwargs)


def test_greedy_with_several_answers_is_an_error():
    with pytest.raises(ValueError, match="identical"):
        SamplingConfig(n=3)
    assert SamplingConfig(n=3, temperature=0.7).n == 3


def test_import_does_not_load_torch():
    code = "import sys, tl_plugin.generation; assert not {'torch', 'transformers'} & set(sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True)
    assert "hf" in BACKENDS
