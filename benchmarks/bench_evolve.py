"""What does tl-evolve's checking cost next to generation? Answers/s of the rule checks and the vote.

Two measurements in one run (best of ``--repeat``, ``time.perf_counter``):

(a) checks: ``screen_tools`` + ``judge_answers`` (parse, canonicalise, vote, answer rules) over
    ``--n`` synthetic queries, each with a model-style tool set (1-3 tools) and ``k=5`` hermes
    answers (agreeing, disagreeing, malformed, hallucinated), in answers/s; the floor is
    ``parse_tool_calls`` alone on the same answers;
(b) generation: the same round's generation with the Hugging Face backend on a tiny random Qwen2
    on this CPU (``--gen-queries`` queries: one tool set each, then ``k=5`` call samples), in
    answers/s, and the share of the round's time the checks take.

A real model on a GPU generates far faster than (b) but still far slower than (a). When a GPU is
lent, vLLM's throughput with and without the pipeline around it is measured on that machine
(docs/tooldev.md). Run: ``python benchmarks/bench_evolve.py [--n 2000] [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from timing import best_time  # noqa: E402  (benchmarks/timing.py, beside this script)

from data_transforms.self_evolution import judge_answers, screen_tools  # noqa: E402
from reward_fns.parsing import parse_tool_calls  # noqa: E402

K = 5


def _tool(i: int, rng: random.Random) -> dict:
    props = {
        f"p{j}": {"type": rng.choice(["string", "integer", "number", "boolean"]), "description": f"param {j}"}
        for j in range(rng.randint(1, 5))
    }
    return {
        "name": f"tool_{i}",
        "description": f"Tool number {i} does something useful.",
        "parameters": {"type": "object", "properties": props, "required": sorted(props)[:1]},
    }


def _value(schema: dict, rng: random.Random):
    return {"string": "New York", "integer": rng.randint(0, 9), "number": 2.5, "boolean": True}[schema["type"]]


def queries(n: int, seed: int = 0) -> list:
    """``(id, query, tools_text, k answers)`` with a mix of agreeing, wrong and malformed answers."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        tools = [_tool(t, rng) for t in range(rng.randint(1, 3))]
        calls = []
        for tool in rng.sample(tools, rng.randint(1, len(tools))):
            args = {p: _value(s, rng) for p, s in tool["parameters"]["properties"].items()}
            calls.append({"name": tool["name"], "arguments": args})
        good = "\n".join(f"<tool_call>\n{json.dumps(c)}\n</tool_call>" for c in calls)
        answers = [good] * rng.randint(1, K)
        while len(answers) < K:
            answers.append(
                rng.choice(
                    [
                        good.replace("New York", "Boston"),
                        '<tool_call>\n{"name": "made_up", "arguments": {}}\n</tool_call>',
                        "<tool_call>\n{broken\n</tool_call>",
                        "I cannot help with that.",
                    ]
                )
            )
        rng.shuffle(answers)
        out.append((f"q{i}", f"query {i}", "<tools>\n" + json.dumps(tools) + "\n</tools>", answers))
    return out


def run_checks(data: list) -> int:
    kept = 0
    for qid, query, tools_text, answers in data:
        entry = screen_tools(qid, query, tools_text)
        if entry["stage"] is None:
            kept += judge_answers(entry, answers, min_votes=2)["kept"]
    return kept


def parse_only(data: list) -> None:
    for _, _, _, answers in data:
        for text in answers:
            parse_tool_calls(text)


def generation(n_queries: int) -> dict:
    from data_transforms.tooldev import generation_prompt
    from tl_plugin.cli.smoke import build_tiny_model
    from tl_plugin.generation import Prompt, SamplingConfig
    from tl_plugin.generation.hf import HFBackend

    with tempfile.TemporaryDirectory() as tmp:
        build_tiny_model(
            Path(tmp),
            {
                "hidden_size": 64,
                "intermediate_size": 128,
                "num_hidden_layers": 2,
                "num_attention_heads": 4,
                "num_key_value_heads": 2,
                "initializer_range": 0.1,
                "tie_word_embeddings": False,
            },
            seed=0,
        )
        backend = HFBackend(tmp, device="cpu", batch_size=8)
        qs = [f"What is the weather in city number {i}?" for i in range(n_queries)]
        tools = [{"type": "function", "function": _tool(0, random.Random(0))}]
        start = time.perf_counter()
        tool_texts = backend.generate(
            [Prompt(generation_prompt(q)) for q in qs], SamplingConfig(temperature=1.0, max_new_tokens=128)
        )
        calls = backend.generate(
            [Prompt([{"role": "user", "content": q}], tools) for q in qs],
            SamplingConfig(n=K, temperature=1.0, top_k=50, max_new_tokens=64),
        )
        seconds = time.perf_counter() - start
        backend.close()
    return {"seconds": seconds, "answers": sum(len(c) for c in calls) + len(tool_texts)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="synthetic queries for the checks")
    parser.add_argument("--gen-queries", type=int, default=16, help="queries generated with the tiny model")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    data = queries(args.n)
    n_answers = args.n * K
    kept = run_checks(data)
    checks = best_time(lambda: run_checks(data), args.repeat)
    floor = best_time(lambda: parse_only(data), args.repeat)
    print(f"(a) checks + vote: {args.n} queries x k={K} = {n_answers} answers, {kept} queries kept")
    print(
        f"    screen_tools + judge_answers  {n_answers / checks:10.0f} answers/s  ({checks * 1e6 / args.n:7.1f} us/query)"
    )
    print(
        f"    parse_tool_calls alone        {n_answers / floor:10.0f} answers/s  (floor; checks cost {checks / floor:.2f}x)"
    )

    gen = generation(args.gen_queries)
    gen_rate = gen["answers"] / gen["seconds"]
    check_seconds = checks / args.n * args.gen_queries
    print(
        f"(b) generation, HF backend, tiny random Qwen2 on CPU: {args.gen_queries} queries, {gen['answers']} texts "
        f"in {gen['seconds']:.2f}s = {gen_rate:.1f} texts/s"
    )
    print(
        f"    checking the same round's answers would take {check_seconds * 1e3:.2f} ms: "
        f"{check_seconds / (gen['seconds'] + check_seconds):.3%} of the round"
    )


if __name__ == "__main__":
    main()
