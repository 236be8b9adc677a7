"""``source=toolrl``: ToolRL's and Tool-N1's verl rows through the reader, ``tl-prepare`` (parquet and
JSON input), verl's ``RLHFDataset`` and the reward.

``tests/data/toolrl_rows.json`` is written here in the two projects' published layouts (read from
qiancheng0/ToolRL ``dataset/rlla_4k`` and NVlabs/Tool-N1's preprocessing code; no row is copied
from them): ToolRL's numbered tool list, tagged history and ``<think>``/``<tool_call>`` ground
truth with one JSON object per line, ToolRL's SFT ``instruction``/``input``/``output`` shape, and
Tool-N1's ``<tools>`` block, JSON-list ground truth and twice-encoded call messages. It carries
their known defects on purpose: a gold call whose tool name is cut at ``(``, two different tools
named ``translate``, a ``Callable[[float], float]`` parameter type.
"""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
from omegaconf import OmegaConf

from data_transforms.gold import reference_answer
from data_transforms.io import iter_rows
from data_transforms.readers import read_toolrl
from data_transforms.records import RecordError
from reward_fns.tl_tool import compute_score
from tests.helpers import DATA_DIR
from tl_plugin.cli.prepare import prepare, prepare_config
from tl_plugin.testing import build_tiny_tokenizer, write_united_parquet

DATA = DATA_DIR / "toolrl_rows.json"
ROWS = [row for _, row in iter_rows(DATA)]


def run(*overrides):
    return prepare(prepare_config(["source=toolrl", *overrides]))


# ----------------------------------------------------------------------------- the reader


def test_toolrl_row_tools_types_and_gold():
    rec = read_toolrl(ROWS[1], "r[1]")
    assert [t["name"] for t in rec.tools] == ["GetNews", "convert_units"]
    news = rec.tools[0]["parameters"]
    # flat xLAM-style parameters become an object schema without a required list; Python types mapped
    assert news["type"] == "object" and "required" not in news
    assert news["properties"]["page"]["type"] == "integer"
    assert news["properties"]["topic"] == {"description": "Topic", "type": "string", "default": "cloud"}
    assert rec.tools[1]["parameters"]["properties"]["units"]["type"] == "array"
    assert rec.tools[1]["parameters"]["properties"]["units"]["items"] == {"type": "string"}
    assert rec.messages == [{"role": "user", "content": "Convert 3.5 to km and m, and fetch news page 1."}]
    # two calls, one JSON object per line with "parameters", in one block
    assert rec.gold == [
        {"name": "convert_units", "arguments": {"value": [3.5], "units": [["km", "m"]]}},
        {"name": "GetNews", "arguments": {"page": [1]}},
    ]
    assert rec.meta == {"category": "rlla"}


def test_toolrl_history_becomes_messages():
    rec = read_toolrl(ROWS[3], "r[3]")
    assert [m["role"] for m in rec.messages] == ["user", "assistant", "tool", "assistant", "user"]
    assert rec.messages[1]["tool_calls"] == [{"name": "GetNews", "arguments": {"page": 1}}]
    assert rec.messages[2]["name"] == "GetNews" and "Cloud costs fall" in rec.messages[2]["content"]
    assert rec.messages[3] == {"role": "assistant", "content": "One article: Cloud costs fall."}
    assert rec.gold == [{"name": "GetNews", "arguments": {"page": [2], "topic": ["storage"]}}]


def test_response_only_ground_truth_is_no_call_with_a_text_answer():
    rec = read_toolrl(ROWS[2], "r[2]")
    assert rec.gold == [] and rec.meta["answer_text"] == "You are welcome!"


def test_sft_shape_and_tool_call_quoted_in_reasoning():
    rec = read_toolrl(ROWS[8], "r[8]")  # instruction / input / output
    assert rec.messages == [{"role": "user", "content": "News page 3?"}]
    assert rec.gold == [{"name": "GetNews", "arguments": {"page": [3]}}]


def test_tooln1_rows():
    rec = read_toolrl(ROWS[9], "r[9]")
    assert [t["name"] for t in rec.tools] == ["live_giveaways_by_platform", "get_order"]
    assert rec.tools[1]["parameters"] == {
        "type": "object",
        "properties": {"order_id": {"type": "integer"}},
        "required": ["order_id"],
    }
    # the schema default ("pc") may be omitted; the gold value differs from it here
    assert rec.gold == [
        {"name": "live_giveaways_by_platform", "arguments": {"platform": ["xbox-one"]}},
        {"name": "live_giveaways_by_platform", "arguments": {"platform": ["android"]}},
    ]
    rec = read_toolrl(ROWS[10], "r[10]")
    assert rec.messages[1] == {
        "role": "assistant",
        "content": "",
        "tool_calls": [{"name": "get_order", "arguments": {"order_id": 7}}],
    }
    assert rec.messages[2]["name"] == "get_order"
    assert rec.gold == [{"name": "live_giveaways_by_platform", "arguments": {"platform": ["pc", ""]}}]


def _system(row, text):
    row = json.loads(json.dumps(row))
    row["prompt"][0]["content"] = text
    return row


@pytest.mark.parametrize(
    "change, field, words",
    [
        (lambda r: _system(r, "You are helpful."), "prompt[0].content", "no tool list"),
        (
            lambda r: _system(r, "1. Name: f\nDescription: x\nParameters: {oops"),
            "prompt[0].content: tool 1 ('f')",
            "not JSON",
        ),
        (lambda r: _system(r, '<tools>\n{"name": "f"}\n'), "prompt[0].content", "</tools>"),
        (
            lambda r: {
                **r,
                "reward_model": {"ground_truth": '<tool_call>\n{"name": "GetNews", "parameters": {\n</tool_call>'},
            },
            "reward_model.ground_truth",
            "not JSON calls",
        ),
        (
            lambda r: {**r, "reward_model": {"ground_truth": "Sure."}},
            "reward_model.ground_truth",
            "no <tool_call> block",
        ),
        (lambda r: {**r, "reward_model": {"ground_truth": '[{"name": '}}, "reward_model.ground_truth", "JSON list"),
        (
            lambda r: {
                **r,
                "prompt": [r["prompt"][0], {"role": "user", "content": "**Dialogue Records History**\n<user> hi"}],
            },
            "prompt[1].content",
            "never closed",
        ),
        (lambda r: {"text": "x"}, "prompt", "needs 'prompt'"),
    ],
)
def test_bad_rows_name_the_field(change, field, words):
    with pytest.raises(RecordError) as info:
        read_toolrl(change(ROWS[0]), "rows.parquet[0]")
    assert info.value.field == field and words in info.value.problem
    assert str(info.value).startswith("row rows.parquet[0]: ")


# ----------------------------------------------------------------------------- tl-prepare


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("toolrl")
    parquet = write_united_parquet(ROWS, tmp / "rlla.parquet")
    from_json = run(f"input={DATA}", f"out={tmp / 'json'}")
    from_parquet = run(f"input={parquet}", f"out={tmp / 'parquet'}")
    return tmp, from_json, from_parquet


def _named(summary, kind, reason):
    return summary["dropped_rows"][f"{kind}:{reason}"]


def test_prepare_counts_and_names_each_refusal(prepared):
    _, summary, _ = prepared
    assert summary["rows_read"] == summary["records"] == 11
    assert summary["dropped"] == {
        "record": {"unmapped_parameter_type": 1, "duplicate_tool_name": 1},
        "rl": {"unsatisfiable_gold": 1},
        "sft": {"unsatisfiable_gold": 1},
    }
    assert _named(summary, "record", "unmapped_parameter_type") == [
        "toolrl_rows.json[6]: tool 'numerical_derivative' parameters.properties.function: "
        "type 'Callable[[float], float]': unknown type name"
    ]
    assert _named(summary, "record", "duplicate_tool_name") == [
        "toolrl_rows.json[7]: two different schemas named 'translate' (duplicate_tools=refuse)"
    ]
    # the cut name keeps its trailing space, readable because it is quoted with repr()
    assert _named(summary, "rl", "unsatisfiable_gold") == [
        "toolrl_rows.json[4]: tool 'Chaikin A/D Oscillator ' is called by the gold answer but is not a candidate tool"
    ]
    assert summary["written"] == {"rl": {"train": 8, "test": 0}, "sft": {"train": 8, "test": 0}}


def test_parquet_input_gives_the_same_rows(prepared):
    tmp, from_json, from_parquet = prepared
    for key in ("rows_read", "records", "dropped", "written", "bad_rows"):
        assert from_json[key] == from_parquet[key], key
    for kind in ("rl", "sft"):
        a = pq.read_table(tmp / "json" / kind / "train.parquet").to_pylist()
        b = pq.read_table(tmp / "parquet" / kind / "train.parquet").to_pylist()
        for x, y in zip(a, b):  # ids name the source file and row, the rest is equal
            x.pop("id", None), y.pop("id", None)
            if kind == "rl":
                x["extra_info"].pop("id"), y["extra_info"].pop("id")
        assert a == b


def _answers(gold: list, tools: list) -> list:
    """The gold as a model trained on ToolRL / Tool-N1 prompts writes it."""
    calls = reference_answer(gold, tools)
    if not calls:
        return ["<think> done </think>\n<response> You are welcome! </response>"]
    per_line = "\n".join(json.dumps({"name": c["name"], "parameters": c["arguments"]}) for c in calls)
    return [
        f"<think> I should call. </think>\n<tool_call>\n{per_line}\n</tool_call>",  # ToolRL
        f"<think> x </think>\n<tool_call>{json.dumps(calls)}</tool_call>",  # Tool-N1
        "".join(f"<tool_call>\n{json.dumps(c)}\n</tool_call>\n" for c in calls),  # Qwen / hermes
    ]


def test_every_rl_row_scores_plus_one_with_its_gold_in_each_projects_format(prepared):
    tmp, _, _ = prepared
    rows = pq.read_table(tmp / "parquet" / "rl" / "train.parquet").to_pylist()
    assert len(rows) == 8
    for row in rows:
        gold = json.loads(row["reward_model"]["ground_truth"])
        tools = [t["function"] for t in json.loads(row["extra_info"]["tools"])]
        for text in _answers(gold, tools):
            r = compute_score(row["data_source"], text, row["reward_model"]["ground_truth"], row["extra_info"])
            assert (r["score"], r["malformed"]) == (1.0, 0), (row["extra_info"]["id"], text)
    # data_source: the source and the row's own data_source ("toolrl" alone for the SFT-shaped row)
    assert {row["data_source"] for row in rows} == {"toolrl_rlla", "toolrl_toolcall", "toolrl"}


def test_source_ground_truth_text_itself_scores_plus_one():
    # ToolRL's own ground-truth strings (think + one call per line, or a response) are right answers
    for i in (0, 1, 2, 3, 5):
        rec = read_toolrl(ROWS[i], f"r[{i}]")
        from data_transforms.render import tools_json

        r = compute_score(
            "toolrl", ROWS[i]["reward_model"]["ground_truth"], json.dumps(rec.gold), {"tools": tools_json(rec.tools)}
        )
        assert r["score"] == 1.0, i


def test_keep_first_keeps_the_first_translate_tool(tmp_path):
    summary = run(f"input={DATA}", f"out={tmp_path}", "duplicate_tools=keep_first")
    assert summary["dropped"]["tool"] == {"duplicate_tool_removed": 1}
    assert summary["dropped"]["record"] == {"unmapped_parameter_type": 1}
    rows = pq.read_table(tmp_path / "rl" / "train.parquet").to_pylist()
    (row,) = [r for r in rows if r["extra_info"]["id"] == "toolrl_rows.json[7]"]
    tools = json.loads(row["extra_info"]["tools"])
    assert [t["function"]["name"] for t in tools] == ["translate"]
    assert list(tools[0]["function"]["parameters"]["properties"]) == ["text"]


def test_response_only_row_trains_its_text_answer_in_sft(prepared):
    tmp, _, _ = prepared
    sft = pq.read_table(tmp / "parquet" / "sft" / "train.parquet").to_pylist()
    (row,) = [r for r in sft if r["id"] == "rlla.parquet[2]"]
    last = row["messages"][-1]
    assert (last["role"], last["content"], last["loss_mask"]) == ("assistant", "You are welcome!", 1)


def test_rows_load_through_verls_rlhf_dataset(prepared):
    from verl.utils.dataset.rl_dataset import RLHFDataset

    tmp, _, _ = prepared
    tokenizer = build_tiny_tokenizer(tmp / "tok")
    path = tmp / "parquet" / "rl" / "train.parquet"
    cfg = OmegaConf.create({"filter_overlong_prompts": False, "cache_dir": str(tmp / "cache")})
    ds = RLHFDataset([str(path)], tokenizer, cfg)
    assert len(ds) == 8
    roles = [m["role"] for m in ds[3]["raw_prompt"]]  # the row with history
    assert roles == ["user", "assistant", "tool", "assistant", "user"]
