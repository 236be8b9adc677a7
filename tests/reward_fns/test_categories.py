"""One vocabulary of error categories (reward_fns.categories) for gold mode, feedback mode and reports."""

from __future__ import annotations

from reward_fns import categories
from reward_fns.categories import (
    FEEDBACK_CATEGORIES,
    FEEDBACK_ERRORS,
    GOLD_CATEGORIES,
    RENAMED,
    canonical_category,
)
from reward_fns.feedback_reward import FEEDBACK_KEYS, FeedbackWeights
from reward_fns.scoring import RESULT_KEYS, RewardWeights
from reward_fns.trl_reward import LOGGED_KEYS


def test_gold_categories_are_result_keys_and_reward_values():
    assert set(GOLD_CATEGORIES) <= set(RESULT_KEYS)
    assert set(GOLD_CATEGORIES) <= RewardWeights.names()
    assert set(GOLD_CATEGORIES) <= set(LOGGED_KEYS)


def test_feedback_errors_are_result_keys_and_reward_values():
    assert set(FEEDBACK_ERRORS) <= set(FEEDBACK_KEYS)
    assert set(FEEDBACK_ERRORS) <= FeedbackWeights.names()
    assert FEEDBACK_CATEGORIES[0] == categories.OK and categories.CALL_OK in FEEDBACK_KEYS


def test_shared_categories_have_one_default_value():
    shared = (set(GOLD_CATEGORIES) | set(FEEDBACK_ERRORS)) & RewardWeights.names() & FeedbackWeights.names()
    assert shared == {"malformed", "tool_hallucination", "param_hallucination", "param_missing"}
    for name in shared:
        assert getattr(RewardWeights(), name) == getattr(FeedbackWeights(), name)


def test_every_name_is_spelled_once():
    names = [value for key, value in vars(categories).items() if key.isupper() and isinstance(value, str)]
    assert len(names) == len(set(names))
    assert all(name == name.lower() for name in names)


def test_old_spellings_map_onto_names():
    assert set(RENAMED.values()) <= set(FEEDBACK_ERRORS)
    assert not set(RENAMED) & (set(GOLD_CATEGORIES) | set(FEEDBACK_CATEGORIES))
    for old, new in RENAMED.items():
        assert canonical_category(old) == new and canonical_category(new) == new
    assert canonical_category("exploded") == "exploded" and canonical_category(None) is None
