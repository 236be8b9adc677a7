"""``HFGenerationServer`` (rollout ``tl_hf``): batched generation, sampling, log-probs, weights, control.

Real parts: a tiny random Qwen2 saved with a real byte-level BPE tokenizer
(:func:`tl_plugin.cli.smoke.build_tiny_model`), loaded by ``transformers``; the server itself, driven
through its async API with ``asyncio.run`` (no Ray, no verl workers; verl's ``TokenOutput`` comes
back). References are computed independently with the same ``transformers`` model:
``model.generate(do_sample=False)`` for greedy outputs and a full forward over prompt + response
without cache (as verl's actor does) for log-probs. Nothing is mocked; two tests wrap the server's
``_decode`` only to observe when a batch starts and ends.

Device: ``TL_TEST_DEVICE`` (default ``cpu``), e.g. ``TL_TEST_DEVICE=cuda pytest tests/tl_plugin/verl_ext/test_hf_server.py``.
All in float32. Log-prob tolerance: 1e-4 on CPU; 1e-3 on CUDA, where the actor's full forward and
the server's cached decode use different attention and matmul kernels.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import threading
from types import SimpleNamespace

import pytest
import torch

from tl_plugin.cli.smoke import build_tiny_model
from tl_plugin.testing import SMALL_QWEN
from tl_plugin.verl_ext.rollout.hf_server import HFGenerationServer, WeightLoadError, weights_checksum

DEVICE = os.environ.get("TL_TEST_DEVICE", "cpu")
if DEVICE.startswith("cuda") and not torch.cuda.is_available():
    pytest.skip(f"TL_TEST_DEVICE={DEVICE} but torch sees no CUDA device", allow_module_level=True)
LOGPROB_ATOL = 1e-4 if DEVICE == "cpu" else 1e-3

MODEL_KWARGS = SMALL_QWEN
TEXTS = [  # prompts of different lengths, so a batch of them is left-padded
    "What is the weather like in Paris today?",
    "Hello!",
    "Find flights from SFO to JFK for 2 passengers, and the weather in JFK. Please answer in celsius.",
    "You are a helpful assistant.",
]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """The saved tiny model, a loaded copy on ``DEVICE`` used as reference (never modified), prompts."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model_dir = tmp_path_factory.mktemp("tiny_qwen2")
    build_tiny_model(model_dir, MODEL_KWARGS, seed=0)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).to(DEVICE).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    prompts = [tokenizer(t).input_ids for t in TEXTS]
    assert len({len(p) for p in prompts}) == len(prompts)
    return SimpleNamespace(model_dir=model_dir, model=model, prompts=prompts, eos=model.config.eos_token_id, paths={})


def run(coro, timeout: float = 60):
    """Run ``coro`` in a fresh event loop; a hang fails the test instead of stalling it."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


@contextlib.contextmanager
def serving(model, **kwargs):
    server = HFGenerationServer(model=model, device=DEVICE, **kwargs)
    try:
        yield server
    finally:
        server._executor.shutdown(wait=True)


@torch.no_grad()
def hf_generate(model, prompts, max_new_tokens, **kwargs):
    """``model.generate(do_sample=False)``, left-padded for several prompts; new tokens per row
    (the pad tokens ``generate`` adds after a finished row are cut off at its first stop token by
    the callers)."""
    width = max(len(p) for p in prompts)
    ids = torch.tensor([[0] * (width - len(p)) + p for p in prompts], device=DEVICE)
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=DEVICE)
    out = model.generate(ids, attention_mask=mask, max_new_tokens=max_new_tokens, do_sample=False, **kwargs)
    return [row[width:].tolist() for row in out]


def greedy_path(env, prompt, n=30, model=None):
    """The greedy continuation of ``prompt`` with no stop token at all (``eos_token_id=[]``)."""
    model = model or env.model
    key = (id(model), tuple(prompt), n)
    if key not in env.paths:
        env.paths[key] = hf_generate(model, [prompt], n, eos_token_id=[])[0]
        assert len(env.paths[key]) == n
    return env.paths[key]


def until_stop(tokens, stops):
    """``tokens`` up to and including the first of ``stops``."""
    for i, t in enumerate(tokens):
        if t in stops:
            return tokens[: i + 1]
    return list(tokens)


def first_new_token(path, start=3, end=None):
    """Index of a token of ``path`` that does not occur before it (so it can serve as a stop token)."""
    return next(i for i in range(start, end or len(path)) if path[i] not in path[:i])


def watch_decode(server):
    """Threading events set when the server's decode of a batch starts and ends (observation only)."""
    started, finished = threading.Event(), threading.Event()
    inner = server._decode

    def decode(batch):
        started.set()
        try:
            return inner(batch)
        finally:
            finished.set()

    server._decode = decode
    return started, finished


async def wait_event(event: threading.Event, timeout: float = 10):
    for _ in range(int(timeout / 0.001)):
        if event.is_set():
            return
        await asyncio.sleep(0.001)
    raise TimeoutError("the server never started a batch")


@torch.no_grad()
def actor_logprobs(model, prompt, response, temperature):
    """verl's actor: one forward over prompt + response without cache,
    ``log_softmax(logits / temperature)`` gathered at the response tokens."""
    ids = torch.tensor([prompt + response], device=DEVICE)
    logits = model(input_ids=ids).logits[0, len(prompt) - 1 : -1].float()
    target = torch.tensor(response, device=DEVICE)[:, None]
    return torch.log_softmax(logits / temperature, dim=-1).gather(1, target).squeeze(1).cpu()


def other_model(env, seed, **config_changes):
    """Another random model of the same architecture (fresh weights from ``seed``)."""
    from transformers import Qwen2ForCausalLM

    config = type(env.model.config).from_dict({**env.model.config.to_dict(), **config_changes})
    torch.manual_seed(seed)
    return Qwen2ForCausalLM(config).to(DEVICE).eval()


# --------------------------------------------------------------------------------------------
# greedy generation and batching
# --------------------------------------------------------------------------------------------


def test_greedy_equals_model_generate_and_stops_at_the_stop_token(env):
    prompt = env.prompts[0]
    path = greedy_path(env, prompt, 24)
    k = first_new_token(path)
    stop = path[k]
    expected = hf_generate(env.model, [prompt], 24, eos_token_id=stop)[0]  # one row: generate stops there
    assert expected == path[: k + 1]

    with serving(env.model) as server:
        plain = run(server.generate(prompt, {"temperature": 0, "max_tokens": 24}))
        stopped = run(server.generate(prompt, {"temperature": 0, "max_tokens": 24, "stop_token_ids": [stop]}))
    assert plain.token_ids == until_stop(path, {env.eos})
    assert stopped.token_ids == expected  # the stop token is returned, nothing after it
    assert stopped.stop_reason == plain.stop_reason == "completed"

    with serving(env.model, eos_token_ids=[stop]) as server:  # the same stop as the server's EOS
        out = run(server.generate(prompt, {"temperature": 0, "max_tokens": 24}))
    assert out.token_ids == expected and out.stop_reason == "completed"


def test_concurrent_requests_form_one_batch_and_each_row_equals_its_own_generate(env):
    n = 20
    with serving(env.model) as server:

        async def all_at_once():
            return await asyncio.gather(
                *(
                    server.generate(p, {"temperature": 0, "max_tokens": n}, request_id=str(i))
                    for i, p in enumerate(env.prompts)
                )
            )

        outs = run(all_at_once())
        assert server.stats["batches"] == 1 and server.stats["requests"] == len(env.prompts)
    for prompt, out in zip(env.prompts, outs):
        # exact equality with the unpadded single-prompt generate (fp32: padding does not flip an argmax here)
        assert out.token_ids == until_stop(greedy_path(env, prompt, n), {env.eos})
    assert server.stats["new_tokens"] == sum(len(o.token_ids) for o in outs)


def test_more_requests_than_max_batch_size_run_in_several_batches(env):
    with serving(env.model, max_batch_size=2) as server:

        async def all_at_once():
            return await asyncio.gather(
                *(server.generate(p, {"temperature": 0, "max_tokens": 8, "ignore_eos": True}) for p in env.prompts[:3])
            )

        outs = run(all_at_once())
        assert server.stats["batches"] == 2
    assert [o.token_ids for o in outs] == [greedy_path(env, p)[:8] for p in env.prompts[:3]]


# --------------------------------------------------------------------------------------------
# per-row sampling parameters
# --------------------------------------------------------------------------------------------


def test_each_row_of_a_batch_keeps_its_own_sampling_params(env):
    p0, p1, p2, p3 = env.prompts
    path2, path3 = greedy_path(env, p2), greedy_path(env, p3)
    k2 = first_new_token(path2)
    k3 = first_new_token(path3, end=9)  # the server's EOS, emitted inside max_tokens=10
    eos = path3[k3]
    hot = {"temperature": 5.0, "max_tokens": 16, "ignore_eos": True}
    rows = [  # (prompt, params, stop tokens for the greedy expectation or None for a sampled row)
        (p0, {"temperature": 0, "max_tokens": 5, "ignore_eos": True}, set()),
        (p1, {"temperature": 0, "max_tokens": 12}, {eos}),
        (p2, {"temperature": 1.0, "top_k": 1, "max_tokens": 10}, {eos}),
        (p3, {"temperature": 1.0, "top_p": 1e-6, "max_tokens": 10}, {eos}),  # stops at the EOS, k3 < 9
        (p3, {"temperature": 0, "max_tokens": 10, "ignore_eos": True}, set()),  # runs past it
        (p2, {"temperature": 0, "max_tokens": 30, "stop_token_ids": [path2[k2]]}, {eos, path2[k2]}),
        (p0, {**hot, "seed": 1234}, None),
        (p0, {**hot, "seed": 4321}, None),
        (p1, hot, None),  # no seed
    ]

    with serving(env.model, eos_token_ids=[eos]) as server:

        async def batch():
            return await asyncio.gather(*(server.generate(p, params) for p, params, _ in rows))

        first, second = run(batch()), run(batch())
        assert server.stats["batches"] == 2
    for out in (first, second):
        for (prompt, params, stops), got in zip(rows, out):
            assert got.stop_reason == "completed"
            if stops is None:
                assert len(got.token_ids) == 16
                assert got.token_ids != greedy_path(env, prompt)[:16]  # it did sample
            else:
                assert got.token_ids == until_stop(greedy_path(env, prompt)[: params["max_tokens"]], stops), params
    assert len(first[0].token_ids) == 5 and len(first[4].token_ids) == 10 and eos in first[4].token_ids[:-1]
    assert first[3].token_ids[-1] == eos and len(first[3].token_ids) == k3 + 1
    assert first[5].token_ids[-1] == path2[k2]  # stopped by its own stop_token_ids
    assert first[6].token_ids == second[6].token_ids  # same seed, same tokens
    assert first[6].token_ids != first[7].token_ids  # another seed, other tokens
    assert first[8].token_ids != second[8].token_ids  # no seed: a fresh draw each time


def test_repetition_penalty_ignores_the_padding_of_a_padded_row(env):
    """The penalty applies to the row's own tokens as in ``generate`` on the unpadded prompt; the
    pad token (here set to the token the row would otherwise pick) must not be penalised."""
    short, long = env.prompts[1], env.prompts[2]
    expected = hf_generate(env.model, [short], 12, repetition_penalty=2.0, eos_token_id=[])[0]
    assert expected[0] not in short
    with serving(env.model) as server:
        server.pad_token_id = expected[0]

        async def batch():
            return await asyncio.gather(
                server.generate(
                    short, {"temperature": 0, "max_tokens": 12, "repetition_penalty": 2.0, "ignore_eos": True}
                ),
                server.generate(long, {"temperature": 0, "max_tokens": 4, "ignore_eos": True}),
            )

        penalised, plain = run(batch())
        assert server.stats["batches"] == 1
    assert penalised.token_ids == expected
    assert plain.token_ids == greedy_path(env, long)[:4]


# --------------------------------------------------------------------------------------------
# log-probs: what verl's actor computes for the same tokens
# --------------------------------------------------------------------------------------------


def test_logprobs_equal_the_actors_for_one_request(env):
    prompt = env.prompts[2]
    with serving(env.model) as server:
        for temperature in (1.0, 0.7):
            out = run(
                server.generate(
                    prompt,
                    {"temperature": temperature, "max_tokens": 24, "ignore_eos": True, "logprobs": True, "seed": 7},
                )
            )
            assert len(out.log_probs) == len(out.token_ids) == 24
            expected = actor_logprobs(env.model, prompt, out.token_ids, temperature)
            torch.testing.assert_close(torch.tensor(out.log_probs), expected, atol=LOGPROB_ATOL, rtol=0)
        out = run(server.generate(prompt, {"temperature": 1.0, "max_tokens": 4}))
    assert out.log_probs is None  # not asked


def test_logprobs_equal_the_actors_in_a_left_padded_batch(env):
    """Rows of different prompt lengths (left padding) and lengths (rows leave the cache early);
    top-k / top-p only choose the token, the log-prob stays the full softmax at the temperature."""
    rows = [
        (env.prompts[0], {"temperature": 1.0, "max_tokens": 12}),
        (env.prompts[1], {"temperature": 0.7, "max_tokens": 20}),
        (env.prompts[2], {"temperature": 0.7, "top_k": 5, "max_tokens": 6}),
        (env.prompts[3], {"temperature": 1.0, "top_p": 0.9, "max_tokens": 16}),
    ]
    with serving(env.model) as server:

        async def batch():
            return await asyncio.gather(
                *(
                    server.generate(p, {**params, "logprobs": True, "ignore_eos": True, "seed": i})
                    for i, (p, params) in enumerate(rows)
                )
            )

        outs = run(batch())
        assert server.stats["batches"] == 1
    for (prompt, params), out in zip(rows, outs):
        assert len(out.token_ids) == len(out.log_probs) == params["max_tokens"]
        expected = actor_logprobs(env.model, prompt, out.token_ids, params["temperature"])
        torch.testing.assert_close(torch.tensor(out.log_probs), expected, atol=LOGPROB_ATOL, rtol=0)


# --------------------------------------------------------------------------------------------
# weights
# --------------------------------------------------------------------------------------------


def test_load_state_dict_replaces_the_weights(env, tmp_path):
    prompt = env.prompts[0]
    other = other_model(env, seed=1)
    update = other.state_dict()
    log = tmp_path / "weights.jsonl"
    # its own copy of the model: the weights change
    server = HFGenerationServer(str(env.model_dir), device=DEVICE, weights_log=str(log))
    try:
        assert server.checksum() == weights_checksum(env.model.named_parameters())
        before = run(server.generate(prompt, {"temperature": 0, "max_tokens": 16, "ignore_eos": True}))
        info = server.load_state_dict(update, global_steps=3)
        after = run(server.generate(prompt, {"temperature": 0, "max_tokens": 16, "ignore_eos": True}))
    finally:
        server._executor.shutdown(wait=True)
    assert before.token_ids == greedy_path(env, prompt)[:16]
    assert after.token_ids == greedy_path(env, prompt, model=other)[:16] != before.token_ids
    assert server.checksum() == weights_checksum(update.items())
    assert info["tensors"] == len(update)
    logged = [json.loads(line) for line in log.read_text().splitlines()]  # at start, after the load
    assert [(e["weight_version"], e["global_steps"], e["checksum"]) for e in logged] == [
        (0, None, weights_checksum(env.model.named_parameters())),
        (1, 3, weights_checksum(update.items())),
    ]
    assert server.weight_version == 1 and server.global_steps == 3
    assert after.extra_fields["weight_version"] == 1 and after.extra_fields["global_steps"] == 3


@pytest.mark.parametrize("fault", ["unknown", "missing", "shape"])
def test_a_bad_update_is_refused_whole(env, fault):
    update = dict(other_model(env, seed=2).state_dict())  # all other values: any copy would show
    if fault == "unknown":
        update["model.layers.9.mlp.up_proj.weight"] = torch.zeros(128, 64)  # last: after every good copy
        named = "model.layers.9.mlp.up_proj.weight"
    elif fault == "missing":
        named = "model.layers.1.mlp.down_proj.weight"
        del update[named]
    else:
        named = "lm_head.weight"
        update[named] = torch.zeros(update[named].shape[0], update[named].shape[1] + 1)
        assert list(update)[-1] == named
    with serving(env.model) as server:  # the shared reference model: a failed load must leave it as it is
        before = server.checksum()
        with pytest.raises(WeightLoadError, match=named.replace(".", r"\.")):
            server.load_state_dict(update)
        assert server.checksum() == before == weights_checksum(env.model.named_parameters())
        assert server.weight_version == 0


def test_tied_embeddings_may_leave_out_lm_head(env):
    model = other_model(env, seed=3, tie_word_embeddings=True)
    new = other_model(env, seed=4, tie_word_embeddings=True)
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()  # really tied
    update = {k: v for k, v in new.state_dict().items() if k != "lm_head.weight"}
    prompt = env.prompts[1]
    with serving(model) as server:
        server.load_state_dict(update)
        assert torch.equal(model.lm_head.weight, new.model.embed_tokens.weight)  # the head follows
        assert server.checksum() == weights_checksum(new.named_parameters())
        out = run(server.generate(prompt, {"temperature": 0, "max_tokens": 10, "ignore_eos": True}))
        assert out.token_ids == greedy_path(env, prompt, model=new)[:10]

        newer = other_model(env, seed=5, tie_word_embeddings=True)
        full = dict(newer.named_parameters(remove_duplicate=False))
        assert "lm_head.weight" in full
        server.load_state_dict(full)
        assert server.checksum() == weights_checksum(newer.named_parameters())
        assert server.weight_version == 2


# --------------------------------------------------------------------------------------------
# bad requests
# --------------------------------------------------------------------------------------------


def test_bad_requests_fail_at_once_and_leave_the_server_working(env):
    prompt = env.prompts[0]
    vocab = env.model.config.vocab_size
    with serving(env.model, max_model_len=len(env.prompts[2])) as server:
        with pytest.raises(ValueError, match="empty prompt"):
            run(server.generate([], {"temperature": 0}), timeout=5)
        with pytest.raises(ValueError, match="max_model_len"):  # no room left for a single token
            run(server.generate(env.prompts[2], {"temperature": 0}), timeout=5)
        with pytest.raises(ValueError, match="token id"):  # checked before it reaches the model
            run(server.generate(prompt + [vocab], {"temperature": 0, "max_tokens": 4}), timeout=5)
        empty = run(server.generate(prompt, {"temperature": 0, "max_tokens": 0, "logprobs": True}), timeout=5)
        assert server.stats["batches"] == 0
        # one token of room: max_tokens is cut down to it
        short = run(server.generate(env.prompts[2][:-1], {"temperature": 0, "max_tokens": 10}))
        after = run(server.generate(prompt, {"temperature": 0, "max_tokens": 8, "ignore_eos": True}))
    assert empty.token_ids == [] and empty.log_probs == [] and empty.stop_reason == "completed"
    assert short.token_ids == greedy_path(env, env.prompts[2][:-1])[:1]
    assert after.token_ids == greedy_path(env, prompt)[:8]


# --------------------------------------------------------------------------------------------
# verl's control calls
# --------------------------------------------------------------------------------------------


def test_abort_all_requests_stops_running_and_waiting_requests_until_resume(env):
    prompt = env.prompts[0]
    with serving(env.model) as server:
        started, _ = watch_decode(server)

        async def scenario():
            running = asyncio.ensure_future(
                server.generate(prompt, {"temperature": 0, "max_tokens": 1000, "ignore_eos": True})
            )
            await wait_event(started)
            waiting = [
                asyncio.ensure_future(server.generate(p, {"temperature": 0, "max_tokens": 8})) for p in env.prompts[1:]
            ]
            await asyncio.sleep(0)  # they are queued behind the running batch
            aborted = await server.abort_all_requests()
            later = asyncio.ensure_future(
                server.generate(prompt, {"temperature": 0, "max_tokens": 8, "ignore_eos": True})
            )
            await asyncio.sleep(0.2)
            held = not later.done()  # paused until resume_generation
            await server.resume_generation()
            return aborted, await running, await asyncio.gather(*waiting), held, await later

        aborted, running, waiting, held, later = run(scenario())
    assert aborted["aborted_count"] == len(env.prompts) - 1
    assert all(w.stop_reason == "aborted" and w.token_ids == [] for w in waiting)
    assert running.stop_reason == "aborted" and 0 < len(running.token_ids) < 1000
    assert running.token_ids == greedy_path(env, prompt, len(running.token_ids))
    assert held
    assert later.stop_reason == "completed" and later.token_ids == greedy_path(env, prompt)[:8]


def test_abort_before_the_batch_starts_leaves_no_failed_batch(env, caplog):
    with serving(env.model, batch_wait_s=0.1) as server:

        async def scenario():
            waiting = [
                asyncio.ensure_future(server.generate(p, {"temperature": 0, "max_tokens": 8})) for p in env.prompts
            ]
            await asyncio.sleep(0.01)  # the batcher is still gathering requests
            await server.abort_all_requests()
            outs = await asyncio.gather(*waiting)
            await server.wait_for_requests_to_drain()
            await server.resume_generation()
            return outs, await server.generate(env.prompts[0], {"temperature": 0, "max_tokens": 8, "ignore_eos": True})

        with caplog.at_level(logging.ERROR, logger="tl_plugin.verl_ext.rollout.hf_server"):
            outs, after = run(scenario())
        assert server.stats["batches"] == 1  # only the request after resume was decoded
    assert all(o.stop_reason == "aborted" and o.token_ids == [] for o in outs)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    assert after.token_ids == greedy_path(env, env.prompts[0])[:8]


def test_load_weights_waits_for_the_running_batch(env):
    prompt = env.prompts[2]
    n = 64
    other = other_model(env, seed=6)
    old, new = greedy_path(env, prompt, n), greedy_path(env, prompt, n, model=other)
    assert old[:8] != new[:8]
    server = HFGenerationServer(str(env.model_dir), device=DEVICE)
    started, finished = watch_decode(server)
    try:

        async def scenario():
            batch = asyncio.ensure_future(
                server.generate(prompt, {"temperature": 0, "max_tokens": n, "ignore_eos": True})
            )
            await wait_event(started)
            assert not finished.is_set()  # the load below is issued while the batch decodes
            await server.load_weights(other.state_dict(), global_steps=1)
            loaded_after_batch = finished.is_set()
            during = await batch
            after = await server.generate(prompt, {"temperature": 0, "max_tokens": n, "ignore_eos": True})
            return during, loaded_after_batch, after

        during, loaded_after_batch, after = run(scenario())
    finally:
        server._executor.shutdown(wait=True)
    assert loaded_after_batch
    assert during.token_ids == old  # every token of the running batch from the old weights
    assert after.token_ids == new and after.extra_fields["weight_version"] == 1
