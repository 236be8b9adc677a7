"""RoTBench: the test-file reader (data_transforms.rotbench_data) and the TS / PI / CF scorer
(reward_fns.rotbench), one hand-built case per rule, a table of responses over the sample file
tests/data/rotbench_eval.json (described in tests/data/README.md), the default judging against
verdicts taken from RoTBench's own evaluate.py, each place where it still differs (evaluate.py
raises there), and the lenient judging (reward_kwargs.format=auto/react/...), opt-in.
"""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from data_transforms.records import RecordError
from data_transforms.rotbench_data import RoTBenchSample, ground_truth, read_rotbench, rotbench_sample
from reward_fns.parsing import parse_tool_calls
from reward_fns.rotbench import (
    DEFAULT_FORMAT,
    EVALUATE_PY,
    compute_score,
    judging,
    parse_rotbench,
    rotbench_result,
    tool_parameters,
)
from reward_fns.scoring import CATEGORIES, RESULT_KEYS, RewardWeights
from tests.helpers import DATA_DIR, examples

DATA = DATA_DIR
SAMPLE_FILE = DATA / "rotbench_eval.json"
MB = 1_000_000


def raw_rows() -> list[dict]:
    return json.loads(SAMPLE_FILE.read_text(encoding="utf-8"))


def samples() -> list[RoTBenchSample]:
    return read_rotbench(SAMPLE_FILE)


def step(name: str, args, thought: str = "I will call the tool.") -> str:
    return f"Thought: {thought}\nAction: {name}\nAction Input: {json.dumps(args)}"


def flags(result: dict) -> set:
    return {c for c in CATEGORIES if result[c]}


def metrics(result: dict) -> tuple:
    return result["ts"], result["pi"], result["cf"]


# --------------------------------------------------------------------------- reader


def test_samples_are_named_by_position_even_when_row_ids_repeat():
    rows, got = raw_rows(), samples()
    assert [s.id for s in got] == [f"rotbench_eval:{i}" for i in range(10)]
    assert rows[6]["id"] == rows[7]["id"]  # the file repeats an id, as RoTBench's noisy files do
    assert got[6].id != got[7].id
    assert [s.scenario for s in got] == ["PL", "IR", "TG", "RS", "AM", "RS", "TG", "TG", "RS", "DU"]


def test_first_turn_row_exactly():
    row, sample = raw_rows()[0], samples()[0]
    system_text = row["conversations"][0]["value"]
    assert sample.messages == [
        {"role": "system", "content": system_text},  # verbatim: the ReAct instructions live there
        {"role": "user", "content": "How many grams is 1 cup of flour?\nBegin!\n"},
    ]
    assert '"name": "convert_units"' in system_text and "Action Input:" in system_text
    assert [t["name"] for t in sample.tools] == ["convert_units", "get_ingredient_density", "ask_to_user", "finish"]
    assert sample.tools[0] == {
        "name": "convert_units",
        "description": "Convert a quantity from one unit of measurement to another.",
        "parameters": {
            "type": "object",
            "properties": {
                "quantity": {"type": "string", "description": "The amount to convert."},
                "from_unit": {"type": "string", "description": "The unit to convert from."},
                "to_unit": {"type": "string", "description": "The unit to convert to."},
                "precision": {"type": "string", "description": "Number of decimal places in the result."},
            },
            "required": ["quantity", "from_unit", "to_unit"],
        },
    }
    assert sample.answers == [
        {"name": "convert_units", "arguments": {"quantity": "1", "from_unit": "cup", "to_unit": "gram"}}
    ]
    assert (sample.finish_name, sample.ask_name) == ("finish", "ask_to_user")


def test_third_turn_context_keeps_earlier_steps_and_tool_outputs_verbatim():
    rows, got = raw_rows(), samples()
    for i, roles in [
        (3, ["system", "user", "assistant", "tool", "assistant", "user"]),
        (5, ["system", "user", "assistant", "tool", "assistant", "tool"]),
        (9, ["system", "user", "assistant", "tool", "assistant", "tool"]),
    ]:
        conv = rows[i]["conversations"]
        assert [m["role"] for m in got[i].messages] == roles
        assert [m["content"] for m in got[i].messages] == [t["value"] for t in conv[:-1]]
        assert all(set(m) == {"role", "content"} for m in got[i].messages)  # no tool_calls structure
        # the answers are what is scored, never part of the context
        for answer in conv[-1]["value"]:
            assert all(answer not in m["content"] for m in got[i].messages)
    assert got[3].messages[2]["content"] == 'Thought:\nAction: find_city\nAction Input: {"name": "Lyon"}'
    assert got[9].messages[3] == {"role": "tool", "content": "ValueError: unknown unit 'miles'"}


def test_tools_decoded_in_order_with_the_desciption_misspelling_kept():
    tools = samples()[2].tools
    assert [t["name"] for t in tools] == ["translate_text", "detect_language", "ask_to_user", "finish"]
    assert tools[0]["parameters"]["properties"]["source_lang"] == {
        "type": "string",
        "desciption": "Source language code; detected when not given.",
    }


def test_finish_and_ask_are_the_last_two_tools_by_position():
    got = samples()
    assert [(s.finish_name, s.ask_name) for s in got] == [
        ("finish", "ask_to_user"),
        ("finish", "ask_to_user"),
        ("finish", "ask_to_user"),
        ("finish", "ask_to_user"),
        ("finish", "ask_to_user"),
        ("fnish", "ask_to_usr"),  # perturbed names, as in the noisy files
        ("finish", "ask_to_user"),
        ("finsh", "ask_to_user"),
        ("get_weather", "get_forecast"),  # a shuffled list: whatever sits last is "finish"
        ("finish", "ask_to_user"),
    ]


def test_answers_parsed_into_calls():
    got = samples()
    assert got[1].answers == [
        {"name": "search_recipes", "arguments": {"query": "vegetarian pasta"}},
        {"name": "search_recipes", "arguments": {"query": "pasta", "diet": "vegetarian"}},
        {"name": "find_recipes_by_diet", "arguments": {"diet": "vegetarian", "dish_type": "pasta"}},
    ]
    assert got[2].answers[0]["arguments"]["source_lang"] == "None"
    assert got[6].answers == [{"name": "get_random_joke", "arguments": {}}]
    assert got[9].answers == [
        {"name": "finish", "arguments": {"answer": "5 miles is about 8.05 km."}},
        {"name": "finish", "arguments": {"answer": "About 8 kilometres."}},
    ]


def test_json_lines_read_the_same(tmp_path):
    path = tmp_path / "clean.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in raw_rows()) + "\n\n", encoding="utf-8")
    got = read_rotbench(path)
    assert [s.id for s in got] == [f"clean:{i}" for i in range(10)]
    assert [(s.messages, s.tools, s.answers) for s in got] == [(s.messages, s.tools, s.answers) for s in samples()]


def test_missing_scenario_is_none():
    row = dict(raw_rows()[0])
    del row["scenario"]
    assert rotbench_sample(row, "x:0").scenario is None


def test_ground_truth_is_compute_scores_input():
    sample = samples()[5]
    assert json.loads(ground_truth(sample)) == {"answers": sample.answers, "finish": "fnish", "ask": "ask_to_usr"}


def _bad(mutate):
    row = json.loads(json.dumps(raw_rows()[0]))
    mutate(row)
    return row


def _set_answers(*texts):
    return lambda row: row["conversations"][-1].__setitem__("value", list(texts))


GOOD_ANSWER = 'Thought:\nAction: convert_units\nAction Input: {"quantity": "1"}'
ONE_TOOL = [{"name": "finish", "parameters": {"type": "object", "properties": {}}}]


@pytest.mark.parametrize(
    "mutate,field",
    [
        (lambda row: row["conversations"][-1].__setitem__("value", GOOD_ANSWER), "conversations[-1].value"),
        (_set_answers(), "conversations[-1].value"),
        (lambda row: row["conversations"][-1].__setitem__("from", "user"), "conversations[-1].from"),
        (lambda row: row["conversations"].pop(), "conversations[-1].from"),  # ends with the user turn
        (lambda row: row.__setitem__("conversations", row["conversations"][-1:]), "conversations"),
        (lambda row: row.pop("conversations"), "conversations"),
        (_set_answers(GOOD_ANSWER, "Thought: I know this one."), "conversations[-1].value[1]"),
        (_set_answers('Thought:\nAction: convert_units\nAction Input: {"quantity": '), "conversations[-1].value[0]"),
        (_set_answers("Thought:\nAction: convert_units\nAction Input: [1]"), "conversations[-1].value[0]"),
        (_set_answers(GOOD_ANSWER + "\n" + GOOD_ANSWER), "conversations[-1].value[0]"),  # two actions
        (_set_answers(GOOD_ANSWER, "Action: convert_unit\nAction Input: {}"), "conversations[-1].value[1]"),
        (_set_answers(GOOD_ANSWER, {"name": "convert_units"}), "conversations[-1].value[1]"),
        (lambda row: row["conversations"][0].__setitem__("value", "Use the tools you know."), "conversations[0].value"),
        (lambda row: row["conversations"].pop(0), "conversations"),  # no system turn at all
        (
            lambda row: row["conversations"][0].__setitem__("value", "Tools:\n" + json.dumps(ONE_TOOL)),
            "conversations[0].value.tools",
        ),
        (lambda row: row["conversations"][1].__setitem__("value", None), "conversations[1].value"),
        (lambda row: row["conversations"][1].__setitem__("from", "narrator"), "conversations[1].from"),
    ],
)
def test_bad_rows_name_the_row_and_the_field(mutate, field):
    with pytest.raises(RecordError) as info:
        rotbench_sample(_bad(mutate), "heavy:7")
    assert info.value.row == "heavy:7"
    assert info.value.field == field, str(info.value)


def test_bad_row_in_a_file_is_named_by_file_stem_and_position(tmp_path):
    rows = raw_rows()[:3]
    rows[2]["conversations"][-1]["value"] = ["Thought: no action"]
    path = tmp_path / "medium.json"
    path.write_text(json.dumps(rows), encoding="utf-8")
    with pytest.raises(RecordError) as info:
        read_rotbench(path)
    assert (info.value.row, info.value.field) == ("medium:2", "conversations[-1].value[0]")


@pytest.mark.parametrize(
    "text,field",
    [
        ("[1, 2]", "<row>"),  # an array, but not of rows
        ('[{"id": 1}, ', None),  # a broken array: the whole file is unreadable
        ('{\n "conversations": []\n}\n', "<line>"),  # one pretty-printed object, not an array
        ('"clean"\n', "<row>"),
    ],
)
def test_a_file_that_is_not_a_json_array_of_rows_is_refused(tmp_path, text, field):
    path = tmp_path / "clean.json"
    path.write_text(text, encoding="utf-8")
    if field is None:
        from data_transforms.io import InputFileError

        with pytest.raises(InputFileError, match="not a valid JSON array"):
            read_rotbench(path)
        return
    with pytest.raises(RecordError) as info:
        read_rotbench(path)
    assert info.value.field == field


# --------------------------------------------------------------------------- scorer, rule by rule

TOOLS = [
    {
        "name": "convert_units",
        "parameters": {
            "type": "object",
            "properties": {"quantity": {}, "from_unit": {}, "to_unit": {}, "precision": {}},
        },
    },
    {"name": "get_density", "parameters": {"type": "object", "properties": {"ingredient": {}}}},
    {
        "name": "translate_text",
        "parameters": {"type": "object", "properties": {"text": {}, "target_lang": {}, "source_lang": {}}},
    },
    {"name": "get_random_joke", "parameters": {"type": "object", "properties": {}}},
    {"name": "ask_to_user", "parameters": {"type": "object", "properties": {"question": {}}}},
    {"name": "fnish", "parameters": {"type": "object", "properties": {"answer": {}}}},  # renamed finish
]
CUP = {"name": "convert_units", "arguments": {"quantity": "1", "from_unit": "cup", "to_unit": "gram"}}
CUP_PRECISE = {
    "name": "convert_units",
    "arguments": {"quantity": "1", "from_unit": "cup", "to_unit": "g", "precision": "2"},
}
DENSITY = {"name": "get_density", "arguments": {"ingredient": "flour"}}
TRANSLATE = {"name": "translate_text", "arguments": {"text": "Good night", "target_lang": "fr", "source_lang": "None"}}


def score(response, answers, finish="fnish", ask="ask_to_user", tools=TOOLS, **kwargs) -> dict:
    gt = json.dumps({"answers": answers, "finish": finish, "ask": ask})
    result = compute_score("rotbench", response, gt, {"tools": json.dumps(tools)}, **kwargs)
    assert tuple(result) == RESULT_KEYS  # every result: exactly these keys, in this order
    return result


def call(answer: dict, **changes) -> str:
    """A response with ``answer``'s name; ``changes`` set arguments (``None`` removes one)."""
    args = {**answer["arguments"], **changes}
    return step(answer["name"], {k: v for k, v in args.items() if v is not None})


def test_ts_right_if_any_answer_has_the_name():
    assert metrics(score(step("get_density", {"ingredient": "flour"}), [CUP, DENSITY])) == (1, 1, 1)
    assert metrics(score(step("get_density", {"item": "flour"}), [CUP, DENSITY])) == (1, 0, 0)
    r = score(step("translate_text", {"text": "flour"}), [CUP, DENSITY])
    assert metrics(r) == (0, 0, 0) and flags(r) == {"wrong_tool"}


def test_pi_needs_exactly_the_answers_key_set():
    assert metrics(score(call(CUP), [CUP])) == (1, 1, 1)
    missing = score(call(CUP, to_unit=None), [CUP])
    assert metrics(missing) == (1, 0, 0) and flags(missing) == {"param_missing"}
    extra = score(call(CUP, precision="0"), [CUP])  # right values, one key too many
    assert metrics(extra) == (1, 0, 0) and flags(extra) == {"param_redundant"}


def test_pi_and_cf_can_come_from_a_later_answer_than_ts():
    assert metrics(score(call(CUP_PRECISE), [CUP, CUP_PRECISE])) == (1, 1, 1)
    assert metrics(score(call(CUP_PRECISE, precision="3"), [CUP, CUP_PRECISE])) == (1, 1, 0)
    # same key set in both answers: the second one's values are accepted too
    assert metrics(
        score(call(CUP, to_unit="g"), [CUP, {**CUP, "arguments": {**CUP["arguments"], "to_unit": "g"}}])
    ) == (1, 1, 1)


def test_cf_needs_equal_values():
    r = score(call(CUP, from_unit="mug"), [CUP])
    assert metrics(r) == (1, 1, 0) and flags(r) == {"content"} and r["score"] == -0.25
    assert metrics(score(call(CUP, from_unit="Cup"), [CUP])) == (1, 1, 0)  # no normalising


def test_string_values_are_compared_as_strings_and_numbers_as_numbers():
    assert metrics(score(call(CUP, quantity="1.0"), [CUP])) == (1, 1, 0)
    assert metrics(score(call(CUP, quantity=1), [CUP])) == (1, 1, 0)  # "1" != 1
    one = {"name": "convert_units", "arguments": {"quantity": 1, "from_unit": "cup", "to_unit": "gram"}}
    assert metrics(score(call(one, quantity=1.0), [one])) == (1, 1, 1)  # 1 == 1.0
    assert metrics(score(call(one, quantity=1.5), [one])) == (1, 1, 0)


def test_a_none_gold_value_frees_the_value_but_not_the_key():
    for value in ("en", "None", "", 7, [1]):
        assert metrics(score(call(TRANSLATE, source_lang=value), [TRANSLATE])) == (1, 1, 1), value
    r = score(
        'Action: translate_text\nAction Input: {"text": "Good night", "target_lang": "fr", "source_lang": null}',
        [TRANSLATE],
    )
    assert metrics(r) == (1, 1, 1)
    r = score(call(TRANSLATE, source_lang=None), [TRANSLATE])  # key left out
    assert metrics(r) == (1, 0, 0) and flags(r) == {"param_missing"}
    # only the GOLD value "None" frees a value; a predicted "None" is compared like any string
    assert metrics(score(call(TRANSLATE, source_lang="en", target_lang="None"), [TRANSLATE])) == (1, 1, 0)


def test_finish_is_accepted_for_the_renamed_last_tool_and_its_values_are_free():
    answer = {"name": "fnish", "arguments": {"answer": "About 230 g."}}
    for name in ("finish", "fnish"):
        r = score(step(name, {"answer": "Roughly 230 grams."}), [answer])
        assert metrics(r) == (1, 1, 1) and r["correct"] == 1, name
    r = score(step("finish", {"text": "About 230 g."}), [answer])
    assert metrics(r) == (1, 0, 0) and flags(r) == {"param_hallucination", "param_missing"}
    # the alias goes one way only: "fnish" is no name for a tool called "finish"
    assert metrics(
        score(
            step("fnish", {"answer": "x"}),
            [{"name": "finish", "arguments": {"answer": "y"}}],
            finish="finish",
            tools=TOOLS + [{"name": "finish"}],
        )
    ) == (0, 0, 0)
    # and there is no ask_to_user alias
    assert metrics(
        score(
            step("ask_to_user", {"question": "?"}),
            [{"name": "ask_usr", "arguments": {"question": "?"}}],
            ask="ask_usr",
            tools=TOOLS + [{"name": "ask_usr"}],
        )
    ) == (0, 0, 0)


def test_ask_to_user_values_are_free():
    answer = {"name": "ask_to_user", "arguments": {"question": "Which unit do you want?"}}
    assert metrics(score(step("ask_to_user", {"question": "Grams or ounces?"}), [answer])) == (1, 1, 1)
    renamed = {"name": "convert_units", "arguments": CUP["arguments"]}  # the second-to-last tool is "ask" by position
    assert metrics(score(call(CUP, to_unit="ounce"), [renamed], ask="convert_units")) == (1, 1, 1)


def test_literal_finish_and_ask_to_user_answers_are_free_wherever_they_sit():
    # RoTBench's shuffled files put finish / ask_to_user anywhere; its code skips their values by name too
    shuffled = [TOOLS[-2], {"name": "finish", "parameters": {}}, TOOLS[0], TOOLS[1]]
    fin = {"name": "finish", "arguments": {"answer": "230 g"}}
    assert metrics(
        score(
            step("finish", {"answer": "Two hundred grams"}),
            [fin],
            finish="get_density",
            ask="convert_units",
            tools=shuffled,
        )
    ) == (1, 1, 1)
    ask = {"name": "ask_to_user", "arguments": {"question": "Which flour?"}}
    assert metrics(
        score(
            step("ask_to_user", {"question": "Sifted?"}),
            [ask],
            finish="get_density",
            ask="convert_units",
            tools=shuffled,
        )
    ) == (1, 1, 1)
    # ... and the tool that sits last is "finish" by position: the alias applies, values are free
    assert metrics(
        score(
            step("finish", {"ingredient": "sugar"}),
            [DENSITY],
            finish="get_density",
            ask="convert_units",
            tools=shuffled,
        )
    ) == (1, 1, 1)


def test_empty_arguments_fail_everything_by_default_as_in_evaluate_py():
    # evaluate.py tests the decoded input for truthiness: `{}` fails even for a tool without parameters
    joke = {"name": "get_random_joke", "arguments": {}}
    for response in (step("get_random_joke", {}), "Action: get_random_joke\nAction Input: {}"):
        r = score(response, [joke])
        assert metrics(r) == (0, 0, 0) and flags(r) == {"malformed"} and r["n_pred_calls"] == 0
    for falsy in ("[]", "0", "null", "false", '""', '"a string"'):  # any falsy input, and any string
        assert metrics(score(f"Action: get_random_joke\nAction Input: {falsy}", [joke])) == (0, 0, 0), falsy
    assert metrics(score(step("convert_units", {}), [CUP])) == (0, 0, 0)
    assert metrics(score(step("get_random_joke", {"topic": "cats"}), [joke])) == (1, 0, 0)


def test_lenient_empty_arguments_are_fully_right_for_a_tool_without_parameters():
    joke = {"name": "get_random_joke", "arguments": {}}
    r = score(step("get_random_joke", {}), [joke], format="react")
    assert metrics(r) == (1, 1, 1) and r["correct"] == 1 and r["score"] == 1.0
    assert metrics(score("Action: get_random_joke\nAction Input: {}", [joke], format="auto")) == (1, 1, 1)
    r = score(step("get_random_joke", {"topic": "cats"}), [joke], format="react")
    assert metrics(r) == (1, 0, 0) and flags(r) == {"param_hallucination"}
    assert metrics(score(step("convert_units", {}), [CUP], format="react")) == (1, 0, 0)


@pytest.mark.parametrize(
    "response",
    [
        'Action: convert_units\nAction Input: {"quantity": ',
        'Action: convert_units\nAction Input: ["1", "cup"]',
        'Action: convert_units\nAction Input: "1 cup"',
        "Action: convert_units\nThought: no input",
        "Action Input: {}",
        None,
        b"Action: convert_units",
    ],
)
@pytest.mark.parametrize("fmt", [DEFAULT_FORMAT, "react"])
def test_malformed_response_is_wrong_on_all_three(response, fmt):
    r = score(response, [CUP], format=fmt)
    assert metrics(r) == (0, 0, 0) and flags(r) == {"malformed"}
    assert r["score"] == -2.0 and (r["n_pred_calls"], r["n_gold_calls"]) == (0, 1)


def test_a_torn_hermes_call_is_no_call_by_default_and_malformed_when_lenient():
    torn = '<tool_call>{"name": "convert_units", "arguments": {</tool_call>'
    assert flags(score(torn, [CUP])) == {"no_call"}  # no Action: marker, as evaluate.py sees it
    assert flags(score(torn, [CUP], format="auto")) == {"malformed"}


def test_no_call():
    for fmt in (DEFAULT_FORMAT, "auto"):
        r = score("Thought: 1 cup of flour is about 120 g.", [CUP], format=fmt)
        assert metrics(r) == (0, 0, 0) and flags(r) == {"no_call"} and r["score"] == -2.0
        assert score("", [CUP], format=fmt)["no_call"] == 1


def test_two_steps_fail_by_default_as_text_after_the_json():
    r = score(call(CUP) + "\nObservation: 120\n" + call(CUP), [CUP])
    assert metrics(r) == (0, 0, 0) and flags(r) == {"malformed"} and r["score"] == -2.0


def test_lenient_two_calls_are_an_extra_call():
    r = score(call(CUP) + "\nObservation: 120\n" + call(CUP), [CUP], format="react")
    assert metrics(r) == (0, 0, 0) and flags(r) == {"extra_call"} and r["score"] == -1.5
    assert (r["n_pred_calls"], r["n_gold_calls"]) == (2, 1)


def test_tool_hallucination_versus_wrong_tool():
    r = score(step("get_weight", {"ingredient": "flour"}), [CUP])
    assert flags(r) == {"tool_hallucination"} and r["score"] == -2.0 and r["ts"] == 0
    r = score(step("get_density", {"ingredient": "flour"}), [CUP])
    assert flags(r) == {"wrong_tool"} and r["score"] == -1.5 and r["ts"] == 0
    # "finish" counts as a candidate even where the finish tool is renamed
    r = score(step("finish", {"answer": "120 g"}), [CUP])
    assert flags(r) == {"wrong_tool"} and r["score"] == -1.5


def test_parameter_categories_against_the_closest_answer_and_their_summed_score():
    r = score(call(CUP, colour="white"), [CUP])
    assert flags(r) == {"param_hallucination"} and r["score"] == -0.8
    r = score(call(CUP, precision="2"), [CUP])
    assert flags(r) == {"param_redundant"} and r["score"] == -0.5
    r = score(call(CUP, to_unit=None), [CUP])
    assert flags(r) == {"param_missing"} and r["score"] == -0.5
    r = score(call(CUP, to_unit=None, precision="2", colour="white"), [CUP])
    assert flags(r) == {"param_hallucination", "param_redundant", "param_missing"}
    assert r["score"] == pytest.approx(-1.8)
    # two answers of the same tool: judged against the one with fewer differing keys
    r = score(call(CUP_PRECISE, precision=None, to_unit=None), [CUP, CUP_PRECISE])  # 1 off CUP, 2 off CUP_PRECISE
    assert flags(r) == {"param_missing"}
    r = score(call(CUP_PRECISE, colour="white"), [CUP, CUP_PRECISE])  # 1 off CUP_PRECISE, 2 off CUP
    assert flags(r) == {"param_hallucination"}


def test_content_and_correct_scores_and_weight_overrides():
    assert score(call(CUP), [CUP])["score"] == 1.0
    assert score(call(CUP, to_unit="kg"), [CUP])["score"] == -0.25
    assert score(call(CUP, to_unit="kg"), [CUP], content=-0.3)["score"] == -0.3
    assert score(step("get_weight", {"item": "flour"}), [CUP], tool_hallucination="-3")["score"] == -3.0
    with pytest.raises(ValueError, match="unknown reward_kwargs"):
        score(call(CUP), [CUP], colour=1)
    with pytest.raises(ValueError, match="format"):
        score(call(CUP), [CUP], format="yaml")


def test_format_auto_reads_other_call_syntaxes_and_react_only_reads_react():
    hermes = '<tool_call>{"name": "convert_units", "arguments": {"quantity": "1", "from_unit": "cup", "to_unit": "gram"}}</tool_call>'
    assert metrics(score(hermes, [CUP], format="auto")) == (1, 1, 1)
    r = score(hermes, [CUP], format="react")
    assert flags(r) == {"no_call"}
    assert metrics(score(call(CUP), [CUP], format="react")) == (1, 1, 1)


def test_ground_truth_and_tools_may_arrive_decoded():
    gt = {"answers": [CUP], "finish": "fnish", "ask": "ask_to_user"}
    for g in (gt, json.dumps(gt)):
        for tools in (TOOLS, json.dumps(TOOLS)):
            assert metrics(compute_score("rotbench", call(CUP, precision="2"), g, {"tools": tools})) == (1, 0, 0)


def test_without_tools_the_answers_stand_in():
    gt = json.dumps({"answers": [CUP], "finish": "finish", "ask": "ask_to_user"})
    r = compute_score("rotbench", call(CUP, precision="2"), gt)  # no schema: a key outside the answer
    assert flags(r) == {"param_hallucination"}
    assert flags(compute_score("rotbench", step("get_density", {"item": "flour"}), gt, {})) == {"tool_hallucination"}
    assert flags(compute_score("rotbench", step("ask_to_user", {"question": "?"}), gt, None)) == {"wrong_tool"}


def test_rotbench_result_takes_a_parse_result_and_a_tool_index():
    parsed = parse_tool_calls(call(CUP, precision="2"), "react")
    params = tool_parameters(TOOLS)
    assert params["convert_units"] == {"quantity", "from_unit", "to_unit", "precision"}
    r = rotbench_result(parsed, [CUP], params, "fnish", "ask_to_user")
    assert tuple(r) == RESULT_KEYS and flags(r) == {"param_redundant"}
    # only names: no parameter is known, so the extra key is hallucinated
    r = rotbench_result(parsed, [CUP], [t["name"] for t in TOOLS], "fnish", "ask_to_user")
    assert flags(r) == {"param_hallucination"}
    r = rotbench_result(parsed, [CUP], params, "fnish", "ask_to_user", RewardWeights(param_redundant=-0.1))
    assert r["score"] == -0.1


def test_a_tool_listed_twice_has_the_union_of_its_parameters():
    # RoTBench's F1 tool lists hold two different tools both named "drivers"
    tools = [
        {"name": "drivers", "parameters": {"properties": {"season": {}}}},
        {"name": "drivers", "parameters": {"properties": {"team": {}}}},
    ]
    assert tool_parameters(tools) == {"drivers": {"season", "team"}}


@pytest.mark.parametrize(
    "ground_truth,tools",
    [
        ("not json", TOOLS),
        ("[]", TOOLS),
        (json.dumps([CUP]), TOOLS),  # a bare answer list: finish / ask missing
        (json.dumps({"answers": [], "finish": "fnish", "ask": "ask_to_user"}), TOOLS),
        (json.dumps({"answers": [{"name": "convert_units"}], "finish": "fnish", "ask": "ask_to_user"}), TOOLS),
        (json.dumps({"answers": [{"name": "", "arguments": {}}], "finish": "fnish", "ask": "ask_to_user"}), TOOLS),
        (json.dumps({"answers": [CUP], "finish": "fnish"}), TOOLS),
        (json.dumps({"answers": [CUP], "finish": 3, "ask": "ask_to_user"}), TOOLS),
        (json.dumps({"answers": [{"name": "weigh", "arguments": {}}], "finish": "fnish", "ask": "ask_to_user"}), TOOLS),
        (json.dumps({"answers": [CUP], "finish": "finish", "ask": "ask_to_user"}), TOOLS),  # finish not a tool
        (json.dumps({"answers": [CUP], "finish": "fnish", "ask": "ask_to_user"}), {"convert_units": {}}),
        (json.dumps({"answers": [CUP], "finish": "fnish", "ask": "ask_to_user"}), [{"parameters": {}}]),
    ],
)
def test_bad_ground_truth_or_tools_raise_value_error(ground_truth, tools):
    with pytest.raises(ValueError):
        compute_score("rotbench", call(CUP), ground_truth, {"tools": json.dumps(tools)})


# --------------------------------------------------------------------------- hostile responses

_GT = json.dumps(
    {
        "answers": [CUP, TRANSLATE, {"name": "fnish", "arguments": {"answer": "x"}}],
        "finish": "fnish",
        "ask": "ask_to_user",
    }
)
_EXTRA = {"tools": json.dumps(TOOLS)}
_FRAGMENTS = [
    "Thought: ",
    "Action: ",
    "Action Input: ",
    "convert_units",
    "finish",
    "{",
    "}",
    '"quantity"',
    ": ",
    '"1"',
    ", ",
    "\n",
    "<tool_call>",
    "</tool_call>",
    "<think>",
    "</think>",
    "[",
    "]",
    "None",
    "null",
    "1.0",
]


@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.text(), st.lists(st.one_of(st.sampled_from(_FRAGMENTS), st.text(max_size=6)), max_size=40).map("".join)
    )
)
def test_any_text_scores_without_raising(text):
    r = compute_score("rotbench", text, _GT, _EXTRA)
    assert tuple(r) == RESULT_KEYS
    assert r["ts"] >= r["pi"] >= r["cf"]  # each metric needs the one before it, for the same answer
    assert (
        sum(
            r[c]
            for c in ("malformed", "no_call", "extra_call", "tool_hallucination", "wrong_tool", "content", "correct")
        )
        <= 1
    )


@settings(max_examples=examples(200), deadline=None)
@given(
    st.dictionaries(
        st.text(max_size=10),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
            lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
            max_leaves=10,
        ),
    )
)
def test_any_json_arguments_score_without_raising(args):
    for name in ("convert_units", "translate_text", "finish", "fnish", "unknown"):
        r = compute_score("rotbench", step(name, args), _GT, _EXTRA)
        assert tuple(r) == RESULT_KEYS and r["n_pred_calls"] == int(bool(args))  # `{}` is no call for evaluate.py
        r = compute_score("rotbench", step(name, args), _GT, _EXTRA, format="react")
        assert tuple(r) == RESULT_KEYS and r["n_pred_calls"] == 1


@pytest.mark.parametrize(
    "response",
    [
        "x" * MB,
        "Action: convert_units\n" * (MB // 22),
        "Action: convert_units\nAction Input: " + "[" * MB,
        'Action: convert_units\nAction Input: {"quantity": "' + "1" * MB + '", "from_unit": "cup", "to_unit": "gram"}',
        "Thought: " + "{" * MB,
        "Action: finish\nAction Input: " + '{"a": ' * (MB // 6),
    ],
)
@pytest.mark.parametrize("fmt", [DEFAULT_FORMAT, "auto"])
def test_megabyte_responses_score_quickly(response, fmt):
    start = time.perf_counter()
    r = compute_score("rotbench", response, _GT, _EXTRA, format=fmt)
    assert time.perf_counter() - start < 2.0
    assert tuple(r) == RESULT_KEYS and r["correct"] == 0


# --------------------------------------------------------------------------- the sample file, by hand

TABLE = {  # row -> [(response, (ts, pi, cf))], worked out by hand from RoTBench's rules, checked with its evaluate.py
    0: [
        (step("convert_units", {"quantity": "1", "from_unit": "cup", "to_unit": "gram"}), (1, 1, 1)),
        (step("convert_units", {"to_unit": "gram", "quantity": "1", "from_unit": "cup"}), (1, 1, 1)),
        (step("convert_units", {"quantity": "1.0", "from_unit": "cup", "to_unit": "gram"}), (1, 1, 0)),
        (step("convert_units", {"quantity": 1, "from_unit": "cup", "to_unit": "gram"}), (1, 1, 0)),
        (step("convert_units", {"quantity": "1", "from_unit": "cup", "to_unit": "gram", "precision": "0"}), (1, 0, 0)),
        (step("get_ingredient_density", {"ingredient": "flour"}), (0, 0, 0)),
        ("About 120 grams.", (0, 0, 0)),
    ],
    1: [
        (step("search_recipes", {"query": "vegetarian pasta"}), (1, 1, 1)),
        (step("search_recipes", {"diet": "vegetarian", "query": "pasta"}), (1, 1, 1)),
        (step("search_recipes", {"query": "veggie pasta"}), (1, 1, 0)),
        (step("search_recipes", {"query": "pasta", "diet": "vegan"}), (1, 1, 0)),
        (step("search_recipes", {"query": "pasta", "max_results": "5"}), (1, 0, 0)),
        (step("find_recipes_by_diet", {"dish_type": "pasta", "diet": "vegetarian"}), (1, 1, 1)),
        (step("find_recipes_by_diet", {"diet": "vegetarian"}), (1, 0, 0)),
        (step("get_recipe_details", {"recipe_id": "42"}), (0, 0, 0)),
    ],
    2: [
        (step("translate_text", {"text": "Good night", "target_lang": "fr", "source_lang": "en"}), (1, 1, 1)),
        (step("translate_text", {"text": "Good night", "target_lang": "fr", "source_lang": "None"}), (1, 1, 1)),
        (step("translate_text", {"text": "Good night", "target_lang": "fr"}), (1, 0, 0)),
        (step("translate_text", {"text": "Good night", "target_lang": "French", "source_lang": "en"}), (1, 1, 0)),
        (step("detect_language", {"text": "Good night"}), (0, 0, 0)),
    ],
    3: [
        (step("get_city_population", {"city_id": "FR-LYS"}), (1, 1, 1)),
        (step("get_city_population", {"city_id": "US-LYN"}), (1, 1, 0)),
        (step("get_city_population", {"city": "Lyon"}), (1, 0, 0)),
        (step("find_city", {"name": "Lyon", "country": "FR"}), (0, 0, 0)),
        (step("finish", {"answer": "About 520,000."}), (0, 0, 0)),
    ],
    4: [
        (step("ask_to_user", {"question": "What time, and for how many people?"}), (1, 1, 1)),
        (step("ask_to_user", {"q": "What time?"}), (1, 0, 0)),
        (step("book_table", {"restaurant": "Chez Marcel", "time": "20:00", "party_size": "2"}), (0, 0, 0)),
        (step("finish", {"answer": "Booked."}), (0, 0, 0)),
    ],
    5: [
        (step("finish", {"answer": "Porto has about 232 thousand inhabitants."}), (1, 1, 1)),
        (step("fnish", {"answer": "Around 231,800."}), (1, 1, 1)),
        (step("finish", {"text": "Around 231,800."}), (1, 0, 0)),
        (step("ask_to_usr", {"question": "Which Porto?"}), (0, 0, 0)),
        (step("get_city_populaton", {"city_id": "PT-OPO"}), (0, 0, 0)),
    ],
    6: [
        # the right answer, `{}`: evaluate.py fails every falsy Action Input (format=react: (1, 1, 1))
        (step("get_random_joke", {}), (0, 0, 0)),
        (step("get_random_joke", {"term": "cats"}), (1, 0, 0)),
        (step("search_jokes", {"term": "random"}), (0, 0, 0)),
    ],
    7: [
        (step("get_rndom_joke", {}), (0, 0, 0)),  # `{}` again (format=react: (1, 1, 1))
        (step("get_random_joke", {}), (0, 0, 0)),  # the clean name is not this row's tool
        (step("finish", {"answer": "Why did the chicken cross the road?"}), (0, 0, 0)),
    ],
    8: [
        (step("get_weather", {"city": "Oslo", "unit": "celsius"}), (1, 1, 1)),
        # get_weather sits last: RoTBench treats it as the finish tool, so values are free ...
        (step("get_weather", {"city": "Bergen", "unit": "fahrenheit"}), (1, 1, 1)),
        # ... and a literal "finish" stands for it
        (step("finish", {"city": "Oslo", "unit": "celsius"}), (1, 1, 1)),
        (step("finish", {"answer": "It is 3 °C in Oslo."}), (1, 0, 0)),
        (step("get_weather", {"city": "Oslo"}), (1, 0, 0)),
        (step("get_forecast", {"city": "Oslo", "days": "1"}), (0, 0, 0)),
    ],
    9: [
        (step("finish", {"answer": "It is 8.05 km."}), (1, 1, 1)),
        (step("finish", {}), (0, 0, 0)),  # `{}` again (format=react: (1, 0, 0))
        (step("convert_units", {"quantity": "5", "from_unit": "mile", "to_unit": "km"}), (0, 0, 0)),
    ],
}


def test_table_covers_every_row():
    assert sorted(TABLE) == list(range(len(raw_rows())))


@pytest.mark.parametrize("row,response,expected", [(row, r, e) for row, cases in TABLE.items() for r, e in cases])
def test_sample_file_responses(row, response, expected):
    sample = samples()[row]
    r = compute_score("rotbench", response, ground_truth(sample), {"tools": json.dumps(sample.tools)})
    assert metrics(r) == expected
    assert tuple(r) == RESULT_KEYS and r["n_gold_calls"] == 1
    assert (r["correct"] == 1) == (expected == (1, 1, 1))


# the TABLE's entries that the lenient reading judges otherwise: each answers `{}`
LENIENT_TABLE = {(6, 0): (1, 1, 1), (7, 0): (1, 1, 1), (9, 1): (1, 0, 0)}


def test_sample_file_responses_with_the_lenient_reading():
    for row, cases in TABLE.items():
        sample = samples()[row]
        for j, (response, expected) in enumerate(cases):
            r = compute_score(
                "rotbench", response, ground_truth(sample), {"tools": json.dumps(sample.tools)}, format="react"
            )
            assert metrics(r) == LENIENT_TABLE.get((row, j), expected), (row, j)


# --------------------------------------------------------------------------- RoTBench's own reading (the default)

CUP_JSON = json.dumps(CUP["arguments"])
CUP_STEP = "Thought: convert\nAction: convert_units\nAction Input: " + CUP_JSON
HERMES_CUP = '<tool_call>{"name": "convert_units", "arguments": ' + CUP_JSON + "}</tool_call>"


def test_hermes_answer_is_no_call_by_default_and_right_only_with_a_lenient_format():
    r = score(HERMES_CUP, [CUP])
    assert metrics(r) == (0, 0, 0) and flags(r) == {"no_call"}
    assert metrics(score(HERMES_CUP, [CUP], format=DEFAULT_FORMAT)) == (0, 0, 0)
    assert metrics(score(HERMES_CUP, [CUP], format="auto")) == (1, 1, 1)
    assert metrics(score(HERMES_CUP, [CUP], format="hermes")) == (1, 1, 1)
    assert judging({"format": "auto"}) == "lenient (format=auto)" and judging({}) == EVALUATE_PY


def test_think_is_not_dropped_an_action_drafted_inside_it_is_taken():
    response = "<think>\nAction: get_density\n</think>\n" + CUP_STEP
    # evaluate.py's action runs from that first Action: to Action Input:, across </think>
    assert parse_rotbench(response).calls[0]["name"] == "get_density\n</think>\nThought: convert\nAction: convert_units"
    assert metrics(score(response, [CUP])) == (0, 0, 0)
    assert metrics(score(response, [CUP], format="react")) == (1, 1, 1)  # lenient: reasoning dropped
    # reasoning without an Action: changes nothing
    assert metrics(score("<think>\nGrams it is.\n</think>\n" + CUP_STEP, [CUP])) == (1, 1, 1)


def test_an_action_inside_the_thought_line_is_taken_first():
    response = "Thought: not Action: get_density, a conversion\nAction: convert_units\nAction Input: " + CUP_JSON
    assert parse_rotbench(response).calls[0]["name"].startswith("get_density, a conversion\n")
    r = score(response, [CUP])
    assert metrics(r) == (0, 0, 0) and flags(r) == {"tool_hallucination"}
    assert metrics(score(response, [CUP], format="react")) == (1, 1, 1)  # lenient: Action lines only


def test_action_without_a_space_loses_the_names_first_character():
    response = "Action:convert_units\nAction Input: " + CUP_JSON
    assert parse_rotbench(response).calls[0]["name"] == "onvert_units"
    assert metrics(score(response, [CUP])) == (0, 0, 0)
    assert metrics(score("Action:_convert_units\nAction Input: " + CUP_JSON, [CUP])) == (1, 1, 1)  # 8 characters on
    assert metrics(score(response, [CUP], format="react")) == (1, 1, 1)


def test_action_input_without_a_space_loses_the_brace():
    response = "Action: convert_units\nAction Input:" + CUP_JSON
    r = score(response, [CUP])
    assert metrics(r) == (0, 0, 0) and flags(r) == {"malformed"}
    assert metrics(score("Action: convert_units\nAction Input:\n" + CUP_JSON, [CUP])) == (1, 1, 1)  # any one character
    assert metrics(score(response, [CUP], format="react")) == (1, 1, 1)


def test_name_is_not_stripped_and_text_after_the_json_fails_by_default():
    for response in (
        "Action: convert_units \nAction Input: " + CUP_JSON,
        "Action: convert_units\r\nAction Input: " + CUP_JSON,
        "Action: convert_units\nThought: hmm\nAction Input: " + CUP_JSON,
    ):
        assert metrics(score(response, [CUP])) == (0, 0, 0), response
        assert metrics(score(response.replace("Thought: hmm\n", ""), [CUP], format="react")) == (1, 1, 1)
    made_up = CUP_STEP + "\nObservation: 120 g"
    assert flags(score(made_up, [CUP])) == {"malformed"}
    assert metrics(score(made_up, [CUP], format="react")) == (1, 1, 1)
    # one trailing newline of the name goes, and whitespace around the JSON is fine
    assert metrics(score("Action: convert_units\nAction Input:  \n" + CUP_JSON + " \n\n", [CUP])) == (1, 1, 1)


TRANSLATE_DE = {"name": "translate_text", "arguments": {"text": "Good night", "target_lang": "de", "source_lang": "en"}}


def test_none_keys_are_deleted_from_the_prediction_cumulatively_by_default():
    # evaluate.py: TRANSLATE reaches the value comparison, deletes source_lang from the prediction
    # and fails on target_lang; TRANSLATE_DE then no longer has the prediction's key set
    response = call(TRANSLATE_DE)
    r = score(response, [TRANSLATE, TRANSLATE_DE])
    assert metrics(r) == (1, 1, 0) and flags(r) == {"content"}
    assert metrics(score(response, [TRANSLATE_DE, TRANSLATE])) == (1, 1, 1)  # the other order
    assert metrics(score(response, [TRANSLATE, TRANSLATE_DE], format="react")) == (1, 1, 1)  # lenient: as given


def test_a_finish_prediction_is_renamed_at_the_first_finish_tool_answer_by_default():
    # union files: a literal "finish" answer besides the last tool's. evaluate.py renames the
    # prediction "finish" to the last tool at that tool's answer, so the literal one no longer matches
    tools = [*TOOLS[:-1], {"name": "finish", "parameters": {"properties": {"text": {}}}}, TOOLS[-1]]
    answers = [{"name": "fnish", "arguments": {"answer": "120 g"}}, {"name": "finish", "arguments": {"text": "120 g"}}]
    response = step("finish", {"text": "about 120 g"})
    r = score(response, answers, tools=tools)
    assert metrics(r) == (1, 0, 0) and flags(r) == {"param_hallucination", "param_missing"}
    assert metrics(score(response, answers[::-1], tools=tools)) == (1, 1, 1)  # the other order
    assert metrics(score(response, answers, tools=tools, format="react")) == (1, 1, 1)


@pytest.mark.parametrize(
    "response,flag,raised",  # raised: what evaluate.py does instead of judging
    [
        ("", "no_call", "IndexError"),  # the action slice text[7:-1] is empty
        ("Hello", "no_call", "IndexError"),
        ("Action:\nAction Input: " + CUP_JSON, "malformed", "IndexError"),  # no name between the markers
        ("Action Input: " + CUP_JSON, "malformed", "IndexError"),  # no Action:
        ('Action Input: {"a": 1}\nAction: convert_units', "malformed", "IndexError"),
        ('Action: convert_units\nAction Input: ["1", "cup", "gram"]', "malformed", "AttributeError (PI; TS was 1)"),
        ("Action: fnish\nAction Input: true", "malformed", "AttributeError (PI; TS was 1)"),
        ("Action: convert_units\nAction Input: 1.5", "malformed", "AttributeError (PI; TS was 1)"),
        ("Action: convert_units\nAction Input: " + "[" * 5000, "malformed", "RecursionError"),
        ('Action: convert_units\nAction Input: {"quantity": ' + "1" * 5000 + "}", "malformed", "ValueError"),
        (None, "malformed", "AttributeError"),
        (b"Action: convert_units\nAction Input: {}", "malformed", "TypeError"),
    ],
)
def test_where_evaluate_py_raises_the_default_judges_wrong_on_all_three(response, flag, raised):
    r = score(response, [CUP, {"name": "fnish", "arguments": {"answer": "x"}}])
    assert metrics(r) == (0, 0, 0) and flags(r) == {flag} and r["n_pred_calls"] == 0, raised


def test_a_non_object_input_for_another_tool_is_judged_like_evaluate_py():
    # evaluate.py raises only when the name matches an answer; otherwise all wrong, as here
    assert metrics(score("Action: get_weight\nAction Input: [1]", [CUP])) == (0, 0, 0)


def test_parse_rotbench_statuses():
    assert parse_rotbench(CUP_STEP).status == "ok" and parse_rotbench(CUP_STEP).format == DEFAULT_FORMAT
    assert parse_rotbench(HERMES_CUP).status == "no_call"
    assert parse_rotbench("Action: convert_units\nAction Input: {}").status == "malformed"
    assert "IndexError" in parse_rotbench("Action Input: {}").error
    # no marker at all, yet evaluate.py's slices decode: it is a (badly named) call, as there
    weird = "x" * 13 + '{"quantity": "1"}'
    assert parse_rotbench(weird).calls == [{"name": weird[7:-1], "arguments": {"quantity": "1"}}]


def test_format_keyword():
    for fmt in (DEFAULT_FORMAT, None):
        assert metrics(score(HERMES_CUP, [CUP], format=fmt)) == (0, 0, 0)
    with pytest.raises(ValueError, match="'rotbench'"):
        score(CUP_STEP, [CUP], format="yaml")
    with pytest.raises(ValueError, match="unknown reward_kwargs"):  # the other kwargs are still checked
        score(CUP_STEP, [CUP], format=DEFAULT_FORMAT, colour=1)
    assert score(call(CUP, to_unit="kg"), [CUP], format=DEFAULT_FORMAT, content=-0.3)["score"] == -0.3
    with pytest.raises(ValueError, match="gold answers only"):
        score(CUP_STEP, [CUP], format=DEFAULT_FORMAT, mode="feedback")
    assert judging({"format": DEFAULT_FORMAT}) == judging({"format": None}) == judging() == EVALUATE_PY
    assert judging({"format": "react", "content": -0.3}) == "lenient (format=react)"
    with pytest.raises(ValueError):
        judging({"format": "yaml"})


def test_rotbench_result_judges_as_its_parse_result_was_read():
    gt_answers = [TRANSLATE, TRANSLATE_DE]
    params = tool_parameters(TOOLS)
    exact = rotbench_result(parse_rotbench(call(TRANSLATE_DE)), gt_answers, params, "fnish", "ask_to_user")
    lenient = rotbench_result(parse_tool_calls(call(TRANSLATE_DE), "react"), gt_answers, params, "fnish", "ask_to_user")
    assert metrics(exact) == (1, 1, 0) and metrics(lenient) == (1, 1, 1)
    forced = rotbench_result(
        parse_tool_calls(call(TRANSLATE_DE), "react"), gt_answers, params, "fnish", "ask_to_user", evaluate_py=True
    )
    assert metrics(forced) == (1, 1, 0)


# --------------------------------------------------------------------------- against RoTBench's evaluate.py

DIFF_TOOLS = [  # a "union"-style list: a literal finish tool sits inside, the renamed one last
    {
        "name": "convert_units",
        "parameters": {
            "type": "object",
            "properties": {"quantity": {}, "from_unit": {}, "to_unit": {}, "precision": {}},
        },
    },
    {"name": "get_density", "parameters": {"type": "object", "properties": {"ingredient": {}}}},
    {
        "name": "translate_text",
        "parameters": {"type": "object", "properties": {"text": {}, "target_lang": {}, "source_lang": {}}},
    },
    {"name": "get_random_joke", "parameters": {"type": "object", "properties": {}}},
    {"name": "finish", "parameters": {"type": "object", "properties": {"text": {}}}},
    {"name": "ask_to_user", "parameters": {"type": "object", "properties": {"question": {}}}},
    {"name": "fnish", "parameters": {"type": "object", "properties": {"answer": {}}}},
]
DIFF_ANSWERS = [
    TRANSLATE,
    TRANSLATE_DE,
    {"name": "fnish", "arguments": {"answer": "About 120 g."}},
    {"name": "finish", "arguments": {"text": "120 g"}},
    CUP,
    {"name": "get_random_joke", "arguments": {}},
]
# (response, (TS, PI, CF)). The expectations were taken from RoTBench's Code/Evaluation/evaluate.py
# (ts_eval, pi_eval, cf_eval with version 0), run on exactly these inputs: DIFF_TOOLS as the
# prompt's tool list and DIFF_ANSWERS written as "Thought: ok\nAction: NAME\nAction Input: JSON".
DIFF_CASES = [
    (CUP_STEP, (1, 1, 1)),
    ("Action: convert_units\nAction Input: " + CUP_JSON + "\n", (1, 1, 1)),
    ("Action: convert_units\nAction Input:   " + CUP_JSON + " \n\n", (1, 1, 1)),
    ("Action: convert_units\nAction Input:\n" + CUP_JSON, (1, 1, 1)),
    ("Action: convert_units\nAction Input: " + CUP_JSON + "\nObservation: 120 g", (0, 0, 0)),
    ("Action: convert_units \nAction Input: " + CUP_JSON, (0, 0, 0)),
    ("Action:convert_units\nAction Input: " + CUP_JSON, (0, 0, 0)),
    ("Action: convert_units\nAction Input:" + CUP_JSON, (0, 0, 0)),
    ("Action: convert_units\r\nAction Input: " + CUP_JSON, (0, 0, 0)),
    ("Thought: not Action: get_density, a conversion\nAction: convert_units\nAction Input: " + CUP_JSON, (0, 0, 0)),
    ("<think>\nAction: get_density\n</think>\nAction: convert_units\nAction Input: " + CUP_JSON, (0, 0, 0)),
    ("<think>\nGrams it is.\n</think>\nAction: convert_units\nAction Input: " + CUP_JSON, (1, 1, 1)),
    (HERMES_CUP, (0, 0, 0)),
    ("Action: convert_units\nThought: hmm\nAction Input: " + CUP_JSON, (0, 0, 0)),
    (
        "Action: convert_units\nAction Input: " + CUP_JSON + "\nAction: convert_units\nAction Input: " + CUP_JSON,
        (0, 0, 0),
    ),
    ('Action: convert_units\nAction Input: {"quantity": 1, "from_unit": "cup", "to_unit": "gram"}', (1, 1, 0)),
    (
        'Action: convert_units\nAction Input: {"quantity": "2", "from_unit": "cup", "to_unit": "gram", "quantity": "1"}',
        (1, 1, 1),
    ),
    ('Action: convert_units\nAction Input: {"quantity": NaN, "from_unit": "cup", "to_unit": "gram"}', (1, 1, 0)),
    ("Action: get_random_joke\nAction Input: {}", (0, 0, 0)),
    ('Action: convert_units\nAction Input: "1 cup in grams"', (0, 0, 0)),
    ("Action: convert_units\nAction Input: null", (0, 0, 0)),
    ("Action: get_weight\nAction Input: [1]", (0, 0, 0)),
    (
        'Action: translate_text\nAction Input: {"text": "Good night", "target_lang": "fr", "source_lang": "xx"}',
        (1, 1, 1),
    ),
    (
        'Action: translate_text\nAction Input: {"text": "Good night", "target_lang": "de", "source_lang": "en"}',
        (1, 1, 0),
    ),
    ('Action: translate_text\nAction Input: {"text": "Good night", "target_lang": "fr"}', (1, 0, 0)),
    ('Action: finish\nAction Input: {"answer": "Roughly 120 grams."}', (1, 1, 1)),
    ('Action: fnish\nAction Input: {"answer": "Roughly 120 grams."}', (1, 1, 1)),
    ('Action: finish\nAction Input: {"text": "120 grams"}', (1, 0, 0)),
    ('xxxxxxxxxxxxx{"quantity": "1"}', (0, 0, 0)),
]


@pytest.mark.parametrize("response,expected", DIFF_CASES)
def test_default_verdicts_equal_evaluate_py(response, expected):
    r = score(response, DIFF_ANSWERS, tools=DIFF_TOOLS)
    assert metrics(r) == expected
    assert (r["correct"] == 1) == (expected == (1, 1, 1))


# --------------------------------------------------------------------------- properties

_NAMES = ("convert_units", "translate_text", "get_density", "finish", "fnish", "unknown")


@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.text(),
        st.lists(
            st.one_of(st.sampled_from(_FRAGMENTS + ["Action:", "Action Input:", "{}", "\r"]), st.text(max_size=6)),
            max_size=40,
        ).map("".join),
    ),
    st.sampled_from([None, DEFAULT_FORMAT, "auto", "react", "hermes", "json", "python"]),
)
def test_random_text_never_raises_in_any_format(text, fmt):
    kwargs = {} if fmt is None else {"format": fmt}
    r = compute_score("rotbench", text, _GT, _EXTRA, **kwargs)
    assert tuple(r) == RESULT_KEYS and r["ts"] >= r["pi"] >= r["cf"]
    parsed = parse_rotbench(text)
    assert parsed.status in ("ok", "no_call", "malformed") and len(parsed.calls) == (parsed.status == "ok")


@settings(max_examples=examples(200), deadline=None)
@given(
    st.text(alphabet="abc xyz.,", max_size=20),
    st.sampled_from(_NAMES),
    st.dictionaries(
        st.sampled_from(["quantity", "from_unit", "to_unit", "text", "target_lang", "source_lang", "answer"]),
        st.one_of(st.sampled_from(["1", "cup", "gram", "Good night", "fr", "None", "x"]), st.integers()),
        min_size=1,
    ),
)
def test_a_plain_react_step_is_judged_alike_by_both_readings(thought, name, args):
    response = f"Thought: {thought}\nAction: {name}\nAction Input: {json.dumps(args)}"
    exact = compute_score("rotbench", response, _GT, _EXTRA)
    lenient = compute_score("rotbench", response, _GT, _EXTRA, format="react")
    assert exact == lenient
