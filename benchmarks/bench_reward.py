"""How fast is the IRM reward? Full ``compute_score`` against a parse-only floor, on BFCL data.

Builds 10,000 responses from BFCL samples (gold answers and mutations, hermes format, with their
ground truth and tool strings; the builder is ``tests/helpers/bfcl_samples.py``, shared with the BFCL
agreement test) and times, in one run:

(a) the full reward, ``reward_fns.tl_tool.compute_score``, over all 10,000;
(b) the floor: ``json.loads`` of the same tool-call JSON payloads (the text inside the
    ``<tool_call>`` blocks) and nothing else.

Each is repeated and the best time kept (``time.perf_counter``); the decode caches are warm after
the first pass, as in GRPO where a group of responses shares one ground truth. The target is a
full reward at most 3x the floor. Also compares, on the tiny assignment matrices the reward
solves (2x2 .. 5x5), ``scipy.optimize.linear_sum_assignment`` with the small exact solver in
``reward_fns.matching``, and the cost of the TRL and OpenRLHF adapters
(``reward_fns/trl_reward.py``, ``reward_fns/openrlhf_reward.py``) over the bare reward.

Needs ``bfcl-eval`` installed (``pip install --no-deps bfcl-eval``). Run:
``python benchmarks/bench_reward.py [--n 10000] [--repeat 5]``.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from timing import best_time  # noqa: E402  (benchmarks/timing.py, beside this script)

from reward_fns import tl_tool  # noqa: E402
from reward_fns.matching import pair_matching, scipy_matching  # noqa: E402
from reward_fns.tl_tool import compute_score  # noqa: E402
from tests.helpers.bfcl_samples import CATEGORIES, load_samples, predictions, render_hermes  # noqa: E402

TARGET_RATIO = 3.0
# Pair rewards that occur in the matrices (correct, content, parameter sums, wrong tool, ...).
REWARD_LEVELS = [1.0, -0.25, -0.5, -0.8, -1.0, -1.3, -1.5, -1.8, -2.0]


def build(n: int):
    """``n`` rows ``(text, ground_truth, extra_info, payloads)``, spread evenly over every
    prediction of every category."""
    preds = [pred for sample in load_samples(CATEGORIES) for pred in predictions(sample)]
    chosen = [preds[i * len(preds) // n] for i in range(n)]
    rows = []
    for pred in chosen:
        payloads = [json.dumps({"name": name, "arguments": args}, ensure_ascii=False) for name, args in pred.calls]
        text = render_hermes(pred.calls)
        assert all(f"<tool_call>{p}</tool_call>" in text for p in payloads)
        rows.append((text, pred.sample.ground_truth, {"tools": pred.sample.tools}, payloads))
    return rows, len(preds)


# reward_kwargs exactly as reward=tl_tool passes them (tl_plugin/configs/tl_reward_kwargs/default.yaml)
VERL_REWARD_KWARGS = yaml.safe_load((ROOT / "tl_plugin/configs/tl_reward_kwargs/default.yaml").read_text())


def clear_caches():
    """Forget decoded ground truths, tool indexes and compiled value tests."""
    tl_tool._gold_and_tools.cache_clear()


def bench_reward(rows, repeat: int) -> None:
    def full():
        for text, gt, extra, _ in rows:
            compute_score("bfcl", text, gt, extra)

    def full_verl_kwargs():  # as verl calls it under reward=tl_tool: every reward value passed
        for text, gt, extra, _ in rows:
            compute_score("bfcl", text, gt, extra, **VERL_REWARD_KWARGS)

    def floor():
        loads = json.loads
        for _, _, _, payloads in rows:
            for p in payloads:
                loads(p)

    n = len(rows)
    n_calls = sum(len(r[3]) for r in rows)
    scipy_matching([[0.0, 1.0], [1.0, 0.0]])  # import scipy now, not inside the cold pass
    clear_caches()
    t0 = time.perf_counter()
    full()
    cold = time.perf_counter() - t0
    t_full = t_floor = t_kwargs = float("inf")
    for _ in range(repeat):  # interleaved, so that load from elsewhere hits all alike
        t_floor = min(t_floor, best_time(floor, 1))
        t_full = min(t_full, best_time(full, 1))
        t_kwargs = min(t_kwargs, best_time(full_verl_kwargs, 1))
    ratio = t_full / t_floor
    print(f"responses: {n} ({n_calls} tool calls, {sum(1 for r in rows if not r[3])} without a call)")
    print(
        f"(a) full compute_score : {n / t_full:12,.0f} samples/s  ({t_full * 1e6 / n:6.2f} us/sample, best of {repeat})"
    )
    print(f"    first pass, cold caches: {n / cold:6,.0f} samples/s  ({cold * 1e6 / n:6.2f} us/sample)")
    print(
        f"    with reward=tl_tool's reward_kwargs: {n / t_kwargs:,.0f} samples/s  ({t_kwargs * 1e6 / n:6.2f} us/sample, {t_kwargs / t_floor:.2f}x floor)"
    )
    print(
        f"(b) floor, json.loads  : {n / t_floor:12,.0f} samples/s  ({t_floor * 1e6 / n:6.2f} us/sample, best of {repeat})"
    )
    verdict = "OK" if ratio <= TARGET_RATIO else "OVER TARGET"
    print(f"ratio full/floor       : {ratio:.2f}x  (target <= {TARGET_RATIO:.0f}x: {verdict})")


def bench_adapters(rows, repeat: int, group: int = 8) -> None:
    """The TRL and OpenRLHF adapters against the bare ``compute_score`` on the same responses.

    TRL: chat-message completions, tl-prepare's nested columns, ``log_metric`` collecting the
    breakdown, in batches of ``group`` (TRL calls the reward once per generation batch).
    OpenRLHF: one query at a time (as its executor calls the file), the prompt in front of the
    response, the label a JSON string, tensors out (torch is installed here, as in OpenRLHF).
    """
    from reward_fns.openrlhf_reward import reward_func, tl_tool_label
    from reward_fns.trl_reward import tl_tool_reward

    prompt = "<|im_start|>user\nWhat is the weather like in Paris today?<|im_end|>\n<|im_start|>assistant\n"
    batches = []
    for start in range(0, len(rows), group):
        chunk = rows[start : start + group]
        batches.append(
            (
                [[{"role": "assistant", "content": text}] for text, _, _, _ in chunk],
                [{"ground_truth": gt, "style": "rule"} for _, gt, _, _ in chunk],
                [{"tools": extra["tools"], "index": 0} for _, _, extra, _ in chunk],
                ["bfcl"] * len(chunk),
            )
        )
    labels = [(prompt + text, tl_tool_label(gt, extra["tools"], "bfcl")) for text, gt, extra, _ in rows]
    logged = []

    def bare():
        for text, gt, extra, _ in rows:
            compute_score("bfcl", text, gt, extra)

    def trl():
        for completions, reward_model, extra_info, sources in batches:
            tl_tool_reward(
                completions,
                reward_model=reward_model,
                extra_info=extra_info,
                data_source=sources,
                log_metric=lambda k, v: logged.append(v),
            )

    def openrlhf():
        for query, label in labels:
            reward_func([query], [prompt], [label])

    reward_func(*zip(*[(q, prompt, lab) for q, lab in labels[:2]]))  # import torch outside the timing
    n = len(rows)
    t_bare = t_trl = t_orl = float("inf")
    for _ in range(repeat):
        t_bare = min(t_bare, best_time(bare, 1))
        t_trl = min(t_trl, best_time(trl, 1))
        t_orl = min(t_orl, best_time(openrlhf, 1))
    print(f"adapters (same {n} responses, best of {repeat}):")
    print(f"  bare compute_score      : {t_bare * 1e6 / n:6.2f} us/sample")
    print(
        f"  TRL tl_tool_reward      : {t_trl * 1e6 / n:6.2f} us/sample  (+{(t_trl - t_bare) * 1e6 / n:.2f} us, batches of {group})"
    )
    print(
        f"  OpenRLHF reward_func    : {t_orl * 1e6 / n:6.2f} us/sample  (+{(t_orl - t_bare) * 1e6 / n:.2f} us, one query a call)"
    )


def bench_matching(repeat: int) -> None:
    rng = random.Random(0)
    print("assignment solvers, us per call (random matrices of reward levels; best of", repeat, "x 2000):")
    print(f"  {'shape':>5s} {'scipy lsa':>10s} {'two-call':>10s} {'exhaustive':>11s}")
    for shape in [(2, 2), (2, 3), (3, 2), (2, 4), (3, 3), (3, 4), (4, 4), (4, 5), (5, 5)]:
        mats = [[[rng.choice(REWARD_LEVELS) for _ in range(shape[1])] for _ in range(shape[0])] for _ in range(2000)]
        for m in mats:  # same optimum as scipy
            total = sum(m[i][j] for i, j in scipy_matching(m))
            if 2 in shape:
                assert abs(sum(m[i][j] for i, j in pair_matching(m)) - total) < 1e-9
            assert abs(sum(m[i][j] for i, j in _exhaustive(m)) - total) < 1e-9
        t_scipy = best_time(lambda mats=mats: [scipy_matching(m) for m in mats], repeat) / len(mats) * 1e6
        t_pair = (
            best_time(lambda mats=mats: [pair_matching(m) for m in mats], repeat) / len(mats) * 1e6
            if 2 in shape
            else None
        )
        t_exh = best_time(lambda mats=mats: [_exhaustive(m) for m in mats], repeat) / len(mats) * 1e6
        pair = f"{t_pair:10.2f}" if t_pair is not None else f"{'-':>10s}"
        print(f"  {shape[0]}x{shape[1]:<3d} {t_scipy:10.2f} {pair} {t_exh:11.2f}")


def _exhaustive(scores):
    """Exact small solver for comparison: bitmask DP over used columns (rows <= cols)."""
    if len(scores) > len(scores[0]):
        return sorted((i, j) for j, i in _exhaustive([list(c) for c in zip(*scores)]))
    best = {0: (0.0, ())}
    n_cols = len(scores[0])
    for row in scores:
        nxt = {}
        for mask, (total, cols) in best.items():
            for j in range(n_cols):
                bit = 1 << j
                if not mask & bit:
                    t = total + row[j]
                    cur = nxt.get(mask | bit)
                    if cur is None or t > cur[0]:
                        nxt[mask | bit] = (t, cols + (j,))
        best = nxt
    _, cols = max(best.values())
    return list(enumerate(cols))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    rows, n_preds = build(args.n)
    print(f"built {len(rows)} responses from {n_preds} BFCL-derived predictions in {time.perf_counter() - t0:.1f}s")
    bench_reward(rows, args.repeat)
    bench_adapters(rows, args.repeat)
    bench_matching(args.repeat)


if __name__ == "__main__":
    main()
