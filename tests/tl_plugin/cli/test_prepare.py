"""``tl-prepare`` end to end: every source format into both parquet kinds, loaded by verl's datasets.

Real parts throughout: the shipped sample files in ``tests/data/`` and BFCL's data from the
installed ``bfcl-eval`` wheel, pyarrow parquet, verl's ``RLHFDataset`` and (through our thin
subclass ``TLSFTDataset``) verl's ``MultiTurnSFTDataset`` with a real BPE tokenizer and chat
template, and the reward ``reward_fns.tl_tool.compute_score``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from omegaconf import OmegaConf

from data_transforms.bfcl import CALL_CATEGORIES
from data_transforms.gold import reference_answer
from data_transforms.records import RecordError
from data_transforms.render import hermes_text
from reward_fns.tl_tool import compute_score
from tests.helpers import DATA_DIR
from tl_plugin.cli.prepare import prepare, prepare_config
from tl_plugin.testing import build_tiny_tokenizer, write_united_parquet

DATA = DATA_DIR

SAMPLES = {  # source -> sample file shipped in tests/data (see tests/data/README.md)
    "openai": "openai_chat.jsonl",
    "toolace": "toolace.json",
    "react": "rotbench_react.json",
    "tl_training": "tl_training_raw.json",
}


def run_prepare(*overrides):
    return prepare(prepare_config(overrides))


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    return build_tiny_tokenizer(tmp_path_factory.mktemp("tok"))


def rl_dataset(path, tokenizer, **config):
    from verl.utils.dataset.rl_dataset import RLHFDataset

    cfg = OmegaConf.create({"filter_overlong_prompts": False, "cache_dir": str(Path(path).parent / "cache"), **config})
    return RLHFDataset([str(path)], tokenizer, cfg)


SFT_CONFIG = {"max_length": 32768, "truncation": "error", "pad_mode": "no_padding"}  # verl's SFT trainer default mode


def sft_dataset(path, tokenizer):
    from tl_plugin.verl_ext.sft_dataset import TLSFTDataset

    return TLSFTDataset([str(path)], tokenizer, OmegaConf.create(SFT_CONFIG))


def gold_scores(rows) -> list:
    """The reward of each RL row's own gold (reference answer rendered as hermes calls)."""
    scores = []
    for row in rows:
        gold = json.loads(row["reward_model"]["ground_truth"])
        text = (
            hermes_text(reference_answer(gold, [t["function"] for t in json.loads(row["extra_info"]["tools"])]))
            if gold
            else "No tool fits this request."
        )
        result = compute_score(
            row["data_source"], text, row["reward_model"]["ground_truth"], {"tools": row["extra_info"]["tools"]}
        )
        scores.append(result["score"])
    return scores


# ----------------------------------------------------------------------------- BFCL

# BFCL gold no answer can meet (BFCL's own checker rejects every answer too):
UNSATISFIABLE = [
    "live_multiple_507-149-4",  # origin_airport: schema-required, gold only lets it be omitted
    "live_multiple_862-181-3",  # journey_start_time: gold requires it, the schema lacks it
    "live_multiple_964-207-0",  # question: gold requires it, the schema lacks it
    "live_simple_106-63-0",  # auto_loan_payment_start: empty acceptable list
    "live_simple_112-68-0",  # acc_routing_start: empty acceptable list
]


@pytest.fixture(scope="module")
def bfcl_out(tmp_path_factory):
    out = tmp_path_factory.mktemp("bfcl")
    summary = run_prepare("source=bfcl", f"categories=[{','.join(CALL_CATEGORIES)},irrelevance]", f"out={out}")
    return out, summary


@pytest.mark.slow
def test_every_prepared_bfcl_rl_row_scores_plus_one_with_its_gold(bfcl_out):
    out, summary = bfcl_out
    rows = pq.read_table(out / "rl" / "train.parquet").to_pylist()
    # BFCL's counts (docs/design.md#benchmarks-and-cpu-models): 400+200+200+200+258+1053+16+24 call
    # rows and 240 irrelevance rows; the five BFCL rows whose gold nobody can meet are dropped and
    # counted, not written
    assert summary["rows_read"] == 2351 + 240
    assert summary["dropped"]["rl"] == {"unsatisfiable_gold": 5}
    assert sorted(r.split(":")[0] for r in summary["dropped_rows"]["rl:unsatisfiable_gold"]) == UNSATISFIABLE
    assert len(rows) == summary["written"]["rl"]["train"] == 2351 + 240 - 5
    scores = gold_scores(rows)
    assert scores == [1.0] * len(rows)
    by_source = {}
    for row in rows:
        by_source[row["data_source"]] = by_source.get(row["data_source"], 0) + 1
    assert by_source["bfcl_live_multiple"] == 1053 - 3 and by_source["bfcl_irrelevance"] == 240
    assert [json.loads(r["reward_model"]["ground_truth"]) for r in rows if r["data_source"] == "bfcl_irrelevance"][
        0
    ] == []


@pytest.mark.slow
def test_bfcl_rl_rows_load_through_rlhf_dataset(bfcl_out, tokenizer):
    out, _ = bfcl_out
    ds = rl_dataset(out / "rl" / "train.parquet", tokenizer)
    assert len(ds) == 2351 + 240 - 5
    item = ds[0]
    assert item["raw_prompt"][-1]["role"] == "user" and item["agent_name"] == "tl_tool_agent"
    assert item["index"] == 0 and json.loads(item["extra_info"]["tools"])[0]["type"] == "function"
    # BFCL's Python type names are mapped before any chat template sees them
    tools_text = " ".join(ds[i]["extra_info"]["tools"] for i in range(0, len(ds), 50))
    assert (
        '"type": "dict"' not in tools_text and '"type": "float"' not in tools_text and '"type": "object"' in tools_text
    )


@pytest.mark.slow
def test_bfcl_sft_rows_load_through_verls_sft_dataset(bfcl_out, tokenizer):
    out, summary = bfcl_out
    assert summary["dropped"]["sft"] == {
        "unsatisfiable_gold": 5,
        "no_reference_answer (gold is 'no call', no text answer given)": 240,
    }
    ds = sft_dataset(out / "sft" / "train.parquet", tokenizer)
    assert len(ds) == 2351 - 5
    table = pq.read_table(out / "sft" / "train.parquet").to_pylist()
    for i in range(0, len(ds), 97):
        item, row = ds[i], table[i]
        trained = item["input_ids"][item["loss_mask"].bool()]
        answer = row["messages"][-1]
        assert answer["role"] == "assistant" and answer["loss_mask"] == 1
        text = tokenizer.decode(trained)
        for call in answer["tool_calls"]:
            assert call["function"]["name"] in text
            assert (
                json.dumps(json.loads(call["function"]["arguments"]), ensure_ascii=False) in text
            )  # decoded, not a JSON string in a string
        assert "<|im_start|>user" not in text  # only the assistant answer is trained


def test_split_by_tool_name_is_disjoint(tmp_path):
    summary = run_prepare(
        "source=bfcl",
        "categories=[live_simple]",
        f"out={tmp_path}",
        "kinds=[rl]",
        "split.test_fraction=0.2",
        "split.seed=3",
    )
    names = {}
    for split in ("train", "test"):
        rows = pq.read_table(tmp_path / "rl" / f"{split}.parquet").to_pylist()
        names[split] = {t["function"]["name"] for r in rows for t in json.loads(r["extra_info"]["tools"])}
        assert {r["extra_info"]["split"] for r in rows} == {split}
        assert [r["extra_info"]["index"] for r in rows] == list(range(len(rows)))
    assert names["train"] and names["test"] and not names["train"] & names["test"]
    assert 0.15 <= summary["test_records"] / summary["records"] <= 0.25


def test_dot_to_underscore_renames_tools_and_gold_alike(tmp_path):
    run_prepare(
        "source=bfcl", "categories=[simple_python]", f"out={tmp_path}", "kinds=[rl]", "bfcl.dot_to_underscore=true"
    )
    rows = pq.read_table(tmp_path / "rl" / "train.parquet").to_pylist()
    assert not any("." in t["function"]["name"] for r in rows for t in json.loads(r["extra_info"]["tools"]))
    assert any("math_" in r["reward_model"]["ground_truth"] for r in rows)
    assert gold_scores(rows) == [1.0] * len(rows)


# ----------------------------------------------------------------------------- every source format

# Tool responses per feedback category in each sample file (classified by the MAE classifier)
FEEDBACK = {
    "openai": {"ok": 4, "param_hallucination": 1, "tool_instability": 1},
    "toolace": {"ok": 5, "tool_call_failure": 1},
    "react": {"ok": 3, "tool_hallucination": 1},
    "tl_training": {"ok": 2, "param_hallucination": 1, "tool_hallucination": 1, "tool_instability": 1},
}


def _read_records(source):
    from data_transforms.io import iter_rows
    from data_transforms.readers import READERS

    return [READERS[source](row, name) for name, row in iter_rows(DATA / SAMPLES[source])]


@pytest.mark.parametrize("source", sorted(SAMPLES))
def test_every_format_converts_into_both_parquet_kinds(source, tmp_path, tokenizer):
    summary = run_prepare(f"source={source}", f"input={DATA / SAMPLES[source]}", f"out={tmp_path}")
    records = _read_records(source)
    errors = {k: v for k, v in summary["feedback"].items() if k != "ok" and v}

    # MAE: every tool response classified, each erroneous step masked in SFT and dropped from RL
    assert {k: v for k, v in summary["feedback"].items() if v} == FEEDBACK[source]
    assert summary["masked"] == errors
    assert summary["dropped"].get("rl", {}) == {f"erroneous_step:{k}": v for k, v in errors.items()}

    # RL: one row per good assistant step, loaded by verl's RLHFDataset, every gold scores +1
    n_steps = sum(m["role"] == "assistant" for r in records for m in r.messages)
    rl = pq.read_table(tmp_path / "rl" / "train.parquet").to_pylist()
    assert len(rl) == summary["written"]["rl"]["train"] == n_steps - sum(errors.values())
    assert gold_scores(rl) == [1.0] * len(rl)
    ds = rl_dataset(tmp_path / "rl" / "train.parquet", tokenizer)
    assert len(ds) == len(rl)
    for i in range(len(ds)):
        item = ds[i]
        assert item["raw_prompt"][-1]["role"] in ("user", "tool")  # context ends before the step
        assert item["extra_info"]["tools"] == rl[i]["extra_info"]["tools"]

    # SFT: one conversation per record, loaded through verl's MultiTurnSFTDataset code; the loss
    # covers exactly the assistant messages with loss_mask 1
    sft = pq.read_table(tmp_path / "sft" / "train.parquet").to_pylist()
    assert len(sft) == summary["written"]["sft"]["train"] == len(records)
    ds = sft_dataset(tmp_path / "sft" / "train.parquet", tokenizer)
    n_masked = 0
    for i, row in enumerate(sft):
        item = ds[i]
        trained_text = tokenizer.decode(item["input_ids"][item["loss_mask"].bool()])
        trained = [m for m in row["messages"] if m["loss_mask"]]
        assert all(m["role"] == "assistant" for m in trained)
        n_masked += sum(m["role"] == "assistant" and not m["loss_mask"] for m in row["messages"])
        assert trained_text.count("<tool_call>") == sum(len(m["tool_calls"] or []) for m in trained)
        assert trained_text.count("<|im_end|>") == len(trained)  # one end-of-turn per trained message
        assert "<|im_start|>user" not in trained_text and "<tool_response>" not in trained_text
    assert n_masked == sum(errors.values())


def test_mae_drop_mode_writes_one_row_per_good_step(tmp_path, tokenizer):
    summary = run_prepare(
        "source=tl_training",
        f"input={DATA / SAMPLES['tl_training']}",
        f"out={tmp_path}",
        "mae.mode=drop",
        "kinds=[sft]",
    )
    records = _read_records("tl_training")
    n_steps = sum(m["role"] == "assistant" for r in records for m in r.messages)
    sft = pq.read_table(tmp_path / "sft" / "train.parquet").to_pylist()
    assert summary["dropped"]["sft"] == {
        "erroneous_step:param_hallucination": 1,
        "erroneous_step:tool_hallucination": 1,
        "erroneous_step:tool_instability": 1,
    }
    assert len(sft) == n_steps - 3 and summary["masked"] == {}
    for row in sft:
        assert [m["loss_mask"] for m in row["messages"]] == [0] * (len(row["messages"]) - 1) + [1]
    ds = sft_dataset(tmp_path / "sft" / "train.parquet", tokenizer)
    assert all(ds[i]["loss_mask"].sum() > 0 for i in range(len(ds)))


def test_restricting_error_categories_masks_only_those(tmp_path):
    summary = run_prepare(
        "source=tl_training",
        f"input={DATA / SAMPLES['tl_training']}",
        f"out={tmp_path}",
        "mae.error_categories=[tool_hallucination]",
    )
    assert summary["masked"] == {"tool_hallucination": 1}
    assert summary["feedback"]["tool_instability"] == 1  # still classified and reported


def test_system_text_puts_tools_into_the_system_message(tmp_path, tokenizer):
    run_prepare(
        "source=toolace", f"input={DATA / SAMPLES['toolace']}", f"out={tmp_path}", "tools_in_prompt=system_text"
    )
    rl = pq.read_table(tmp_path / "rl" / "train.parquet").to_pylist()
    assert {r["agent_name"] for r in rl} == {"single_turn_agent"}
    for row in rl:
        system = row["prompt"][0]
        assert system["role"] == "system" and "<tools>" in system["content"]
        for tool in json.loads(row["extra_info"]["tools"]):
            assert json.dumps(tool, ensure_ascii=False) in system["content"]
        assert all(m["tool_calls"] is None for m in row["prompt"])  # earlier calls are text
    sft = pq.read_table(tmp_path / "sft" / "train.parquet").to_pylist()
    assert "tools" not in sft[0]  # no tools column: the tools are in the system text
    for row, rec in zip(sft, _read_records("toolace")):
        assert row["tool_names"] == [t["name"] for t in rec.tools]  # PKT's candidates
    ds = sft_dataset(tmp_path / "sft" / "train.parquet", tokenizer)
    text = tokenizer.decode(ds[0]["input_ids"])
    assert "# Tools" not in text and "<tools>" in text and "<tool_call>" in text
    # PKT reads the calls from the assistant text: every trained call message gets key weights
    weighted = 0
    for i, row in enumerate(sft):
        n_calls = sum("<tool_call>" in (m["content"] or "") for m in row["messages"] if m["loss_mask"])
        assert len(ds.row_weights(i).keys) >= n_calls and (ds[i]["loss_mask"].max() > 1) == (n_calls > 0)
        weighted += n_calls > 0
    assert weighted

    # verl's stock class reads these files as they are, but it ignores the per-message loss_mask
    # (MAE needs TLSFTDataset) and fails its own sanity check where parallel calls got several
    # tool messages in a row (the template merges them into one turn; TLSFTDataset handles it)
    from verl.utils.dataset.multiturn_sft_dataset import MultiTurnSFTDataset

    stock = MultiTurnSFTDataset([str(tmp_path / "sft" / "train.parquet")], tokenizer, OmegaConf.create(SFT_CONFIG))
    roles = [[m["role"] for m in row["messages"]] for row in sft]
    runs = [any(a == b == "tool" for a, b in zip(r, r[1:])) for r in roles]
    assert any(runs) and not all(runs)
    for i, row in enumerate(sft):
        if runs[i]:
            with pytest.raises(AssertionError, match="apply_chat_template to each turn separately"):
                stock[i]
            continue
        assert stock[i]["input_ids"].tolist() == ds[i]["input_ids"].tolist()
        masked = any(m["role"] == "assistant" and not m["loss_mask"] for m in row["messages"])
        assert (stock[i]["loss_mask"].sum() > ds[i]["loss_mask"].bool().sum()) == masked


def test_stock_sft_dataset_cannot_take_json_string_tools(tmp_path, tokenizer):
    # why native-mode SFT files need TLSFTDataset: verl hands the tools string to the template
    from verl.utils.dataset.multiturn_sft_dataset import MultiTurnSFTDataset

    run_prepare("source=toolace", f"input={DATA / SAMPLES['toolace']}", f"out={tmp_path}", "kinds=[sft]")
    stock = MultiTurnSFTDataset([str(tmp_path / "sft" / "train.parquet")], tokenizer, OmegaConf.create(SFT_CONFIG))
    with pytest.raises(ValueError, match="Tools should either be a JSON schema"):
        stock[0]
    assert sft_dataset(tmp_path / "sft" / "train.parquet", tokenizer)[0]["loss_mask"].sum() > 0


# ----------------------------------------------------------------------------- the CLI


def _cli(*args, cwd):
    env = {**os.environ, "HYDRA_FULL_ERROR": "0"}
    return subprocess.run(
        [sys.executable, "-m", "tl_plugin.cli.prepare", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=300,
    )


def test_console_script_is_installed():
    assert (Path(sys.executable).parent / "tl-prepare").exists()


def test_cli_takes_hydra_overrides_and_prints_the_summary(tmp_path):
    proc = _cli(
        "source=openai",
        f"input={DATA / SAMPLES['openai']}",
        f"out={tmp_path / 'o'}",
        "split.test_fraction=0.3",
        "split.by=record",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "rows read" in proc.stdout and "sft messages masked: param_hallucination" in proc.stdout
    assert "rl rows dropped: erroneous_step:tool_instability" in proc.stdout
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["written"]["rl"]["train"] + summary["written"]["rl"]["test"] == 9 - 2  # 9 steps, 2 erroneous
    assert summary["rows_per_second"] > 0
    assert not list((tmp_path / "o").rglob("*.tmp"))


def _bad_openai_file(tmp_path) -> Path:
    rows = (DATA / SAMPLES["openai"]).read_text().splitlines()
    bad = json.loads(rows[0])
    bad["messages"][2]["tool_calls"][0]["function"]["arguments"] = "[1, 2]"  # not an object
    path = tmp_path / "chats.jsonl"
    path.write_text("\n".join([rows[1], json.dumps(bad), rows[2]]) + "\n")
    return path


def test_bad_input_names_the_row_and_field_and_writes_nothing(tmp_path):
    path = _bad_openai_file(tmp_path)
    out = tmp_path / "o"
    (out / "rl").mkdir(parents=True)
    (out / "rl" / "train.parquet").write_bytes(b"earlier run")
    proc = _cli("source=openai", f"input={path}", f"out={out}", cwd=tmp_path)
    assert proc.returncode != 0
    assert "chats.jsonl:2" in proc.stderr and "messages[2].tool_calls[0].function.arguments" in proc.stderr
    assert (out / "rl" / "train.parquet").read_bytes() == b"earlier run"  # nothing half-written
    assert not (out / "summary.json").exists()


def test_on_error_skip_counts_the_bad_row(tmp_path):
    summary = run_prepare(
        "source=openai", f"input={_bad_openai_file(tmp_path)}", f"out={tmp_path / 'o'}", "on_error=skip"
    )
    assert summary["rows_read"] == 3 and summary["records"] == 2
    assert summary["bad_rows"] == {"messages[2].tool_calls[0].function.arguments": 1}
    assert "chats.jsonl:2" in summary["examples"]["bad_row:messages[2].tool_calls[0].function.arguments"]


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["source=csv", "input=x"], "source must be one of"),
        (["source=openai"], "needs input=FILE"),
        (["source=openai", "input=/nonexistent.jsonl"], "input file not found"),
        (["source=bfcl", "categories=[live_relevance]"], "live_relevance has no gold answer"),
        (["source=bfcl", "categories=[simple_python]", "kinds=[dpo]"], "kinds must be"),
        (["source=bfcl", "categories=[simple_python]", "mae.mode=soft"], "mae.mode must be one of"),
        (["source=bfcl", "categories=[simple_python]", "mae.error_categories=[oops]"], "unknown ['oops']"),
        (["source=bfcl", "categories=[simple_python]", "split.test_fraction=1.5"], "test_fraction must be in"),
        (["source=bfcl", "categories=[simple_python]", "tools_in_prompt=html"], "tools_in_prompt must be one of"),
        (["source=bfcl", "categories=[simple_python]", "system_text=no placeholder"], "{tools}"),
        (["source=bfcl", "categories=[simple_python]", "duplicate_tools=merge"], "duplicate_tools must be one of"),
    ],
)
def test_bad_settings_fail_with_a_clear_message(overrides, message, tmp_path):
    with pytest.raises((ValueError, FileNotFoundError)) as err:
        run_prepare(*overrides, f"out={tmp_path}")
    assert message in str(err.value)


def test_limit_reads_only_that_many_rows(tmp_path):
    summary = run_prepare("source=bfcl", "categories=[simple_python]", f"out={tmp_path}", "limit=7", "kinds=[rl]")
    assert summary["rows_read"] == 7 and summary["written"]["rl"] == {"train": 7, "test": 0}
    assert not (tmp_path / "rl" / "test.parquet").exists()


def test_sft_dataset_hands_the_template_arguments_as_dicts(tmp_path):
    # a template that renders `arguments | tojson` (Qwen2.5's does) would quote a JSON string again
    strict = build_tiny_tokenizer(tmp_path / "tok", string_arguments=False)
    run_prepare("source=openai", f"input={DATA / SAMPLES['openai']}", f"out={tmp_path}", "kinds=[sft]")
    rows = pq.read_table(tmp_path / "sft" / "train.parquet").to_pylist()
    ds = sft_dataset(tmp_path / "sft" / "train.parquet", strict)
    for i, row in enumerate(rows):
        text = strict.decode(ds[i]["input_ids"])
        assert '"arguments": "' not in text
        for m in row["messages"]:
            for call in m["tool_calls"] or []:
                assert json.dumps(json.loads(call["function"]["arguments"]), ensure_ascii=False) in text


# ----------------------------------------------------------------------------- parquet and unreadable input


# The OpenAI sample mixes text and part-list contents, which one parquet column cannot hold; these
# rows are OpenAI chat as the API writes it (arguments as JSON strings).
OPENAI_PARQUET_ROWS = [
    {
        "messages": [
            {"role": "user", "content": "Weather in Paris?", "tool_calls": None, "tool_call_id": None},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                    }
                ],
                "tool_call_id": None,
            },
            {"role": "tool", "content": "18 C", "tool_calls": None, "tool_call_id": "c1"},
            {"role": "assistant", "content": "18 C in Paris.", "tool_calls": None, "tool_call_id": None},
        ],
        "tools": '[{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "str"}}}}}]',
    },
    {
        "messages": [
            {"role": "user", "content": "And Rome?", "tool_calls": None, "tool_call_id": None},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {
                        "id": "c2",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'},
                    }
                ],
                "tool_call_id": None,
            },
        ],
        "tools": '[{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "str"}}}}}]',
    },
]


# the OpenAI sample file mixes string and part-list contents (one parquet column cannot hold
# both), so OpenAI chat goes through OPENAI_PARQUET_ROWS instead
@pytest.mark.parametrize("source", [*sorted(set(SAMPLES) - {"openai"}), "openai_api", "toolrl"])
def test_every_source_reads_parquet_like_json(source, tmp_path):
    from data_transforms.io import iter_rows

    if source == "toolrl":
        json_path = DATA / "toolrl_rows.json"
    elif source == "openai_api":
        json_path = tmp_path / "chats.jsonl"
        json_path.write_text("".join(json.dumps(r) + "\n" for r in OPENAI_PARQUET_ROWS))
        source = "openai"
    else:
        json_path = DATA / SAMPLES[source]
    rows = [row for _, row in iter_rows(json_path)]
    parquet = write_united_parquet(rows, tmp_path / "rows.parquet")
    a = run_prepare(f"source={source}", f"input={json_path}", f"out={tmp_path / 'a'}")
    b = run_prepare(f"source={source}", f"input={parquet}", f"out={tmp_path / 'b'}")
    for key in ("rows_read", "records", "written", "dropped", "masked", "feedback"):
        assert a[key] == b[key], key
    assert a["written"]["rl"]["train"] > 0
    rl = pq.read_table(tmp_path / "b" / "rl" / "train.parquet").to_pylist()
    assert gold_scores(rl) == [1.0] * len(rl)


@pytest.mark.parametrize(
    "content, words",
    [
        (bytes(range(256)) * 4, "neither UTF-8 text"),
        (b"\x1f\x8b\x08\x00" + b"\x00" * 40, "compressed archive"),
        (b"PK\x03\x04" + b"\x00" * 40, "compressed archive"),
        (b"PAR1" + b"\x00" * 40, "broken parquet file"),
    ],
)
def test_unreadable_input_is_one_line_naming_the_file_and_the_formats(content, words, tmp_path):
    path = tmp_path / "data.bin"
    path.write_bytes(content)
    proc = _cli("source=openai", f"input={path}", f"out={tmp_path / 'o'}", cwd=tmp_path)
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if line.strip() and "HYDRA_FULL_ERROR" not in line]
    assert lines == [lines[0]] and "Traceback" not in proc.stderr, proc.stderr
    assert f"cannot read {path}: " in lines[0] and words in lines[0]
    assert "JSON Lines (one object per line), a JSON array of objects, or parquet" in lines[0]


def test_a_json_file_named_parquet_is_refused(tmp_path):
    from data_transforms.io import InputFileError, iter_rows

    path = tmp_path / "rows.parquet"
    path.write_text('{"messages": []}\n')
    with pytest.raises(InputFileError, match="named .parquet but not a parquet file"):
        list(iter_rows(path))


def test_on_error_skip_loses_only_the_bad_lines_of_every_file(tmp_path):
    # A bad line used to end the reading of its file and of every later input file, counted as
    # one bad row: the rest was lost without a word.
    rows = (DATA / SAMPLES["openai"]).read_text().splitlines()
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_text("\n".join([rows[0], '{"messages": [', rows[1], "[1, 2]", rows[2]]) + "\n")
    b.write_text("\n".join(rows) + "\n")
    summary = run_prepare("source=openai", f"input=[{a},{b}]", f"out={tmp_path / 'o'}", "on_error=skip")
    assert summary["rows_read"] == 5 + len(rows)
    assert summary["records"] == 3 + len(rows)
    assert summary["bad_rows"] == {"<line>": 1, "<row>": 1}
    assert "a.jsonl:2" in summary["examples"]["bad_row:<line>"] and "a.jsonl:4" in summary["examples"]["bad_row:<row>"]
    with pytest.raises(RecordError, match="a.jsonl:2"):  # on_error=raise stops at the first
        run_prepare("source=openai", f"input=[{a},{b}]", f"out={tmp_path / 'p'}")


def test_a_broken_json_array_stops_the_run_even_when_skipping(tmp_path):
    path = tmp_path / "rows.json"
    path.write_text('[{"messages": []}, {"messa')
    from data_transforms.io import InputFileError

    with pytest.raises(InputFileError, match="not a valid JSON array"):
        run_prepare("source=openai", f"input={path}", f"out={tmp_path / 'o'}", "on_error=skip")


@pytest.mark.parametrize(
    "overrides, words",
    [
        (["source=foo"], "source must be one of"),
        (["source=react"], "needs input=FILE"),
        (["source=bfcl", "categories=[simple_java]"], "simple_java"),
    ],
)
def test_bad_settings_on_the_command_line_are_one_line(overrides, words, tmp_path):
    proc = _cli(*overrides, f"out={tmp_path / 'o'}", cwd=tmp_path)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.startswith("tl-prepare: ") and words in proc.stderr


def test_refusals_name_the_source_row_when_ids_repeat(tmp_path):
    tool = {"name": "f", "parameters": {"type": "object", "properties": {"x": {"type": "integer"}}}}
    other = {"name": "f", "parameters": {"type": "object", "properties": {"y": {"type": "integer"}}}}
    row = {
        "id": "same",
        "messages": [
            {"role": "user", "content": "Do f."},
            {"role": "assistant", "content": "", "tool_calls": [{"name": "f", "arguments": {"x": 1}}]},
        ],
        "tools": [tool],
    }
    path = tmp_path / "chats.jsonl"
    path.write_text(json.dumps(row) + "\n" + json.dumps({**row, "tools": [tool, other]}) + "\n")
    summary = run_prepare("source=openai", f"input={path}", f"out={tmp_path / 'o'}", "kinds=[rl]")
    assert summary["dropped_rows"]["record:duplicate_tool_name"] == [
        "chats.jsonl:2 (id same): two different schemas named 'f' (duplicate_tools=refuse)"
    ]
    assert summary["written"]["rl"]["train"] == 1
