"""``tl-eval`` as users run it: predictions mode, generate mode, reports, charts and ``compare``.

Real parts: the console script and Hydra config, BFCL data from the installed wheel, the reward's
scoring, matplotlib, and in generate mode the Hugging Face backend with a tiny random Qwen2 model
and a real BPE tokenizer built in the test (nothing can be downloaded here). A scripted backend
stands in for a model where a test needs answers it can predict (the registry is the extension
point the backends share).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import open_dict

from tests.helpers import DATA_DIR, ROOT
from tests.helpers.bfcl_samples import NO_CALL_TEXT, load_samples, predictions, render  # noqa: E402
from tl_plugin.cli.evaluate import eval_config, evaluate  # noqa: E402
from tl_plugin.cli.evaluate import load_samples as eval_samples
from tl_plugin.evaluation.compare import compare_reports, load_report  # noqa: E402
from tl_plugin.generation import BACKENDS  # noqa: E402

DATA = DATA_DIR


def tl_eval(*args, cwd=None):
    """Run the installed console script; returns the CompletedProcess."""
    exe = Path(sys.executable).parent / "tl-eval"
    return subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True, cwd=cwd or ROOT, timeout=600)


def write_jsonl(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def gold_predictions(categories, limit=None, wrong_every=0) -> list:
    """Gold answers as hermes text; every ``wrong_every``-th sample answers with plain text."""
    rows = []
    per_cat = {}
    for s in load_samples(categories):
        per_cat[s.category] = per_cat.get(s.category, 0) + 1
        if limit and per_cat[s.category] > limit:
            continue
        gold = predictions(s)[0]
        text = render(gold.calls, "hermes")
        if wrong_every and len(rows) % wrong_every == 0:
            text = NO_CALL_TEXT
        rows.append({"id": s.id, "response": text})
    return rows


# --------------------------------------------------------------------------- predictions mode


def test_cli_scores_a_predictions_file_and_writes_report_results_and_chart(tmp_path):
    rows = gold_predictions(["simple_python", "parallel"], limit=6)
    rows += [{"id": f"irrelevance_{i}", "response": NO_CALL_TEXT if i % 2 else "[f(x=1)]"} for i in range(4)]
    preds = write_jsonl(tmp_path / "preds.jsonl", rows)
    out = tmp_path / "eval"
    proc = tl_eval(f"predictions={preds}", f"out={out}", "categories=[simple_python,parallel,irrelevance]", "limit=6",
                   "on_missing=skip")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "simple_python" in proc.stdout and "overall" in proc.stdout

    report = json.loads((out / "report.json").read_text())
    cats = report["categories"]
    assert list(cats) == ["simple_python", "parallel", "irrelevance"]
    assert cats["simple_python"]["n"] == 6 and cats["simple_python"]["accuracy"] == 1.0
    assert cats["simple_python"]["ts"] == cats["simple_python"]["cf"] == 1.0
    # irrelevance: 4 answers given, 2 of them calls; the other 2 samples (limit 6) are skipped
    assert cats["irrelevance"]["n"] == 4 and cats["irrelevance"]["accuracy"] == 0.5
    assert report["counts"]["missing"] == {"irrelevance": 2}
    assert report["counts"]["missing_ids"]["irrelevance"] == ["irrelevance_4", "irrelevance_5"]
    assert report["overall"]["n"] == 16
    assert report["overall"]["accuracy"] == pytest.approx(14 / 16)
    assert report["overall"]["macro_accuracy"] == pytest.approx((1 + 1 + 0.5) / 3)

    results = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert len(results) == 16 and {r["category"] for r in results} == set(cats)
    wrong = [r for r in results if not r["accuracy"]]
    assert {r["id"] for r in wrong} == {"irrelevance_0", "irrelevance_2"}
    assert all(r["score"] == -1.5 for r in wrong)  # a call where none is wanted

    from PIL import Image

    with Image.open(out / "report.png") as img:
        assert img.format == "PNG" and img.size[0] >= 600 and img.size[1] >= 600


def test_error_breakdown_counts_each_category(tmp_path):
    sample = next(s for s in load_samples(["simple_python"]) if s.id == "simple_python_0")
    ((name, args),) = predictions(sample)[0].calls
    responses = {
        "simple_python_0": render([(name, args)], "hermes"),
        "simple_python_1": "<tool_call>{not json</tool_call>",
        "simple_python_2": render([("no_such_tool", {})], "hermes"),
        "simple_python_3": "I do not know.",
    }
    preds = write_jsonl(tmp_path / "p.jsonl", [{"id": k, "response": v} for k, v in responses.items()])
    report = evaluate(
        eval_config(
            [f"predictions={preds}", f"out={tmp_path / 'e'}", "categories=[simple_python]", "limit=4", "chart=false"]
        )
    )
    errors = report["categories"]["simple_python"]["errors"]
    assert errors["malformed"] == errors["tool_hallucination"] == errors["no_call"] == 0.25
    assert errors["wrong_tool"] == errors["content"] == 0.0
    assert report["categories"]["simple_python"]["score"] == pytest.approx((1 - 2 - 2 - 2) / 4)


def test_bad_predictions_files_name_the_line_and_field(tmp_path):
    out = tmp_path / "e"
    cases = {
        "not json": ('{"id": "simple_python_0", "response": "x"}\n{oops\n', ":2: not valid JSON"),
        "no response": ('{"id": "simple_python_0"}\n', ":1: field 'response' must be the model's raw text"),
        "bad id": ('{"id": [1], "response": "x"}\n', ":1: field 'id' must be a string or an integer"),
        "duplicate": (
            '{"id": "a", "response": "x"}\n{"id": "a", "response": "y"}\n',
            ":2: id 'a' already given in row duplicate.jsonl:1",
        ),
    }
    for name, (text, message) in cases.items():
        path = tmp_path / f"{name.replace(' ', '_')}.jsonl"
        path.write_text(text)
        with pytest.raises(ValueError) as exc:
            evaluate(eval_config([f"predictions={path}", f"out={out}", "categories=[simple_python]"]))
        assert str(path) + message in str(exc.value), name


def test_missing_and_foreign_predictions_are_errors_that_say_what_to_do(tmp_path):
    preds = write_jsonl(tmp_path / "p.jsonl", gold_predictions(["simple_python"], limit=3))
    with pytest.raises(
        ValueError, match=r"397 samples have no prediction .*simple_python: 397 \(e\.g\. \['simple_python_3'"
    ):
        evaluate(eval_config([f"predictions={preds}", f"out={tmp_path / 'e'}", "categories=[simple_python]"]))
    with pytest.raises(ValueError, match="none of the 3 ids .* is a sample id of benchmark=bfcl"):
        evaluate(eval_config([f"predictions={preds}", f"out={tmp_path / 'e'}", "categories=[multiple]"]))
    # predictions for other categories are ignored, and counted
    report = evaluate(eval_config([f"predictions={preds}", f"out={tmp_path / 'e'}", "categories=[simple_python,multiple]",
                                   "on_missing=skip", "chart=false"]))  # fmt: skip
    assert report["counts"]["scored"] == 3 and report["counts"]["missing"] == {"simple_python": 397, "multiple": 200}


def test_bad_settings_are_refused_by_name(tmp_path):
    preds = write_jsonl(tmp_path / "p.jsonl", gold_predictions(["simple_python"], limit=1))
    base = [f"predictions={preds}", f"out={tmp_path / 'e'}"]
    for override, message in [
        ("benchmark=bfcl2", "benchmark must be one of"),
        ("categories=[simple_java]", "categories must be among"),
        ("on_missing=ignore", "on_missing must be error or skip"),
        ("limit=0", "limit must be a positive number"),
        ("benchmark=rotbench", "benchmark=rotbench needs input=FILE"),
        ("tools_in_prompt=xml", "tools_in_prompt must be native or system_text"),
    ]:
        with pytest.raises(ValueError, match=message):
            evaluate(eval_config([*base, override]))


def test_bfcl_result_files_are_read_with_response_field(tmp_path):
    """BFCL's own generation output names the text ``result``."""
    rows = [{"id": r["id"], "result": r["response"]} for r in gold_predictions(["simple_python"], limit=2)]
    preds = write_jsonl(tmp_path / "bfcl_result.jsonl", rows)
    report = evaluate(eval_config([f"predictions={preds}", f"out={tmp_path / 'e'}", "categories=[simple_python]",
                                   "limit=2", "response_field=result", "chart=false"]))  # fmt: skip
    assert report["categories"]["simple_python"]["accuracy"] == 1.0


def test_dot_to_underscore_renames_tools_and_gold_alike(tmp_path):
    sample = next(s for s in load_samples(["simple_python"]) if "." in predictions(s)[0].calls[0][0])
    ((name, args),) = predictions(sample)[0].calls
    under = name.replace(".", "_")
    for dot, answer, expected in [(False, name, 1.0), (False, under, 0.0), (True, under, 1.0), (True, name, 0.0)]:
        preds = write_jsonl(tmp_path / "p.jsonl", [{"id": sample.id, "response": render([(answer, args)], "hermes")}])
        report = evaluate(eval_config([f"predictions={preds}", f"out={tmp_path / 'e'}", "categories=[simple_python]",
                                       "on_missing=skip", "chart=false", f"bfcl.dot_to_underscore={dot}"]))  # fmt: skip
        assert report["categories"]["simple_python"]["accuracy"] == expected, (dot, answer)


# --------------------------------------------------------------------------- RoTBench


def test_rotbench_files_are_scored_with_the_cascade(tmp_path):
    samples = eval_samples(eval_config(["benchmark=rotbench", f"input=[{DATA / 'rotbench_eval.json'}]", "out=x"]))
    assert samples and all(s.category == "rotbench_eval" and s.rule == "rotbench" and s.tools is None for s in samples)
    assert samples[0].id == "rotbench_eval:0"
    from data_transforms.rotbench_data import read_rotbench

    rows = []
    for i, s in enumerate(read_rotbench(DATA / "rotbench_eval.json")):
        answer = s.answers[0]
        if i == 0:  # the right tool with one parameter too many: TS only
            answer = {"name": answer["name"], "arguments": {**answer["arguments"], "zq_extra": "1"}}
        text = f"Thought: ok\nAction: {answer['name']}\nAction Input: {json.dumps(answer['arguments'])}"
        rows.append({"id": s.id, "response": text})
    preds = write_jsonl(tmp_path / "p.jsonl", rows)
    report = evaluate(eval_config(["benchmark=rotbench", f"input=[{DATA / 'rotbench_eval.json'}]", f"predictions={preds}",
                                   f"out={tmp_path / 'e'}"]))  # fmt: skip
    stats = report["categories"]["rotbench_eval"]
    n = len(rows)
    assert stats["n"] == n
    # judged as RoTBench's evaluate.py judges: rows 6 and 7 answer `{}` (their tools take no
    # parameters), which evaluate.py fails on all three
    assert report["rotbench_judging"] == "evaluate.py"
    assert stats["ts"] == pytest.approx((n - 2) / n)
    assert stats["pi"] == stats["cf"] == stats["accuracy"] == pytest.approx((n - 3) / n)
    assert stats["errors"]["param_hallucination"] == pytest.approx(1 / n)
    assert stats["errors"]["malformed"] == pytest.approx(2 / n)
    assert (tmp_path / "e" / "report.png").is_file()
    # the lenient reading, asked for: `{}` is a valid call there, and the report says how it judged
    report = evaluate(eval_config(["benchmark=rotbench", f"input=[{DATA / 'rotbench_eval.json'}]", f"predictions={preds}",
                                   f"out={tmp_path / 'l'}", "reward_kwargs.format=react", "chart=false"]))  # fmt: skip
    stats = report["categories"]["rotbench_eval"]
    assert report["rotbench_judging"] == "lenient (format=react)"
    assert stats["ts"] == 1.0
    assert stats["pi"] == stats["cf"] == stats["accuracy"] == pytest.approx((n - 1) / n)


def test_rotbench_hermes_answers_are_wrong_unless_a_lenient_format_is_asked_for(tmp_path, capsys):
    from data_transforms.rotbench_data import read_rotbench

    rows = [
        {"id": s.id, "response": render([(s.answers[0]["name"], s.answers[0]["arguments"])], "hermes")}
        for s in read_rotbench(DATA / "rotbench_eval.json")
    ]
    preds = write_jsonl(tmp_path / "p.jsonl", rows)
    base = ["benchmark=rotbench", f"input=[{DATA / 'rotbench_eval.json'}]", f"predictions={preds}", "chart=false"]
    report = evaluate(eval_config([*base, f"out={tmp_path / 'd'}"]))
    stats = report["categories"]["rotbench_eval"]
    assert report["rotbench_judging"] == "evaluate.py"
    assert stats["ts"] == stats["pi"] == stats["cf"] == 0.0 and stats["errors"]["no_call"] == 1.0
    # format=auto on the command line: the hermes calls are read, and the report and console say so
    proc = tl_eval(*base, f"out={tmp_path / 'a'}", "reward_kwargs.format=auto")
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "a" / "report.json").read_text())
    assert report["rotbench_judging"] == "lenient (format=auto)"
    assert report["categories"]["rotbench_eval"]["ts"] == 1.0
    out = " ".join(proc.stdout.split())
    assert "judging: lenient (format=auto)" in out and "NOT comparable with the paper's figures" in out
    # compare warns that the two runs were judged differently
    from tl_plugin.evaluation.compare import main as compare_main

    assert compare_main([str(tmp_path / "d" / "report.json"), str(tmp_path / "a" / "report.json")]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "judged RoTBench differently (A: evaluate.py, B: lenient (format=auto))" in out


def test_rotbench_report_printing_marks_the_judging():
    from rich.console import Console

    from tl_plugin.evaluation.report import print_report

    stats = {
        "n": 1,
        "accuracy": 1.0,
        "score": 1.0,
        "ts": 1.0,
        "pi": 1.0,
        "cf": 1.0,
        "errors": {},
        "macro_accuracy": 1.0,
    }
    for judging, warned in (("evaluate.py", False), ("lenient (format=auto)", True), (None, False)):
        console = Console(record=True, width=200)
        print_report(
            {"benchmark": "rotbench", "rotbench_judging": judging, "categories": {"clean": stats}, "overall": stats},
            console,
        )
        text = console.export_text()
        assert ("NOT comparable" in text) == warned, judging
        assert (f"judging: {judging}" in text) == (judging is not None)


# --------------------------------------------------------------------------- compare


def test_compare_prints_and_writes_the_deltas_with_a_paired_test(tmp_path):
    a_preds = write_jsonl(
        tmp_path / "a.jsonl", gold_predictions(["simple_python", "multiple"], limit=20, wrong_every=2)
    )
    b_preds = write_jsonl(
        tmp_path / "b.jsonl", gold_predictions(["simple_python", "multiple"], limit=20, wrong_every=10)
    )
    for name, preds in (("a", a_preds), ("b", b_preds)):
        evaluate(eval_config([f"predictions={preds}", f"out={tmp_path / name}", "categories=[simple_python,multiple]",
                              "limit=20", "chart=false"]))  # fmt: skip
    deltas = tmp_path / "deltas.json"
    proc = tl_eval("compare", tmp_path / "a" / "report.json", tmp_path / "b" / "report.json", f"out={deltas}")
    assert proc.returncode == 0, proc.stderr
    assert "simple_python" in proc.stdout and "+40.0" in proc.stdout

    a, b = json.loads((tmp_path / "a/report.json").read_text()), json.loads((tmp_path / "b/report.json").read_text())
    rows = {(r["category"], r["metric"]): r for r in json.loads(deltas.read_text())["rows"]}
    for category in ("simple_python", "multiple", "overall"):
        sa = a["overall"] if category == "overall" else a["categories"][category]
        sb = b["overall"] if category == "overall" else b["categories"][category]
        for metric in ("accuracy", "ts", "pi", "cf", "score"):
            assert rows[category, metric]["delta"] == pytest.approx(sb[metric] - sa[metric])
    # A answers every 2nd sample with text, B every 10th: 16 samples right in B only, none in A only
    paired = rows["overall", "accuracy"]["paired"]
    assert paired == {"n": 40, "a_only": 0, "b_only": 16, "p_value": pytest.approx(2 * 0.5**16)}


def test_compare_refuses_bad_input(tmp_path):
    assert tl_eval("compare", "only_one.json").returncode == 2
    (tmp_path / "x.json").write_text('{"hello": 1}')
    proc = tl_eval("compare", tmp_path / "x.json", tmp_path / "x.json")
    assert proc.returncode != 0 and "not a tl-eval report" in proc.stderr
    with pytest.raises(FileNotFoundError):
        load_report(tmp_path / "nope.json")


def test_compare_handles_categories_in_one_run_only():
    a = {"categories": {"x": {"n": 1, "accuracy": 1.0}}, "overall": {"n": 1, "accuracy": 1.0}}
    b = {"categories": {"y": {"n": 1, "accuracy": 0.0}}, "overall": {"n": 1, "accuracy": 0.0}}
    rows = compare_reports(a, b, metrics=("accuracy",))
    assert [(r["category"], r["a"], r["b"], r["delta"]) for r in rows] == [
        ("x", 1.0, None, None), ("y", None, 0.0, None), ("overall", 1.0, 0.0, -1.0)]  # fmt: skip


# --------------------------------------------------------------------------- generate mode


class ScriptedBackend:
    """Stands in for a model: answers each prompt with a call of its first tool, and records them."""

    seen: list = []

    def __init__(self, answer: str = "first_tool"):
        self.answer = answer

    def generate(self, prompts, sampling):
        ScriptedBackend.seen.extend(prompts)
        out = []
        for p in prompts:
            fn = p.tools[0]["function"]
            out.append([render([(fn["name"], {})], "hermes")])
        return out

    def close(self):
        pass


def _scripted_cfg(tmp_path, *overrides):
    cfg = eval_config(
        [f"out={tmp_path / 'gen'}", "categories=[simple_python,irrelevance]", "limit=3", "chart=false", *overrides]
    )
    with open_dict(cfg):
        cfg.generation = {"backend": "scripted"}
    return cfg


def test_generate_mode_prompts_with_the_rows_tools_and_resumes(tmp_path, monkeypatch):
    monkeypatch.setitem(BACKENDS, "scripted", ScriptedBackend)
    ScriptedBackend.seen = []
    cfg = _scripted_cfg(tmp_path, "save_every=2")
    report = evaluate(cfg)
    samples = eval_samples(cfg)
    assert [p.tools for p in ScriptedBackend.seen] == [s.tools for s in samples]
    assert [p.messages for p in ScriptedBackend.seen] == [s.messages for s in samples]
    preds_file = tmp_path / "gen" / "predictions.jsonl"
    lines = [json.loads(line) for line in preds_file.read_text().splitlines()]
    assert [r["id"] for r in lines] == [s.id for s in samples]
    # a call of the first tool without arguments: wrong for both (missing parameters / a call)
    assert report["categories"]["irrelevance"]["accuracy"] == 0.0
    assert report["categories"]["simple_python"]["errors"]["param_missing"] == 1.0

    # a killed run: the last answer is gone and the one before it is torn mid-line
    text = preds_file.read_text().splitlines(keepends=True)
    preds_file.write_text("".join(text[:-2]) + text[-2][:10])
    ScriptedBackend.seen = []
    evaluate(_scripted_cfg(tmp_path))
    assert len(ScriptedBackend.seen) == 2  # only the two lost answers are generated again
    assert [json.loads(line)["id"] for line in preds_file.read_text().splitlines()] == [s.id for s in samples]
    ScriptedBackend.seen = []
    evaluate(_scripted_cfg(tmp_path, "resume=false"))
    assert len(ScriptedBackend.seen) == len(samples)


def test_generate_mode_needs_one_answer_per_sample(tmp_path, monkeypatch):
    monkeypatch.setitem(BACKENDS, "scripted", ScriptedBackend)
    with pytest.raises(ValueError, match="sampling.n must be 1"):
        evaluate(_scripted_cfg(tmp_path, "sampling.n=2", "sampling.temperature=1.0"))


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from tl_plugin.testing import build_tiny_tokenizer

    path = tmp_path_factory.mktemp("tiny_qwen2")
    tok = build_tiny_tokenizer(path)
    torch.manual_seed(0)
    config = Qwen2Config(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, architectures=["Qwen2ForCausalLM"],
                         eos_token_id=tok.convert_tokens_to_ids("<|im_end|>"), pad_token_id=tok.pad_token_id)  # fmt: skip
    Qwen2ForCausalLM(config).save_pretrained(path)
    return path


@pytest.mark.slow
def test_generate_mode_with_the_hf_backend_on_cpu(tmp_path, tiny_model):
    out = tmp_path / "gen"
    proc = tl_eval(f"generation.model_path={tiny_model}", f"out={out}", "categories=[simple_python,live_relevance]",
                   "limit=2", "sampling.max_new_tokens=6", "generation.batch_size=2")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert [r["id"] for r in lines] == [
        "simple_python_0",
        "simple_python_1",
        "live_relevance_0-0-0",
        "live_relevance_1-1-0",
    ]
    report = json.loads((out / "report.json").read_text())
    assert report["model"] == str(tiny_model) and report["counts"]["scored"] == 4
    assert report["seconds"]["generate"] > 0

    # the saved answers are what the backend generates for the same prompts (greedy)
    from tl_plugin.generation import Prompt, SamplingConfig
    from tl_plugin.generation.hf import HFBackend

    cfg = eval_config([f"out={out}", "categories=[simple_python,live_relevance]", "limit=2"])
    backend = HFBackend(model_path=str(tiny_model), batch_size=1)
    texts = backend.generate([Prompt(s.messages, s.tools) for s in eval_samples(cfg)], SamplingConfig(max_new_tokens=6))
    assert [t[0] for t in texts] == [r["response"] for r in lines]


@pytest.mark.parametrize("tools_in_prompt", ["native", "system_text"])
def test_eval_prompts_are_the_prompts_tl_prepare_trains_on(tmp_path, tools_in_prompt):
    """A model is evaluated on the prompt format its RL rows had: same messages, same tools."""
    import pyarrow.parquet as pq

    from tl_plugin.cli.prepare import prepare, prepare_config

    prepare(prepare_config(["source=bfcl", "categories=[multiple]", "limit=3", f"out={tmp_path}", "kinds=[rl]",
                            f"tools_in_prompt={tools_in_prompt}"]))  # fmt: skip
    rows = pq.read_table(tmp_path / "rl" / "train.parquet").to_pylist()
    cfg = eval_config(["categories=[multiple]", "limit=3", "out=x", f"tools_in_prompt={tools_in_prompt}"])
    samples = eval_samples(cfg)
    assert len(rows) == len(samples) == 3
    for row, sample in zip(rows, samples):
        assert row["prompt"] == sample.messages
        if tools_in_prompt == "native":  # tl_tool_agent hands the row's tools to the chat template
            assert row["agent_name"] == "tl_tool_agent"
            assert json.loads(row["extra_info"]["tools"]) == sample.tools
        else:  # the stock loop renders the prompt alone; the tools are in its system text
            assert row["agent_name"] == "single_turn_agent" and sample.tools is None
            assert "<tools>" in sample.messages[0]["content"]
        assert json.loads(row["reward_model"]["ground_truth"]) == json.loads(sample.ground_truth)


def test_ids_restrict_the_samples_to_a_held_out_split(tmp_path):
    # tl-prepare's held-out split (tools unseen in training) is what the demo evaluates on
    from tl_plugin.cli.prepare import prepare, prepare_config

    prepare(
        prepare_config(
            [
                "source=bfcl",
                "categories=[live_simple]",
                f"out={tmp_path / 'data'}",
                "kinds=[sft]",
                "split.test_fraction=0.3",
            ]
        )
    )
    test_parquet = tmp_path / "data" / "sft" / "test.parquet"
    import pyarrow.parquet as pq

    held_out = pq.read_table(test_parquet).column("id").to_pylist()
    samples = eval_samples(eval_config(["categories=[live_simple]", f"ids={test_parquet}", "out=unused"]))
    assert [s.id for s in samples] == held_out and 50 < len(samples) < 258

    text = tmp_path / "ids.txt"
    text.write_text(f"{held_out[3]}\n\n{held_out[1]}\n{held_out[3]}\n")
    samples = eval_samples(eval_config(["categories=[live_simple]", f"ids={text}", "out=unused"]))
    assert [s.id for s in samples] == [held_out[1], held_out[3]]  # benchmark order, each once
    limited = eval_samples(eval_config(["categories=[live_simple]", f"ids={test_parquet}", "limit=5", "out=unused"]))
    assert [s.id for s in limited] == held_out[:5]


def test_bad_ids_files_are_errors_that_name_the_problem(tmp_path):
    text = tmp_path / "ids.txt"
    text.write_text("live_simple_0-0-0\nsimple_python_0\nno_such_id\n")
    with pytest.raises(
        ValueError,
        match=r"2 id\(s\) in .*ids.txt name no sample of the chosen categories, "
        r"e.g. \['no_such_id', 'simple_python_0'\]",
    ):
        eval_samples(eval_config(["categories=[live_simple]", f"ids={text}", "out=unused"]))
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"name": ["x"]}), tmp_path / "no_id.parquet")
    with pytest.raises(ValueError, match=r"has no `id` column \(columns: \['name'\]\)"):
        eval_samples(eval_config(["categories=[live_simple]", f"ids={tmp_path / 'no_id.parquet'}", "out=unused"]))
    with pytest.raises(FileNotFoundError, match="ids file not found"):
        eval_samples(eval_config(["categories=[live_simple]", f"ids={tmp_path / 'missing.txt'}", "out=unused"]))
