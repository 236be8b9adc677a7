"""Error categories: the one list of names that the reward, MAE, reports and configs use.

TL-Training sorts what went wrong with a tool call into categories. Gold mode (IRM,
:mod:`reward_fns.scoring`) finds them by comparing a predicted call with the gold call; the MAE
classifier (:mod:`data_transforms.tool_feedback`) reads them from the tool's response, and
feedback mode (:mod:`reward_fns.feedback_reward`) scores with what it found. A category that both
can find has one name, and that name is everywhere: the reward's result keys (verl's
``reward_extra/<name>/mean``, TRL's ``tl_tool/<name>``), the ``reward_kwargs`` value of that error,
``tl-eval``'s error columns, ``tl-prepare``'s ``mae.error_categories`` / ``errors.kinds`` and its
counts.

=========================  ====  ========  ============================================================
name                       gold  feedback  meaning
=========================  ====  ========  ============================================================
``malformed``              yes   yes [1]_  the response's call block cannot be parsed (never executed)
``no_call``                yes             gold calls exist, the response made none
``tool_hallucination``     yes   yes       the called tool does not exist (not a candidate tool)
``wrong_tool``             yes             a candidate tool, but not the gold one
``param_hallucination``    yes   yes       an argument the tool's schema does not have
``param_redundant``        yes             an argument the schema has but the gold call leaves out
``param_missing``          yes   yes       a required argument left out
``content``                yes             tool and argument names right, some value not acceptable
``missing_call``           yes             a gold call that no predicted call was matched to
``extra_call``             yes             a predicted call that no gold call was matched to
``tool_call_failure``            yes       the call ran and raised, or the service rejected it
``tool_instability``             yes       the environment failed, not the call (timeouts, 429, 5xx)
``other_error``                  yes       the response reads as an error that no rule could place
``correct``                yes             not an error: the call is right
``ok``                           yes       not an error: the tool answered normally (feedback mode's
                                           flag and value for such a call are ``call_ok``)
=========================  ====  ========  ============================================================

.. [1] feedback mode counts malformed call blocks in the response text; the classifier never
   returns ``malformed``.

Until the error categories had this one home the MAE classifier spelled three of them its own way;
:data:`RENAMED` maps those old spellings, which :func:`canonical_category` still accepts (in
``tl-prepare`` settings and in recorded feedback).

>>> canonical_category("parameter_missing"), canonical_category("param_missing")
('param_missing', 'param_missing')
>>> FEEDBACK_ERRORS
('tool_instability', 'tool_call_failure', 'tool_hallucination', 'param_hallucination', 'param_missing', 'other_error')
"""

from __future__ import annotations

__all__ = [
    "CALL_OK",
    "CONTENT",
    "CORRECT",
    "EXTRA_CALL",
    "FEEDBACK_CATEGORIES",
    "FEEDBACK_ERRORS",
    "GOLD_CATEGORIES",
    "MALFORMED",
    "MISSING_CALL",
    "NO_CALL",
    "OK",
    "OTHER_ERROR",
    "PARAM_HALLUCINATION",
    "PARAM_MISSING",
    "PARAM_REDUNDANT",
    "RENAMED",
    "TOOL_CALL_FAILURE",
    "TOOL_HALLUCINATION",
    "TOOL_INSTABILITY",
    "WRONG_TOOL",
    "canonical_category",
]

MALFORMED = "malformed"
NO_CALL = "no_call"
TOOL_HALLUCINATION = "tool_hallucination"
WRONG_TOOL = "wrong_tool"
PARAM_HALLUCINATION = "param_hallucination"
PARAM_REDUNDANT = "param_redundant"
PARAM_MISSING = "param_missing"
CONTENT = "content"
MISSING_CALL = "missing_call"
EXTRA_CALL = "extra_call"
CORRECT = "correct"
TOOL_CALL_FAILURE = "tool_call_failure"
TOOL_INSTABILITY = "tool_instability"
OTHER_ERROR = "other_error"
OK = "ok"
CALL_OK = "call_ok"  # feedback mode's flag and value for a call whose response was OK

#: Gold mode's categories, in the order of its result keys (one 0/1 key each).
GOLD_CATEGORIES = (
    MALFORMED,
    NO_CALL,
    TOOL_HALLUCINATION,
    WRONG_TOOL,
    PARAM_HALLUCINATION,
    PARAM_REDUNDANT,
    PARAM_MISSING,
    CONTENT,
    MISSING_CALL,
    EXTRA_CALL,
    CORRECT,
)

#: What the MAE classifier can say about one tool response: ``ok``, then the errors.
FEEDBACK_CATEGORIES = (
    OK,
    TOOL_INSTABILITY,
    TOOL_CALL_FAILURE,
    TOOL_HALLUCINATION,
    PARAM_HALLUCINATION,
    PARAM_MISSING,
    OTHER_ERROR,
)
#: The classifier's error categories (MAE masks these by default).
FEEDBACK_ERRORS = FEEDBACK_CATEGORIES[1:]

#: The classifier's spellings before this module: old name -> name.
RENAMED = {
    "parameter_hallucination": PARAM_HALLUCINATION,
    "parameter_missing": PARAM_MISSING,
    "other": OTHER_ERROR,
}


def canonical_category(name):
    """``name`` with an old spelling (:data:`RENAMED`) replaced; any other value unchanged."""
    return RENAMED.get(name, name) if isinstance(name, str) else name
