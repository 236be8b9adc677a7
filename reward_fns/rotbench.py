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

A response with no call, several calls, or an Action Input that is not a JSON object is wrong on
all three. Like RoTBench, a name in the tool list is not required: TS is a plain name comparison.

**Deviations from RoTBench's code.** (1) An empty Action Input ``{}`` is a valid call here: their
code tests the decoded dict for truthiness, so ``{}`` fails everything even for tools without
parameters (``get_random_event``). (2) Their code compares the text between ``Action:`` and
``Action Input:`` byte for byte and decodes everything after ``Action Input:``, so trailing
spaces after the name or text after the JSON object (a made-up ``Observation:``) fail there; the
shared ReAct parser strips the name and reads one JSON object. (3) Their CF loop deletes the
``"None"`` keys from the prediction as it goes, so a later answer of the same tool sees the
prediction without them; here every answer is judged on the response as given.

The categories (one 0/1 flag each, for the reward and for error analysis) classify the response
against the CLOSEST answer, and ``score`` is TL-Training's value for them
(:class:`reward_fns.scoring.RewardWeights`): ``correct`` (CF), ``content`` (PI but not CF), the
parameter issues when TS holds but PI fails (against the same-named answer with the fewest
differing keys: ``param_hallucination``, a key not in the tool's schema; ``param_redundant``, in the
schema but not in the answer; ``param_missing``, in the answer but not given; their weights
summed), ``wrong_tool`` / ``tool_hallucination`` when TS fails (the name is / is not a candidate
tool; ``finish`` always counts as one), ``extra_call``, ``no_call`` and ``malformed``.

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
>>> compute_score("rotbench", 'Action: get_date\\nAction Input: {}', gt, {"tools": tools})["tool_hallucination"]
1
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import NamedTuple

from .parsing import MALFORMED, ParseResult, parse_tool_calls
from .schemas import load_json, load_json_list, tool_spec
from .scoring import RESULT_KEYS, RewardWeights, empty_result
from .tl_tool import reward_settings

__all__ = ["RESULT_KEYS", "compute_score", "rotbench_result", "tool_parameters"]

# RoTBench's own names for the two special tools; its CF rule skips values for these names too.
FINISH, ASK = "finish", "ask_to_user"
_NONE = "None"  # a gold value that leaves the value free (the key is still needed)


class _Answer(NamedTuple):
    name: str
    params: frozenset  # its parameter names
    compared: dict | None  # the values CF compares ("None" keys left out); None: not compared


def _compile(answers, finish_name: str, ask_name: str) -> tuple:
    free_names = {finish_name, ask_name, FINISH, ASK}
    out = []
    for a in answers:
        args = a["arguments"]
        compared = None if a["name"] in free_names else {k: v for k, v in args.items() if not _is_none(v)}
        out.append(_Answer(a["name"], frozenset(args), compared))
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


def rotbench_result(
    parsed: ParseResult,
    answers: list,
    tool_names,
    finish_name: str,
    ask_name: str,
    weights: RewardWeights = RewardWeights(),
) -> dict:
    """Score one parsed response against RoTBench's acceptable ``answers`` (``{"name",
    "arguments"}`` dicts); returns a dict with exactly ``RESULT_KEYS``.

    ``tool_names``: the candidate tools, as ``{name: parameter names}`` (see
    :func:`tool_parameters`), or just their names (then no parameter is in any schema, so a key
    outside the answer counts as hallucinated). ``finish_name`` / ``ask_name``: the last and
    second-to-last tool of the list.
    """
    if not isinstance(tool_names, Mapping):
        tool_names = dict.fromkeys(tool_names, frozenset())
    return _judge(parsed, _compile(answers, finish_name, ask_name), tool_names, finish_name, weights)


def _judge(parsed: ParseResult, answers: tuple, tool_params: Mapping, finish_name: str, w: RewardWeights) -> dict:
    calls = parsed.calls if parsed.status != MALFORMED else []
    result = empty_result(len(calls), 1)
    if parsed.status == MALFORMED:
        result["score"], result["malformed"] = w.malformed, 1
        return result
    if not calls:
        result["score"], result["no_call"] = w.no_call, 1
        return result
    if len(calls) > 1:  # RoTBench reads one step; more than one action is wrong on all three
        result["score"], result["extra_call"] = w.extra_call, 1
        return result

    name, args = calls[0]["name"], calls[0]["arguments"]
    keys = args.keys()
    ts = pi = cf = False
    closest, closest_diff = None, None  # the same-named answer with the fewest differing keys
    for answer in answers:
        if answer.name != name and not (name == FINISH and answer.name == finish_name):
            continue
        ts = True
        if keys != answer.params:
            diff = len(keys ^ answer.params)
            if closest is None or diff < closest_diff:
                closest, closest_diff = answer, diff
            continue
        pi = True
        if answer.compared is None or _values_equal(answer.compared, args):
            cf = True
            break

    result["ts"], result["pi"], result["cf"] = int(ts), int(pi), int(cf)
    if cf:
        result["score"], result["correct"] = w.correct, 1
    elif pi:
        result["score"], result["content"] = w.content, 1
    elif ts:
        props = tool_params.get(closest.name, frozenset())
        extra = keys - closest.params
        hallucinated = any(k not in props for k in extra)
        redundant = any(k in props for k in extra)
        missing = not closest.params.issubset(keys)
        result["param_hallucination"], result["param_redundant"], result["param_missing"] = (
            int(hallucinated), int(redundant), int(missing))
        result["score"] = (
            hallucinated * w.param_hallucination + redundant * w.param_redundant + missing * w.param_missing
        )
    elif name in tool_params or name == FINISH:
        result["score"], result["wrong_tool"] = w.wrong_tool, 1
    else:
        result["score"], result["tool_hallucination"] = w.tool_hallucination, 1
    return result


def _values_equal(compared: dict, args: dict) -> bool:
    """Python ``==`` per compared key (PI already made the key sets equal)."""
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


def compute_score(data_source, solution_str, ground_truth, extra_info=None, **kwargs) -> dict:
    """Score one response by RoTBench's rules; returns a dict with exactly ``RESULT_KEYS``.

    ``ground_truth``: ``{"answers": [{"name", "arguments"}, ...], "finish": name, "ask": name}``
    as a JSON string or dict (``data_transforms.rotbench.ground_truth`` builds it);
    ``extra_info["tools"]``: the candidate tool schemas, a JSON string or list (without them the
    answers' own tools and keys stand in). ``kwargs`` (verl's ``reward_kwargs``) override reward
    values (``wrong_tool=-1.0``, ...) and the parse format (``format="react"``; default ``auto``).

    Raises ``ValueError`` for bad ground truth, tools or reward_kwargs, never for bad model output.
    """
    settings = reward_settings(kwargs)
    if settings.mode != "gold":
        raise ValueError(f"the RoTBench reward scores against gold answers only; reward_kwargs.mode is {settings.mode!r}")
    weights, fmt = settings.weights, settings.format
    raw_tools = extra_info.get("tools") if isinstance(extra_info, dict) else None
    if type(ground_truth) is str and (raw_tools is None or type(raw_tools) is str):
        answers, tool_params, finish_name = _ground_truth_and_tools(ground_truth, raw_tools)
    else:
        answers, tool_params, finish_name = _ground_truth_and_tools.__wrapped__(ground_truth, raw_tools)
    return _judge(parse_tool_calls(solution_str, fmt), answers, tool_params, finish_name, weights)
