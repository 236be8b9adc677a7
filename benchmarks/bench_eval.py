"""How fast does ``tl-eval`` score a BFCL predictions file? Against BFCL's own checker, same answers.

Builds one predictions file over every BFCL single-turn category the plugin evaluates (the eight
AST categories plus irrelevance, live_irrelevance and live_relevance: 3,491 samples), each sample
answered in BFCL's Python syntax with its gold answer or a mutation of it (the builder is
``tests/helpers/bfcl_samples.py``; about a third of the answers are right), and times, in one run:

(a) ``tl-eval`` in-process (``evaluate``): read the BFCL data and the predictions, score every
    sample, write results.jsonl, report.json and the PNG chart; the scoring phase alone as well;
(b) the ``tl-eval`` console script end to end (process start, imports, Hydra, all of (a));
(c) the baseline: BFCL's own judging of the same answers, in process: its prompt-mode decoder
    (``default_decode_ast_prompting``) on each answer, then ``ast_checker`` (AST categories) or
    the relevance rule (``is_empty_output``); data loading and file IO not counted.

Needs ``bfcl-eval`` installed (``pip install --no-deps bfcl-eval``) and ``tenacity`` (test
extra). Run: ``python benchmarks/bench_eval.py [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.helpers.bfcl_samples import (  # noqa: E402
    CATEGORIES as AST_CATEGORIES,
)
from tests.helpers.bfcl_samples import (
    NO_CALL_TEXT,
    bfcl_checker,
    bfcl_relevance_checker,
    load_samples,
    predictions,
    render_hermes,
    render_python,
)
from tl_plugin.cli.evaluate import eval_config, evaluate  # noqa: E402
from tl_plugin.evaluation.samples import BFCL_CATEGORIES, bfcl_samples  # noqa: E402

RELEVANCE = ("irrelevance", "live_irrelevance", "live_relevance")


def build(path: Path):
    """Write the predictions file; return BFCL-side jobs ``(sample or category, text, calls)``."""
    ast = {s.id: s for s in load_samples(AST_CATEGORIES)}
    jobs, lines = [], []
    for s in bfcl_samples(BFCL_CATEGORIES):
        pick = zlib.crc32(s.id.encode())
        if s.category in RELEVANCE:
            tools = json.loads(s.tools_json)
            call = [(tools[0]["name"], {})] if tools and pick % 2 else []
            text = (render_python(call) if call else None) or NO_CALL_TEXT
            jobs.append((s.category, text, None))
        else:
            preds = predictions(ast[s.id])
            pred = preds[pick % len(preds)]
            # Python syntax cannot carry a few names (keywords, '-'): those answer in hermes
            text = render_python(pred.calls) or render_hermes(pred.calls)
            jobs.append((ast[s.id], text, pred.calls))
        lines.append(json.dumps({"id": s.id, "response": text}) + "\n")
    path.write_text("".join(lines))
    return jobs


def bfcl_baseline(jobs) -> float:
    """Seconds for BFCL's decoder + checker over every answer; returns (seconds, n right)."""
    check, holds_call = bfcl_checker(), bfcl_relevance_checker()
    from bfcl_eval.model_handler.utils import default_decode_ast_prompting

    right = 0
    start = time.perf_counter()
    for sample, text, calls in jobs:
        if calls is None:
            right += holds_call(text) == (sample == "live_relevance")
            continue
        try:
            default_decode_ast_prompting(text)  # BFCL decodes the raw answer first
        except Exception:
            pass
        right += check(sample, calls)
    return time.perf_counter() - start, right


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench_eval_"))
    preds = tmp / "predictions.jsonl"
    jobs = build(preds)
    n = len(jobs)
    print(
        f"{n} samples over {len(BFCL_CATEGORIES)} BFCL categories; predictions file {preds.stat().st_size / 1e6:.1f} MB"
    )

    best_total = best_score = None
    for _ in range(args.repeat):
        start = time.perf_counter()
        report = evaluate(eval_config([f"predictions={preds}", f"out={tmp / 'eval'}"]))
        total = time.perf_counter() - start
        best_total = total if best_total is None else min(best_total, total)
        score = report["seconds"]["score"]
        best_score = score if best_score is None else min(best_score, score)
    accuracy = report["overall"]["accuracy"]

    exe = Path(sys.executable).parent / "tl-eval"
    start = time.perf_counter()
    subprocess.run([str(exe), f"predictions={preds}", f"out={tmp / 'cli'}"], check=True, capture_output=True)
    cli = time.perf_counter() - start

    best_bfcl = None
    for _ in range(args.repeat):
        seconds, right = bfcl_baseline(jobs)
        best_bfcl = seconds if best_bfcl is None else min(best_bfcl, seconds)

    print(f"(a) tl-eval in-process, everything (data, scoring, results, report, chart): {best_total:6.2f} s")
    print(
        f"    scoring phase only:                                 {best_score:6.2f} s  = {n / best_score:8,.0f} samples/s"
    )
    print(f"(b) tl-eval console script, end to end:                 {cli:6.2f} s")
    print(
        f"(c) baseline, BFCL decoder + checker on the same answers: {best_bfcl:6.2f} s = {n / best_bfcl:8,.0f} samples/s"
    )
    print(f"scoring: tl-eval / BFCL = {best_score / best_bfcl:.2f}x")
    print(
        f"accuracy: tl-eval {100 * accuracy:.2f}%, BFCL {100 * right / n:.2f}% (agreement is tested in tests/tl_plugin/cli/test_eval_bfcl.py)"
    )


if __name__ == "__main__":
    main()
