"""MAE: find the assistant steps whose tool calls got an error back (TL-Training 4.1).

Categories and modes: docs/design.md#mae-error-categories.

An assistant message with tool calls is answered by the tool messages that follow it (up to the
next non-tool message). Each response is classified with :func:`~data_transforms.tool_feedback.classify_feedback`;
the step is erroneous when any response falls in ``error_categories`` (default: every category
but ``ok``). The writers then give such a step ``loss_mask: 0`` while keeping it in the context of
later turns (``mode=mask``), or leave it out of the per-turn rows (``mode=drop``, the released
code's behaviour), or train it like any other step (``mode=off``: no MAE, for ablations). A step with no response (the trajectory ends on it) is not erroneous: there is
no evidence against it.

>>> msgs = [{"role": "user", "content": "weather?"},
...         {"role": "assistant", "content": "", "tool_calls": [{"name": "w", "arguments": {"town": "x"}}]},
...         {"role": "tool", "content": "w() got an unexpected keyword argument 'town'"},
...         {"role": "assistant", "content": "", "tool_calls": [{"name": "w", "arguments": {"city": "x"}}]},
...         {"role": "tool", "content": '{"temp": 20}'},
...         {"role": "assistant", "content": "20 degrees."}]
>>> step_feedback(msgs)
{1: ['param_hallucination'], 3: ['ok']}
>>> erroneous_steps(step_feedback(msgs))
{1: 'param_hallucination'}
"""

from __future__ import annotations

from data_transforms.tool_feedback import classify_feedback
from reward_fns.categories import FEEDBACK_ERRORS

__all__ = ["MODES", "erroneous_steps", "step_feedback"]

MODES = ("mask", "drop", "off")


def step_feedback(messages: list, classify=classify_feedback) -> dict:
    """``{assistant message index: [category of each tool response]}`` for steps with calls."""
    out = {}
    step = None
    for i, msg in enumerate(messages):
        role = msg["role"]
        if role == "assistant":
            step = i if msg.get("tool_calls") else None
            if step is not None:
                out[step] = []
        elif role == "tool":
            if step is not None:
                out[step].append(classify(msg["content"]))
        else:
            step = None
    return out


def erroneous_steps(feedback: dict, error_categories=FEEDBACK_ERRORS) -> dict:
    """``{assistant message index: first error category}`` for the steps MAE takes out."""
    errors = frozenset(error_categories)
    out = {}
    for step, categories in feedback.items():
        bad = next((c for c in categories if c in errors), None)
        if bad is not None:
            out[step] = bad
    return out
