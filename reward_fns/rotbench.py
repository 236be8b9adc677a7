"""RoTBench's TS / PI / CF rules as a verl reward: ``compute_score`` is the entry point.

RoTBench (Ye et al., EMNLP 2024) reads the response as ONE ReAct step (``Action: name`` then a
JSON object after ``Action Input:``) and compares it with a list of acceptable answers. Each metric
is right if ANY answer satisfies it:

- TS: same action name. A prediction named literally ``finish`` also matches the finish tool,
  which RoTBench takes to be the LAST tool of the list whatever its (perturbed) name.
- PI: TS for that answer, and the same SET of parameter names (a missing or extra key fails).
- CF: PI for that answer, and equal values (Python ``==`` on the decoded JSON: ``"1.0" != "1"``,
  ``1 == 1.0``), where keys whose gold value is the string ``"None"`` are not compared (the key
  must still be given). Values are not compared at all when the answer's tool is the finish
  (last) or ask_to_user (second-to-last) tool, or is literally named ``finish`` / ``ask_to_user``
  (as RoTBench's code does: in its shuffled "union" files those two can sit elsewhere).

Like RoTBench, a name in the tool list is not required: TS is a plain name comparison.

**Reading the response** (``reward_kwargs.format``). The default, ``"rotbench"``, is RoTBench's
own reading (``get_test_value`` in its ``Code/Evaluation/evaluate.py``, :func:`parse_rotbench`),
so the verdicts are evaluate.py's: the action is the text from 8 characters after the FIRST
``Action:`` (wherever it sits, a ``<think>`` block or the Thought line included) up to the first
``Action Input:``, less one trailing newline and nothing else; the input is everything from 14
characters after ``Action Input:`` to the end, which must decode as ONE JSON value (surrounding
whitespace allowed); an input that does not decode, or decodes to a string or a falsy value
(``{}``, ``[]``, ``0``, ``null``), is wrong on all three. So ``Action:get_time`` names
``et_time``, ``Action Input:{...}`` loses its ``{``, text after the JSON (a made-up
``Observation:``) fails, a hermes ``<tool_call>`` is no call, and ``{}`` fails even for a tool
without parameters. PI and CF also follow evaluate.py's loops over the answers: a prediction named
``finish`` is renamed to the finish tool at that tool's first answer (a later answer literally named
``finish`` then no longer matches it), and each answer that reaches the value comparison deletes
its ``"None"``-valued keys from the prediction for the answers after it, so a later answer of the
same tool is judged on the shortened prediction.

**Where the default still differs from evaluate.py**: only where evaluate.py raises instead of
judging, and this module must give a verdict. Each is wrong on all three here: (1) an empty action
slice (no name between the markers, ``Action Input:`` before ``Action:``, ``Action Input:`` within
the first 8 characters and no ``Action:``, an ``Action:`` with at most one character after it and no
``Action Input:``, a response of at most 8 characters with neither; evaluate.py: ``IndexError``);
(2) an input that is JSON but not an object and not falsy (``[1]``, ``1``, ``true``) for an action
that names an acceptable answer's tool (evaluate.py counts TS, then its PI pass raises
``AttributeError``); (3) an input that Python's ``json`` refuses with another error than
``JSONDecodeError`` (an integer of more than 4300 digits, nesting deeper than the recursion
limit); (4) a response that is not a string. Answers are read from ``ground_truth`` as decoded
calls; ``data_transforms.rotbench_data`` reads RoTBench's answer texts with the shared ReAct parser,
which gives what evaluate.py reads on every one of the 1,912 answers in RoTBench's ten files.

Any other format (``auto``, ``react``, ``hermes``, ``json``, ``python``) is the LENIENT judging,
opt-in: the shared parser (:func:`reward_fns.parsing.parse_tool_calls`) reads the call (``<think>``
dropped, the name stripped, ``Action`` lines only at a line start, one JSON object with text after
it tolerated, ``{}`` a valid input, other call syntaxes with ``auto``), several calls are an
``extra_call``, and every answer is judged on the response as given (no renaming, no cumulative
deletion). Its figures are not comparable with RoTBench's; ``tl-eval`` marks such a report.

The categories (one 0/1 flag each, for the reward and for error analysis) classify the response
against the CLOSEST answer, and ``score`` is TL-Training's value for them
(:class:`reward_fns.scoring.RewardWeights`): ``correct`` (CF), ``content`` (PI but not CF), the
parameter issues when TS holds but PI fails (against the same-named answer with the fewest
differing keys: ``param_hallucination``, a key not in the tool's schema; ``param_redundant``, in the
schema but not in the answer; ``param_missing``, in the answer but not given; their weights
summed), ``wrong_tool`` / ``tool_hallucination`` when TS fails (the name is / is not a candidate
tool; ``finish`` always counts as one), ``extra_call``, ``no_call`` (by default: neither ``Action:``
nor ``Action Input:`` in the response) and ``malformed`` (by default: every other response that
evaluate.py does not judge as a call).

>>> tools = [{"name": "get_time", "parameters": {"properties": {"tz": {}, "fmt": {}}}},
...          {"name": "ask_to_user"}, {"name": "finih"}]
>>> gt = {"answers": [{"name": "get_time", "arguments": {"tz": "CET", "fmt": "None"}}],
...       "finish": "finih", "ask": "ask_to_user"}
>>> r = compute_score("rotbench", 'Thought:\\nAction: get_time\\nAction Input: {"tz": "CET", "fmt": "24h"}', gt,
...                   {"tools": tools})
>>> r["ts"], r["pi"], r["cf"], r["score"], r["correct"]
(1, 1, 1, 1.0, 1)
>>> r = compute_score("rotbench", 'Action: get_time\\nAction Input: {"tz": "CET"}', gt, {"tools": tools})
>>> r["ts"], r["pi"], r["cf"], r["score"], r["param_missing"]
(1, 0, 0, -0.5, 1)
>>> compute_score("rotbench", 'Action: get_date\\nAction Input: {"tz": "CET"}', gt, {"tools": tools})["tool_hallucination"]
1
>>> hermes = '<tool_call>{"name": "get_time", "arguments": {"tz": "CET", "fmt": "24h"}}</tool_call>'
>>> r = compute_score("rotbench", hermes, gt, {"tools": tools})
>>> r["ts"], r["pi"], r["cf"], r["no_call"]
(0, 0, 0, 1)
>>> r = compute_score("rotbench", hermes, gt, {"tools": tools}, format="auto")  # lenient, opt-in
>>> r["ts"], r["pi"], r["cf"]
(1, 1, 1)
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from typing import NamedTuple

from . import categories as cat
from .parsing import FORMATS, MALFORMED, NO_CALL, OK, ParseResult, parse_tool_calls
from .schemas import load_json, load_json_list, tool_spec
from .scoring import RESULT_KEYS, RewardWeights, empty_result
from .tl_tool import reward_settings

__all__ = [
    "DEFAULT_FORMAT",
    "EVALUATE_PY",
    "RESULT_KEYS",
    "compute_score",
    "judging",
    "parse_rotbench",
    "rotbench_result",
    "tool_parameters",
]

# RoTBench's own names for the two special tools; its CF rule skips values for these names too.
FINISH, ASK = "finish", "ask_to_user"
_NONE = "None"  # a gold value that leaves the value free (the key is still needed)

# reward_kwargs.format for RoTBench's own reading (the default); only this module knows it.
DEFAULT_FORMAT = "rotbench"
# judging() for the default: the verdicts of RoTBench's Code/Evaluation/evaluate.py
EVALUATE_PY = "evaluate.py"
_ACTION, _INPUT = "Action:", "Action Input:"


class _Answer(NamedTuple):
    name: str
    params: frozenset  # its parameter names
    compared: dict | None  # the values CF compares ("None" keys left out); None: not compared
    none_keys: tuple  # its keys whose value is "None" (evaluate.py deletes them as it goes)


def _compile(answers, finish_name: str, ask_name: str) -> tuple:
    free_names = {finish_name, ask_name, FINISH, ASK}
    out = []
    for a in answers:
        args = a["arguments"]
        compared = None if a["name"] in free_names else {k: v for k, v in args.items() if not _is_none(v)}
        none_keys = tuple(k for k, v in args.items() if _is_none(v))
        out.append(_Answer(a["name"], frozenset(args), compared, none_keys))
    return tuple(out)


def _is_none(value) -> bool:
    return type(value) is str and value == _NONE


def tool_parameters(tools) -> dict:
    """``{tool name: frozenset of its schema's parameter names}`` from a JSON string or list of
    schemas. A name listed twice (RoTBench has two ``drivers`` tools) gets the union."""
    params: dict = {}
    for i, item in enumerate(load_json_list(tools, "extra_info.tools", "tool schema")):
        name, spec = tool_spec(i, item)
        params[name] = params.get(name, frozenset()) | frozenset(spec.properties)
    return params


# --------------------------------------------------------------------------- RoTBench's reading


def parse_rotbench(text) -> ParseResult:
    """The response as RoTBench's ``evaluate.py`` reads it (``get_test_value``, version 0).

    ``ok`` with one call when evaluate.py would judge the step; otherwise ``no_call`` (neither
    ``Action:`` nor ``Action Input:`` in the text) or ``malformed``, both wrong on all three as
    in evaluate.py, whose reason is in ``error``. Never raises; linear time (two ``str.find``
    and one JSON decode).

    >>> parse_rotbench('Thought: x\\nAction: f\\nAction Input: {"a": 1}\\n').calls
    [{'name': 'f', 'arguments': {'a': 1}}]
    >>> parse_rotbench('Action:f\\nAction Input: {"a": 1}').calls  # 8 characters after "Action:"
    [{'name': '', 'arguments': {'a': 1}}]
    >>> parse_rotbench('Action: f\\nAction Input: {}').error
    'Action Input is falsy ({}): evaluate.py judges it wrong'
    """
    if not isinstance(text, str):
        return ParseResult([], MALFORMED, DEFAULT_FORMAT, f"response is {type(text).__name__}, not str")
    action_at, input_at = text.find(_ACTION), text.find(_INPUT)
    # evaluate.py slices with the raw find() results: -1 (absent) counts from the end
    name = text[action_at + 8 : input_at]
    if not name:
        return _unusable(text, "empty action (evaluate.py raises IndexError here)")
    if name[-1] == "\n":
        name = name[:-1]
    try:
        value = json.loads(text[input_at + 14 :])
    except json.JSONDecodeError as exc:
        return _unusable(text, f"Action Input is not one JSON value: {exc}")
    except (ValueError, RecursionError) as exc:  # evaluate.py raises these
        return _unusable(text, f"Action Input is not decodable ({type(exc).__name__}; evaluate.py raises)")
    if isinstance(value, str) or not value:
        what = "a string" if isinstance(value, str) else f"falsy ({json.dumps(value)})"
        return _unusable(text, f"Action Input is {what}: evaluate.py judges it wrong")
    if not isinstance(value, dict):
        # evaluate.py's TS pass accepts it; its PI pass raises AttributeError when the name matches
        return _unusable(text, f"Action Input is a JSON {type(value).__name__}, not an object")
    return ParseResult([{"name": name, "arguments": value}], OK, DEFAULT_FORMAT)


def _unusable(text: str, error: str) -> ParseResult:
    status = MALFORMED if _ACTION in text or _INPUT in text else NO_CALL
    return ParseResult([], status, DEFAULT_FORMAT, error)


def _evaluate_py_passes(name: str, args: dict, answers: tuple, finish_name: str) -> tuple[bool, bool]:
    """PI and CF as evaluate.py's ``pi_eval`` / ``cf_eval`` loops reach them, answer by answer:
    a prediction named ``finish`` is renamed to the finish tool at the first answer of that tool
    (later answers literally named ``finish`` then no longer match), and in the CF pass each
    answer that gets to the value comparison deletes its ``"None"`` keys from the prediction."""
    pi = False
    action = name
    for answer in answers:
        if action == FINISH and answer.name == finish_name:
            action = finish_name
        if answer.name == action and answer.params == args.keys():
            pi = True
            break
    if not pi:
        return False, False
    action, pred = name, dict(args)
    for answer in answers:
        if action == FINISH and answer.name == finish_name:
            action = finish_name
        if answer.name != action or answer.params != pred.keys():
            continue
        for key in answer.none_keys:
            del pred[key]
        if answer.compared is None or _equal(answer.compared, pred):
            return True, True
    return True, False


# --------------------------------------------------------------------------- judging


def rotbench_result(
    parsed: ParseResult,
    answers: list,
    tool_names,
    finish_name: str,
    ask_name: str,
    weights: RewardWeights = RewardWeights(),
    evaluate_py: bool | None = None,
) -> dict:
    """Score one parsed response against RoTBench's acceptable ``answers`` (``{"name",
    "arguments"}`` dicts); returns a dict with exactly ``RESULT_KEYS``.

    ``tool_names``: the candidate tools, as ``{name: parameter names}`` (see
    :func:`tool_parameters`), or just their names (then no parameter is in any schema, so a key
    outside the answer counts as hallucinated). ``finish_name`` / ``ask_name``: the last and
    second-to-last tool of the list. ``evaluate_py``: judge PI / CF with evaluate.py's loops
    (cumulative ``"None"`` deletion); ``None``: when ``parsed`` came from :func:`parse_rotbench`.
    """
    if not isinstance(tool_names, Mapping):
        tool_names = dict.fromkeys(tool_names, frozenset())
    if evaluate_py is None:
        evaluate_py = parsed.format == DEFAULT_FORMAT
    return _judge(parsed, _compile(answers, finish_name, ask_name), tool_names, finish_name, weights, evaluate_py)


def _judge(
    parsed: ParseResult, answers: tuple, tool_params: Mapping, finish_name: str, w: RewardWeights, evaluate_py: bool
) -> dict:
    calls = parsed.calls if parsed.status != MALFORMED else []
    result = empty_result(len(calls), 1)
    if parsed.status == MALFORMED:
        result["score"], result[cat.MALFORMED] = w.malformed, 1
        return result
    if not calls:
        result["score"], result[cat.NO_CALL] = w.no_call, 1
        return result
    if len(calls) > 1:  # RoTBench reads one step; more than one action is wrong on all three
        result["score"], result[cat.EXTRA_CALL] = w.extra_call, 1
        return result

    name, args = calls[0]["name"], calls[0]["arguments"]
    keys = args.keys()
    ts = pi = cf = False
    closest, closest_diff = None, None  # the same-named answer with the fewest differing keys
    for answer in answers:
        if answer.name != name and not (name == FINISH and answer.name == finish_name):
            continue
        ts = True
        diff = len(keys ^ answer.params)
        if diff:
            if closest is None or diff < closest_diff:
                closest, closest_diff = answer, diff
            continue
        pi = True
        if evaluate_py:  # evaluate.py's own loops decide pi and cf below
            continue
        if answer.compared is None or _equal(answer.compared, args):
            cf = True
            break
    if evaluate_py and ts:
        pi, cf = _evaluate_py_passes(name, args, answers, finish_name)

    result["ts"], result["pi"], result["cf"] = int(ts), int(pi), int(cf)
    if cf:
        result["score"], result[cat.CORRECT] = w.correct, 1
    elif pi:
        result["score"], result[cat.CONTENT] = w.content, 1
    elif ts:
        if closest is None:  # pragma: no cover - evaluate.py's finish renaming hid the one same-keyed answer
            return result
        props = tool_params.get(closest.name, frozenset())
        extra = keys - closest.params
        hallucinated = any(k not in props for k in extra)
        redundant = any(k in props for k in extra)
        missing = not closest.params.issubset(keys)
        # the keys differ, so at least one issue holds: gold mode's verdict for that combination
        verdict = w.verdicts.params[hallucinated, redundant, missing]
        for category in verdict.categories:
            result[category] = 1
        result["score"] = verdict.reward
    elif name in tool_params or name == FINISH:
        result["score"], result[cat.WRONG_TOOL] = w.wrong_tool, 1
    else:
        result["score"], result[cat.TOOL_HALLUCINATION] = w.tool_hallucination, 1
    return result


def _equal(compared: dict, args: dict) -> bool:
    """Python ``==`` per compared key (the caller made the key sets equal)."""
    try:
        return all(args[k] == v for k, v in compared.items())
    except RecursionError:  # pragma: no cover - only with a gold value nested as deep as the response
        return False


# --------------------------------------------------------------------------- verl entry point


def _decode_ground_truth(ground_truth) -> tuple[list, str, str]:
    gt = load_json(ground_truth, "ground_truth")
    if not isinstance(gt, dict):
        raise ValueError(
            f'ground_truth must be {{"answers": [...], "finish": name, "ask": name}}, got {type(gt).__name__}'
        )
    answers = gt.get("answers")
    if not isinstance(answers, list) or not answers:
        raise ValueError(f"ground_truth.answers must be a non-empty list of calls, got {str(answers)[:200]!r}")
    for i, a in enumerate(answers):
        named = isinstance(a, dict) and isinstance(a.get("name"), str) and a["name"]
        if not named or not isinstance(a.get("arguments"), dict):
            raise ValueError(
                f'ground_truth.answers[{i}] must be {{"name": str, "arguments": {{...}}}}, got {str(a)[:200]!r}'
            )
    for key in ("finish", "ask"):
        if not isinstance(gt.get(key), str) or not gt[key]:
            raise ValueError(f"ground_truth.{key} must be a tool name, got {gt.get(key)!r}")
    return answers, gt["finish"], gt["ask"]


@lru_cache(maxsize=4096)
def _ground_truth_and_tools(ground_truth, raw_tools) -> tuple:
    """Compiled answers, tool index and finish name; checked against each other (``ValueError``).
    Cached: a GRPO group scores n responses against the same pair of strings."""
    answers, finish_name, ask_name = _decode_ground_truth(ground_truth)
    if raw_tools is None:
        # No schemas: the answers' tools with their keys, plus the finish and ask tools.
        tool_params: dict = {finish_name: frozenset(), ask_name: frozenset()}
        for a in answers:
            tool_params[a["name"]] = tool_params.get(a["name"], frozenset()) | frozenset(a["arguments"])
    else:
        tool_params = tool_parameters(raw_tools)
    for name in [a["name"] for a in answers] + [finish_name, ask_name]:
        if name not in tool_params:
            raise ValueError(f"ground_truth names {name!r}, which is not in extra_info.tools")
    return _compile(answers, finish_name, ask_name), tool_params, finish_name


def _split_format(kwargs: dict) -> tuple[str, dict]:
    """``reward_kwargs.format`` (missing or null: the default) and the kwargs for
    :func:`reward_fns.tl_tool.reward_settings`, which does not know ``"rotbench"``."""
    if "format" not in kwargs:
        return DEFAULT_FORMAT, kwargs
    fmt = kwargs["format"]
    if fmt is None or fmt == DEFAULT_FORMAT:
        return DEFAULT_FORMAT, {k: v for k, v in kwargs.items() if k != "format"}
    if fmt != "auto" and fmt not in FORMATS:
        raise ValueError(
            f"reward_kwargs.format must be {DEFAULT_FORMAT!r} (RoTBench's own reading, the default), 'auto' or one "
            f"of {FORMATS} (lenient judging), got {fmt!r}"
        )
    return fmt, kwargs


def judging(reward_kwargs=None) -> str:
    """How :func:`compute_score` judges with these ``reward_kwargs``: ``"evaluate.py"`` (RoTBench's
    own reading and loops, the default) or ``"lenient (format=...)"``, whose figures are not
    comparable with RoTBench's.

    >>> judging(), judging({"format": None}), judging({"format": "auto", "content": -0.3})
    ('evaluate.py', 'evaluate.py', 'lenient (format=auto)')
    """
    fmt, _ = _split_format(dict(reward_kwargs or {}))
    return EVALUATE_PY if fmt == DEFAULT_FORMAT else f"lenient (format={fmt})"


def compute_score(data_source, solution_str, ground_truth, extra_info=None, **kwargs) -> dict:
    """Score one response by RoTBench's rules; returns a dict with exactly ``RESULT_KEYS``.

    ``ground_truth``: ``{"answers": [{"name", "arguments"}, ...], "finish": name, "ask": name}``
    as a JSON string or dict (``data_transforms.rotbench_data.ground_truth`` builds it);
    ``extra_info["tools"]``: the candidate tool schemas, a JSON string or list (without them the
    answers' own tools and keys stand in). ``kwargs`` (verl's ``reward_kwargs``) override reward
    values (``wrong_tool=-1.0``, ...) and the reading: ``format="rotbench"`` (the default, also
    when ``format`` is missing or ``None``) is RoTBench's evaluate.py; ``auto`` / ``react`` /
    ``hermes`` / ``json`` / ``python`` are the lenient judging with the shared parser.

    Raises ``ValueError`` for bad ground truth, tools or reward_kwargs, never for bad model output.
    """
    fmt, rest = _split_format(kwargs)
    settings = reward_settings(rest)
    if settings.mode != "gold":
        raise ValueError(
            f"the RoTBench reward scores against gold answers only; reward_kwargs.mode is {settings.mode!r}"
        )
    raw_tools = extra_info.get("tools") if isinstance(extra_info, dict) else None
    if type(ground_truth) is str and (raw_tools is None or type(raw_tools) is str):
        answers, tool_params, finish_name = _ground_truth_and_tools(ground_truth, raw_tools)
    else:
        answers, tool_params, finish_name = _ground_truth_and_tools.__wrapped__(ground_truth, raw_tools)
    if fmt == DEFAULT_FORMAT:
        return _judge(parse_rotbench(solution_str), answers, tool_params, finish_name, settings.weights, True)
    return _judge(parse_tool_calls(solution_str, fmt), answers, tool_params, finish_name, settings.weights, False)
