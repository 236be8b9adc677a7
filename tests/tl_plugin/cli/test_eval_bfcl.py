"""``tl-eval`` on BFCL agrees with BFCL's own checker in every single-turn category.

Two levels:

- Relevance (irrelevance, live_irrelevance, live_relevance; 1,140 samples): every sample gets a
  set of answers (plain text, ``[]``, a call, a call without arguments, two calls, a call to a
  tool that does not exist, a torn call, a call after prose), each rendered in BFCL's Python
  syntax and as hermes ``<tool_call>`` blocks, and judged by :func:`score_sample`. BFCL's verdict
  comes from its runner's own rule (``bfcl_relevance_checker``: its prompt-mode decoder plus
  ``is_empty_output``) on the Python text. A hermes answer carries the same calls in the
  structured form BFCL's function-calling handlers decode, so its reference verdict is BFCL's on
  the Python rendering of those calls (none for a torn block).
- End to end: predictions files covering all 11 categories (3,491 samples), each sample answered
  with its gold answer or one of its mutations (``tests/helpers/bfcl_samples.py``), are scored by
  ``tl-eval`` itself (Hydra config, predictions file, results.jsonl, report.json). Each result row
  must equal BFCL's verdict except the listed disagreements (``EXPECTED_DISAGREEMENTS``), and each
  category's accuracy in the report must equal BFCL's accuracy on the same answers.

The AST categories' full mutation grid (both formats, about 32,000 predictions) is checked at the
reward level in ``tests/reward_fns/test_bfcl_agreement.py``; here the same rules are checked through the
evaluation pipeline. Run with ``-s`` to see the match rates.
"""

from __future__ import annotations

import json
import zlib
from collections import Counter

import pytest

from tests.helpers.bfcl_samples import (  # noqa: E402
    CATEGORIES as AST_CATEGORIES,
)
from tests.helpers.bfcl_samples import (
    EXPECTED_DISAGREEMENTS,
    _filler,
    bfcl_checker,
    bfcl_relevance_checker,
    load_samples,
    predictions,
    render,
    render_python,
)
from tl_plugin.cli.evaluate import eval_config, evaluate  # noqa: E402
from tl_plugin.evaluation.judge import score_sample  # noqa: E402
from tl_plugin.evaluation.samples import BFCL_CATEGORIES, bfcl_samples  # noqa: E402

RELEVANCE = ("irrelevance", "live_irrelevance", "live_relevance")
COUNTS = {"simple_python": 400, "multiple": 200, "parallel": 200, "parallel_multiple": 200, "live_simple": 258,
          "live_multiple": 1053, "live_parallel": 16, "live_parallel_multiple": 24, "irrelevance": 240,
          "live_irrelevance": 884, "live_relevance": 16}  # fmt: skip
TEXT = "None of the available functions can answer this; please ask about something they cover."


@pytest.fixture(scope="module")
def eval_samples():
    return {s.id: s for s in bfcl_samples(BFCL_CATEGORIES)}


def _call(tool: dict) -> tuple:
    """A call of ``tool`` with every required parameter filled."""
    props = tool["parameters"].get("properties", {})
    return (tool["name"], {p: _filler(props.get(p, {})) for p in tool["parameters"].get("required", [])})


def relevance_answers(sample) -> dict:
    """kind -> (python text, hermes text, calls the hermes text carries or None if torn)."""
    tools = json.loads(sample.tools_json)  # a few live_irrelevance questions offer no tool at all
    first = _call(tools[0]) if tools else ("get_weather", {"city": "Paris"})
    answers = {
        "text": (TEXT, TEXT, []),
        "empty_list": ("[]", "[]", []),
        "call": (render_python([first]), render([first], "hermes"), [first]),
        "call_no_args": (render_python([(first[0], {})]), render([(first[0], {})], "hermes"), [(first[0], {})]),
        "hallucinated_tool": (render_python([("zq_no_such_tool", {"x": 1})]), render([("zq_no_such_tool", {"x": 1})], "hermes"), [("zq_no_such_tool", {"x": 1})]),
        "prose_then_call": ("Sure, here you go: " + (render_python([first]) or ""), "Sure, here you go: " + render([first], "hermes"), [first]),
    }  # fmt: skip
    hermes = render([first], "hermes")
    python = render_python([first])
    answers["torn_call"] = (python[:-3] if python else None, hermes[: len(hermes) // 2], None)
    if len(tools) > 1:
        calls = [first, _call(tools[1])]
        answers["two_calls"] = (render_python(calls), render(calls, "hermes"), calls)
    return answers


def test_every_category_is_read_with_bfcl_counts(eval_samples):
    assert Counter(s.category for s in eval_samples.values()) == COUNTS
    rules = {s.category: s.rule for s in eval_samples.values()}
    assert rules["irrelevance"] == rules["live_irrelevance"] == "no_call"
    assert rules["live_relevance"] == "any_call"
    assert {rules[c] for c in AST_CATEGORIES} == {"calls"}


def test_relevance_verdicts_agree_with_bfcl(eval_samples):
    holds_call = bfcl_relevance_checker()
    n = 0
    disagreements = []
    by_category = Counter()
    for sample in eval_samples.values():
        if sample.category not in RELEVANCE:
            continue
        for kind, (python, hermes, calls) in relevance_answers(sample).items():
            want_call = sample.rule == "any_call"
            if python is not None:
                expected = holds_call(python) == want_call
                got = score_sample(sample, python)["accuracy"]
                n += 1
                if got != expected:
                    disagreements.append((sample.id, kind, "python", python))
            expected = (calls is not None and holds_call(render_python(calls) or "[]") == True) == want_call  # noqa: E712
            got = score_sample(sample, hermes)["accuracy"]
            n += 1
            by_category[sample.category] += 1
            if got != expected:
                disagreements.append((sample.id, kind, "hermes", hermes))
    print(
        f"\nrelevance agreement with BFCL: {n - len(disagreements)}/{n} answers; per category (hermes): {dict(by_category)}"
    )
    assert disagreements == []
    assert n > 15_000


def test_relevance_answers_cover_both_verdicts(eval_samples):
    """The answer set is not one-sided: BFCL finds a call in some and none in others."""
    holds_call = bfcl_relevance_checker()
    sample = next(s for s in eval_samples.values() if s.category == "irrelevance")
    verdicts = {kind: holds_call(python) for kind, (python, _, _) in relevance_answers(sample).items() if python}
    assert verdicts["call"] and verdicts["call_no_args"] and verdicts["hallucinated_tool"]
    assert not verdicts["text"] and not verdicts["empty_list"] and not verdicts["torn_call"]
    assert not verdicts["prose_then_call"]  # BFCL's prompt decoder needs the answer to be the call list


def _round_answers(eval_samples, round_no: int) -> dict:
    """(id -> (kind, response text, BFCL verdict)) for one predictions file; round 0 is gold."""
    check, holds_call = bfcl_checker(), bfcl_relevance_checker()
    ast_samples = {s.id: s for s in load_samples(AST_CATEGORIES)}
    out = {}
    for sid, sample in eval_samples.items():
        if sample.rule == "calls":
            preds = predictions(ast_samples[sid])
            pred = preds[0] if round_no == 0 else preds[zlib.crc32(f"{sid}/{round_no}".encode()) % len(preds)]
            out[sid] = (pred.kind, render(pred.calls, "hermes"), check(ast_samples[sid], pred.calls))
        else:
            answers = relevance_answers(sample)
            kinds = sorted(k for k, v in answers.items() if v[0] is not None)
            kind = "text" if round_no == 0 else kinds[zlib.crc32(f"{sid}/{round_no}".encode()) % len(kinds)]
            python = answers[kind][0]
            verdict = holds_call(python) == (sample.rule == "any_call")
            out[sid] = (kind, python, verdict)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("round_no", [0, 1, 2])
def test_tl_eval_reproduces_bfcl_accuracy_per_category(eval_samples, tmp_path, round_no):
    answers = _round_answers(eval_samples, round_no)
    preds = tmp_path / "predictions.jsonl"
    with preds.open("w") as fh:
        for sid, (_, text, _) in answers.items():
            fh.write(json.dumps({"id": sid, "response": text}) + "\n")
    out = tmp_path / "eval"
    report = evaluate(eval_config([f"predictions={preds}", f"out={out}", "chart=false"]))

    rows = {json.loads(line)["id"]: json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()}
    assert len(rows) == sum(COUNTS.values()) == report["counts"]["scored"]
    disagreements = {(sid, answers[sid][0]) for sid, row in rows.items() if row["accuracy"] != answers[sid][2]}
    listed = {key for key in EXPECTED_DISAGREEMENTS if key[0] in answers and answers[key[0]][0] == key[1]}
    assert disagreements == listed

    lines = []
    for category, n in COUNTS.items():
        ids = [sid for sid, s in eval_samples.items() if s.category == category]
        bfcl = sum(answers[sid][2] for sid in ids) / n
        ours = report["categories"][category]["accuracy"]
        off = {(sid, answers[sid][0]) for sid in ids} & disagreements
        # a category's accuracy differs from BFCL's by exactly its listed disagreements
        assert ours == pytest.approx(bfcl + sum(1 if rows[sid]["accuracy"] else -1 for sid, _ in off) / n)
        assert report["categories"][category]["n"] == n
        lines.append(f"  {category:24s} BFCL {100 * bfcl:6.2f}%  tl-eval {100 * ours:6.2f}%")
    n_agree = len(rows) - len(disagreements)
    print(f"\nround {round_no}: tl-eval agrees with BFCL on {n_agree}/{len(rows)} answers ({len(listed)} listed)")
    print("\n".join(lines))
    if round_no == 0:
        # plain text: right for irrelevance, wrong for live_relevance; gold answers almost always right
        for category in RELEVANCE:
            assert report["categories"][category]["accuracy"] == (0.0 if category == "live_relevance" else 1.0)
        assert all(report["categories"][c]["accuracy"] > 0.98 for c in AST_CATEGORIES)
