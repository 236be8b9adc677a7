"""Unit tests of the data pipeline: records, gold answers, MAE masking, rendering, RL/SFT rows,
parquet writing, splits and the tally."""

from __future__ import annotations

import copy
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from data_transforms.gold import gold_problem, reference_answer
from data_transforms.io import write_parquet
from data_transforms.masking import erroneous_steps, step_feedback
from data_transforms.records import Record, RecordError, canonical_tool, check_record, wrap_gold
from data_transforms.render import (
    DEFAULT_SYSTEM_TEXT,
    chat_message,
    chat_messages,
    hermes_text,
    tools_json,
    with_system_text,
)
from data_transforms.split import record_tool_names, split_indices
from data_transforms.tally import MAX_LISTED, Tally
from data_transforms.tool_feedback import ERROR_CATEGORIES, FEEDBACK_CATEGORIES, classify_feedback
from data_transforms.writers import RowOptions, rl_rows, sft_rows
from reward_fns.tl_tool import compute_score
from tests.helpers import examples

# --------------------------------------------------------------------------------------------
# Builders
# --------------------------------------------------------------------------------------------

ROW_KEYS = {"role", "content", "tool_calls"}
PARAM_ERROR = "get_x() got an unexpected keyword argument 'y'"


def schema(name, props=None, required=(), description=""):
    """A tool schema as a source writes it (BFCL type names allowed)."""
    return {
        "name": name,
        "description": description,
        "parameters": {"type": "dict", "properties": props or {}, "required": list(required)},
    }


def call(name, **arguments):
    return {"name": name, "arguments": arguments}


def user(text):
    return {"role": "user", "content": text}


def system(text):
    return {"role": "system", "content": text}


def assistant(text="", *calls):
    msg = {"role": "assistant", "content": text}
    if calls:
        msg["tool_calls"] = list(calls)
    return msg


def tool_msg(content, name=None):
    msg = {"role": "tool", "content": content}
    if name:
        msg["name"] = name
    return msg


def ok(payload):
    return tool_msg(json.dumps(payload))


TOOLS = [
    canonical_tool(schema("get_a", {"city": {"type": "string"}}, ["city"], "Wetter in Zürich ☀")),
    canonical_tool(schema("get_b", {"id": {"type": "integer"}}, ["id"])),
    canonical_tool(
        schema(
            "get_c",
            {
                "tags": {"type": "tuple", "items": {"type": "string"}},
                "filters": {
                    "type": "dict",
                    "properties": {"max": {"type": "integer"}, "tags": {"type": "array", "items": {"type": "string"}}},
                },
            },
            ["tags"],
        )
    ),
    canonical_tool(schema("get_x", {"x": {"type": "string"}, "unit": {"type": "string", "default": "km"}}, ["x"])),
]

FINAL_TEXT = "It is 20 degrees in Zürich."


def trajectory_messages():
    """user → A → ok → B,C parallel → ok ×2 → D (bad) → error → D fixed → ok → text answer."""
    return [
        user("Plan a day in Zürich."),  # 0
        assistant("", call("get_a", city="Zürich")),  # 1
        ok({"temp": 20}),  # 2
        assistant(  # 3: parallel calls
            "Checking two things.",
            call("get_b", id=7),
            call("get_c", tags=["x", "y"], filters={"max": 3, "tags": ["a"]}),
        ),
        ok({"b": 1}),  # 4
        ok({"c": [1, 2]}),  # 5
        assistant("", call("get_x", x="q", y=1)),  # 6: erroneous
        tool_msg(PARAM_ERROR, name="get_x"),  # 7
        assistant("", call("get_x", x="q", unit="km")),  # 8
        ok({"x": "done"}),  # 9
        assistant(FINAL_TEXT),  # 10
    ]


GOOD_STEPS = [1, 3, 8, 10]
BAD_STEP = 6
EXPECTED_GOLD = {
    1: [{"name": "get_a", "arguments": {"city": ["Zürich"]}}],
    3: [
        {"name": "get_b", "arguments": {"id": [7]}},
        {"name": "get_c", "arguments": {"tags": [["x", "y"]], "filters": [{"max": [3], "tags": [["a"]]}]}},
    ],
    8: [{"name": "get_x", "arguments": {"x": ["q"], "unit": ["km", ""]}}],  # "km" is the default
    10: [],
}


def trajectory(rec_id="traj-1", messages=None, tools=None, **meta):
    return check_record(
        Record(rec_id, messages if messages is not None else trajectory_messages(), tools or TOOLS, meta=meta)
    )


def bfcl_like(gold, rec_id="bfcl-1", tools=None, category="live_simple"):
    tools = tools or [canonical_tool(schema("f", {"x": {"type": "integer"}, "unit": {"type": "string"}}, ["x"]))]
    return check_record(Record(rec_id, [user("Do f.")], tools, gold=gold, meta={"category": category}))


def score_row(row, text):
    return compute_score(
        row["data_source"], text, row["reward_model"]["ground_truth"], {"tools": row["extra_info"]["tools"]}
    )


def reference_text(row):
    gold = json.loads(row["reward_model"]["ground_truth"])
    tools = [t["function"] for t in json.loads(row["extra_info"]["tools"])]
    return hermes_text(reference_answer(gold, tools)) if gold else FINAL_TEXT


# --------------------------------------------------------------------------------------------
# records
# --------------------------------------------------------------------------------------------


def test_canonical_tool_unwraps_openai_form():
    out = canonical_tool(
        {
            "type": "function",
            "function": {"name": "f", "description": "d", "parameters": {"type": "object", "properties": {}}},
        }
    )
    assert out == {"name": "f", "description": "d", "parameters": {"type": "object", "properties": {}}}


def test_canonical_tool_maps_bfcl_types_recursively_and_leaves_values_alone():
    raw = {
        "name": "f",
        "parameters": json.dumps(
            {
                "type": "dict",
                "properties": {
                    "type": {"type": "dict", "properties": {"w": {"type": "float"}}},  # a parameter named "type"
                    "point": {
                        "type": "tuple",
                        "items": {"type": "dict", "properties": {"lat": {"type": "float"}, "tag": {"type": "tuple"}}},
                    },
                    "maybe": {"type": ["float", "null"], "enum": ["dict", "float"], "default": "tuple"},
                },
                "required": ["point"],
            }
        ),
    }
    before = copy.deepcopy(raw)
    out = canonical_tool(raw)
    assert out["parameters"] == {
        "type": "object",
        "properties": {
            "type": {"type": "object", "properties": {"w": {"type": "number"}}},
            "point": {
                "type": "array",
                "items": {"type": "object", "properties": {"lat": {"type": "number"}, "tag": {"type": "array"}}},
            },
            "maybe": {"type": ["number", "null"], "enum": ["dict", "float"], "default": "tuple"},
        },
        "required": ["point"],
    }
    assert out["description"] == ""
    assert raw == before


def test_canonical_tool_without_parameters_gets_an_empty_object():
    assert canonical_tool({"name": "f"})["parameters"] == {"type": "object", "properties": {}}


@pytest.mark.parametrize(
    "bad, field",
    [
        ("not a schema", "tools"),
        ({"description": "no name"}, "tools.name"),
        ({"name": "", "parameters": {}}, "tools.name"),
        ({"name": "f", "parameters": [1, 2]}, "tools[f].parameters"),
        ({"name": "f", "parameters": "{not json"}, "tools[f].parameters"),
        ({"name": "f", "parameters": {"type": "object", "properties": [1]}}, "tools[f].parameters.properties"),
        (
            {"name": "f", "parameters": {"type": "object", "properties": {}, "required": "x"}},
            "tools[f].parameters.required",
        ),
        (
            {"name": "f", "parameters": {"type": "object", "properties": {}, "required": [1]}},
            "tools[f].parameters.required",
        ),
    ],
)
def test_canonical_tool_errors_name_row_and_field(bad, field):
    with pytest.raises(RecordError) as info:
        canonical_tool(bad, row="data.jsonl:7")
    assert (info.value.row, info.value.field) == ("data.jsonl:7", field)
    assert str(info.value).startswith(f"row data.jsonl:7: field {field!r}: ")


@pytest.mark.parametrize(
    "schema",
    [
        "not a schema",
        {"description": "no name"},
        {"name": "f", "parameters": [1, 2]},
        {"name": "f", "parameters": "{not json"},
        {"name": "f", "parameters": {"type": "object", "properties": [1]}},
        {"name": "f", "parameters": {"type": "object", "properties": {}, "required": [1]}},
        {"name": "f", "parameters": {"type": "object", "properties": None, "required": None}},
        {"name": "f", "parameters": {"type": "object", "properties": [], "required": ""}},
        {"type": "function", "function": {"name": "f", "parameters": '{"type": "dict", "properties": {}}'}},
    ],
)
def test_tl_prepare_and_the_reward_read_a_tool_schema_alike(schema):
    # one reader (reward_fns.schemas.read_tool): prepare refuses exactly what the reward cannot read
    from reward_fns.schemas import index_tools

    try:
        tool = canonical_tool(schema, row="r")
    except RecordError as exc:
        with pytest.raises(ValueError) as info:
            index_tools([schema])
        assert info.value.problem == exc.problem
        assert info.value.field.replace("extra_info.tools[0]", "tools") == exc.field
    else:
        spec = index_tools([schema])["f"]
        assert spec.properties == tool["parameters"].get("properties", {})
        assert spec.required == tuple(tool["parameters"].get("required", ()))


def test_null_properties_and_required_read_as_none():
    tool = canonical_tool({"name": "f", "parameters": {"type": "object", "properties": None, "required": None}})
    assert tool["parameters"] == {"type": "object", "properties": {}}


def test_wrap_gold_wraps_values_and_allows_omission_only_at_the_default():
    tools = [
        canonical_tool(
            schema(
                "f",
                {
                    "x": {"type": "integer"},
                    "unit": {"type": "string", "default": "km"},
                    "n": {"type": "integer", "default": 10},
                    "s": {"type": "string", "default": ""},
                },
            )
        )
    ]
    gold = wrap_gold([call("f", x=1, unit="km", n=5, s=""), call("g", unit="km")], tools)
    assert gold == [
        {"name": "f", "arguments": {"x": [1], "unit": ["km", ""], "n": [5], "s": [""]}},
        {"name": "g", "arguments": {"unit": ["km"]}},  # not a candidate: no schema default
    ]
    assert wrap_gold([call("f", unit="km")]) == [{"name": "f", "arguments": {"unit": ["km"]}}]


def test_wrap_gold_nests_dict_values_in_possible_answer_form():
    tools = [
        canonical_tool(
            schema(
                "f",
                {
                    "obj": {"type": "dict"},
                    "rows": {"type": "array", "items": {"type": "dict"}},
                    "names": {"type": "array", "items": {"type": "string"}},
                },
            )
        )
    ]
    calls = [call("f", obj={"k": ["a", "b"], "n": 1}, rows=[{"a": 1}, {"b": [2]}], names=["p", "q"])]
    gold = wrap_gold(calls, tools)
    assert gold == [
        {
            "name": "f",
            "arguments": {
                "obj": [{"k": [["a", "b"]], "n": [1]}],
                "rows": [[{"a": [1]}, {"b": [[2]]}]],
                "names": [["p", "q"]],
            },
        }
    ]
    assert reference_answer(gold, tools) == calls
    tools_str = tools_json(tools)
    assert compute_score("t", hermes_text(calls), json.dumps(gold), {"tools": tools_str})["score"] == 1.0


def _valid_record(**changes):
    rec = Record(
        "r1",
        [system("s"), user("u"), assistant("", call("f")), tool_msg("{}"), assistant("done")],
        [canonical_tool(schema("f")), canonical_tool(schema("g"))],
    )
    for key, value in changes.items():
        setattr(rec, key, value)
    return rec


def test_check_record_accepts_and_returns_a_valid_record():
    rec = _valid_record()
    assert check_record(rec) is rec


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"messages": [user("u"), {"role": "bot", "content": "x"}]}, "messages[1].role"),
        ({"messages": [user("u"), {"role": "assistant", "content": None}]}, "messages[1].content"),
        (
            {"messages": [{"role": "user", "content": "u", "tool_calls": [call("f")]}, assistant("a")]},
            "messages[0].tool_calls",
        ),
        ({"messages": [system("s"), assistant("a")]}, "messages"),
        ({"messages": []}, "messages"),
        ({"messages": [user("u")]}, "messages"),  # a trajectory needs an assistant message
        # a tool answer after an assistant turn without calls: the calls were not read
        ({"messages": [user("u"), assistant("Action: f"), {"role": "tool", "content": "18 C"}]}, "messages[2]"),
        ({"messages": [user("u"), {"role": "tool", "content": "18 C"}, assistant("a")]}, "messages[1]"),
    ],
)
def test_check_record_errors(changes, field):
    with pytest.raises(RecordError) as info:
        check_record(_valid_record(**changes))
    assert (info.value.row, info.value.field) == ("r1", field)


def test_check_record_prompt_only_record_needs_no_assistant_message():
    rec = _valid_record(messages=[user("u")], gold=[])
    assert check_record(rec) is rec


# --------------------------------------------------------------------------------------------
# gold
# --------------------------------------------------------------------------------------------


def test_reference_answer_first_non_empty_value_and_omissions():
    gold = [
        {"name": "f", "arguments": {"x": ["", 2, 3], "zero": [0, 1], "flag": [False], "opt": [""]}},
        {"name": "g", "arguments": {}},
    ]
    assert reference_answer(gold) == [
        {"name": "f", "arguments": {"x": 2, "zero": 0, "flag": False}},
        {"name": "g", "arguments": {}},
    ]


def _score(gold, tools, text):
    return compute_score("t", text, json.dumps(gold), {"tools": json.dumps(tools)} if tools else None)


def test_reference_answer_bfcl_nested_dict_options():
    gold = [
        {
            "name": "f",
            "arguments": {
                "d": [{"k": ["", "v"], "gone": [""], "n": [1, 2]}],
                "rows": [[{"a": ["", "b"]}, {"c": [[1, 2]]}]],
            },
        }
    ]
    tools = [schema("f", {"d": {"type": "object"}, "rows": {"type": "array", "items": {"type": "object"}}})]
    answer = [{"name": "f", "arguments": {"d": {"k": "v", "n": 1}, "rows": [{"a": "b"}, {"c": [1, 2]}]}}]
    assert reference_answer(gold, tools) == answer
    assert _score(gold, tools, hermes_text(answer))["score"] == 1.0
    # Without a schema the reward reads a list of dicts as plain values (only an untyped dict is
    # in BFCL form), so the reference answer gives the list as the gold holds it.
    assert reference_answer(gold)[0]["arguments"]["rows"] == gold[0]["arguments"]["rows"][0]
    assert _score(gold, None, hermes_text(reference_answer(gold)))["score"] == 1.0
    assert reference_answer([{"name": "f", "arguments": {"d": [{"k": [""]}]}}]) == [
        {"name": "f", "arguments": {"d": {}}}
    ]


def test_reference_answer_unwraps_one_level_only():
    # A dict inside a BFCL-form dict value is a plain value: its lists are data, not options.
    gold = [{"name": "f", "arguments": {"d": [{"inner": [{"xs": [1, 2]}]}]}}]
    tools = [schema("f", {"d": {"type": "Dict"}})]
    assert reference_answer(gold, tools) == [{"name": "f", "arguments": {"d": {"inner": {"xs": [1, 2]}}}}]
    assert _score(gold, tools, hermes_text(reference_answer(gold, tools)))["score"] == 1.0


def test_reference_answer_with_tools_leaves_out_omittable_params_the_schema_lacks():
    gold = [{"name": "f", "arguments": {"x": [1], "extra": ["", 5], "forced": [6]}}]
    tools = [canonical_tool(schema("f", {"x": {"type": "integer"}}))]
    assert reference_answer(gold, tools) == [{"name": "f", "arguments": {"x": 1, "forced": 6}}]
    assert reference_answer(gold) == [{"name": "f", "arguments": {"x": 1, "extra": 5, "forced": 6}}]


GOLD_TOOLS = [canonical_tool(schema("f", {"x": {"type": "integer"}, "unit": {"type": "string"}}, ["x"]))]


@pytest.mark.parametrize(
    "gold, words",
    [
        ([{"name": "f", "arguments": {"x": [1], "unit": []}}], ["tool 'f' parameter 'unit'", "no acceptable value"]),
        ([{"name": "f", "arguments": {"unit": ["km"]}}], ["tool 'f' parameter 'x'", "required by the schema"]),
        ([{"name": "f", "arguments": {"x": [""]}}], ["tool 'f' parameter 'x'", "required by the schema"]),
        ([{"name": "f", "arguments": {"x": [1], "y": [1]}}], ["tool 'f' parameter 'y'", "not in the tool's schema"]),
        ([{"name": "f", "arguments": {"x": [1]}}, {"name": "h", "arguments": {}}], ["tool 'h'", "not a candidate"]),
        # names are quoted with repr(), so a mangled one (ToolRL's names cut at "(") can be read
        ([{"name": "f ", "arguments": {}}], ["tool 'f '", "not a candidate"]),
        ([{"name": "f", "arguments": {"x": [1], "Jan-Aug, 2022)(start": [1]}}], ["parameter 'Jan-Aug, 2022)(start'"]),
    ],
)
def test_gold_problem_reasons(gold, words):
    problem = gold_problem(gold, GOLD_TOOLS)
    assert isinstance(problem, str)
    assert all(w in problem for w in words), problem


@pytest.mark.parametrize(
    "gold",
    [
        [],
        [{"name": "f", "arguments": {"x": [1, 1.0], "unit": ["", "km"]}}],
        [{"name": "f", "arguments": {"x": [1], "extra": ["", 5]}}],  # not in schema, but may be left out
    ],
)
def test_gold_problem_none_when_satisfiable(gold):
    assert gold_problem(gold, GOLD_TOOLS) is None


# --------------------------------------------------------------------------------------------
# masking
# --------------------------------------------------------------------------------------------


def _by_content(content):
    return content  # stub classifier: the content names its category


def test_step_feedback_groups_responses_by_step():
    msgs = [
        user("u"),  # 0
        assistant("", call("a"), call("b")),  # 1: parallel calls, two responses
        tool_msg("ok"),  # 2
        tool_msg("param_missing"),  # 3
        user("and?"),  # 4
        tool_msg("tool_instability"),  # 5: after a user message, answers no step
        assistant("text"),  # 6: no calls
        tool_msg("other_error"),  # 7: answers no step
        assistant("", call("c")),  # 8
        tool_msg("ok"),  # 9
        assistant("", call("d")),  # 10: trajectory ends before its response
    ]
    feedback = step_feedback(msgs, classify=_by_content)
    assert feedback == {1: ["ok", "param_missing"], 8: ["ok"], 10: []}
    assert erroneous_steps(feedback) == {1: "param_missing"}


def test_step_feedback_with_the_real_classifier():
    msgs = trajectory_messages()
    assert classify_feedback(PARAM_ERROR) == "param_hallucination"
    assert step_feedback(msgs) == {1: ["ok"], 3: ["ok", "ok"], 6: ["param_hallucination"], 8: ["ok"]}


def test_erroneous_steps_honours_error_categories():
    assert "ok" in FEEDBACK_CATEGORIES and "ok" not in ERROR_CATEGORIES
    assert set(ERROR_CATEGORIES) <= set(FEEDBACK_CATEGORIES)
    feedback = {
        1: ["ok", "tool_instability", "param_hallucination"],
        3: ["param_hallucination"],
        5: ["param_missing"],
        7: ["ok"],
        9: [],
    }
    assert erroneous_steps(feedback) == {1: "tool_instability", 3: "param_hallucination", 5: "param_missing"}
    assert erroneous_steps(feedback, {"param_hallucination"}) == {
        1: "param_hallucination",
        3: "param_hallucination",
    }
    assert erroneous_steps(feedback, ()) == {}


# --------------------------------------------------------------------------------------------
# render
# --------------------------------------------------------------------------------------------


def test_chat_message_native_and_system_text():
    msg = assistant("Let me look.", call("get_a", city="Zürich"))
    assert chat_message(msg) == {
        "role": "assistant",
        "content": "Let me look.",
        "tool_calls": [{"type": "function", "function": {"name": "get_a", "arguments": '{"city": "Zürich"}'}}],
    }
    assert chat_message(msg, "system_text") == {
        "role": "assistant",
        "content": 'Let me look.\n<tool_call>\n{"name": "get_a", "arguments": {"city": "Zürich"}}\n</tool_call>',
        "tool_calls": None,
    }
    assert chat_message(assistant("plain"), "system_text") == {
        "role": "assistant",
        "content": "plain",
        "tool_calls": None,
    }


@pytest.mark.parametrize("mode", ["native", "system_text"])
def test_chat_messages_all_have_the_same_keys(mode):
    msgs = [system("s"), *trajectory_messages()]
    msgs[3]["tool_call_id"] = "call_1"
    out = chat_messages(msgs, TOOLS, mode)
    assert len(out) == len(msgs)
    assert all(set(m) == ROW_KEYS for m in out)
    assert [m["role"] for m in out] == [m["role"] for m in msgs]


def test_chat_messages_rejects_unknown_mode():
    with pytest.raises(ValueError, match="tools_in_prompt"):
        chat_messages([user("u")], TOOLS, "xml")


def _tool_lines(tools):
    return "\n".join(json.dumps({"type": "function", "function": t}, ensure_ascii=False) for t in tools)


def test_with_system_text_appends_to_an_existing_system_message():
    msgs = [chat_message(system("Be brief.")), chat_message(user("u"))]
    before = copy.deepcopy(msgs)
    out = with_system_text(msgs, TOOLS, "TOOLS:\n{tools}\nEND")
    assert out[0] == {
        "role": "system",
        "content": f"Be brief.\n\nTOOLS:\n{_tool_lines(TOOLS)}\nEND",
        "tool_calls": None,
    }
    assert out[1:] == msgs[1:]
    assert msgs == before  # input untouched


def test_with_system_text_creates_a_system_message():
    msgs = [chat_message(user("u"))]
    out = with_system_text(msgs, TOOLS, "T={tools}")
    assert out == [{"role": "system", "content": f"T={_tool_lines(TOOLS)}", "tool_calls": None}, *msgs]
    empty = with_system_text([chat_message(system("")), *msgs], TOOLS, "T={tools}")
    assert empty[0]["content"] == f"T={_tool_lines(TOOLS)}"


def test_default_system_text_fills_the_tools_placeholder():
    text = with_system_text([], TOOLS)[0]["content"]
    assert text == DEFAULT_SYSTEM_TEXT.format(tools=_tool_lines(TOOLS))
    assert "{tools}" not in text and _tool_lines(TOOLS) in text
    assert '{"name": "<function name>", "arguments": {<arguments as a JSON object>}}' in text


def test_non_ascii_is_preserved():
    assert "Zürich ☀" in tools_json(TOOLS) and "\\u" not in tools_json(TOOLS)
    assert json.loads(tools_json(TOOLS)) == [{"type": "function", "function": t} for t in TOOLS]
    expected = '<tool_call>\n{"name": "get_a", "arguments": {"city": "Zürich"}}\n</tool_call>'
    assert hermes_text([call("get_a", city="Zürich")]) == expected
    system_text = chat_messages([user("ü")], TOOLS, "system_text")[0]["content"]
    assert "Zürich ☀" in system_text and "\\u" not in system_text


# --------------------------------------------------------------------------------------------
# writers: RL rows
# --------------------------------------------------------------------------------------------


def test_rl_rows_of_a_trajectory():
    rec, tally = trajectory(), Tally()
    rows = rl_rows(rec, "toy", RowOptions(), tally, split="test")
    assert [r["extra_info"]["step"] for r in rows] == GOOD_STEPS
    msgs = trajectory_messages()
    for row in rows:
        step = row["extra_info"]["step"]
        assert set(row) == {"data_source", "prompt", "ability", "agent_name", "reward_model", "extra_info"}
        assert row["prompt"] == chat_messages(msgs[:step], TOOLS)
        assert row["reward_model"]["style"] == "rule"
        assert json.loads(row["reward_model"]["ground_truth"]) == EXPECTED_GOLD[step]
        assert row["extra_info"] == {
            "index": 0,
            "id": "traj-1",
            "step": step,
            "split": "test",
            "tools": tools_json(TOOLS),
        }
        assert (row["data_source"], row["agent_name"], row["ability"]) == ("toy", "tl_tool_agent", "tool_use")
    # the erroneous step and its error response stay in the context of later steps
    later = rows[2]["prompt"]
    assert json.loads(later[BAD_STEP]["tool_calls"][0]["function"]["arguments"]) == {"x": "q", "y": 1}
    assert later[BAD_STEP + 1]["content"] == PARAM_ERROR
    assert dict(tally.dropped) == {"rl": {"erroneous_step:param_hallucination": 1}}
    assert tally.examples == {"rl:erroneous_step:param_hallucination": "traj-1"}
    assert json.loads(rows[0]["extra_info"]["tools"])[2] == {"type": "function", "function": TOOLS[2]}


@pytest.mark.parametrize("mode", ["native", "system_text"])
def test_rl_rows_reference_answers_score_one(mode):
    rows = rl_rows(trajectory(), "toy", RowOptions(tools_in_prompt=mode), Tally())
    assert len(rows) == len(GOOD_STEPS)
    for row in rows:
        result = score_row(row, reference_text(row))
        assert result["score"] == 1.0, (row["extra_info"]["step"], result)
    assert score_row(rows[-1], hermes_text([call("get_a", city="Zürich")]))["score"] < 1.0


def test_rl_rows_without_final_answer_steps():
    tally = Tally()
    rows = rl_rows(trajectory(), "toy", RowOptions(final_answer_steps=False), tally)
    assert [r["extra_info"]["step"] for r in rows] == GOOD_STEPS[:-1]
    reasons = tally.dropped["rl"]
    assert reasons["erroneous_step:param_hallucination"] == 1
    assert [n for r, n in reasons.items() if r.startswith("final_answer_step")] == [1]


def test_rl_rows_system_text_defaults_and_overrides():
    rows = rl_rows(trajectory(), "toy", RowOptions(tools_in_prompt="system_text"), Tally())
    assert rows[0]["agent_name"] == "single_turn_agent"
    prompt = rows[2]["prompt"]
    assert prompt[0]["role"] == "system" and _tool_lines(TOOLS) in prompt[0]["content"]
    assert prompt == chat_messages(trajectory_messages()[:8], TOOLS, "system_text")
    assert all(m["tool_calls"] is None for m in prompt)
    assert "<tool_call>" in prompt[2]["content"]
    assert rows[0]["extra_info"]["tools"] == tools_json(TOOLS)  # the reward still needs the schemas

    custom = rl_rows(trajectory(), "toy", RowOptions(agent_name="my_agent", data_source="mine"), Tally())
    assert {(r["agent_name"], r["data_source"]) for r in custom} == {("my_agent", "mine")}
    assert rl_rows(trajectory(category="cat"), "toy", RowOptions(), Tally())[0]["data_source"] == "toy_cat"


def test_rl_rows_error_categories_restricted():
    opts, tally = RowOptions(error_categories=("param_missing",)), Tally()
    # step 6 is no longer erroneous, but its gold (parameter y, not in the schema) is unsatisfiable
    rows = rl_rows(trajectory(), "toy", opts, tally)
    assert [r["extra_info"]["step"] for r in rows] == GOOD_STEPS
    assert tally.dropped["rl"] == {"unsatisfiable_gold": 1}
    assert tally.examples["rl:unsatisfiable_gold"].startswith("traj-1: tool 'get_x' parameter 'y'")
    (row,) = sft_rows(trajectory(), "toy", opts, tally)
    assert _masks(row) == [1 if m["role"] == "assistant" else 0 for m in trajectory_messages()]
    assert not tally.masked


def test_rl_rows_skip_a_step_before_any_user_message():
    msgs = [system("s"), assistant("Hello."), user("u"), assistant("", call("get_a", city="Bern")), ok({})]
    tally = Tally()
    rows = rl_rows(trajectory(messages=msgs), "toy", RowOptions(), tally)
    assert [r["extra_info"]["step"] for r in rows] == [3]
    assert tally.dropped["rl"] == {"no_user_message_before_step": 1}


def test_row_options_validation():
    for kwargs in ({"tools_in_prompt": "xml"}, {"mae_mode": "keep"}, {"error_categories": ("ok",)}):
        with pytest.raises(ValueError):
            RowOptions(**kwargs)


def test_rl_rows_of_a_prompt_only_record():
    gold = [{"name": "f", "arguments": {"x": [2, 2.0], "unit": ["", "km"]}}]
    rec, tally = bfcl_like(gold), Tally()
    (row,) = rl_rows(rec, "bfcl", RowOptions(), tally)
    assert row["prompt"] == chat_messages(rec.messages, rec.tools)
    assert json.loads(row["reward_model"]["ground_truth"]) == gold
    assert row["data_source"] == "bfcl_live_simple" and row["extra_info"]["step"] == 0
    assert score_row(row, hermes_text(reference_answer(gold)))["score"] == 1.0
    (no_call,) = rl_rows(bfcl_like([]), "bfcl", RowOptions(), tally)
    assert no_call["reward_model"]["ground_truth"] == "[]"
    assert score_row(no_call, "No function fits.")["score"] == 1.0
    assert not tally.dropped


# --------------------------------------------------------------------------------------------
# writers: SFT rows
# --------------------------------------------------------------------------------------------


def _masks(row):
    return [m["loss_mask"] for m in row["messages"]]


def test_sft_rows_mask_mode():
    tally = Tally()
    (row,) = sft_rows(trajectory(), "toy", RowOptions(), tally)
    msgs = trajectory_messages()
    assert set(row) == {"messages", "tools", "id"} and row["tools"] == tools_json(TOOLS) and row["id"] == "traj-1"
    assert [{k: v for k, v in m.items() if k != "loss_mask"} for m in row["messages"]] == chat_messages(msgs, TOOLS)
    assert _masks(row) == [1 if i in GOOD_STEPS else 0 for i in range(len(msgs))]
    assert _masks(row)[BAD_STEP] == 0 and msgs[BAD_STEP]["role"] == "assistant"
    assert tally.masked == {"param_hallucination": 1}
    assert not tally.dropped


def test_sft_rows_mask_mode_system_text_shifts_masks():
    (row,) = sft_rows(trajectory(), "toy", RowOptions(tools_in_prompt="system_text"), Tally())
    assert "tools" not in row  # the tools are in the system text
    assert row["messages"][0]["role"] == "system" and _tool_lines(TOOLS) in row["messages"][0]["content"]
    assert _masks(row) == [0] + [1 if i in GOOD_STEPS else 0 for i in range(len(trajectory_messages()))]


def test_sft_rows_cut_messages_after_the_last_good_step():
    msgs = [
        user("u"),
        assistant("", call("get_a", city="Bern")),
        ok({"temp": 1}),
        assistant("", call("get_x", x="q", y=1)),
        tool_msg(PARAM_ERROR),
    ]
    tally = Tally()
    (row,) = sft_rows(trajectory(messages=msgs), "toy", RowOptions(), tally)
    assert [m["role"] for m in row["messages"]] == ["user", "assistant"]
    assert _masks(row) == [0, 1]
    assert tally.masked == {"param_hallucination": 1}


def test_sft_rows_all_erroneous_is_dropped():
    msgs = [user("u"), assistant("", call("get_x", x="q", y=1)), tool_msg(PARAM_ERROR)]
    tally = Tally()
    assert sft_rows(trajectory("bad", messages=msgs), "toy", RowOptions(), tally) == []
    (reason,) = tally.dropped["sft"]
    assert reason.startswith("nothing_to_train") and tally.dropped["sft"][reason] == 1
    assert tally.examples == {f"sft:{reason}": "bad"}
    assert tally.masked == {"param_hallucination": 1}


def test_sft_rows_drop_mode():
    tally = Tally()
    rows = sft_rows(trajectory(), "toy", RowOptions(mae_mode="drop"), tally)
    msgs = trajectory_messages()
    assert len(rows) == len(GOOD_STEPS)
    for row, step in zip(rows, GOOD_STEPS):
        assert len(row["messages"]) == step + 1
        assert [{k: v for k, v in m.items() if k != "loss_mask"} for m in row["messages"]] == chat_messages(
            msgs[: step + 1], TOOLS
        )
        assert _masks(row) == [0] * step + [1]
    assert tally.dropped["sft"] == {"erroneous_step:param_hallucination": 1}
    assert not tally.masked


def test_sft_rows_of_a_prompt_only_record():
    gold = [{"name": "f", "arguments": {"x": ["", 2], "unit": ["km", "mi"]}}]
    rec = bfcl_like(gold)
    (row,) = sft_rows(rec, "bfcl", RowOptions(), Tally())
    assert row["messages"][:-1] == [{**chat_message(m), "loss_mask": 0} for m in rec.messages]
    assert row["messages"][-1] == {
        "role": "assistant",
        "content": "",
        "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": '{"x": 2, "unit": "km"}'}}],
        "loss_mask": 1,
    }


def test_sft_rows_gold_no_call_is_dropped():
    tally = Tally()
    assert sft_rows(bfcl_like([]), "bfcl", RowOptions(), tally) == []
    (reason,) = tally.dropped["sft"]
    assert reason.startswith("no_reference_answer")


def test_unsatisfiable_gold_is_dropped_and_counted_for_rl_and_sft():
    rec, tally = bfcl_like([{"name": "f", "arguments": {"x": [1], "y": [2]}}], rec_id="bfcl-9"), Tally()
    assert rl_rows(rec, "bfcl", RowOptions(), tally) == []
    assert sft_rows(rec, "bfcl", RowOptions(), tally) == []
    assert {k: dict(v) for k, v in tally.dropped.items()} == {
        "rl": {"unsatisfiable_gold": 1},
        "sft": {"unsatisfiable_gold": 1},
    }
    assert tally.examples["rl:unsatisfiable_gold"].startswith("bfcl-9: tool 'f' parameter 'y'")
    assert tally.examples["sft:unsatisfiable_gold"].startswith("bfcl-9: tool 'f' parameter 'y'")


def test_tool_responses_are_counted_once_per_record():
    rec, tally = trajectory(), Tally()
    rl_rows(rec, "toy", RowOptions(), tally)
    sft_rows(rec, "toy", RowOptions(), tally)
    assert tally.feedback["ok"] == 4 and tally.feedback["param_hallucination"] == 1
    assert sum(tally.feedback.values()) == 5
    sft_rows(trajectory("traj-2"), "toy", RowOptions(), tally)  # another record counts again
    assert tally.feedback["ok"] == 8


# --------------------------------------------------------------------------------------------
# write_parquet
# --------------------------------------------------------------------------------------------


def _rows_with_different_tools():
    other_tools = [canonical_tool(schema("h", {"q": {"type": "string"}, "limit": {"type": "integer"}}, ["q"]))]
    other = trajectory("traj-2", [user("u"), assistant("", call("h", q="x")), ok({}), assistant("done")], other_tools)
    return rl_rows(trajectory(), "toy", RowOptions(), Tally()) + rl_rows(other, "toy", RowOptions(), Tally())


def test_write_parquet_round_trip_keeps_json_strings_exact(tmp_path):
    rows = _rows_with_different_tools()
    path = write_parquet(rows, tmp_path / "sub" / "train.parquet")
    assert path == tmp_path / "sub" / "train.parquet"
    back = pq.read_table(path).to_pylist()
    assert back == rows
    assert [r["extra_info"]["tools"] for r in back] == [r["extra_info"]["tools"] for r in rows]
    assert [r["reward_model"]["ground_truth"] for r in back] == [r["reward_model"]["ground_truth"] for r in rows]
    assert sorted(p.name for p in path.parent.iterdir()) == ["train.parquet"]

    # Why strings: as nested dicts, parquet merges the schemas into one struct type and each row
    # gains the other rows' fields as None.
    nested = [{"tools": json.loads(r["extra_info"]["tools"])} for r in (rows[0], rows[-1])]
    merged = pa.Table.from_pylist(nested).to_pylist()
    assert merged != nested
    props = merged[1]["tools"][0]["function"]["parameters"]["properties"]
    assert "city" in props and props["city"] is None


def test_write_parquet_sft_rows_round_trip(tmp_path):
    rows = sft_rows(trajectory(), "toy", RowOptions(), Tally()) + sft_rows(
        trajectory("t2"), "toy", RowOptions(mae_mode="drop"), Tally()
    )
    path = write_parquet(rows, tmp_path / "sft.parquet")
    assert pq.read_table(path).to_pylist() == rows


def test_write_parquet_is_atomic_on_failure(tmp_path, monkeypatch):
    path = write_parquet(_rows_with_different_tools(), tmp_path / "train.parquet")
    before = path.read_bytes()

    def failing_write(table, where, *args, **kwargs):
        with open(where, "wb") as fh:
            fh.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(pq, "write_table", failing_write)
    with pytest.raises(OSError, match="disk full"):
        write_parquet([{"a": 1}], path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.parquet"]


# --------------------------------------------------------------------------------------------
# split
# --------------------------------------------------------------------------------------------

names_lists = st.lists(st.lists(st.sampled_from("abcdefgh"), max_size=3), max_size=14)


@settings(max_examples=examples(150), deadline=None)
@given(names=names_lists, fraction=st.floats(0.0, 0.95), seed=st.integers(0, 2**32 - 1))
def test_split_by_tools_never_shares_a_tool(names, fraction, seed):
    test = split_indices(names, fraction, seed)
    assert test <= set(range(len(names)))
    test_names = {n for i in test for n in names[i]}
    train_names = {n for i in range(len(names)) if i not in test for n in names[i]}
    assert not test_names & train_names
    assert split_indices(names, fraction, seed) == test  # deterministic for a seed


def test_split_fraction_zero_and_invalid_fractions():
    names = [["a"], ["b"], ["c"]]
    assert split_indices(names, 0.0) == set()
    assert split_indices([], 0.5) == set()
    for bad in (-0.1, 1.0, 1.5):
        with pytest.raises(ValueError, match="test_fraction"):
            split_indices(names, bad)


def test_split_whole_components_move_together():
    names = [["a"], ["a", "b"], ["b"], ["c"], ["d"], ["d"]]
    for seed in range(10):
        test = split_indices(names, 0.3, seed)
        assert test
        for component in ({0, 1, 2}, {3}, {4, 5}):
            assert component <= test or not component & test


def test_split_does_not_take_a_component_far_larger_than_the_target():
    # one big component (records sharing a popular tool) and two small ones: whichever comes first
    # in the shuffled order, 20% asked must not give 80%
    names = [["popular"]] * 8 + [["b"], ["c"]]
    assert {frozenset(split_indices(names, 0.2, seed)) for seed in range(20)} == {frozenset({8, 9})}
    # every component overshoots: the one closest to the target, never an empty test split
    names = [["a"]] * 5 + [["b"]] * 3
    assert {frozenset(split_indices(names, 0.1, seed)) for seed in range(20)} == {frozenset({5, 6, 7})}


def test_split_by_record_is_random_per_record():
    names = [[] for _ in range(10)]
    splits = [frozenset(split_indices(names, 0.3, seed)) for seed in range(10)]
    assert all(len(s) == 3 for s in splits)
    assert len(set(splits)) > 1


def test_record_tool_names():
    rec = trajectory()
    assert record_tool_names(rec, "tools") == ["get_a", "get_b", "get_c", "get_x"]
    assert record_tool_names(rec, "called") == ["get_a", "get_b", "get_c", "get_x", "get_x"]
    assert record_tool_names(rec, "record") == []
    tools = [canonical_tool(schema("f")), canonical_tool(schema("distractor"))]
    prompt_only = bfcl_like([{"name": "f", "arguments": {}}], tools=tools)
    assert record_tool_names(prompt_only, "tools") == ["f", "distractor"]
    assert record_tool_names(prompt_only, "called") == ["f"]
    with pytest.raises(ValueError, match="split.by"):
        record_tool_names(rec, "name")


def test_split_by_called_ignores_shared_distractors():
    shared = [canonical_tool(schema(n)) for n in ("f", "g", "distractor")]
    recs = [bfcl_like([{"name": n, "arguments": {}}], rec_id=n, tools=shared) for n in ("f", "g")]
    assert split_indices([record_tool_names(r, "tools") for r in recs], 0.5, 0) in (set(), {0, 1})
    assert len(split_indices([record_tool_names(r, "called") for r in recs], 0.5, 0)) == 1


# --------------------------------------------------------------------------------------------
# tally
# --------------------------------------------------------------------------------------------


def test_tally_as_dict_and_examples():
    t = Tally()
    t.rows_read, t.records = 5, 4
    t.drop("rl", "r1", row="first")
    t.drop("rl", "r1", row="second")
    t.drop("sft", "r2", n=3)
    t.wrote("rl", "train", 2)
    t.wrote("rl", "train")
    t.masked["param_missing"] += 1
    t.injected["tool_hallucination"] += 2
    d = t.as_dict()
    assert set(d) == {
        "rows_read",
        "records",
        "bad_rows",
        "feedback",
        "masked",
        "injected",
        "dropped",
        "written",
        "examples",
        "dropped_rows",
    }
    assert d["injected"] == {"tool_hallucination": 2}
    assert (d["rows_read"], d["records"]) == (5, 4)
    assert d["feedback"] == dict.fromkeys(FEEDBACK_CATEGORIES, 0)
    assert d["dropped"] == {"rl": {"r1": 2}, "sft": {"r2": 3}}
    assert d["written"] == {"rl": {"train": 3}}
    assert d["masked"] == {"param_missing": 1}
    assert d["examples"] == {"rl:r1": "first"}  # the first row per reason; none given for r2
    assert d["dropped_rows"] == {"rl:r1": ["first", "second"]}
    assert type(d["dropped"]) is dict and all(type(v) is dict for v in d["dropped"].values())
    assert json.loads(json.dumps(d)) == d


def test_tally_lists_at_most_max_listed_rows_per_reason():
    t = Tally()
    for i in range(MAX_LISTED + 5):
        t.drop("sft", "r", row=f"row{i}")
    assert t.dropped["sft"]["r"] == MAX_LISTED + 5
    assert t.as_dict()["dropped_rows"]["sft:r"] == [f"row{i}" for i in range(MAX_LISTED)]
