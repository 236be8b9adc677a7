"""The IRM reward through its verl entry point ``reward_fns.tl_tool.compute_score``.

The table it implements: docs/design.md#reward-table.
"""

from __future__ import annotations

import json
import keyword

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reward_fns.tl_tool import compute_score
from tests.helpers import examples

# --------------------------------------------------------------------------- fixtures

# The same candidate tools, once as OpenAI function schemas and once as BFCL writes them.
OPENAI_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather forecast for a city.",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string", "description": "City name"},
                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                    "days": {"type": "integer", "description": "Days ahead"},
                    "lang": {"type": "string"},
                },
                "required": ["city"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "search_hotels",
            "description": "Find hotels.",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string"},
                    "max_price": {"type": "number"},
                    "amenities": {"type": "array", "items": {"type": "string"}},
                    "filters": {
                        "type": "object",
                        "properties": {"stars": {"type": "integer"}, "pets": {"type": "boolean"}},
                    },
                    "pet_friendly": {"type": "boolean"},
                },
                "required": ["city"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "math.factorial",
            "description": "n!",
            "parameters": {"type": "object", "properties": {"number": {"type": "integer"}}, "required": ["number"]},
        },
    },
]


def _bfcl(tool):
    fn = json.loads(json.dumps(tool["function"]))
    params = fn["parameters"]
    params["type"] = "dict"
    for schema in params["properties"].values():
        schema["type"] = {"object": "dict", "number": "float", "array": "tuple"}.get(schema["type"], schema["type"])
    return fn


BFCL_TOOLS = [_bfcl(t) for t in OPENAI_TOOLS]
TOOL_STYLES = {"openai": json.dumps(OPENAI_TOOLS), "bfcl": json.dumps(BFCL_TOOLS)}
TOOLS = TOOL_STYLES["openai"]

WEATHER_GOLD = {
    "name": "get_weather",
    "arguments": {"city": ["Paris", "Paris, France"], "unit": ["", "celsius"], "days": [3]},
}

RESULT_KEYS_ALL = {
    "score", "ts", "pi", "cf", "malformed", "no_call", "tool_hallucination", "wrong_tool",
    "param_hallucination", "param_redundant", "param_missing", "content", "correct",
    "n_pred_calls", "n_gold_calls",
}  # fmt: skip
CATEGORY_KEYS = RESULT_KEYS_ALL - {"score", "ts", "pi", "cf", "n_pred_calls", "n_gold_calls"}


def hermes(*calls):
    return "\n".join(f"<tool_call>\n{json.dumps({'name': n, 'arguments': a})}\n</tool_call>" for n, a in calls)


def score(response, gold=(WEATHER_GOLD,), tools=TOOLS, **kwargs):
    extra = {"tools": tools} if tools is not None else None
    return compute_score("test", response, json.dumps(list(gold)), extra, **kwargs)


def flagged(result):
    """The category keys that are on."""
    return {k for k in CATEGORY_KEYS | {"missing_call", "extra_call"} if result.get(k)}


def cascade(result):
    return result["ts"], result["pi"], result["cf"]


# --------------------------------------------------------------------------- the reward table

# (response calls, score, categories on, (ts, pi, cf))
TABLE = {
    "correct": ([("get_weather", {"city": "paris", "days": 3})], 1.0, {"correct"}, (1, 1, 1)),
    "correct_optional_given": (
        [("get_weather", {"city": "Paris, France", "days": 3, "unit": "Celsius"})],
        1.0,
        {"correct"},
        (1, 1, 1),
    ),
    "content_city": ([("get_weather", {"city": "London", "days": 3})], -0.25, {"content"}, (1, 1, 0)),
    "content_days": ([("get_weather", {"city": "Paris", "days": 4})], -0.25, {"content"}, (1, 1, 0)),
    "content_optional": (
        [("get_weather", {"city": "Paris", "days": 3, "unit": "fahrenheit"})],
        -0.25,
        {"content"},
        (1, 1, 0),
    ),
    "hallucinated": (
        [("get_weather", {"city": "Paris", "days": 3, "country": "FR"})],
        -0.8,
        {"param_hallucination"},
        (1, 0, 0),
    ),
    "hallucinated_twice": (
        [("get_weather", {"city": "Paris", "days": 3, "country": "FR", "zip": 75000})],
        -0.8,
        {"param_hallucination"},
        (1, 0, 0),
    ),
    "redundant": ([("get_weather", {"city": "Paris", "days": 3, "lang": "en"})], -0.5, {"param_redundant"}, (1, 0, 0)),
    "missing_required_by_gold": ([("get_weather", {"city": "Paris"})], -0.5, {"param_missing"}, (1, 0, 0)),
    "missing_required_by_schema": ([("get_weather", {"days": 3})], -0.5, {"param_missing"}, (1, 0, 0)),
    "hallucinated_redundant": (
        [("get_weather", {"city": "Paris", "days": 3, "lang": "en", "country": "FR"})],
        -1.3,
        {"param_hallucination", "param_redundant"},
        (1, 0, 0),
    ),
    "hallucinated_missing": (
        [("get_weather", {"city": "Paris", "country": "FR"})],
        -1.3,
        {"param_hallucination", "param_missing"},
        (1, 0, 0),
    ),
    "redundant_missing": (
        [("get_weather", {"city": "Paris", "lang": "en"})],
        -1.0,
        {"param_redundant", "param_missing"},
        (1, 0, 0),
    ),
    "all_three": (
        [("get_weather", {"lang": "en", "country": "FR"})],
        -1.8,
        {"param_hallucination", "param_redundant", "param_missing"},
        (1, 0, 0),
    ),
    # parameter issues come before content: a wrong city next to a redundant lang is only redundant
    "param_issue_hides_content": (
        [("get_weather", {"city": "Rome", "days": 3, "lang": "en"})],
        -0.5,
        {"param_redundant"},
        (1, 0, 0),
    ),
    "wrong_tool": ([("search_hotels", {"city": "Paris"})], -1.5, {"wrong_tool"}, (0, 0, 0)),
    "wrong_tool_dotted": ([("math.factorial", {"number": 3})], -1.5, {"wrong_tool"}, (0, 0, 0)),
    "tool_hallucination": ([("get_forecast", {"city": "Paris", "days": 3})], -2.0, {"tool_hallucination"}, (0, 0, 0)),
    "tool_hallucination_near_name": (
        [("get_weather ", {"city": "Paris", "days": 3})],
        -2.0,
        {"tool_hallucination"},
        (0, 0, 0),
    ),
}


@pytest.mark.parametrize("style", TOOL_STYLES)
@pytest.mark.parametrize("case", TABLE)
def test_reward_table(case, style):
    calls, expected, categories, ts_pi_cf = TABLE[case]
    result = score(hermes(*calls), tools=TOOL_STYLES[style])
    assert result["score"] == pytest.approx(expected)
    assert flagged(result) == categories
    assert cascade(result) == ts_pi_cf
    assert (result["n_pred_calls"], result["n_gold_calls"]) == (1, 1)


@pytest.mark.parametrize("style", TOOL_STYLES)
def test_malformed_is_minus_two(style):
    for response in (
        '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}',
        '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris", "days": 3}}</tool_call><tool_call>{',
        "get_weather(city='Paris', 3)",
        "Action: get_weather\nThought: done",
        '{"name": "get_weather", "arguments": {"city": "Paris",}}',
    ):
        result = score(response, tools=TOOL_STYLES[style])
        assert result["score"] == -2.0
        assert flagged(result) == {"malformed"}
        assert cascade(result) == (0, 0, 0)
        assert result["n_pred_calls"] == 0 and result["n_gold_calls"] == 1


def test_malformed_beats_gold_empty():
    assert score("<tool_call>{", gold=[])["score"] == -2.0


def test_same_answer_in_every_format_scores_the_same():
    responses = [
        hermes(("get_weather", {"city": "Paris", "days": 3})),
        '{"name": "get_weather", "arguments": {"city": "Paris", "days": 3}}',
        '```json\n[{"name": "get_weather", "parameters": {"city": "Paris", "days": 3}}]\n```',
        "[get_weather(city='Paris', days=3)]",
        'Action: get_weather\nAction Input: {"city": "Paris", "days": 3}',
    ]
    for response in responses:
        assert score(response)["score"] == 1.0, response
        assert score(response.replace("Paris", "Rome"))["score"] == -0.25, response


# --------------------------------------------------------------------------- optional / required


def test_empty_string_in_gold_list_makes_parameter_optional():
    gold = [{"name": "get_weather", "arguments": {"city": ["Paris"], "days": ["", 3]}}]
    assert score(hermes(("get_weather", {"city": "Paris"})), gold)["score"] == 1.0
    assert score(hermes(("get_weather", {"city": "Paris", "days": 3})), gold)["score"] == 1.0
    assert score(hermes(("get_weather", {"city": "Paris", "days": 5})), gold)["score"] == -0.25


def test_schema_optional_parameter_is_required_when_gold_list_lacks_empty_string():
    gold = [{"name": "get_weather", "arguments": {"city": ["Paris"], "lang": ["fr"]}}]
    result = score(hermes(("get_weather", {"city": "Paris"})), gold)
    assert result["score"] == -0.5 and result["param_missing"] == 1


def test_schema_required_parameter_stays_required_even_if_gold_allows_omitting_it():
    """As in BFCL's checker, the schema's ``required`` list is checked as well as the gold lists."""
    gold = [{"name": "get_weather", "arguments": {"city": ["", "Paris"], "days": [3]}}]
    result = score(hermes(("get_weather", {"days": 3})), gold)
    assert result["score"] == -0.5 and result["param_missing"] == 1
    assert score(hermes(PARIS), gold)["score"] == 1.0


def test_gold_parameter_outside_the_schema_is_allowed_only_when_optional():
    gold = [{"name": "get_weather", "arguments": {"city": ["Paris"], "days": [3], "country": ["", "FR"]}}]
    assert score(hermes(PARIS), gold)["score"] == 1.0
    # giving it is still a hallucinated parameter: the schema is the authority on names
    assert score(hermes(("get_weather", {"city": "Paris", "days": 3, "country": "FR"})), gold)["score"] == -0.8


def test_gold_list_of_only_empty_string_means_leave_it_out():
    """Decision: giving a value for a parameter whose gold list is [""] is redundant (-0.5)."""
    gold = [{"name": "get_weather", "arguments": {"city": ["Paris"], "lang": [""]}}]
    assert score(hermes(("get_weather", {"city": "Paris"})), gold)["score"] == 1.0
    result = score(hermes(("get_weather", {"city": "Paris", "lang": "en"})), gold)
    assert result["score"] == -0.5 and result["param_redundant"] == 1


# --------------------------------------------------------------------------- no call / gold empty


def test_gold_empty_and_no_call_is_correct():
    for response in ("The capital of France is Paris.", "", "[1, 2, 3]"):
        result = score(response, gold=[])
        assert result["score"] == 1.0
        assert flagged(result) == {"correct"} and cascade(result) == (1, 1, 1)
        assert (result["n_pred_calls"], result["n_gold_calls"]) == (0, 0)


@pytest.mark.parametrize(
    "calls, hallucinated",
    [
        ([("get_weather", {"city": "Paris"})], False),
        ([("get_weather", {"city": "Paris"}), ("search_hotels", {"city": "Paris"})], False),
        ([("made_up", {})], True),
    ],
)
def test_gold_empty_and_any_call_is_minus_one_and_a_half(calls, hallucinated):
    result = score(hermes(*calls), gold=[])
    assert result["score"] == -1.5
    assert result["correct"] == 0 and cascade(result) == (0, 0, 0)
    assert result["extra_call"] == 1
    assert result["tool_hallucination"] == int(hallucinated)
    assert result["n_pred_calls"] == len(calls)


def test_gold_non_empty_and_no_call_is_minus_two():
    result = score("I think it will be sunny in Paris.")
    assert result["score"] == -2.0
    assert flagged(result) == {"no_call"} and result["malformed"] == 0
    assert cascade(result) == (0, 0, 0)


# --------------------------------------------------------------------------- several calls

PARIS = ("get_weather", {"city": "Paris", "days": 3})
ROME = ("get_weather", {"city": "Rome", "days": 3})
HOTEL = ("search_hotels", {"city": "Paris"})
MULTI_GOLD = [
    {"name": "get_weather", "arguments": {"city": ["Paris"], "days": [3]}},
    {"name": "get_weather", "arguments": {"city": ["Rome"], "days": [3]}},
    {"name": "search_hotels", "arguments": {"city": ["Paris"]}},
]


@pytest.mark.parametrize("order", [(PARIS, ROME, HOTEL), (HOTEL, ROME, PARIS), (ROME, HOTEL, PARIS)])
def test_parallel_calls_in_any_order_are_correct(order):
    result = score(hermes(*order), MULTI_GOLD)
    assert result["score"] == 1.0 and flagged(result) == {"correct"} and cascade(result) == (1, 1, 1)
    assert (result["n_pred_calls"], result["n_gold_calls"]) == (3, 3)
    python = "[" + ", ".join(f"{n}({', '.join(f'{k}={v!r}' for k, v in a.items())})" for n, a in order) + "]"
    assert score(python, MULTI_GOLD)["score"] == 1.0


def test_one_gold_call_missing():
    result = score(hermes(HOTEL, PARIS), MULTI_GOLD)
    assert result["score"] == pytest.approx((1 + 1 - 1.5) / 3)
    assert result["missing_call"] == 1 and result["correct"] == 0
    assert cascade(result) == (0, 0, 0)


def test_one_extra_call():
    extra = score(hermes(PARIS, ROME, HOTEL, ("get_weather", {"city": "Oslo", "days": 3})), MULTI_GOLD)
    assert extra["score"] == pytest.approx((3 - 1.5) / 4)
    assert extra["extra_call"] == 1 and extra["tool_hallucination"] == 0 and extra["correct"] == 0
    hallucinated = score(hermes(PARIS, ROME, HOTEL, ("book_flight", {"to": "Oslo"})), MULTI_GOLD)
    assert hallucinated["score"] == pytest.approx((3 - 2) / 4)
    assert hallucinated["tool_hallucination"] == 1 and hallucinated["extra_call"] == 1


def test_duplicate_calls():
    single = score(hermes(PARIS, PARIS), [MULTI_GOLD[0]])
    assert single["score"] == pytest.approx((1 - 1.5) / 2)
    assert single["correct"] == 0 and single["extra_call"] == 1 and single["ts"] == 0
    # Paris twice for (Paris, Rome): one pair is right, the other a content error
    double = score(hermes(PARIS, PARIS), MULTI_GOLD[:2])
    assert double["score"] == pytest.approx((1 - 0.25) / 2)
    assert flagged(double) == {"content"} and cascade(double) == (1, 1, 0)


def test_mixed_pair_categories_are_all_reported_and_averaged():
    result = score(
        hermes(("get_weather", {"city": "Paris", "days": 3, "lang": "en"}), ("search_hotels", {"city": "Lyon"}), ROME),
        MULTI_GOLD,
    )
    assert result["score"] == pytest.approx((-0.5 - 0.25 + 1) / 3)
    assert flagged(result) == {"param_redundant", "content"}
    assert cascade(result) == (1, 0, 0)


def test_optimal_matching_where_greedy_gold_order_fails():
    """BFCL matches each gold call, in gold order, to the first prediction it accepts; here that
    pairs gold A with the fahrenheit call and leaves gold B with a call lacking ``unit``. The
    optimal matching (A <- no-unit call, B <- fahrenheit call) is perfect, so we score +1 where
    BFCL's greedy checker would say wrong. This is the documented disagreement with BFCL."""
    gold_a = {"name": "get_weather", "arguments": {"city": ["Paris"], "unit": ["", "celsius", "fahrenheit"]}}
    gold_b = {"name": "get_weather", "arguments": {"city": ["Paris"], "unit": ["fahrenheit"]}}
    pred_f = ("get_weather", {"city": "Paris", "unit": "fahrenheit"})
    pred_none = ("get_weather", {"city": "Paris"})
    # the greedy pairing: A accepts the first prediction, B does not accept the second
    assert score(hermes(pred_f), [gold_a])["score"] == 1.0
    assert score(hermes(pred_none), [gold_b])["score"] < 1.0
    result = score(hermes(pred_f, pred_none), [gold_a, gold_b])
    assert result["score"] == 1.0 and result["correct"] == 1 and cascade(result) == (1, 1, 1)


def test_matching_maximises_total_reward_not_first_fit():
    gold = MULTI_GOLD[:2]
    # Rome-with-lang (redundant vs Rome, content+redundant vs Paris) and Paris right
    result = score(hermes(("get_weather", {"city": "Rome", "days": 3, "lang": "it"}), PARIS), gold)
    assert result["score"] == pytest.approx((-0.5 + 1) / 2)


def test_matching_maximises_the_whole_score_including_unmatched_calls():
    """Decision: with more predictions than gold calls, the matching maximises the sum over *all*
    slots, unmatched predictions included. Here pairing the two search_hotels calls (-1.8) and
    leaving the made-up call extra (-2) totals -3.8; pairing the made-up call (-2) and leaving the
    search_hotels call extra (-1.5) totals -3.5, so the score is -1.75, not -1.9. Maximising
    only the matched pairs would also make the score depend on how the solver breaks ties."""
    gold = [{"name": "search_hotels", "arguments": {"city": ["Paris"]}}]
    bad = ("search_hotels", {"unit": "celsius", "max_price": 5})
    assert score(hermes(bad), gold)["score"] == pytest.approx(-1.8)
    result = score(hermes(bad, ("made_up", {})), gold)
    assert result["score"] == pytest.approx((-2 - 1.5) / 2)
    assert result["tool_hallucination"] == 1 and result["extra_call"] == 1


def test_pi_checks_parameter_names_under_some_name_respecting_matching():
    # Names right as a multiset, parameter names right, one value wrong: TS and PI, not CF.
    result = score(hermes(("get_weather", {"city": "Oslo", "days": 3}), HOTEL, ROME), MULTI_GOLD)
    assert cascade(result) == (1, 1, 0)
    # Names right, one call with a hallucinated parameter: TS only.
    result = score(hermes(PARIS, ROME, ("search_hotels", {"city": "Paris", "stars": 4})), MULTI_GOLD)
    assert cascade(result) == (1, 0, 0)
    # A wrong name: nothing.
    result = score(hermes(PARIS, ROME, ("math.factorial", {"number": 3})), MULTI_GOLD)
    assert cascade(result) == (0, 0, 0)


# --------------------------------------------------------------------------- BFCL value rules

HOTEL_SCHEMA_STYLES = list(TOOL_STYLES)


def hotel(gold_args, pred_args, style="openai"):
    gold = [{"name": "search_hotels", "arguments": {"city": ["Paris"], **gold_args}}]
    return score(hermes(("search_hotels", {"city": "Paris", **pred_args})), gold, tools=TOOL_STYLES[style])["score"]


@pytest.mark.parametrize("style", HOTEL_SCHEMA_STYLES)
@pytest.mark.parametrize(
    "gold_args, pred_args, expected",
    [
        # strings: spaces and ,./-_*^ dropped, case folded, ' -> "
        ({}, {"city": "PARIS"}, 1.0),
        ({}, {"city": " P.a-r_i*s^ "}, 1.0),
        ({}, {"city": "Pariss"}, -0.25),
        ({"amenities": [["it's free"]]}, {"amenities": ['it"s free']}, 1.0),
        # int accepted where a float is expected, float not where an int is
        ({"max_price": [100.0]}, {"max_price": 100}, 1.0),
        ({"max_price": [100.0]}, {"max_price": 100.0}, 1.0),
        ({"max_price": [100.5]}, {"max_price": 100}, -0.25),
        ({"max_price": [100.0]}, {"max_price": "100"}, -0.25),
        ({"max_price": [100.0]}, {"max_price": 10**400}, -0.25),  # too big for a float: no crash
        # bool is not int, int is not bool
        ({"max_price": [1.0]}, {"max_price": True}, -0.25),
        ({"pet_friendly": [True]}, {"pet_friendly": True}, 1.0),
        ({"pet_friendly": [True]}, {"pet_friendly": 1}, -0.25),
        ({"pet_friendly": [False]}, {"pet_friendly": 0}, -0.25),
        # lists: order matters, string elements standardised
        ({"amenities": [["wifi", "pool"]]}, {"amenities": ["wifi", "pool"]}, 1.0),
        ({"amenities": [["wifi", "pool"]]}, {"amenities": ["pool", "wifi"]}, -0.25),
        ({"amenities": [["free wifi", "pool"]]}, {"amenities": ["Free-WiFi", "POOL"]}, 1.0),
        ({"amenities": [["wifi", "pool"]]}, {"amenities": ["wifi"]}, -0.25),
        ({"amenities": [["wifi"], ["pool", "wifi"]]}, {"amenities": ["pool", "wifi"]}, 1.0),
        ({"amenities": [["wifi"]]}, {"amenities": "wifi"}, -0.25),
        # dicts key by key; a key whose list holds "" may be left out
        ({"filters": [{"stars": [4], "pets": ["", True]}]}, {"filters": {"stars": 4}}, 1.0),
        ({"filters": [{"stars": [4], "pets": ["", True]}]}, {"filters": {"stars": 4, "pets": True}}, 1.0),
        ({"filters": [{"stars": [4], "pets": ["", True]}]}, {"filters": {"stars": 4, "pets": False}}, -0.25),
        ({"filters": [{"stars": [4], "pets": ["", True]}]}, {"filters": {"pets": True}}, -0.25),
        ({"filters": [{"stars": [4], "pets": ["", True]}]}, {"filters": {"stars": 4, "view": "sea"}}, -0.25),
        ({"filters": [{"stars": [4, 5]}]}, {"filters": {"stars": 5}}, 1.0),
        # optional
        ({"max_price": ["", 100.0]}, {}, 1.0),
        ({"max_price": [100.0]}, {}, -0.5),
    ],
)
def test_bfcl_value_rules(gold_args, pred_args, expected, style):
    assert hotel(gold_args, pred_args, style) == pytest.approx(expected)


def test_integer_parameter_rejects_float_and_bool():
    assert score(hermes(("get_weather", {"city": "Paris", "days": 3.0})))["score"] == -0.25
    assert score(hermes(("get_weather", {"city": "Paris", "days": True})))["score"] == -0.25
    assert score(hermes(("get_weather", {"city": "Paris", "days": "3"})))["score"] == -0.25


# --------------------------------------------------------------------------- result keys


def test_same_keys_for_every_input():
    gold_sets = [[WEATHER_GOLD], [], MULTI_GOLD]
    responses = [
        "",
        "hello",
        "<tool_call>{",
        "f(1)",
        hermes(PARIS),
        hermes(("nope", {})),
        hermes(HOTEL),
        hermes(PARIS, ROME, HOTEL),
        hermes(PARIS, PARIS, PARIS, PARIS),
        hermes(("get_weather", {"x": 1})),
        None,
    ]
    key_sets = {frozenset(score(r, g)) for r in responses for g in gold_sets}
    assert len(key_sets) == 1
    (keys,) = key_sets
    assert RESULT_KEYS_ALL <= keys
    for r in responses:
        for g in gold_sets:
            result = score(r, g)
            assert all(result[k] in (0, 1) for k in keys - {"score", "n_pred_calls", "n_gold_calls"})
            assert isinstance(result["score"], float)


def test_correct_only_when_the_whole_answer_is_right():
    # one pair right, one content error: `correct` stays 0 although a slot was right
    result = score(hermes(PARIS, ("get_weather", {"city": "Oslo", "days": 3})), MULTI_GOLD[:2])
    assert result["correct"] == 0 and result["content"] == 1
    assert score(hermes(PARIS, ROME), MULTI_GOLD[:2])["correct"] == 1


# --------------------------------------------------------------------------- reward_kwargs


def test_reward_kwargs_override_values():
    wrong = hermes(("search_hotels", {"city": "Paris"}))
    assert score(wrong, wrong_tool=-1.0)["score"] == -1.0
    assert score(hermes(("get_weather", {"city": "Rome", "days": 3})), content=-0.3)["score"] == -0.3
    assert score(hermes(PARIS), correct=2.0)["score"] == 2.0
    assert score(
        hermes(("get_weather", {"lang": "en", "x": 1})),
        param_hallucination=-1,
        param_redundant=-0.1,
        param_missing=-0.2,
    )["score"] == pytest.approx(-1.3)
    assert score("<tool_call>{", malformed=-3)["score"] == -3.0
    assert score("no call", no_call=-1)["score"] == -1.0
    assert score(hermes(PARIS), gold=[], unexpected_call=-0.7)["score"] == -0.7
    assert score(hermes(PARIS, ("get_weather", {"city": "Oslo", "days": 3})), gold=[MULTI_GOLD[0]], extra_call=-1.0)[
        "score"
    ] == pytest.approx(0.0)
    assert score(hermes(PARIS), gold=MULTI_GOLD[:2], missing_call=-1.0)["score"] == pytest.approx(0.0)
    # values given as strings (a Hydra override on the command line) are numbers too
    assert score(wrong, wrong_tool="-1.25")["score"] == -1.25


def test_reward_kwargs_format_restricts_the_parser():
    python = "[get_weather(city='Paris', days=3)]"
    assert score(python)["score"] == 1.0
    result = score(python, format="hermes")
    assert result["score"] == -2.0 and result["no_call"] == 1
    assert score(hermes(PARIS), format="python")["no_call"] == 1
    assert score(hermes(PARIS), format="hermes")["score"] == 1.0
    assert score(python, format="auto")["score"] == 1.0


def test_reward_kwargs_errors_name_the_key():
    with pytest.raises(ValueError, match="wrong_tol"):
        score(hermes(PARIS), wrong_tol=-1.0)
    with pytest.raises(ValueError, match="content"):
        score(hermes(PARIS), content="a lot")
    with pytest.raises(ValueError, match="xml"):
        score(hermes(PARIS), format="xml")


def test_verl_manager_kwargs_are_accepted():
    assert score(hermes(PARIS), reward_router_address=None, reward_model_tokenizer=None)["score"] == 1.0


# --------------------------------------------------------------------------- bad data vs bad output


@pytest.mark.parametrize(
    "ground_truth, tools, message",
    [
        ("[{'name': 'get_weather'}]", TOOLS, "ground_truth is not valid JSON"),
        (json.dumps(WEATHER_GOLD), TOOLS, "ground_truth must be a JSON list"),
        ('"get_weather"', TOOLS, "ground_truth must be a JSON list"),
        (
            json.dumps([{"name": "get_weather", "arguments": {"city": "Paris"}}]),
            TOOLS,
            r"arguments\.city must be a list",
        ),
        (
            json.dumps([{"name": "get_weather", "arguments": [["Paris"]]}]),
            TOOLS,
            r"ground_truth\[0\]\.arguments must be an object",
        ),
        (json.dumps([{"name": "", "arguments": {}}]), TOOLS, r"ground_truth\[0\]\.name"),
        (json.dumps([WEATHER_GOLD, 3]), TOOLS, r"ground_truth\[1\]"),
        (json.dumps([{"name": "book_flight", "arguments": {}}]), TOOLS, "'book_flight'.*not in extra_info.tools"),
        (
            json.dumps([{"name": "search_hotels", "arguments": {"city": ["Paris"], "filters": [{"stars": 4}]}}]),
            TOOLS,
            r"arguments\.filters.*lists of acceptable values",
        ),
        (json.dumps([WEATHER_GOLD]), "not json", "extra_info.tools is not valid JSON"),
        (json.dumps([WEATHER_GOLD]), json.dumps(OPENAI_TOOLS[0]), "extra_info.tools must be a JSON list"),
        (
            json.dumps([WEATHER_GOLD]),
            json.dumps([{"description": "no name", "parameters": {}}]),
            r"tools\[0\]\.name: .*name",
        ),
        (json.dumps([WEATHER_GOLD]), json.dumps([{"name": "f", "parameters": 5}]), r"tools\[0\]\[f\]\.parameters"),
        (
            json.dumps([WEATHER_GOLD]),
            json.dumps(
                [{"name": "get_weather", "parameters": {"type": "object", "properties": {}, "required": "city"}}]
            ),
            r"extra_info\.tools\[0\]\[get_weather\]\.parameters\.required",
        ),
    ],
)
def test_bad_ground_truth_or_tools_raise_value_error(ground_truth, tools, message):
    with pytest.raises(ValueError, match=message):
        compute_score("test", hermes(PARIS), ground_truth, {"tools": tools})


@pytest.mark.parametrize(
    "gold_args, response_args",
    [
        ({"city": [], "days": [3]}, {"city": "Paris", "days": 3}),  # empty acceptable list
        ({"city": [], "days": [3]}, {"days": 3}),
        ({"city": ["Paris"], "days": [3], "town": ["Paris"]}, {"city": "Paris", "days": 3, "town": "Paris"}),
        ({"city": ["Paris"], "days": [3], "town": ["Paris"]}, {"city": "Paris", "days": 3}),
    ],
)
def test_unsatisfiable_gold_is_scored_never_right_not_refused(gold_args, response_args):
    """BFCL ships such gold (live_simple_106-63-0: an empty list; live_multiple_862-181-3: a
    required parameter the schema lacks) and marks every answer wrong; so do we, without raising."""
    gold = [{"name": "get_weather", "arguments": gold_args}]
    result = score(hermes(("get_weather", response_args)), gold=gold)
    assert result["correct"] == 0 and result["score"] < 1
    assert any(result[c] for c in ("content", "param_missing", "param_redundant", "param_hallucination"))


def test_ground_truth_in_bfcl_possible_answer_form_is_accepted():
    gold = json.dumps([{"get_weather": {"city": ["Paris"], "days": [3]}}])
    assert compute_score("bfcl", hermes(PARIS), gold, {"tools": TOOLS})["score"] == 1.0


def test_decoded_lists_work_like_json_strings():
    result = compute_score("test", hermes(PARIS), [WEATHER_GOLD], {"tools": OPENAI_TOOLS})
    assert result["score"] == 1.0


@pytest.mark.parametrize(
    "response, expected, categories",
    [
        (None, -2.0, {"malformed"}),
        (b'<tool_call>{"name": "get_weather"}</tool_call>', -2.0, {"malformed"}),
        (12, -2.0, {"malformed"}),
        ("\x00\x01\x02", -2.0, {"no_call"}),
        ("<tool_call>" * 1000, -2.0, {"malformed"}),
        ("[" * 100_000, -2.0, {"malformed"}),
        # one call of two: (pair - 1.5) / 2
        (
            hermes(("get_weather", {"city": {"nested": [1, {"x": None}]}, "days": [3]})),
            (-0.25 - 1.5) / 2,
            {"content", "missing_call"},
        ),
        (
            hermes(("get_weather", {"city": None, "days": None, "unit": 1e308, "lang": float("nan")})),
            (-0.5 - 1.5) / 2,
            {"param_redundant", "missing_call"},
        ),
        (
            '{"name": "search_hotels", "arguments": {"city": "Paris", "max_price": ' + "9" * 400 + "}}",
            (-1.0 - 1.5) / 2,
            {"param_redundant", "param_missing", "missing_call"},
        ),
        (
            hermes(("search_hotels", {"city": "Paris", "filters": [1, 2], "amenities": {"a": 1}})),
            (-0.25 - 1.5) / 2,
            {"content", "missing_call"},
        ),
        (
            hermes(("search_hotels", {"city": "Paris", "filters": {"stars": [[[]]]}, "amenities": [None, {}]})),
            (-0.25 - 1.5) / 2,
            {"content", "missing_call"},
        ),
    ],
)
def test_bad_model_output_never_raises(response, expected, categories):
    gold = [
        WEATHER_GOLD,
        {
            "name": "search_hotels",
            "arguments": {"city": ["Paris"], "filters": [{"stars": [4]}], "amenities": [["wifi"]]},
        },
    ]
    result = score(response, gold)
    assert result["score"] == pytest.approx(expected)
    assert flagged(result) == categories


# --------------------------------------------------------------------------- tools missing


@pytest.mark.parametrize("extra_info", [None, {}, {"tools": None}, {"index": 3}])
def test_missing_tools_fall_back_to_gold_derived_tools(extra_info):
    """Without schemas the candidate tools are the gold calls' names and parameters: a parameter
    outside the gold call counts as hallucinated, any other tool name as a tool hallucination."""
    gt = json.dumps([WEATHER_GOLD])

    def run(response):
        return compute_score("test", response, gt, extra_info)

    assert run(hermes(PARIS))["score"] == 1.0
    assert run(hermes(("get_weather", {"city": "Rome", "days": 3})))["score"] == -0.25
    assert run(hermes(("get_weather", {"city": "Paris"})))["score"] == -0.5
    lang = run(hermes(("get_weather", {"city": "Paris", "days": 3, "lang": "en"})))
    assert lang["score"] == -0.8 and lang["param_hallucination"] == 1  # with schemas: redundant
    other = run(hermes(HOTEL))
    assert other["score"] == -2.0 and other["tool_hallucination"] == 1  # with schemas: wrong tool
    # value types come from the gold values: int for the int gold, not float or bool
    assert run(hermes(("get_weather", {"city": "Paris", "days": 3.0})))["score"] == -0.25
    assert run(hermes(("get_weather", {"city": "Paris", "days": True})))["score"] == -0.25


# --------------------------------------------------------------------------- properties

TOOL_NAMES = ["get_weather", "search_hotels", "math.factorial"]
PARAMS = ["city", "unit", "days", "lang", "max_price", "amenities", "filters", "pet_friendly", "number", "country"]
PROPERTY_GOLDS = [
    [WEATHER_GOLD],
    [],
    MULTI_GOLD,
    [
        {
            "name": "search_hotels",
            "arguments": {"city": ["Paris"], "max_price": ["", 100.0], "amenities": [["wifi", "pool"]]},
        },
        {"name": "search_hotels", "arguments": {"city": ["Paris"], "filters": [{"stars": [4], "pets": ["", True]}]}},
        {"name": "math.factorial", "arguments": {"number": [5]}},
    ],
]

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.integers(),
    st.sampled_from([3, 4, 5, 100, 100.0, 3.0, 10**400]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["Paris", "paris", "Rome", "celsius", "wifi", "pool", "", "en"]),
    st.text(max_size=8),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(["stars", "pets", "x"]), inner, max_size=3),
    ),
    max_leaves=5,
)


def _not_keyword(name):
    return not any(keyword.iskeyword(part) for part in name.split("."))


_names = st.one_of(
    st.sampled_from(TOOL_NAMES), st.from_regex(r"[a-z_]{1,10}(\.[a-z]{1,5})?", fullmatch=True).filter(_not_keyword)
)
_params = st.one_of(st.sampled_from(PARAMS), st.from_regex(r"[a-z]{1,6}", fullmatch=True).filter(_not_keyword))
_calls = st.lists(st.tuples(_names, st.dictionaries(_params, _values, max_size=4)), max_size=4)


def _render(calls, fmt):
    if fmt == "hermes":
        return hermes(*calls)
    if fmt == "json":
        return json.dumps([{"name": n, "arguments": a} for n, a in calls])
    return "[" + ", ".join(f"{n}({', '.join(f'{k}={v!r}' for k, v in a.items())})" for n, a in calls) + "]"


@st.composite
def responses(draw):
    kind = draw(st.sampled_from(["text", "hermes", "json", "python", "hermes", "python"]))
    if kind == "text":
        return draw(st.text(max_size=200))
    calls = draw(_calls)
    text = _render(calls, kind)
    if draw(st.booleans()) and len(text) > 2:  # sometimes damage it
        cut = draw(st.integers(1, len(text) - 1))
        text = text[:cut]
    return text


KEYS = frozenset(score("", [WEATHER_GOLD]))


@settings(max_examples=examples(500), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(response=responses(), gold=st.sampled_from(PROPERTY_GOLDS), style=st.sampled_from(list(TOOL_STYLES)))
def test_property_score_bounds_correctness_and_keys(response, gold, style):
    result = score(response, gold, tools=TOOL_STYLES[style])
    assert frozenset(result) == KEYS
    assert -2.0 <= result["score"] <= 1.0
    assert (result["correct"] == 1) == (result["score"] == 1.0)
    assert result["cf"] == result["correct"]
    assert result["ts"] >= result["pi"] >= result["cf"]
    assert sum(result[k] for k in ("malformed", "no_call")) <= 1
    if result["malformed"] or result["no_call"]:
        assert result["n_pred_calls"] == 0


@settings(max_examples=examples(200), deadline=None)
@given(calls=_calls.filter(bool), fmt=st.sampled_from(["hermes", "json", "python"]))
def test_property_format_does_not_change_the_score(calls, fmt):
    """A well-formed call list scores the same whichever format renders it."""
    reference = score(_render(calls, "hermes"), MULTI_GOLD)
    assert score(_render(calls, fmt), MULTI_GOLD) == reference


# --------------------------------------------------------------------------- reference model
#
# A direct, slow transcription of docs/design.md#reward-table (brute-force matching over every one-to-one
# assignment), checked against compute_score on generated answers. Value acceptance is taken from
# ``reward_fns.values`` (its BFCL agreement is tested elsewhere); everything else is re-derived here.

import itertools  # noqa: E402

from reward_fns.values import value_matches  # noqa: E402

_SCHEMAS = {t["function"]["name"]: t["function"]["parameters"] for t in OPENAI_TOOLS}


def _ref_pair(pred, gold):
    name, args = pred
    if name not in _SCHEMAS:
        return -2.0, False
    if name != gold["name"]:
        return -1.5, False
    props, required = _SCHEMAS[name]["properties"], _SCHEMAS[name]["required"]
    gargs = gold["arguments"]
    hallucinated = any(p not in props for p in args)
    redundant = any(
        p in props and (p not in gargs or (all(a == "" for a in gargs[p]) and not value_matches(v, gargs[p], props[p])))
        for p, v in args.items()
    )
    missing = any(p not in args and "" not in acc for p, acc in gargs.items()) or any(p not in args for p in required)
    if hallucinated or redundant or missing:
        return -0.8 * hallucinated - 0.5 * redundant - 0.5 * missing, False
    if any(not value_matches(v, gargs[p], props[p]) for p, v in args.items()):
        return -0.25, True
    return 1.0, True


def _reference(calls, gold):
    n_pred, n_gold = len(calls), len(gold)
    if n_gold == 0:
        return (1.0, 1, 1, 1) if n_pred == 0 else (-1.5, 0, 0, 0)
    if n_pred == 0:
        return (-2.0, 0, 0, 0)
    pair = [[_ref_pair(p, g) for g in gold] for p in calls]
    best = None
    k = min(n_pred, n_gold)
    for preds in itertools.permutations(range(n_pred), k):
        for golds in itertools.permutations(range(n_gold), k):
            total = sum(pair[i][j][0] for i, j in zip(preds, golds))
            total += sum(-2.0 if calls[i][0] not in _SCHEMAS else -1.5 for i in set(range(n_pred)) - set(preds))
            total += (n_gold - k) * -1.5
            best = total if best is None else max(best, total)
    slots = max(n_pred, n_gold)
    correct = n_pred == n_gold and best == slots * 1.0
    ts = sorted(c[0] for c in calls) == sorted(g["name"] for g in gold)
    pi = ts and any(
        all(calls[i][0] == gold[j]["name"] and pair[i][j][1] for i, j in enumerate(perm))
        for perm in itertools.permutations(range(n_gold))
    )
    return (1.0 if correct else best / slots, int(ts), int(pi), int(correct))


_close_names = st.sampled_from(TOOL_NAMES + ["get_weathers", "book_flight"])
_close_params = st.sampled_from(PARAMS)
_close_values = st.one_of(
    st.sampled_from(
        ["Paris", "paris", "Rome", "celsius", "fahrenheit", "", "en", "wifi", "pool", 3, 4, 5, 3.0, 100, 100.0, True]
    ),
    st.lists(st.sampled_from(["wifi", "pool", "Pool"]), max_size=3),
    st.dictionaries(st.sampled_from(["stars", "pets"]), st.sampled_from([4, 5, True, False]), max_size=2),
)
_close_calls = st.lists(st.tuples(_close_names, st.dictionaries(_close_params, _close_values, max_size=4)), max_size=4)


@settings(max_examples=examples(400), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(calls=_close_calls, gold=st.sampled_from(PROPERTY_GOLDS))
def test_property_agrees_with_reference_model(calls, gold):
    result = score(hermes(*calls) if calls else "no call", gold)
    expected = _reference(calls, gold)
    assert (result["score"], result["ts"], result["pi"], result["cf"]) == pytest.approx(expected)
    assert result["correct"] == result["cf"]
