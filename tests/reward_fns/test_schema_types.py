"""Type spellings in tool schemas (``reward_fns.schema_types``), read the same way by ``tl-prepare``
and the reward, so that every row ``tl-prepare`` writes scores without raising."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from data_transforms.gold import reference_answer
from data_transforms.render import hermes_text
from reward_fns.schema_types import canonical_schema, type_fragment
from reward_fns.tl_tool import compute_score
from tests.helpers import examples
from tl_plugin.cli.prepare import prepare, prepare_config


@pytest.mark.parametrize(
    "spelling, fragment",
    [
        ("string", {"type": "string"}),
        ("str", {"type": "string"}),
        ("String", {"type": "string"}),
        ("str, optional", {"type": "string"}),
        ("str (optional)", {"type": "string"}),
        ("Optional[str]", {"type": "string"}),
        ("typing.Optional[str]", {"type": "string"}),
        ("str | None", {"type": "string"}),
        ("Union[str, None]", {"type": "string"}),
        ("int", {"type": "integer"}),
        ("int, optional", {"type": "integer"}),
        ("long", {"type": "integer"}),
        ("float", {"type": "number"}),
        ("double", {"type": "number"}),
        ("Union[int, float]", {"type": "number"}),
        ("bool", {"type": "boolean"}),
        ("bool, optional", {"type": "boolean"}),
        ("dict", {"type": "object"}),
        ("Dict", {"type": "object"}),
        ("Dict[str, Any]", {"type": "object"}),
        ("Mapping[str, int]", {"type": "object"}),
        ("dict, optional", {"type": "object"}),
        ("list", {"type": "array"}),
        ("List", {"type": "array"}),
        ("tuple", {"type": "array"}),
        ("List[str]", {"type": "array", "items": {"type": "string"}}),
        ("list[int]", {"type": "array", "items": {"type": "integer"}}),
        ("List[List[int]]", {"type": "array", "items": {"type": "array", "items": {"type": "integer"}}}),
        ("List[Union[int, float]]", {"type": "array", "items": {"type": "number"}}),
        ("List[Dict[str, Any]]", {"type": "array", "items": {"type": "object"}}),
        ("Tuple[float, float]", {"type": "array", "items": {"type": "number"}}),
        ("Tuple[int, ...]", {"type": "array", "items": {"type": "integer"}}),
        ("Tuple[int, str]", {"type": "array"}),
        ("Set[str]", {"type": "array", "items": {"type": "string"}}),
        ("None", {"type": "null"}),
        ("any", {"type": "any"}),
        ("Any", {"type": "any"}),
        (["string", "null"], {"type": ["string", "null"]}),
        (["str", "None"], {"type": ["string", "null"]}),
    ],
)
def test_spellings_with_a_clear_meaning_are_mapped(spelling, fragment):
    assert type_fragment(spelling) == fragment


@pytest.mark.parametrize(
    "spelling, why",
    [
        ("Callable[[float], float]", "unknown type name"),
        ("DataFrame", "unknown type name"),
        ("Literal['a', 'b']", "unknown type name"),
        ("Union[str, int]", "a union of different types (integer, string)"),
        ("str or int", "a union of different types (integer, string)"),
        ("", "empty type name"),
        ("List[" * 12 + "int" + "]" * 12, "nested too deeply"),
        ({"type": "string"}, "a type must be a name or a list of names, got dict"),
        (3, "a type must be a name or a list of names, got int"),
    ],
)
def test_unclear_spellings_are_refused_with_a_reason(spelling, why):
    assert type_fragment(spelling) == why


def test_canonical_schema_walks_nested_schemas_and_leaves_values_alone():
    schema = {
        "type": "Dict",
        "properties": {
            "rows": {"type": "List", "items": {"type": "Dict", "properties": {"n": {"type": "int, optional"}}}},
            "mode": {"type": "str", "enum": ["a", "b"], "default": {"type": "Dict"}},
            "pick": {"anyOf": [{"type": "float"}, {"type": "Frobnicator"}]},
        },
    }
    out, problems = canonical_schema(schema, "parameters")
    assert out["type"] == "object"
    assert out["properties"]["rows"] == {
        "type": "array",
        "items": {"type": "object", "properties": {"n": {"type": "integer"}}},
    }
    assert out["properties"]["mode"] == {"type": "string", "enum": ["a", "b"], "default": {"type": "Dict"}}
    assert out["properties"]["pick"]["anyOf"] == [{"type": "number"}, {"type": "Frobnicator"}]
    assert [tuple(p) for p in problems] == [("parameters.properties.pick.anyOf[1]", "Frobnicator", "unknown type name")]
    assert schema["type"] == "Dict"  # the input is not changed


# ----------------------------------------------------------------------------- the reproduction


ISSUE_ROW = {
    "messages": [
        {"role": "user", "content": "Merge {a: 1}."},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"name": "merge_dictionaries", "arguments": {"dict1": {"a": 1}}}],
        },
    ],
    "tools": [
        {"name": "merge_dictionaries", "parameters": {"type": "object", "properties": {"dict1": {"type": "Dict"}}}}
    ],
}


def _prepare_rows(rows: list, out: Path, *overrides) -> tuple[dict, list]:
    src = out / "in.jsonl"
    src.parent.mkdir(parents=True, exist_ok=True)
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    summary = prepare(prepare_config(["source=openai", f"input={src}", f"out={out}", "kinds=[rl]", *overrides]))
    path = out / "rl" / "train.parquet"
    return summary, pq.read_table(path).to_pylist() if path.exists() else []


def _score(row, text):
    return compute_score(row["data_source"], text, row["reward_model"]["ground_truth"], row["extra_info"])


def test_dict_typed_parameter_from_tl_prepare_scores_plus_one(tmp_path):
    # Before the type table, "Dict" stayed unmapped: the gold was written as [{"a": 1}] and the
    # reward raised TypeError: 'int' object is not iterable on the right answer.
    _, (row,) = _prepare_rows([ISSUE_ROW], tmp_path)
    assert json.loads(row["reward_model"]["ground_truth"]) == [
        {"name": "merge_dictionaries", "arguments": {"dict1": [{"a": [1]}]}}
    ]
    right = '<tool_call>{"name": "merge_dictionaries", "arguments": {"dict1": {"a": 1}}}</tool_call>'
    assert _score(row, right)["score"] == 1.0
    assert _score(row, right.replace('"a": 1', '"a": 2'))["content"] == 1


def test_reward_reads_a_hand_written_dict_type_as_an_object():
    tools = json.dumps([{"name": "m", "parameters": {"type": "object", "properties": {"d": {"type": "Dict"}}}}])
    answer = '<tool_call>{"name": "m", "arguments": {"d": {"a": 1}}}</tool_call>'
    assert (
        compute_score("x", answer, '[{"name": "m", "arguments": {"d": [{"a": [1]}]}}]', {"tools": tools})["score"]
        == 1.0
    )
    # gold not in BFCL form where the reward reads that form: the data's fault, said in words
    with pytest.raises(ValueError, match=r"BFCL form .*'a': 1"):
        compute_score("x", answer, '[{"name": "m", "arguments": {"d": [{"a": 1}]}}]', {"tools": tools})


def test_unmapped_type_refuses_the_record_counted_and_named(tmp_path):
    row = json.loads(json.dumps(ISSUE_ROW))
    row["tools"][0]["parameters"]["properties"]["dict1"]["type"] = "DataFrame"
    summary, rows = _prepare_rows([row, ISSUE_ROW], tmp_path)
    assert len(rows) == 1
    assert summary["dropped"]["record"] == {"unmapped_parameter_type": 1}
    assert summary["dropped_rows"]["record:unmapped_parameter_type"] == [
        "in.jsonl:1: tool 'merge_dictionaries' parameters.properties.dict1: type 'DataFrame': unknown type name"
    ]


# ----------------------------------------------------------------------------- property


JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(10**6), 10**6)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=6)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(min_size=1, max_size=4), inner, max_size=3),
    max_leaves=8,
)
FLAT_DICTS = st.dictionaries(st.text(min_size=1, max_size=4), JSON_VALUES, max_size=3)

# (spellings, values a call gives): types as tool datasets write them, with fitting values and,
# through JSON_VALUES, values of the wrong type too (datasets hold those as well)
KINDS = [
    (["string", "str", "String", "str, optional", "Optional[str]", "str | None"], st.text(max_size=8)),
    (["integer", "int", "int, optional", "long"], st.integers(-1000, 1000)),
    (["number", "float", "double", "Union[int, float]", "float, optional"], st.floats(-1e6, 1e6, allow_nan=False)),
    (["boolean", "bool", "bool, optional"], st.booleans()),
    (["List[str]", "list[str]", "Sequence[str]", "Set[str]"], st.lists(st.text(max_size=5), max_size=3)),
    (
        ["List[int]", "Tuple[int, ...]", "List[Union[int, float]]", "List[List[int]]"],
        st.lists(st.integers(-9, 9), max_size=3),
    ),
    (["List[Dict]", "List[Dict[str, Any]]", "List[dict]", "array"], st.lists(FLAT_DICTS, max_size=3)),
    (["list", "List", "tuple"], st.lists(JSON_SCALARS, max_size=3)),
    (["dict", "Dict", "object", "Dict[str, Any]", "Mapping[str, int]", "Optional[Dict]", "dict, optional"], FLAT_DICTS),
    (["any", "Any", None], JSON_VALUES),
]


@st.composite
def parameters(draw):
    spellings, values = draw(st.sampled_from(KINDS))
    spelling = draw(st.sampled_from(spellings))
    schema = {} if spelling is None else {"type": spelling}
    if spelling == "array":
        schema["items"] = {"type": draw(st.sampled_from(["object", "dict", "Dict"]))}
    value = draw(values | JSON_VALUES) if draw(st.integers(0, 9)) == 0 else draw(values)
    return schema, value


@st.composite
def records(draw):
    tools, calls = [], []
    for t in range(draw(st.integers(1, 3))):
        params = draw(st.lists(parameters(), min_size=0, max_size=4))
        names = [f"p{i}" for i in range(len(params))]
        tools.append(
            {
                "name": f"tool_{t}",
                "parameters": {
                    "type": draw(st.sampled_from(["object", "dict", "Dict"])),
                    "properties": {n: s for n, (s, _) in zip(names, params)},
                    "required": draw(st.lists(st.sampled_from(names), unique=True)) if names else [],
                },
            }
        )
        given = {
            n: v for n, (_, v) in zip(names, params) if draw(st.booleans()) or n in tools[-1]["parameters"]["required"]
        }
        calls.append({"name": f"tool_{t}", "arguments": given})
    calls = draw(st.lists(st.sampled_from(calls), min_size=1, max_size=2))
    return {
        "messages": [{"role": "user", "content": "Do it."}, {"role": "assistant", "content": "", "tool_calls": calls}],
        "tools": tools,
    }


def _mutations(calls: list, rnd) -> list:
    """Wrong answers of every kind the reward must judge without raising."""
    out = []
    for i, call in enumerate(calls):
        for param, value in call["arguments"].items():
            for new in (None, 1, "x", [value], {"k": value}, {param: [value]}, [], {}, [[value]], 1.5, True):
                out.append(_with(calls, i, {**call["arguments"], param: new}))
            if isinstance(value, dict):
                out.append(_with(calls, i, {**call["arguments"], param: {k: [v] for k, v in value.items()}}))
                out.append(_with(calls, i, {**call["arguments"], param: {**value, "zz": rnd}}))
            if isinstance(value, list):
                out.append(_with(calls, i, {**call["arguments"], param: value[::-1] + [rnd]}))
            out.append(_with(calls, i, {k: v for k, v in call["arguments"].items() if k != param}))
        out.append(_with(calls, i, {**call["arguments"], "extra": rnd}))
        out.append([*calls[:i], {"name": call["name"] + "x", "arguments": call["arguments"]}, *calls[i + 1 :]])
    out.append(calls + calls[:1])
    out.append(calls[1:])
    return out


def _with(calls, i, arguments):
    return [*calls[:i], {"name": calls[i]["name"], "arguments": arguments}, *calls[i + 1 :]]


@pytest.mark.slow  # 60 runs of the real tl-prepare (about 10 s)
@settings(
    max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(st.lists(records(), min_size=1, max_size=4), JSON_VALUES)
def test_every_row_tl_prepare_writes_scores_its_gold_and_never_raises(recs, rnd):
    with tempfile.TemporaryDirectory() as tmp:
        summary, rows = _prepare_rows(recs, Path(tmp))
    # every record gives one RL row or a counted drop (no type here is refused)
    dropped = sum(summary["dropped"].get("rl", {}).values())
    assert len(rows) + dropped == len(recs)
    assert set(summary["dropped"].get("rl", {})) <= {"unsatisfiable_gold"}
    for row in rows:
        gold = json.loads(row["reward_model"]["ground_truth"])
        tools = [t["function"] for t in json.loads(row["extra_info"]["tools"])]
        answer = reference_answer(gold, tools)
        assert _score(row, hermes_text(answer))["score"] == 1.0, (gold, tools)
        for wrong in _mutations(answer, rnd):
            result = _score(row, hermes_text(wrong))
            assert isinstance(result["score"], float)
        assert isinstance(_score(row, json.dumps(answer))["score"], float)
