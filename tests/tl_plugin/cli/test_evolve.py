"""tl-evolve end to end: rounds, filters and vote, resume after a kill, training with verl between rounds.

Real parts: Hydra composition of ``evolve.yaml``, the Hugging Face backend on a tiny random Qwen2
with a real BPE tokenizer, atomic parquet/JSON files, and verl's own SFT trainer on CPU
(``torchrun -m verl.trainer.sft_trainer``, LoRA, ``hf_model`` checkpoint). A random model writes
no valid tools, so the rounds that must keep rows use ``tests.evolve_backends.ScriptedBackend``,
a stand-in for a trained model whose answers the test chooses.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.helpers import ROOT, tiny_model_folder
from tl_plugin.cli.evolve import EvolveError, evolve, evolve_config
from tl_plugin.testing import SMALL_QWEN

REPO = ROOT
SCRIPTED = (
    "tests.helpers.evolve_backends:ScriptedBackend"  # the repository root is on sys.path (pytest; PYTHONPATH below)
)


def tool(name="get_weather", description="Weather in a city.", **props):
    props = props or {"city": {"type": "string", "description": "The city."}}
    return {
        "name": name,
        "description": description,
        "parameters": {"type": "object", "properties": props, "required": ["city"] if "city" in props else []},
    }


def tools_text(*tools):
    return "<tools>\n" + json.dumps(list(tools)) + "\n</tools>"


def hermes(name, **args):
    return "<tool_call>\n" + json.dumps({"name": name, "arguments": args}) + "\n</tool_call>"


WEATHER = tool(
    city={"type": "string", "description": "The city."}, days={"type": "integer", "description": "Days ahead."}
)
TIME = tool("get_time", "Time in a city.")

# query -> (tools text, k=4 sampled answers, the stage the query must end in)
CASES = {
    "q-not-json": ("<tools>{name: get_weather}</tools>", [], "tool_parse"),
    "q-no-description": (tools_text({**WEATHER, "description": ""}), [], "tool_rules"),
    "q-all-malformed": (tools_text(WEATHER), ["<tool_call>{", "<tool_call>{"], "vote"),
    "q-no-majority": (tools_text(WEATHER), [hermes("get_weather", city=c) for c in "ABCD"], "vote"),
    "q-hallucinated": (tools_text(WEATHER), [hermes("get_weather", city="Oslo", country="NO")], "answer_rules"),
    "q-missing": (tools_text(WEATHER), [hermes("get_weather", days=2)], "answer_rules"),
    "q-invalid": (tools_text(WEATHER), [hermes("get_weather", city="Oslo", days="two")], "answer_rules"),
    "q-no-call": (tools_text(WEATHER), ["It is sunny."], "answer_rules"),
    # tie 2-2: the answer sampled first wins (tie_break=first)
    "q-tie": (tools_text(WEATHER), [hermes("get_weather", city="Rome"), hermes("get_weather", city="Paris")], "kept"),
    # 3 of 4 agree once strings are normalised as the reward compares them
    "q-normalised": (
        tools_text(WEATHER),
        [
            hermes("get_weather", city="New York"),
            hermes("get_weather", city="new-york"),
            hermes("get_weather", city="NEW YORK"),
            "I am not sure.",
        ],
        "kept",
    ),
    # parallel calls vote as a multiset: the order of the two calls does not split the vote
    "q-parallel": (
        tools_text(WEATHER, TIME),
        [
            hermes("get_weather", city="Oslo") + "\n" + hermes("get_time", city="Oslo"),
            hermes("get_time", city="oslo") + "\n" + hermes("get_weather", city="Oslo"),
            hermes("get_time", city="Oslo"),
        ],
        "kept",
    ),
}


def write_inputs(tmp_path: Path, cases=CASES) -> tuple[Path, Path]:
    script = {
        "tools": {q: t for q, (t, _, _) in cases.items()},
        "calls": {q: s or ["-"] for q, (_, s, _) in cases.items()},
    }
    script_path = tmp_path / "script.json"
    script_path.write_text(json.dumps(script))
    queries = tmp_path / "queries.jsonl"
    queries.write_text("\n".join(json.dumps({"id": q, "query": q}) for q in cases))
    return script_path, queries


def scripted_config(tmp_path, *overrides, out="out", model="round0-model"):
    script, queries = write_inputs(tmp_path)
    return evolve_config(
        [
            f"model={model}",
            f"queries={queries}",
            f"out={tmp_path / out}",
            f"generation.backend={SCRIPTED}",
            f"+generation.script={script}",
            "rounds=1",
            "k=4",
            "min_votes=2",
            "chunk_size=4",
            "train.enable=false",
            *overrides,
        ]
    )


def read_log(tmp_path):
    return [json.loads(line) for line in (tmp_path / "script.json.log").read_text().splitlines()]


def test_scripted_round_exercises_every_filter_and_the_vote(tmp_path):
    (report,) = evolve(scripted_config(tmp_path))
    round_dir = tmp_path / "out" / "round_1"
    entries = [
        json.loads(line)
        for p in sorted((round_dir / "chunks").glob("chunk_*.jsonl"))
        for line in p.read_text().splitlines()
    ]
    assert {e["id"]: e["stage"] for e in entries} == {q: stage for q, (_, _, stage) in CASES.items()}
    by_id = {e["id"]: e for e in entries}
    assert by_id["q-tie"]["answer"] == [{"name": "get_weather", "arguments": {"city": "Rome"}}]
    assert by_id["q-tie"]["vote"] == {
        "winner": 0,
        "votes": 2,
        "n_samples": 4,
        "counts": [2, 2],
        "tie": True,
        "reason": "",
    }
    assert by_id["q-normalised"]["answer"] == [{"name": "get_weather", "arguments": {"city": "New York"}}]
    assert by_id["q-parallel"]["vote"]["votes"] == 3  # samples 1, 2 and 1 again (cycled to k=4)
    assert by_id["q-no-majority"]["vote"]["reason"] == "min_votes"
    assert by_id["q-all-malformed"]["vote"]["reason"] == "no_answer"

    assert [(f["filter"], f["in"], f["out"]) for f in report["filters"]] == [
        ("tool_parse", 11, 10),
        ("tool_rules", 10, 9),
        ("vote", 9, 7),
        ("answer_rules", 7, 3),
    ]
    assert report["reasons"]["answer_rules"] == {
        "hallucinated_parameter": 1,
        "invalid_value": 1,
        "missing_required": 1,
        "no_call": 1,
    }
    assert report["reasons"]["vote"] == {"min_votes": 1, "no_answer": 1}
    assert report["vote_histogram"] == {"0": 1, "1": 1, "2": 1, "3": 2, "4": 4}
    assert report["rows"] == {"generation": 3, "invocation": 3, "total": 6}
    assert report["answers"] == 9 * 4 and report["answers_per_second_checks"] > 0
    assert json.loads((round_dir / "report.json").read_text()) == report

    table = pq.read_table(round_dir / "data" / "train.parquet").to_pylist()
    assert sorted(r["id"] for r in table) == sorted(
        f"{q}:{task}" for q in ("q-tie", "q-normalised", "q-parallel") for task in ("generation", "invocation")
    )
    manifest = json.loads((round_dir / "manifest.json").read_text())
    assert manifest["status"] == "generated" and manifest["rows"] == 6 and manifest["chunks"] == 3

    # the backend was asked for 1 tool set per query at temperature 1.0, then k=4 calls with top-k
    log = read_log(tmp_path)
    assert [(e["kinds"][0], e["n"], e["temperature"], e["top_k"]) for e in log[:2]] == [
        ("tools", 1, 1.0, 0),
        ("calls", 4, 1.0, 50),
    ]
    assert len({e["seed"] for e in log}) == len(log)  # every chunk and stage has its own seed
    # the calls prompt lists the tools that passed, in OpenAI form
    assert log[1]["tools"][0][0] == {"type": "function", "function": WEATHER}


def test_a_finished_round_is_not_redone_and_other_settings_are_refused(tmp_path, capsys):
    evolve(scripted_config(tmp_path))
    calls = len(read_log(tmp_path))
    data = (tmp_path / "out" / "round_1" / "data" / "train.parquet").read_bytes()
    (again,) = evolve(scripted_config(tmp_path))
    assert len(read_log(tmp_path)) == calls  # nothing generated again
    assert (tmp_path / "out" / "round_1" / "data" / "train.parquet").read_bytes() == data
    assert again["kept"] == 3
    with pytest.raises(EvolveError, match=r"other settings \(queries_per_round, k\)"):
        evolve(scripted_config(tmp_path, "k=5", "queries_per_round=2"))
    with pytest.raises(EvolveError, match="resume=false"):
        evolve(scripted_config(tmp_path, "resume=false"))
    cfg = scripted_config(tmp_path)
    Path(cfg.queries).write_text(Path(cfg.queries).read_text() + "\n" + json.dumps({"id": "new", "query": "q-tie"}))
    with pytest.raises(EvolveError, match=r"other settings \(queries\)"):
        evolve(cfg)


def test_generation_settings_are_fingerprinted_with_the_model_filled_in(tmp_path):
    evolve(scripted_config(tmp_path))
    path = tmp_path / "out" / "round_1" / "manifest.json"
    manifest = json.loads(path.read_text())
    settings = manifest["fingerprint"]["settings"]
    assert settings["generation"]["backend"].endswith(":ScriptedBackend")
    assert settings["generation"]["model_path"] == "round0-model"
    # a round made when the group was called `backend` resumes as it was
    settings["backend"] = settings.pop("generation")
    path.write_text(json.dumps(manifest))
    n_before = len(read_log(tmp_path))
    (again,) = evolve(scripted_config(tmp_path))
    assert len(read_log(tmp_path)) == n_before and again["kept"] == 3
    with pytest.raises(EvolveError, match=r"other settings \(generation\)"):
        evolve(scripted_config(tmp_path, "generation.model_path=elsewhere"))


def test_a_missing_chunk_is_redone_alone(tmp_path):
    evolve(scripted_config(tmp_path))
    round_dir = tmp_path / "out" / "round_1"
    before = {p.name: p.read_text() for p in (round_dir / "chunks").iterdir()}
    (round_dir / "chunks" / "chunk_00001.jsonl").unlink()
    manifest = json.loads((round_dir / "manifest.json").read_text())
    manifest["status"] = "generating"  # as a kill during chunk 1 leaves it
    (round_dir / "manifest.json").write_text(json.dumps(manifest))
    n_before = len(read_log(tmp_path))
    evolve(scripted_config(tmp_path))
    redone = read_log(tmp_path)[n_before:]
    assert [len(e["kinds"]) for e in redone] == [4, 4]  # chunk 1 only: its 4 queries, tools then calls
    assert {p.name: p.read_text() for p in (round_dir / "chunks").iterdir()} == before


def test_queries_per_round_gives_each_round_new_queries(tmp_path):
    reports = evolve(scripted_config(tmp_path, "rounds=3", "queries_per_round=5"))
    assert [r["queries"] for r in reports] == [5, 5, 1]
    assert not (tmp_path / "out" / "round_4").exists()


@pytest.mark.parametrize(
    "override, message",
    [
        ("k=0", "k must be an integer >= 1"),
        ("min_votes=6", "min_votes=6 can never be reached with k=4"),
        ("tie_break=random", "tie_break must be one of"),
        ("+call_sampling.n=3", "call_sampling takes no n or seed"),
        ("call_sampling.temperature=-1", "temperature must be >= 0"),
        ("+data.ratios.adaption=1", "unknown tasks"),
    ],
)
def test_bad_settings_are_refused_naming_the_key(tmp_path, override, message):
    with pytest.raises(ValueError, match=message):
        evolve(scripted_config(tmp_path, override))


# ----------------------------------------------------------------------------- real model, real trainer


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return tiny_model_folder(tmp_path_factory, **SMALL_QWEN)


def hf_overrides(tiny_model, queries, out, backend="hf"):
    return [
        f"model={tiny_model}",
        f"queries={queries}",
        f"out={out}",
        "rounds=1",
        "k=3",
        "min_votes=1",
        "chunk_size=2",
        "tool_sampling.max_new_tokens=24",
        "call_sampling.max_new_tokens=16",
        "generation.device=cpu",
        "generation.batch_size=2",
        "train.enable=false",
        "seed=7",
        *([f"generation.backend={backend}"] if backend != "hf" else []),
    ]


@pytest.mark.slow
def test_full_round_with_the_hf_backend_on_a_tiny_random_model(tmp_path, tiny_model):
    queries = tmp_path / "q.txt"
    queries.write_text("What is the weather in Paris?\nBook a table for two.\nConvert 3 km to miles.\n")
    cfg = evolve_config([*hf_overrides(tiny_model, queries, tmp_path / "out"), "train.enable=true", "train.cpu=true"])
    (report,) = evolve(cfg)
    assert report["queries"] == 3 and report["filters"][0]["in"] == 3
    entries = [
        json.loads(line)
        for p in sorted((tmp_path / "out" / "round_1" / "chunks").iterdir())
        for line in p.read_text().splitlines()
    ]
    assert len(entries) == 3 and all(isinstance(e["tools_text"], str) and e["tools_text"] for e in entries)
    # whatever the random model wrote went through the filters and is accounted for
    assert sum(1 for e in entries if e["stage"] == "kept") == report["kept"]
    manifest = json.loads((tmp_path / "out" / "round_1" / "manifest.json").read_text())
    assert manifest["status"] == "trained"
    if report["kept"] == 0:  # the expected case: nothing to train, the model carries over
        assert manifest["model_out"] == str(tiny_model) and report["data"] is None


def _evolve_process(overrides, env_extra=None):
    env = {**os.environ, "PYTHONPATH": str(REPO), **(env_extra or {})}
    return subprocess.run(
        [sys.executable, "-m", "tl_plugin.cli.evolve", *overrides],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _outputs(out: Path) -> dict:
    round_dir = out / "round_1"
    files = {p.name: p.read_text() for p in sorted((round_dir / "chunks").iterdir())}
    report = json.loads((round_dir / "report.json").read_text())
    report.pop("seconds"), report.pop("answers_per_second_checks")
    files["report"] = report
    return files


@pytest.mark.slow
def test_a_run_killed_mid_round_resumes_to_the_same_output(tmp_path, tiny_model):
    queries = tmp_path / "q.txt"
    queries.write_text("".join(f"Query number {i} about the weather in city {i}?\n" for i in range(6)))
    killable = "tests.helpers.evolve_backends:KillableHF"
    whole = _evolve_process(hf_overrides(tiny_model, queries, tmp_path / "whole", killable))
    assert whole.returncode == 0, whole.stderr[-2000:]

    # generate call 2 is chunk 1's first: chunk 0 is on disk, chunk 1 is half done when the kill lands
    killed = _evolve_process(
        hf_overrides(tiny_model, queries, tmp_path / "resumed", killable), {"TL_TEST_KILL_AT_GENERATE": "2"}
    )
    assert killed.returncode == -9
    chunks = tmp_path / "resumed" / "round_1" / "chunks"
    assert sorted(p.name for p in chunks.iterdir()) == ["chunk_00000.jsonl"]
    manifest = json.loads((tmp_path / "resumed" / "round_1" / "manifest.json").read_text())
    assert manifest["status"] == "generating"

    resumed = _evolve_process(hf_overrides(tiny_model, queries, tmp_path / "resumed", killable))
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resuming, 1 of 3 chunks done" in resumed.stdout
    assert _outputs(tmp_path / "resumed") == _outputs(tmp_path / "whole")
    ids = [json.loads(line)["id"] for p in sorted(chunks.iterdir()) for line in p.read_text().splitlines()]
    assert len(ids) == len(set(ids)) == 6  # no query twice
    # sampling is random (temperature 1): a different seed gives different text
    other = _evolve_process([*hf_overrides(tiny_model, queries, tmp_path / "other", killable), "seed=8"])
    assert other.returncode == 0 and _outputs(tmp_path / "other") != _outputs(tmp_path / "whole")


@pytest.mark.slow
def test_two_rounds_train_with_verl_and_the_second_generates_with_the_trained_model(tmp_path, tiny_model):
    import torch
    from transformers import AutoModelForCausalLM

    cfg = scripted_config(
        tmp_path,
        "rounds=2",
        "train.enable=true",
        "train.cpu=true",
        "train.overrides=['data.max_length=2048']",
        model=str(tiny_model),
    )
    reports = evolve(cfg)
    assert [r["kept"] for r in reports] == [3, 3]
    round1, round2 = tmp_path / "out" / "round_1", tmp_path / "out" / "round_2"
    m1 = json.loads((round1 / "manifest.json").read_text())
    assert m1["status"] == "trained" and m1["model_out"] == str(round1 / "model")
    command = " ".join(m1["train"]["command"])
    assert "verl.trainer.sft_trainer" in command and "+tl=[tooldev,sft_cpu]" in command
    assert "data.train_batch_size=6" in command and f"model.path={tiny_model}" in command
    assert (round1 / "checkpoints" / "global_step_1" / "lora_train_meta.json").is_file()  # the paper's LoRA

    # the merged LoRA model loads without missing weights and differs from the model it started from
    trained, info = AutoModelForCausalLM.from_pretrained(round1 / "model", output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    base = AutoModelForCausalLM.from_pretrained(tiny_model)
    assert max((a - b).abs().max().item() for a, b in zip(trained.parameters(), base.parameters())) > 0
    assert torch.equal(trained.model.embed_tokens.weight, base.model.embed_tokens.weight)  # LoRA leaves it
    # merged = W + (alpha / r) * B @ A, from the PEFT-named weights verl saved
    from safetensors.torch import load_file

    saved = load_file(round1 / "checkpoints" / "global_step_1" / "huggingface" / "model.safetensors")
    key = "base_model.model.model.layers.1.mlp.down_proj."
    w, a, b = (saved[key + k] for k in ("base_layer.weight", "lora_A.default.weight", "lora_B.default.weight"))
    assert (b @ a).abs().max() > 0
    torch.testing.assert_close(trained.model.layers[1].mlp.down_proj.weight, w + (32 / 16) * b @ a)

    # round 2 generated with round 1's model, and trained from it
    assert {e["model"] for e in read_log(tmp_path)} == {str(tiny_model), str(round1 / "model")}
    m2 = json.loads((round2 / "manifest.json").read_text())
    assert m2["model"] == str(round1 / "model") and f"model.path={round1 / 'model'}" in " ".join(m2["train"]["command"])
    assert (Path(m2["model_out"]) / "config.json").is_file()


def test_training_overrides_compose_into_verls_sft_config_with_the_papers_settings(tmp_path):
    """The command tl-evolve builds is valid for verl's own SFT trainer config (Hydra composition)."""
    import verl
    from hydra import compose, initialize_config_dir
    from verl.trainer.sft_trainer import create_sft_dataset

    from tl_plugin.cli.evolve import train_overrides
    from tl_plugin.testing import build_tiny_tokenizer
    from tl_plugin.verl_ext.sft_dataset import TLSFTDataset

    (report,) = evolve(scripted_config(tmp_path))
    cfg = scripted_config(tmp_path, "train.cpu=true", "train.overrides=['optim.lr=5e-5']")
    round_dir = tmp_path / "out" / "round_1"
    overrides = train_overrides(cfg, 1, round_dir, "MODEL", report["rows"]["total"])
    config_dir = str(Path(verl.__file__).parent / "trainer" / "config")
    with initialize_config_dir(config_dir=config_dir, version_base=None):
        sft = compose(config_name="sft_trainer_engine", overrides=overrides)
    assert sft.model.lora_rank == 16 and sft.model.lora_alpha == 32 and sft.model.target_modules == "all-linear"
    assert sft.optim.lr == 5e-5 and sft.optim.lr_scheduler_type == "cosine" and sft.optim.lr_warmup_steps_ratio == 0.1
    assert sft.data.train_batch_size == 6 and sft.data.micro_batch_size_per_gpu == 4  # 6 rows < batch 64
    assert sft.data.pkt.enable is False and sft.trainer.device == "cpu" and "hf_model" in sft.checkpoint.save_contents
    assert sft.trainer.default_local_dir == str(round_dir / "checkpoints")
    tokenizer = build_tiny_tokenizer(tmp_path / "tok")
    ds = create_sft_dataset(sft.data.train_files, sft.data, tokenizer, None)  # verl's own factory
    assert type(ds) is TLSFTDataset and len(ds) == 6 and all(ds[i]["loss_mask"].sum() > 0 for i in range(6))


def test_a_round_through_an_openai_compatible_server_on_localhost(tmp_path):
    """generation=openai against a fake `vllm serve` started here on 127.0.0.1: it answers from the
    same script, parsing well-formed calls into structured ``tool_calls`` as a server with a tool
    parser does; the round must end exactly as with the scripted backend."""
    from reward_fns.parsing import parse_tool_calls
    from tests.tl_plugin.generation.test_generation_backends import FakeServer

    class ScriptedServer(FakeServer):
        def answer(self, path, body):
            user = next(m["content"] for m in body["messages"] if m["role"] == "user")
            if "tools" not in body:
                texts = [CASES[user.removeprefix("Generate tools to solve the query: ")][0]] * body["n"]
            else:
                samples = CASES[user][1]
                texts = [samples[i % len(samples)] for i in range(body["n"])]
            choices = []
            for i, text in enumerate(texts):
                parsed = parse_tool_calls(text)
                message = {"role": "assistant", "content": text, "tool_calls": None}
                if parsed.status == "ok":
                    message = {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [
                            {
                                "id": f"c{j}",
                                "type": "function",
                                "function": {"name": c["name"], "arguments": json.dumps(c["arguments"])},
                            }
                            for j, c in enumerate(parsed.calls)
                        ],
                    }
                choices.append({"index": i, "finish_reason": "stop", "message": message})
            return 200, {"id": "x", "object": "chat.completion", "choices": choices[::-1]}

    server = ScriptedServer()
    try:
        _, queries = write_inputs(tmp_path)
        cfg = evolve_config(
            [
                "generation=openai",
                f"generation.base_url={server.base_url}",
                "model=served-model",
                f"queries={queries}",
                f"out={tmp_path / 'out'}",
                "rounds=1",
                "k=4",
                "min_votes=2",
                "chunk_size=4",
                "train.enable=false",
            ]
        )
        (report,) = evolve(cfg)
    finally:
        server.close()
    entries = [
        json.loads(line)
        for p in sorted((tmp_path / "out" / "round_1" / "chunks").iterdir())
        for line in p.read_text().splitlines()
    ]
    assert {e["id"]: e["stage"] for e in entries} == {q: stage for q, (_, _, stage) in CASES.items()}
    assert report["rows"]["total"] == 6
    calls_requests = [r["body"] for r in server.requests if "tools" in r["body"]]
    assert calls_requests and all(
        b["n"] == 4 and b["top_k"] == 50 and b["model"] == "served-model" for b in calls_requests
    )
