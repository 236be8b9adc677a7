"""ToolDev's pieces on plain data: task rows, rule checkers, majority vote, round rows and report.

Task rows go through the real ``TLSFTDataset`` with a real BPE tokenizer and the repo's Qwen2.5
tool template (the model's chat template) and verl's Hydra composition; tl-prepare writes them to
real parquet.
"""

from __future__ import annotations

import json
import time

import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from omegaconf import OmegaConf

from data_transforms.io import write_parquet
from data_transforms.records import Record
from data_transforms.self_evolution import judge_answers, read_queries, round_report, round_rows, screen_tools
from data_transforms.tally import Tally
from data_transforms.tool_checks import ANSWER_CODES, TOOL_CODES, check_answer, check_tools, parse_tools
from data_transforms.tooldev import (
    SIGNATURE_SYSTEM,
    TaskPrompts,
    adaption_row,
    generation_row,
    mix_rows,
    task_rows,
    tools_answer,
)
from data_transforms.vote import canonical_answer, majority_vote
from tests.helpers import examples
from tl_plugin.testing import build_tiny_tokenizer


def tool(name="get_weather", **props):
    props = props or {"city": {"type": "string", "description": "The city."}}
    return {
        "name": name,
        "description": f"{name} does things.",
        "parameters": {"type": "object", "properties": props, "required": sorted(props)[:1]},
    }


def codes(problems):
    return [p.code for p in problems]


# ----------------------------------------------------------------------------- tool rules


def test_parse_tools_reads_an_object_a_list_and_a_sequence():
    one = json.dumps(tool())
    assert parse_tools(f"<tools>{one}</tools>")[0] == [tool()]
    assert parse_tools(f"Sure!\n<tools>\n[{one}, {one}]\n</tools> done")[0] == [tool(), tool()]
    assert parse_tools(f"<tools>\n{one}\n{one}\n</tools>")[0] == [tool(), tool()]


@pytest.mark.parametrize(
    "text, code",
    [
        ("no block here", "no_tools_block"),
        ('<tools>{"name": "f"', "unclosed_tools_block"),
        ("<tools>{'name': 'f'}</tools>", "not_json"),
        ("<tools>[]</tools>", "no_tools"),
        ("<tools>   </tools>", "no_tools"),
        (None, "not_json"),
    ],
)
def test_parse_tools_problems(text, code):
    tools, problems = parse_tools(text)
    assert tools == [] and codes(problems) == [code]


def _broken(edit):
    t = tool()
    edit(t)
    return t


@pytest.mark.parametrize(
    "tools, expected",
    [
        ([tool()], []),
        (["get_weather"], ["not_object"]),
        ([_broken(lambda t: t.pop("name"))], ["missing_name"]),
        ([_broken(lambda t: t.pop("description"))], ["missing_description"]),
        ([_broken(lambda t: t.update(description=""))], ["missing_description"]),
        ([_broken(lambda t: t.pop("parameters"))], ["missing_parameters"]),
        ([_broken(lambda t: t.update(name="Division API"))], ["bad_name"]),
        ([_broken(lambda t: t.update(name=7))], ["bad_name"]),
        ([_broken(lambda t: t["parameters"].update(type="dict"))], ["bad_parameters", "invalid_json_schema"]),
        ([_broken(lambda t: t["parameters"]["properties"]["city"].pop("type"))], ["parameter_missing_type"]),
        (
            [_broken(lambda t: t["parameters"]["properties"]["city"].pop("description"))],
            ["parameter_missing_description"],
        ),
        ([_broken(lambda t: t["parameters"]["properties"]["city"].update(type="float"))], ["invalid_json_schema"]),
        ([_broken(lambda t: t["parameters"]["properties"]["city"].update(items=3))], ["invalid_json_schema"]),
        (
            [_broken(lambda t: t["parameters"]["properties"]["city"].update({"$ref": "https://example.com/s.json"}))],
            ["invalid_json_schema"],
        ),
        ([_broken(lambda t: t["parameters"].update(required=["city", "country"]))], ["required_not_in_properties"]),
        ([tool(), tool()], ["duplicate_name"]),
        ([], ["no_tools"]),
    ],
)
def test_check_tools_codes(tools, expected):
    problems = check_tools(tools)
    assert codes(problems) == expected
    assert all(p.code in TOOL_CODES for p in problems)


def test_check_tools_problems_say_where():
    t = _broken(lambda t: t["parameters"]["properties"]["city"].pop("description"))
    (problem,) = check_tools([tool("other"), t])
    assert problem.where == "tools[1].parameters.properties.city"
    assert "city" in str(problem)


def test_name_pattern_can_be_switched_off():
    named = _broken(lambda t: t.update(name="Division API"))
    assert check_tools([named], name_pattern=None) == []


# ----------------------------------------------------------------------------- answer rules


WEATHER = tool(
    city={"type": "string", "description": "The city."},
    days={"type": "integer", "description": "Days ahead.", "minimum": 0},
    unit={"type": "string", "description": "Unit.", "enum": ["c", "f"]},
)


@pytest.mark.parametrize(
    "calls, expected",
    [
        ([{"name": "get_weather", "arguments": {"city": "Paris", "days": 2, "unit": "c"}}], []),
        ([], ["no_call"]),
        ([{"name": "get_time", "arguments": {}}], ["hallucinated_tool"]),
        ([{"name": "get_weather", "arguments": {"city": "Paris", "country": "FR"}}], ["hallucinated_parameter"]),
        ([{"name": "get_weather", "arguments": {"days": 1}}], ["missing_required"]),
        ([{"name": "get_weather", "arguments": {"city": "Paris", "days": "two"}}], ["invalid_value"]),
        ([{"name": "get_weather", "arguments": {"city": "Paris", "days": -1}}], ["invalid_value"]),
        ([{"name": "get_weather", "arguments": {"city": "Paris", "unit": "kelvin"}}], ["invalid_value"]),
        ([{"name": "get_weather", "arguments": {"city": "Paris", "days": True}}], ["invalid_value"]),
    ],
)
def test_check_answer_codes(calls, expected):
    problems = check_answer(calls, [WEATHER])
    assert codes(problems) == expected
    assert all(p.code in ANSWER_CODES for p in problems)


def test_check_answer_ignores_model_written_regex_patterns_in_linear_time():
    evil = tool(code={"type": "string", "description": "A code.", "pattern": "^(a+)+$"})
    start = time.perf_counter()
    assert check_answer([{"name": "get_weather", "arguments": {"code": "a" * 40 + "!"}}], [evil]) == []
    assert time.perf_counter() - start < 1.0  # re.search would take minutes on this


# ----------------------------------------------------------------------------- vote


def call(city="Paris", **extra):
    return {"name": "get_weather", "arguments": {"city": city, **extra}}


def test_canonical_answer_normalises_as_the_reward_compares():
    assert canonical_answer([call("New York")]) == canonical_answer([call("new-york")])
    assert canonical_answer([call(days=3)]) == canonical_answer([call(days=3.0)])
    assert canonical_answer([call(days=1)]) != canonical_answer([call(days=True)])
    assert canonical_answer([call(days=1)]) != canonical_answer([call(days="1")])
    assert canonical_answer([call("A"), call("B")]) == canonical_answer([call("B"), call("A")])
    assert canonical_answer([call("A"), call("A")]) != canonical_answer([call("A")])  # a multiset
    assert canonical_answer([call(x=[1, 2])]) != canonical_answer([call(x=[2, 1])])  # lists keep order
    assert canonical_answer([call(x={"a": 1, "b": "Q"})]) == canonical_answer([call(x={"b": "q", "a": 1.0})])


def test_majority_vote_winner_counts_and_agreement():
    a, b = [call("Paris")], [call("Rome")]
    v = majority_vote([b, a, None, a, []], min_votes=2)
    assert (v.winner, v.votes, v.n_samples, v.counts, v.tie, v.reason) == (1, 2, 5, [2, 1, 1], False, "")
    assert v.agreement == 0.4


def test_majority_vote_tie_break_and_min_votes():
    a, b = [call("Paris")], [call("Rome")]
    assert majority_vote([b, a, a, b], tie_break="first").winner == 0  # b was sampled first
    v = majority_vote([b, a, a, b], tie_break="drop")
    assert v.winner is None and v.reason == "tie" and v.votes == 2
    v = majority_vote([a, b, [call("Oslo")]], min_votes=2)
    assert v.winner is None and v.reason == "min_votes"
    v = majority_vote([None, None])
    assert v.winner is None and v.reason == "no_answer" and v.counts == []
    with pytest.raises(ValueError, match="min_votes"):
        majority_vote([a], min_votes=0)
    with pytest.raises(ValueError, match="tie_break"):
        majority_vote([a], tie_break="random")


@settings(max_examples=examples(60), deadline=None)
@given(st.lists(st.sampled_from(["Paris", "Rome", "paris", "Oslo", None]), min_size=1, max_size=8), st.randoms())
def test_vote_count_does_not_depend_on_sample_order(cities, rnd):
    answers = [None if c is None else [call(c)] for c in cities]
    shuffled = answers[:]
    rnd.shuffle(shuffled)
    v1, v2 = majority_vote(answers), majority_vote(shuffled)
    assert v1.counts == v2.counts and v1.votes == v2.votes
    if v1.winner is not None and not v1.tie:
        assert canonical_answer(answers[v1.winner]) == canonical_answer(shuffled[v2.winner])


# ----------------------------------------------------------------------------- task rows


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    return build_tiny_tokenizer(tmp_path_factory.mktemp("tok"))


def _trained_text(row, tokenizer, tmp_path):
    from tl_plugin.verl_ext.sft_dataset import TLSFTDataset  # callers are marked verl

    path = write_parquet([row], tmp_path / "row.parquet")
    cfg = OmegaConf.create(
        {"pad_mode": "no_padding", "max_length": 4096, "truncation": "error", "pkt": {"enable": False}}
    )
    item = TLSFTDataset([str(path)], tokenizer, cfg)[0]
    ids, mask = item["input_ids"].tolist(), item["loss_mask"].tolist()
    full = tokenizer.decode(ids)
    trained = tokenizer.decode([i for i, m in zip(ids, mask) if m])
    return full, trained


@pytest.mark.verl
def test_adaption_row_through_the_chat_template_trains_only_the_schema(tokenizer, tmp_path):
    t = tool()
    full, trained = _trained_text(adaption_row(t, "a1"), tokenizer, tmp_path)
    assert "Generate a tool definition according to the description: get_weather does things." in full
    assert "You are skilled in generating tool signatures" in full and "<tools>" in full
    assert trained.startswith("<tools>\n") and tools_answer(t) in trained
    assert "Generate a tool definition" not in trained
    assert parse_tools(trained)[0] == [t]  # what the model learns to write passes the tool rules
    assert check_tools(parse_tools(trained)[0]) == []


@pytest.mark.verl
def test_generation_row_and_custom_prompts(tokenizer, tmp_path):
    prompts = TaskPrompts(generation_user="Invent tools for: {query}")
    row = generation_row("Weather in Paris?", [tool(), tool("get_time")], "g1", prompts)
    full, trained = _trained_text(row, tokenizer, tmp_path)
    assert "Invent tools for: Weather in Paris?" in full
    assert [t["name"] for t in parse_tools(trained)[0]] == ["get_weather", "get_time"]
    with pytest.raises(ValueError, match="{query}"):
        TaskPrompts(generation_user="no placeholder")
    assert SIGNATURE_SYSTEM in full


def test_task_rows_dedupe_tools_and_count_what_they_skip():
    nodesc = {**tool("mute"), "description": "  "}
    recs = [
        Record("r1", [{"role": "user", "content": "Weather?"}], [tool(), nodesc]),
        Record("r2", [{"role": "user", "content": "Weather again?"}], [tool()]),
        Record("r3", [{"role": "user", "content": "Hi"}], []),
    ]
    tally = Tally()
    out = task_rows(recs, TaskPrompts(), tally)
    assert [r["id"] for r in out["adaption"]] == ["r1:adaption:get_weather"]
    assert [r["id"] for r in out["generation"]] == ["r1:generation", "r2:generation"]
    dropped = tally.as_dict()["dropped"]
    assert dropped == {"sft:adaption": {"tool_without_description": 1}, "sft:generation": {"record_without_tools": 1}}


def test_mix_rows_ratios():
    rows = {"invocation": list(range(10)), "adaption": list(range(100, 104))}
    mixed, counts = mix_rows(rows, {"invocation": 0.5, "adaption": 2.5}, seed=1)
    assert counts == {"invocation": 5, "adaption": 10}
    assert sorted(mixed[:5]) == sorted(set(mixed[:5])) and set(mixed[:5]) <= set(range(10))
    assert mixed[5:13] == [100, 101, 102, 103] * 2
    assert mix_rows(rows, {"invocation": 0.5}, seed=1)[0][:5] == mixed[:5]  # seeded
    with pytest.raises(ValueError, match="adaption"):
        mix_rows(rows, {"adaption": -1})


def test_tl_prepare_mixes_tooldev_tasks_into_sft_parquet(tmp_path):
    from tl_plugin.cli.prepare import prepare, prepare_config

    rows = [
        {
            "messages": [
                {"role": "user", "content": f"Weather in city {i}?"},
                {
                    "role": "assistant",
                    "content": "",
                    "tool_calls": [
                        {
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": json.dumps({"city": f"c{i}"})},
                        }
                    ],
                },
                {"role": "tool", "content": "sunny"},
                {"role": "assistant", "content": "Sunny."},
            ],
            "tools": [tool(), tool("get_time")],
        }
        for i in range(3)
    ]
    src = tmp_path / "chats.jsonl"
    src.write_text("\n".join(json.dumps(r) for r in rows))
    out = tmp_path / "out"
    cfg = prepare_config(
        [
            "source=openai",
            f"input={src}",
            f"out={out}",
            "kinds=[sft]",
            "tooldev.ratios.adaption=1.0",
            "tooldev.ratios.generation=2.0",
        ]
    )
    summary = prepare(cfg)
    written = {kind: splits["train"] for kind, splits in summary["written"].items()}
    assert written == {"sft:invocation": 3, "sft:adaption": 2, "sft:generation": 6, "sft": 11}
    ids = pq.read_table(out / "sft" / "train.parquet").column("id").to_pylist()
    assert len(ids) == 11 and ids.count("chats.jsonl:1:generation") == 2
    with pytest.raises(ValueError, match="unknown tasks"):
        prepare(prepare_config(["source=openai", f"input={src}", f"out={out}", "+tooldev.ratios.other=1"]))


# ----------------------------------------------------------------------------- a round on data


def _weather_tools_text(name="get_weather"):
    return "<tools>\n" + json.dumps([tool(name)]) + "\n</tools>"


def _hermes(city):
    return (
        "<tool_call>\n"
        + json.dumps({"name": "get_weather", "arguments": {"city": city}}, ensure_ascii=False)
        + "\n</tool_call>"
    )


def test_round_rows_and_report_over_every_filter():
    entries = [
        screen_tools("bad-json", "q", "<tools>{oops}</tools>"),
        screen_tools("bad-tool", "q", "<tools>" + json.dumps([{"name": "f"}]) + "</tools>"),
    ]
    for qid, samples in [
        ("tie", [_hermes("A"), _hermes("B")]),
        ("unparsable", ["<tool_call>{", "<tool_call>{"]),
        ("hallucinated", ['<tool_call>{"name": "other", "arguments": {}}</tool_call>'] * 2),
        ("kept", [_hermes("Paris"), _hermes("paris"), "no call"]),
    ]:
        entries.append(judge_answers(screen_tools(qid, f"query {qid}", _weather_tools_text()), samples, 2, "drop"))
    assert [e["stage"] for e in entries] == ["tool_parse", "tool_rules", "vote", "vote", "answer_rules", "kept"]

    report = round_report(entries, k=3)
    assert [(f["filter"], f["in"], f["out"]) for f in report["filters"]] == [
        ("tool_parse", 6, 5),
        ("tool_rules", 5, 4),
        ("vote", 4, 2),
        ("answer_rules", 2, 1),
    ]
    assert report["reasons"]["vote"] == {"no_answer": 1, "tie": 1}
    assert report["reasons"]["answer_rules"] == {"hallucinated_tool": 1}
    assert "missing_description" in report["reasons"]["tool_rules"]
    assert report["vote_histogram"] == {"0": 1, "1": 1, "2": 2, "3": 0}

    rows, counts = round_rows(entries, {"generation": 1.0, "invocation": 1.0}, seed=0)
    assert counts == {"generation": 1, "invocation": 1}
    gen, inv = rows
    assert gen["id"] == "kept:generation" and parse_tools(gen["messages"][-1]["content"])[0][0]["name"] == "get_weather"
    assert inv["messages"][0] == {"role": "user", "content": "query kept", "tool_calls": None, "loss_mask": 0}
    (tc,) = inv["messages"][1]["tool_calls"]
    assert json.loads(tc["function"]["arguments"]) == {"city": "Paris"}  # the first sample of the winner
    assert json.loads(inv["tools"])[0]["function"]["name"] == "get_weather"


def test_read_queries_formats_and_errors(tmp_path):
    from data_transforms.records import RecordError

    (tmp_path / "q.txt").write_text("Weather in Paris?\n\n  Time in Rome?  \n")
    assert read_queries(tmp_path / "q.txt") == [("q.txt:1", "Weather in Paris?"), ("q.txt:3", "Time in Rome?")]
    (tmp_path / "q.jsonl").write_text('{"id": "a", "query": "x"}\n{"query": "y"}\n')
    assert read_queries(tmp_path / "q.jsonl") == [("a", "x"), ("q.jsonl:2", "y")]
    (tmp_path / "dup.jsonl").write_text('{"id": "a", "query": "x"}\n{"id": "a", "query": "y"}\n')
    with pytest.raises(RecordError, match=r"dup.jsonl:2: field 'id'"):
        read_queries(tmp_path / "dup.jsonl")
    (tmp_path / "empty.jsonl").write_text('{"id": "a", "query": ""}\n')
    with pytest.raises(RecordError, match=r"empty.jsonl:1: field 'query'"):
        read_queries(tmp_path / "empty.jsonl")
