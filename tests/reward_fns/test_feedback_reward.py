"""Feedback mode of the tl_tool reward, as plain functions (reward_fns.feedback_reward, reward_fns.tl_tool)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reward_fns.categories import CALL_OK, FEEDBACK_CATEGORIES, OK, RENAMED
from reward_fns.feedback_reward import (
    CATEGORY_KEYS,
    FEEDBACK_KEYS,
    FeedbackWeights,
    hermes_blocks,
    model_text,
    score_feedback,
)
from reward_fns.tl_tool import MIXED_KEYS, RESULT_KEYS, compute_score
from tests.helpers import examples


def calls(*categories):
    return [{"name": "f", "arguments": "{}", "category": c} for c in categories]


def record(*categories, final_answer=True, unexecuted=0):
    return {"tl_feedback": {"calls": calls(*categories), "final_answer": final_answer, "unexecuted_calls": unexecuted}}


BLOCK = '<tool_call>\n{"name": "f", "arguments": {"x": 1}}\n</tool_call>'


# ----------------------------------------------------------------------------- score_feedback


@pytest.mark.parametrize(
    "category, value",
    [
        ("ok", 1.0),
        ("tool_hallucination", -2.0),
        ("param_hallucination", -0.8),
        ("param_missing", -0.5),
        ("tool_call_failure", -0.25),
        ("tool_instability", 0.0),
        ("other_error", -0.25),
    ],
)
def test_each_category_has_the_spec_value(category, value):
    assert score_feedback(calls(category))["score"] == pytest.approx(value)
    assert score_feedback(calls(category), final_answer=True)["score"] == pytest.approx(value + 0.5)


def test_score_is_the_mean_over_call_slots_plus_the_final_answer_term():
    r = score_feedback(calls("ok", "ok", "param_missing"), n_malformed=1, final_answer=True)
    assert r["score"] == pytest.approx((1 + 1 - 0.5 - 2) / 4 + 0.5)
    assert (r["de"], r["ce"], r["n_tool_calls"]) == (0.25, 0.25, 4)
    assert (r["malformed"], r["param_missing"], r["call_ok"], r["tool_hallucination"]) == (1, 1, 1, 0)
    # repeating a good call does not raise the score: a mean, not a sum
    assert score_feedback(calls(*["ok"] * 9))["score"] == score_feedback(calls("ok"))["score"] == 1.0


def test_no_calls_scores_only_the_final_answer():
    assert score_feedback([], final_answer=True)["score"] == 0.5
    assert score_feedback([], final_answer=False)["score"] == 0.0
    r = score_feedback([])
    assert (r["de"], r["ce"], r["va"], r["n_tool_calls"]) == (0.0, 0.0, 0, 0)


def test_instability_counts_as_a_call_error_but_costs_nothing():
    r = score_feedback(calls("tool_instability"))
    assert (r["score"], r["ce"], r["de"], r["tool_instability"]) == (0.0, 1.0, 0.0, 1)


def test_unknown_categories_count_as_other_errors():
    for bad in ({"category": "exploded"}, {"name": "f"}, "not a dict", None):
        r = score_feedback([bad])
        assert r["other_error"] == 1 and r["score"] == -0.25 and r["ce"] == 1.0


def test_old_category_spellings_score_like_their_new_names():
    # recorded before reward_fns.categories gave the classifier the reward's spelling
    for old, new in RENAMED.items():
        assert score_feedback(calls(old)) == score_feedback(calls(new))
        assert score_feedback(calls(new))[new] == 1


def test_every_feedback_category_has_a_value_and_a_result_key():
    for category in FEEDBACK_CATEGORIES:
        key, _group = CATEGORY_KEYS[category]
        assert key in FeedbackWeights.names() and key in FEEDBACK_KEYS
        assert key == (CALL_OK if category == OK else category)


def test_values_are_configurable():
    w = FeedbackWeights(call_ok=2.0, final_answer=1.0, malformed=-3.0)
    assert score_feedback(calls("ok"), n_malformed=1, final_answer=True, w=w)["score"] == pytest.approx((2 - 3) / 2 + 1)


def test_every_result_has_the_same_keys():
    for r in (score_feedback([]), score_feedback(calls("ok"), 3, True, 2), score_feedback(calls("other_error"))):
        assert tuple(r) == FEEDBACK_KEYS


# ----------------------------------------------------------------------------- the text


@pytest.mark.parametrize(
    "text, counts",
    [
        (BLOCK, (1, 0)),
        (BLOCK * 3, (3, 0)),
        ('<tool_call>{"name": "f", "arguments": {"x": 1}</tool_call>', (0, 1)),  # a brace short
        ('<tool_call>{"name": "f", "parameters": {}}</tool_call>', (0, 1)),  # verl needs "arguments"
        ('<tool_call>{"arguments": {}}</tool_call>', (0, 1)),  # no name
        ('<tool_call>{"name": 3, "arguments": {}}</tool_call>', (0, 1)),  # name not a string
        ('<tool_call>[{"name": "f", "arguments": {}}]</tool_call>', (0, 1)),  # a list, not one call
        # two calls in one block: gold mode reads them as parallel calls, but verl's multi-turn parser
        # executes neither, so in a trajectory the block is one malformed slot
        ('<tool_call>\n{"name": "f", "arguments": {}}\n{"name": "g", "arguments": {}}\n</tool_call>', (0, 1)),
        ('<tool_call>{"name": "f", "arguments": "not json"}</tool_call>', (1, 0)),  # verl runs it (and its tool fails)
        (BLOCK + '<tool_call>{"name": "f", "arguments": {', (1, 1)),  # cut off at the length limit
        ('<tool_call>{"name": "f", ' + BLOCK, (0, 1)),  # an unclosed block swallows the next, as verl's regex does
        ("No call here. </tool_call>", (0, 0)),
        ("", (0, 0)),
    ],
)
def test_hermes_blocks_follow_verls_parser(text, counts):
    assert hermes_blocks(text) == counts


def test_hermes_blocks_agree_with_verls_hermes_parser(tmp_path):
    import asyncio

    from transformers import AutoTokenizer
    from verl.experimental.agent_loop.tool_parser import HermesToolParser

    from tl_plugin.testing import build_tiny_tokenizer

    build_tiny_tokenizer(tmp_path)  # a real BPE tokenizer: verl's parser decodes the ids itself
    tokenizer = AutoTokenizer.from_pretrained(tmp_path)
    parser = HermesToolParser(tokenizer)
    texts = [
        BLOCK,
        BLOCK * 2,
        '<tool_call>{"name": "f", "parameters": {}}</tool_call>',
        BLOCK + '<tool_call>{"name": "f"}</tool_call>',
        '<tool_call>{"name": "f", "arguments": [1]}</tool_call>',
        "<tool_call>{bad}</tool_call>" + BLOCK,
        # several calls in one block (ToolRL / Tool-N1 style, a JSON list): verl runs none of them
        '<tool_call>\n{"name": "f", "arguments": {}}\n{"name": "g", "arguments": {}}\n</tool_call>',
        '<tool_call>[{"name": "f", "arguments": {}}, {"name": "g", "arguments": {}}]</tool_call>' + BLOCK,
    ]
    for text in texts:
        ids = tokenizer.encode(text, add_special_tokens=False)
        assert tokenizer.decode(ids) == text
        _, parsed = asyncio.run(parser.extract_tool_calls(ids))
        ok, bad = hermes_blocks(text)
        assert ok == len(parsed), text
        assert bad == text.count("<tool_call>") - len(parsed), text


def test_model_text_drops_tool_responses():
    text = BLOCK + "user\n<tool_response>\n<tool_call>echoed by the tool</tool_call>\n</tool_response>assistant\nDone."
    model, last = model_text(text)
    assert "echoed" not in model and last == "assistant\nDone."
    assert hermes_blocks(model) == (1, 0)
    assert model_text("plain answer") == ("plain answer", "plain answer")
    assert model_text(BLOCK + "<tool_response>never closed") == (BLOCK, "")


@settings(max_examples=examples(300), deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "<tool_call>",
                "</tool_call>",
                "<tool_response>",
                "</tool_response>",
                "{",
                "}",
                '"name"',
                '"arguments"',
                ":",
                ",",
                '"f"',
                " ",
                "x",
            ]
        ),
        max_size=60,
    ).map("".join)
)
def test_text_helpers_never_raise(text):
    ok, bad = hermes_blocks(text)
    assert ok + bad <= text.count("<tool_call>")
    model, last = model_text(text)
    assert len(model) <= len(text) and text.endswith(last)


MB = 1_000_000


@pytest.mark.parametrize(
    "text, counts",
    [
        ('<tool_call>{"a": "' * (MB // 18), (0, 1)),
        ("<tool_call>" * (MB // 11), (0, 1)),
        ("<tool_call></tool_call>" * (MB // 23), (0, MB // 23)),
        ('<tool_call>{"a</tool_call>' * (MB // 26), (0, MB // 26)),
        ("<tool_call>" + "[" * MB + "</tool_call>", (0, 1)),
        ("<tool_response>" * (MB // 15), (0, 0)),
        ("<tool_response></tool_response>" * (MB // 31), (0, 0)),
    ],
)
def test_one_megabyte_of_adversarial_text_is_read_in_one_pass(text, counts):
    # a quadratic scan would not finish here; each block is decoded once, within its own tags
    assert hermes_blocks(model_text(text)[0]) == counts
    compute_score("tools", text, None, record("ok"), mode="feedback")


# ----------------------------------------------------------------------------- compute_score modes


def test_feedback_mode_reads_the_loop_record_and_the_text():
    text = BLOCK + "<tool_response>{}</tool_response>It is done."
    r = compute_score("tools", text, None, record("ok"), mode="feedback")
    assert tuple(r) == FEEDBACK_KEYS and r["score"] == 1.5 and r["va"] == 1
    # a malformed block the loop never ran is found in the text
    bad = BLOCK + "<tool_response>{}</tool_response>" + '<tool_call>{"name": "f"</tool_call>'
    r = compute_score("tools", bad, None, record("ok"), mode="feedback")
    assert r["malformed"] == 1 and r["n_tool_calls"] == 2 and r["va"] == 0 and r["score"] == pytest.approx(-0.5)
    # feedback mode ignores any ground truth
    assert (
        compute_score("tools", text, '[{"name": "g", "arguments": {}}]', record("ok"), mode="feedback")["score"] == 1.5
    )


def test_feedback_values_come_from_reward_kwargs():
    text = BLOCK + "<tool_response>{}</tool_response>Done."
    r = compute_score(
        "tools", text, None, record("param_missing"), mode="feedback", param_missing=-1.0, final_answer=0.0
    )
    assert r["score"] == -1.0


def test_mixed_mode_keeps_one_key_set():
    gold = '[{"name": "f", "arguments": {"x": [1]}}]'
    a = compute_score("bfcl", BLOCK, gold, {}, mode="mixed")
    b = compute_score("tools", BLOCK + "<tool_response>{}</tool_response>Done.", None, record("ok"), mode="mixed")
    c = compute_score("tools", BLOCK, "  ", record("tool_call_failure", final_answer=False), mode="mixed")
    assert tuple(a) == tuple(b) == tuple(c) == MIXED_KEYS
    assert set(RESULT_KEYS) | set(FEEDBACK_KEYS) | {"feedback"} == set(MIXED_KEYS)
    assert (a["score"], a["correct"], a["feedback"], a["va"]) == (1.0, 1, 0, 0)
    assert (b["score"], b["feedback"], b["va"], b["cf"]) == (1.5, 1, 1, 0)
    assert (c["score"], c["feedback"], c["tool_call_failure"]) == (-0.25, 1, 1)


def test_gold_mode_is_unchanged_by_default():
    gold = '[{"name": "f", "arguments": {"x": [1]}}]'
    r = compute_score("bfcl", BLOCK, gold, {})
    assert tuple(r) == RESULT_KEYS and r["score"] == 1.0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"mode": "online"}, "mode must be one of"),
        ({"final_answr": 1.0}, r"unknown reward_kwargs \['final_answr'\]"),
        ({"call_ok": "high"}, "reward_kwargs.call_ok must be a number"),
    ],
)
def test_bad_reward_kwargs_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        compute_score("tools", "x", None, record("ok"), **{"mode": "feedback", **kwargs})


def test_feedback_mode_without_a_record_is_a_configuration_error():
    with pytest.raises(ValueError, match="tl_multiturn_agent"):
        compute_score("tools", BLOCK, None, {"index": 3}, mode="feedback")
    with pytest.raises(ValueError, match="tl_multiturn_agent"):
        compute_score("tools", BLOCK, None, None, mode="mixed")


@settings(max_examples=examples(200), deadline=None)
@given(
    st.text(max_size=200),
    st.lists(st.sampled_from(["ok", "other_error", "tool_hallucination", "weird"]), max_size=5),
    st.booleans(),
)
def test_feedback_mode_never_raises_on_model_output(text, categories, final):
    r = compute_score("tools", text, None, record(*categories, final_answer=final), mode="feedback")
    assert tuple(r) == FEEDBACK_KEYS and -2.0 <= r["score"] <= 1.5
    json.dumps(r)  # plain numbers: verl stores and averages them


def test_values_shared_with_gold_mode_have_one_default():
    from dataclasses import asdict

    from reward_fns.scoring import RewardWeights

    gold, feedback = asdict(RewardWeights()), asdict(FeedbackWeights())
    shared = set(gold) & set(feedback)
    assert shared == {"tool_hallucination", "param_hallucination", "param_missing", "malformed"}
    assert {k: gold[k] for k in shared} == {k: feedback[k] for k in shared}


def test_rotbench_reward_refuses_feedback_mode():
    from reward_fns import rotbench

    with pytest.raises(ValueError, match="gold answers only"):
        rotbench.compute_score(
            "rotbench",
            "Action: f\nAction Input: {}",
            '{"answers": [{"name": "f", "arguments": {}}]}',
            {},
            mode="feedback",
        )
