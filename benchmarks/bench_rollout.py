"""What does rollout ``tl_hf`` cost? ``HFGenerationServer`` against plain ``model.generate``.

(a) generation: ``--n`` concurrent requests (prompts of varied length, greedy, ``--max-tokens``
    new tokens each with ``ignore_eos``) sent to ``HFGenerationServer`` with ``asyncio.gather``, as
    verl's agent loops send them, against one left-padded ``model.generate(do_sample=False)`` call
    on the same prompts with the same ``max_new_tokens`` and no EOS stop, so both sides make the
    same number of tokens with the same model object. Best of ``--repeat`` wall-clock timings
    (the two sides interleaved) after one warm-up run of each side; the ratio is server time / generate time (target <= 1.2).
    The model: a random Qwen2 (hidden 256, 4 layers) with the test tokenizer, built in a temporary
    directory, or ``--model PATH`` (a Hugging Face model folder). Prompts are random token ids.
(b) ``--grpo-metrics FILE``: the time split of each step of a GRPO run from verl's file logger
    (``VERL_FILE_LOGGER_PATH``: one ``{"step": N, "data": {...}}`` per line), from its
    ``timing_s/*`` keys: gen, old_log_prob, ref, update_actor, update_weights, step (the ones there).

Run: ``python benchmarks/bench_rollout.py [--n 16] [--max-tokens 64] [--device cpu|cuda]
[--model PATH] [--grpo-metrics metrics.jsonl] [--skip-generation]``.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from timing import best_time  # noqa: E402  (benchmarks/timing.py, beside this script)

BENCH_MODEL = dict(
    hidden_size=256,
    intermediate_size=1024,
    num_hidden_layers=4,
    num_attention_heads=8,
    num_key_value_heads=2,
    max_position_embeddings=4096,
    initializer_range=0.02,
    tie_word_embeddings=False,
)
TIMING_KEYS = ["gen", "old_log_prob", "ref", "update_actor", "update_weights", "step"]


def prompts_of_varied_length(n: int, vocab: int, shortest: int, longest: int, seed: int = 0) -> list:
    rng = random.Random(seed)
    lengths = [shortest + (longest - shortest) * i // max(n - 1, 1) for i in range(n)]
    rng.shuffle(lengths)
    return [[rng.randrange(vocab) for _ in range(length)] for length in lengths]


def bench_generation(args) -> None:
    import torch

    from tl_plugin.verl_ext.rollout.hf_server import HFGenerationServer

    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        if args.model:
            model_path, what = Path(args.model), args.model
        else:
            from tl_plugin.cli.smoke import build_tiny_model

            model_path = Path(tmp)
            n_params = build_tiny_model(model_path, BENCH_MODEL, seed=0)
            what = (
                f"random Qwen2, hidden {BENCH_MODEL['hidden_size']}, {BENCH_MODEL['num_hidden_layers']} layers, "
                f"{n_params / 1e6:.1f}M parameters"
            )
        # built as rollout tl_hf builds it; generate runs on the same model object
        server = HFGenerationServer(
            str(model_path),
            device=args.device,
            dtype=args.dtype,
            prompt_length=args.longest,
            response_length=args.max_tokens,
            max_batch_size=max(args.n, 1),
        )
    model = server.model
    vocab = model.get_input_embeddings().num_embeddings
    prompts = prompts_of_varied_length(args.n, vocab, args.shortest, args.longest)
    n_new = args.n * args.max_tokens
    device = server.device
    params = {"temperature": 0, "max_tokens": args.max_tokens, "ignore_eos": True}

    async def serve():
        return await asyncio.gather(*(server.generate(p, params, request_id=str(i)) for i, p in enumerate(prompts)))

    width = max(len(p) for p in prompts)
    pad = server.pad_token_id
    ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts], device=device)
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=device)

    def generate():
        with torch.no_grad():
            out = model.generate(
                ids,
                attention_mask=mask,
                max_new_tokens=args.max_tokens,
                do_sample=False,
                eos_token_id=[],
                pad_token_id=pad,
            )  # no EOS stop: every row makes max_tokens
        if device.type == "cuda":
            torch.cuda.synchronize()
        return out

    def served():
        outs = asyncio.run(serve())
        if device.type == "cuda":
            torch.cuda.synchronize()
        return outs

    reference = generate()[:, width:].tolist()  # warm-up of each side, and the outputs to compare
    outputs = [o.token_ids for o in served()]
    assert all(len(o) == args.max_tokens for o in outputs) and all(len(r) == args.max_tokens for r in reference)
    same = sum(o == r for o, r in zip(outputs, reference))

    batches = server.stats["batches"]
    t_generate = t_server = float("inf")
    for _ in range(args.repeat):  # interleaved, so a load change on the machine hits both sides alike
        t_generate = min(t_generate, best_time(generate, 1))
        t_server = min(t_server, best_time(served, 1))
    batches = (server.stats["batches"] - batches) / args.repeat
    server._executor.shutdown(wait=True)

    lengths = sorted(len(p) for p in prompts)
    print(f"(a) generation on {args.device} ({args.dtype}, {torch.get_num_threads()} CPU threads): {what}")
    print(
        f"    {args.n} concurrent requests, prompts of {lengths[0]}-{lengths[-1]} tokens, {args.max_tokens} new tokens "
        f"each (greedy, ignore_eos), {n_new} in all; best of {args.repeat} after a warm-up"
    )
    print(f"    model.generate, one left-padded batch: {t_generate:8.3f} s  {n_new / t_generate:9.1f} tokens/s (1.00x)")
    print(
        f"    HFGenerationServer, asyncio.gather    : {t_server:8.3f} s  {n_new / t_server:9.1f} tokens/s "
        f"({t_server / t_generate:.2f}x time; target <= 1.2)"
    )
    print(f"    server batches per run: {batches:g}; greedy rows equal to generate's: {same}/{args.n}")


def bench_grpo_metrics(path: Path) -> None:
    """Part (b): ``timing_s/*`` of each step in verl's file logger (``tl_plugin.cli.smoke.read_logged``)."""
    from tl_plugin.cli.smoke import read_logged

    rows = []
    for step, data in read_logged(path):
        timings = {k[len("timing_s/") :]: float(v) for k, v in data.items() if k.startswith("timing_s/")}
        if timings:
            rows.append((step, timings))
    print(f"(b) GRPO step time split from {path} ({len(rows)} steps with timing_s/*)")
    if not rows:
        print("    no timing_s/* keys in the file")
        return
    present = {k for _, t in rows for k in t}
    named = [k for k in TIMING_KEYS if k in present]
    others = sorted(present - set(TIMING_KEYS))
    missing = [k for k in TIMING_KEYS if k not in present]
    columns = named + (["other"] if "step" in present else [])
    width = max(12, *(len(c) + 1 for c in columns))
    print(
        "    seconds per step; 'step' column = timing_s/step, 'other' = step minus the parts shown"
        + (f" (not logged: {', '.join(missing)})" if missing else "")
    )
    print("    " + f"{'#':>6}" + "".join(f"{c:>{width}}" for c in columns))

    def cells(t):
        out = {k: t.get(k) for k in named}
        if "step" in present:
            parts = sum(t.get(k, 0.0) for k in named if k != "step")
            out["other"] = t["step"] - parts if "step" in t else None
        return out

    table = [(step, cells(t)) for step, t in rows]
    for step, c in table:
        print(
            "    "
            + f"{step:>6}"
            + "".join(f"{c[k]:>{width}.3f}" if c[k] is not None else f"{'-':>{width}}" for k in columns)
        )
    means = {k: [c[k] for _, c in table if c[k] is not None] for k in columns}
    means = {k: sum(v) / len(v) if v else None for k, v in means.items()}
    print(
        "    "
        + f"{'mean':>6}"
        + "".join(f"{means[k]:>{width}.3f}" if means[k] is not None else f"{'-':>{width}}" for k in columns)
    )
    if means.get("step"):
        share = "  ".join(
            f"{k} {means[k] / means['step']:.0%}" for k in columns if k != "step" and means[k] is not None
        )
        print(f"    share of the mean step: {share}")
    if others:
        print(f"    other timing_s keys logged (part of 'other'): {', '.join(others)}")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=16, help="concurrent requests")
    ap.add_argument("--max-tokens", type=int, default=64, help="new tokens per request")
    ap.add_argument("--shortest", type=int, default=16, help="shortest prompt, tokens")
    ap.add_argument("--longest", type=int, default=128, help="longest prompt, tokens")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 ...")
    ap.add_argument("--dtype", default="float32", help="float32 / bfloat16 / float16 / auto")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's)")
    ap.add_argument("--model", help="a Hugging Face model folder (default: a random Qwen2 built on the spot)")
    ap.add_argument("--grpo-metrics", type=Path, help="verl file-logger metrics JSONL of a GRPO run: print (b)")
    ap.add_argument("--skip-generation", action="store_true", help="skip (a)")
    args = ap.parse_args(argv)
    if not args.skip_generation:
        bench_generation(args)
    if args.grpo_metrics:
        bench_grpo_metrics(args.grpo_metrics)


if __name__ == "__main__":
    main()
