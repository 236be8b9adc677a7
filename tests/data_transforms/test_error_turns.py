"""Synthetic erroneous turns (data_transforms/error_turns.py) and their path through tl-prepare:
the error text is classified into the injected category, MAE masks exactly those turns,
`mae.mode=off` trains them, and the held-out split is never touched. Real parts: BFCL data from the
installed bfcl-eval wheel, tl-prepare's Hydra config, parquet written and read back with pyarrow."""

from __future__ import annotations

import random

import pyarrow.parquet as pq
import pytest

from data_transforms.error_turns import KINDS, error_kinds, with_error_turn
from data_transforms.records import Record
from data_transforms.tool_feedback import classify_feedback
from tl_plugin.cli.prepare import prepare, prepare_config

TOOLS = [
    {
        "name": "get_weather",
        "description": "Weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"type": "string"}},
            "required": ["city"],
        },
    },
    {"name": "get_weather_info", "description": "taken name", "parameters": {"type": "object", "properties": {}}},
]


def record(gold=None, tools=TOOLS):
    gold = (
        [{"name": "get_weather", "arguments": {"city": ["Paris", "paris"], "unit": ["", "C"]}}]
        if gold is None
        else gold
    )
    return Record(
        "r1", [{"role": "user", "content": "Weather in Paris?"}], tools, gold=gold, meta={"category": "live_simple"}
    )


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_is_classified_as_itself_and_the_gold_call_follows(kind):
    out = with_error_turn(record(), random.Random(1), kinds=(kind,))
    assert out.meta["injected_error"] == kind and out.gold is None
    user, wrong, tool, right = out.messages
    assert classify_feedback(tool["content"]) == kind
    # the reference answer: each parameter's first acceptable non-empty value
    assert right["tool_calls"] == [{"name": "get_weather", "arguments": {"city": "Paris", "unit": "C"}}]
    assert wrong["tool_calls"] != right["tool_calls"]
    call = wrong["tool_calls"][0]
    if kind == "tool_hallucination":
        # a near miss of the real name that the row does not offer (get_weather_info is taken)
        assert call["name"] not in {t["name"] for t in TOOLS} and "get_weather" in call["name"]
    elif kind == "param_hallucination":
        assert set(call["arguments"]) - {"city", "unit"} == {"verbose"}
    else:
        assert call["arguments"] == {"unit": "C"} and "'city'" in tool["content"]


def test_kinds_that_cannot_be_made_are_not_offered():
    no_required = [{**TOOLS[0], "parameters": {**TOOLS[0]["parameters"], "required": []}}]
    assert error_kinds(record(tools=no_required)) == ["tool_hallucination", "param_hallucination"]
    assert error_kinds(record(gold=[])) == []  # "no call" gold: no call to spoil
    assert with_error_turn(record(gold=[]), random.Random(0)) is None
    with pytest.raises(ValueError, match="unknown error kind 'typo'"):
        error_kinds(record(), kinds=("typo",))


def _prepare(tmp_path, *overrides):
    return prepare(
        prepare_config(
            [
                "source=bfcl",
                "categories=[live_simple]",
                f"out={tmp_path}",
                "kinds=[sft]",
                "split.test_fraction=0.3",
                *overrides,
            ]
        )
    )


def _trajectories(path):
    return {r["id"]: r for r in pq.read_table(path).to_pylist() if any(m["role"] == "tool" for m in r["messages"])}


def test_prepare_injects_counts_and_masks_only_training_records(tmp_path):
    summary = _prepare(tmp_path / "a", "errors.fraction=0.4", "errors.seed=3")
    injected = summary["injected"]
    assert sum(injected.values()) > 20 and set(injected) <= {*KINDS, "none (no kind fits the gold)"}
    # every injected error is masked by MAE, under the category it was made as
    assert {k: v for k, v in summary["masked"].items() if v} == {k: v for k, v in injected.items() if k in KINDS}
    train = _trajectories(tmp_path / "a" / "sft" / "train.parquet")
    assert len(train) == sum(v for k, v in injected.items() if k in KINDS)
    for row in train.values():
        assert [m["loss_mask"] for m in row["messages"] if m["role"] == "assistant"] == [0, 1]
    assert not _trajectories(tmp_path / "a" / "sft" / "test.parquet")  # evaluation data stay clean

    # the choice is per record: the same records are changed in the same way on a rerun
    again = _prepare(tmp_path / "b", "errors.fraction=0.4", "errors.seed=3")
    assert again["injected"] == injected
    assert _trajectories(tmp_path / "b" / "sft" / "train.parquet").keys() == train.keys()
    _prepare(tmp_path / "c", "errors.fraction=0.4", "errors.seed=4")
    assert _trajectories(tmp_path / "c" / "sft" / "train.parquet").keys() != train.keys()


def test_mae_off_trains_the_erroneous_turns(tmp_path):
    summary = _prepare(tmp_path, "errors.fraction=0.4", "errors.seed=3", "mae.mode=off")
    assert not any(summary["masked"].values())
    assert sum(summary["feedback"][k] for k in KINDS) == sum(v for k, v in summary["injected"].items() if k in KINDS)
    for row in _trajectories(tmp_path / "sft" / "train.parquet").values():
        assert [m["loss_mask"] for m in row["messages"] if m["role"] == "assistant"] == [1, 1]


@pytest.mark.parametrize(
    "override, message",
    [
        ("errors.fraction=1.5", r"errors.fraction must be in \[0, 1\], got 1.5"),
        ("errors.kinds=[tool_hallucination,typo]", "errors.kinds must be a non-empty subset"),
    ],
)
def test_bad_error_settings_are_refused(tmp_path, override, message):
    with pytest.raises(ValueError, match=message):
        _prepare(tmp_path, "errors.fraction=0.3", override)
