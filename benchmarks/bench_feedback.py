"""What does feedback mode cost? The reward, the agent loop's record, and the tool wrapper.

Three measurements, each with its baseline in the same run (best of ``--repeat``,
``time.perf_counter``):

(a) reward: ``reward_fns.tl_tool.compute_score(mode="feedback")`` over ``--n`` synthetic
    trajectories (1-9 turns of a hermes call and a tool response, then an answer; one in ten with a
    malformed block), against the floor of ``json.loads`` on the same call payloads;
(b) rollout: verl's ``AgentLoopWorker.generate_sequences`` on 64 three-turn trajectories (tools
    run, reward scored; after a warm-up run) with verl's stock
    ``tool_agent`` and with ``tl_multiturn_agent`` (same rows, same tools, a scripted server in
    place of the LLM), per trajectory;
(c) one tool call: ``PythonFunctionTool.execute`` with thread and with process isolation,
    against verl's own ``FunctionTool.call`` (``asyncio.to_thread``) on the same function.

Run: ``python benchmarks/bench_feedback.py [--n 10000] [--repeat 5]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from timing import best_time  # noqa: E402  (benchmarks/timing.py, beside this script)

from reward_fns.tl_tool import compute_score  # noqa: E402

CATEGORIES = ["ok"] * 6 + ["tool_call_failure", "param_missing", "tool_hallucination", "tool_instability"]


def trajectories(n: int, seed: int = 0):
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        parts, payloads, calls = [], [], []
        for turn in range(rng.randint(1, 9)):
            payload = json.dumps(
                {"name": f"tool_{turn}", "arguments": {"city": "Paris", "days": turn, "unit": "celsius"}}
            )
            payloads.append(payload)
            parts.append(
                f"<tool_call>\n{payload}\n</tool_call>user\n<tool_response>\n"
                f'{{"temperature": {rng.randint(-5, 35)}, "conditions": "sunny"}}\n</tool_response>assistant\n'
            )
            calls.append({"name": f"tool_{turn}", "arguments": payload, "category": rng.choice(CATEGORIES)})
        if i % 10 == 0:
            parts.append('<tool_call>\n{"name": "tool_x", "arguments": {"city": "Paris"\n</tool_call>')
        else:
            parts.append("The forecast is sunny with mild temperatures all week.")
        record = {"calls": calls, "final_answer": True, "unexecuted_calls": 0}
        rows.append(("".join(parts), {"tl_feedback": record}, payloads))
    return rows


def bench_reward(n: int, repeat: int) -> None:
    rows = trajectories(n)
    n_calls = sum(len(r[2]) for r in rows)

    def full():
        for text, extra, _ in rows:
            compute_score("tools", text, None, extra, mode="feedback")

    def floor():
        for _, _, payloads in rows:
            for p in payloads:
                json.loads(p)

    t_full, t_floor = best_time(full, repeat), best_time(floor, repeat)
    chars = sum(len(r[0]) for r in rows) / n
    print(f"(a) reward, {n} trajectories ({n_calls} calls, {chars:.0f} chars each on average)")
    print(f"    feedback compute_score : {t_full * 1e6 / n:7.2f} us/trajectory")
    print(f"    floor, json.loads calls: {t_floor * 1e6 / n:7.2f} us/trajectory")
    print(f"    ratio                  : {t_full / t_floor:.2f}x")


def bench_rollout(repeat: int) -> None:
    from omegaconf import OmegaConf
    from test_multiturn import call, write_rows

    from tests.helpers.verl_config import compose_ppo
    from tests.helpers.verl_rollout import generate, rollout_worker, tiny_model_dir

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = tiny_model_dir(tmp / "model")
        tools = tmp / "tools.yaml"
        OmegaConf.save(
            OmegaConf.create(
                {
                    "tools": [
                        {
                            "class_name": "tl_plugin.verl_ext.tools.PythonFunctionTool",
                            "config": {"type": "native", "function": f"tests.helpers.feedback_tools:{f}"},
                        }
                        for f in ("get_weather", "get_time")
                    ]
                }
            ),
            tools,
        )
        questions = [f"question {i:03d}" for i in range(64)]  # equal length: none is part of another
        # gold "no call" rows: the stock loop records nothing for feedback mode, so both runs use the
        # same gold-mode reward and only the loops differ
        parquet = write_rows(tmp / "rows.parquet", [{"question": q, "ground_truth": "[]"} for q in questions])
        turns = [call("get_weather", city="Paris"), call("get_time", timezone="UTC"), "Sunny, noon."]
        results = {}
        for loop in ("tool_agent", "tl_multiturn_agent"):
            cfg = compose_ppo(
                [
                    "+tl=multiturn",
                    f"actor_rollout_ref.model.path={model}",
                    "actor_rollout_ref.rollout.name=vllm",
                    f"actor_rollout_ref.rollout.multi_turn.tool_config_path={tools}",
                    f"actor_rollout_ref.rollout.agent.default_agent_loop={loop}",
                    "reward.custom_reward_function.reward_kwargs.mode=gold",
                    "data.max_prompt_length=1024",
                    "data.max_response_length=1024",
                ]
            )
            _, _, worker, batch, _ = rollout_worker(cfg, parquet, lambda row: turns, agent_name=loop)
            generate(worker, batch)  # warm-up
            results[loop] = best_time(lambda worker=worker, batch=batch: generate(worker, batch), repeat) / len(
                questions
            )
    base = results["tool_agent"]
    print("(b) rollout through verl's AgentLoopWorker.generate_sequences, 64 trajectories of 3 turns (scripted server)")
    print(f"    verl tool_agent        : {base * 1e3:7.2f} ms/trajectory (1.00x)")
    print(
        f"    tl_multiturn_agent     : {results['tl_multiturn_agent'] * 1e3:7.2f} ms/trajectory "
        f"({results['tl_multiturn_agent'] / base:.2f}x)"
    )


def bench_tool_call(repeat: int) -> None:
    from verl.tools.function_tool import FunctionTool

    from tests.helpers import feedback_tools
    from tl_plugin.verl_ext.tools import PythonFunctionTool

    args = {"city": "Paris"}
    thread = PythonFunctionTool({"type": "native", "function": "tests.helpers.feedback_tools:get_weather"})
    process = PythonFunctionTool(
        {"type": "native", "function": "tests.helpers.feedback_tools:get_weather", "isolation": "process"}
    )
    stock = FunctionTool(name="get_weather", fn=feedback_tools.get_weather, tool_schema=thread.tool_schema)

    async def many(coro_fn, k):
        start = time.perf_counter()
        for _ in range(k):
            await coro_fn()
        return (time.perf_counter() - start) / k

    def timed(coro_fn, k):
        return min(asyncio.run(many(coro_fn, k)) for _ in range(repeat))

    t_stock = timed(lambda: stock.call(args), 500)
    t_thread = timed(lambda: thread.execute("id", args), 500)
    timed(lambda: process.execute("id", args), 2)  # start the fork server
    t_process = timed(lambda: process.execute("id", args), 30)
    print("(c) one tool call (feedback_tools.get_weather)")
    print(f"    verl FunctionTool.call : {t_stock * 1e6:9.1f} us (1.00x)")
    print(
        f"    PythonFunctionTool, thread : {t_thread * 1e6:9.1f} us ({t_thread / t_stock:.2f}x; schema + jsonschema checks, time limit)"
    )
    print(
        f"    PythonFunctionTool, process: {t_process * 1e6:9.1f} us ({t_process / t_stock:.0f}x; a forked process per call)"
    )


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--skip-rollout", action="store_true", help="skip (b), which imports verl and builds a tokenizer")
    args = ap.parse_args(argv)
    bench_reward(args.n, args.repeat)
    if not args.skip_rollout:
        bench_rollout(args.repeat)
    bench_tool_call(args.repeat)


if __name__ == "__main__":
    main()
