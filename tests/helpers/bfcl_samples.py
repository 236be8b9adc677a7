"""BFCL-derived predictions (gold answers plus deterministic mutations) and BFCL's own checker.

Shared by ``tests/reward_fns/test_bfcl_agreement.py`` (does our binary correctness agree with BFCL's
``ast_checker``?) and ``benchmarks/bench_reward.py`` (how fast is the reward?). Data come from
the installed ``bfcl-eval`` wheel, which ships JSON Lines files (one object per line despite the
``.json`` name) under ``bfcl_eval/data/``.

A prediction is a list of calls ``(name, arguments)``. For every sample we build the gold answer
(each parameter's first acceptable value that is not ``""``), the minimal gold answer (every
parameter that may be omitted left out), the gold answer with the *last* acceptable values, and
mutations of one call: values changed, int/float and bool/int swapped, strings re-cased or
re-punctuated (still right), lists reordered, dict values changed, parameters dropped or added,
the tool renamed, and whole calls reordered, dropped or duplicated. The call to mutate is chosen
by a CRC of the sample id, so runs are deterministic and every position of a parallel answer gets
mutated somewhere.

>>> render_python([("f", {"x": 1, "s": "a'b"}), ("m.g", {})])
'[f(x=1, s="a\\'b"), m.g()]'
>>> render_hermes([("f", {"x": 1.0})])
'<tool_call>{"name": "f", "arguments": {"x": 1.0}}</tool_call>'
>>> render_python([("f", {"from": 1})]) is None  # a keyword cannot be a keyword argument
True
"""

from __future__ import annotations

import copy
import importlib.resources
import json
import keyword
import re
import sys
import types
import zlib
from dataclasses import dataclass
from functools import lru_cache

from data_transforms.bfcl import CALL_CATEGORIES

__all__ = [
    "BOOL_IS_NOT_INT",
    "CATEGORIES",
    "EXPECTED_DISAGREEMENTS",
    "GREEDY",
    "UNSATISFIABLE",
    "Prediction",
    "Sample",
    "bfcl_calls",
    "bfcl_checker",
    "bfcl_relevance_checker",
    "load_samples",
    "predictions",
    "render",
    "render_hermes",
    "render_python",
]

CATEGORIES = CALL_CATEGORIES  # BFCL's single-turn AST categories
FORMATS = ("hermes", "python")
NO_CALL_TEXT = "I could not find a suitable tool for this request."


@dataclass(frozen=True)
class Sample:
    id: str
    category: str
    functions: list  # BFCL function schemas
    possible_answer: list  # [{name: {param: [acceptable values]}}]
    ground_truth: str  # JSON of possible_answer: what compute_score gets
    tools: str  # JSON of functions: extra_info["tools"]


@dataclass(frozen=True)
class Prediction:
    sample: Sample
    kind: str  # "gold", "gold_min", ... (see ``predictions``)
    calls: tuple  # ((name, arguments), ...)


# --------------------------------------------------------------------------- listed exceptions
# Where our verdict and BFCL's differ, and why (tests/reward_fns/test_bfcl_agreement.py, tests/tl_plugin/cli/test_eval_bfcl.py).

GREEDY = (
    "BFCL matches parallel calls greedily in gold order: gold call 0 accepts either company, so it "
    "takes the first 'Apple, 2022-01-01' call, and gold call 2 (Apple only) is left without one. "
    "A perfect one-to-one matching exists (the same calls in gold order pass BFCL); our optimal "
    "matching finds it. docs/design.md#value-acceptance lists this as the one allowed kind of "
    "exception."
)
BOOL_IS_NOT_INT = (
    "bool is not int (docs/design.md#value-acceptance). Inside a dict BFCL compares values with "
    "Python's ==, so "
    "True passes for a gold 1 ('singles': True, 'relativeHourToStart': True); these are counts "
    "and hours, and we reject the bool as we do for top-level parameters, where BFCL's own type "
    "check rejects it too."
)

# (sample id, mutation kind) -> reason; BFCL and we disagree on exactly these predictions.
EXPECTED_DISAGREEMENTS = {
    ("parallel_178", "calls_reordered"): GREEDY,
    ("parallel_178", "calls_reordered_min"): GREEDY,
    ("parallel_178", "calls_rotated"): GREEDY,
    ("parallel_29", "dict_int_as_bool"): BOOL_IS_NOT_INT,
    ("live_simple_51-23-0", "dict_int_as_bool"): BOOL_IS_NOT_INT,
    ("live_simple_52-23-1", "dict_int_as_bool"): BOOL_IS_NOT_INT,
}

# BFCL possible answers that cannot be met (a required gold parameter missing from the schema, or
# an empty acceptable list): BFCL marks every prediction wrong, and so does our reward (it scores
# such ground truth rather than refusing it), so these agree; the test checks that they do.
UNSATISFIABLE = {
    "live_simple_106-63-0",  # 'auto_loan_payment_start': []
    "live_simple_112-68-0",  # 'acc_routing_start': []
    "live_multiple_862-181-3",  # 'journey_start_time' is not a parameter
    "live_multiple_964-207-0",  # 'question' is not a parameter
}

# --------------------------------------------------------------------------- data


def _data_dir():
    return importlib.resources.files("bfcl_eval") / "data"


def _read_jsonl(path) -> list:
    with path.open("r", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def load_samples(categories=CATEGORIES) -> list:
    """Every sample of ``categories`` with its possible answer, in file order."""
    data = _data_dir()
    out = []
    for cat in categories:
        answers = {a["id"]: a["ground_truth"] for a in _read_jsonl(data / "possible_answer" / f"BFCL_v4_{cat}.json")}
        for item in _read_jsonl(data / f"BFCL_v4_{cat}.json"):
            answer = answers[item["id"]]
            out.append(
                Sample(item["id"], cat, item["function"], answer, json.dumps(answer), json.dumps(item["function"]))
            )
    return out


# --------------------------------------------------------------------------- BFCL's checker


@lru_cache(maxsize=1)
def bfcl_checker():
    """``check(sample, calls) -> bool``: BFCL's own ``ast_checker`` verdict (Python rules).

    ``ast_checker`` imports ``bfcl_eval.constants.model_config``, which imports every API SDK
    handler; that is the only import it needs stubbed (``enums``, ``type_mappings`` and the
    Java/JS type converters are plain standard-library modules). The stand-in maps every model
    name to a config with ``underscore_to_dot = False``, so dotted function names stay dotted.
    """
    name = "bfcl_eval.constants.model_config"
    if "bfcl_eval.eval_checker.ast_eval.ast_checker" not in sys.modules and name not in sys.modules:
        stub = types.ModuleType(name)
        stub.MODEL_CONFIG_MAPPING = _AnyModel()
        sys.modules[name] = stub
    from bfcl_eval.constants.enums import Language
    from bfcl_eval.eval_checker.ast_eval.ast_checker import ast_checker

    def check(sample: Sample, calls) -> bool:
        result = ast_checker(
            sample.functions, bfcl_calls(calls), sample.possible_answer, Language.PYTHON, sample.category, "tl_plugin"
        )
        return bool(result["valid"])

    return check


@lru_cache(maxsize=1)
def bfcl_relevance_checker():
    """``holds_call(text) -> bool``: BFCL's own relevance verdict on a raw (Python-syntax) answer.

    BFCL's runner (``_evaluate_single_relevance_entry``) decodes the answer with the prompt-mode
    decoder ``default_decode_ast_prompting`` and counts it as a call unless decoding fails or
    ``is_empty_output`` says the result is empty; irrelevance is right iff there is no call,
    live_relevance iff there is one. The runner module itself imports pandas, dotenv and every
    API handler, so we call the two functions it uses. Their module imports the Java and
    JavaScript parsers, which need ``tree_sitter`` (not installed): stand-ins are put in their
    place, as only Python answers are decoded here.
    """
    bfcl_checker()  # installs the model_config stand-in
    for name, func in (("java_parser", "parse_java_function_call"), ("js_parser", "parse_javascript_function_call")):
        full = f"bfcl_eval.model_handler.parser.{name}"
        if full not in sys.modules:
            stub = types.ModuleType(full)
            setattr(stub, func, _not_python)
            sys.modules[full] = stub
    from bfcl_eval.model_handler.utils import default_decode_ast_prompting
    from bfcl_eval.utils import is_empty_output

    def holds_call(text: str) -> bool:
        try:
            decoded = default_decode_ast_prompting(text)
        except Exception:  # BFCL's runner: a decoding failure means "no call"
            return False
        return not is_empty_output(decoded)

    return holds_call


def _not_python(*args, **kwargs):
    raise AssertionError("only Python answers are decoded in these tests")


class _ModelConfig:
    underscore_to_dot = False


class _AnyModel(dict):
    def __missing__(self, key):
        return _ModelConfig()


def bfcl_calls(calls) -> list:
    """Our ``(name, arguments)`` calls in BFCL's decoded model-output form ``[{name: args}]``."""
    return [{name: copy.deepcopy(args)} for name, args in calls]


# --------------------------------------------------------------------------- rendering

_DOTTED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


def render_hermes(calls) -> str:
    """Hermes/Qwen text: one ``<tool_call>`` JSON block per call."""
    if not calls:
        return NO_CALL_TEXT
    return "\n".join(
        "<tool_call>" + json.dumps({"name": n, "arguments": a}, ensure_ascii=False) + "</tool_call>" for n, a in calls
    )


def _python_name(name: str) -> bool:
    return bool(_DOTTED.fullmatch(name)) and not any(keyword.iskeyword(p) for p in name.split("."))


def render_python(calls) -> str | None:
    """BFCL prompt-mode text ``[f(a=1), g(b="x")]``, or None when Python syntax cannot say it
    (a name that is not a dotted identifier, a keyword parameter such as ``from``)."""
    if not calls:
        return NO_CALL_TEXT
    parts = []
    for name, args in calls:
        if not _python_name(name) or not all(_python_name(p) and "." not in p for p in args):
            return None
        parts.append(f"{name}({', '.join(f'{p}={v!r}' for p, v in args.items())})")
    return "[" + ", ".join(parts) + "]"


def render(calls, fmt: str) -> str | None:
    return render_hermes(calls) if fmt == "hermes" else render_python(calls)


# --------------------------------------------------------------------------- gold answers


def _props(sample: Sample, name: str) -> dict:
    for f in sample.functions:
        if f["name"] == name:
            return f.get("parameters", {}).get("properties", {}) or {}
    return {}


def _required(sample: Sample, name: str) -> list:
    for f in sample.functions:
        if f["name"] == name:
            return f.get("parameters", {}).get("required", []) or []
    return []


_ABSENT = object()  # no acceptable value but "" (None is a real gold value: JSON null)


def _pick(acceptable: list, last: bool):
    values = [v for v in acceptable if v != ""]
    return (values[-1] if last else values[0]) if values else _ABSENT


def _instantiate(value, schema: dict, last: bool):
    """A concrete value from one acceptable gold value. BFCL writes dict values (and the dicts
    of a list-of-dict parameter) as ``{key: [acceptable values]}``; other values are literal."""
    typ = schema.get("type")
    if typ == "dict" and isinstance(value, dict):
        return {k: _pick(v, last) for k, v in value.items() if _pick(v, last) is not _ABSENT}
    items = schema.get("items") or {}
    if typ in ("array", "tuple") and items.get("type") == "dict" and isinstance(value, list):
        return [_instantiate(v, items, last) if isinstance(v, dict) else v for v in value]
    return copy.deepcopy(value)


def _gold_calls(sample: Sample, minimal: bool = False, last: bool = False) -> list:
    calls = []
    for item in sample.possible_answer:
        ((name, args),) = item.items()
        props = _props(sample, name)
        chosen = {}
        for param, acceptable in args.items():
            if minimal and "" in acceptable:
                continue
            value = _pick(acceptable, last)
            if value is _ABSENT:
                continue
            chosen[param] = _instantiate(value, props.get(param, {}), last)
        calls.append((name, chosen))
    return calls


# --------------------------------------------------------------------------- mutations


def _changed(v):
    """A different value of the same type."""
    if isinstance(v, bool):
        return not v
    if isinstance(v, int):
        return v + 1
    if isinstance(v, float):
        return v + 1.5
    if isinstance(v, str):
        return v + " zq" if v else "zq"
    if isinstance(v, list):
        return v[:-1] if v else ["zq"]
    if isinstance(v, dict):
        return {**v, "zq": "zq"}
    return "zq"


def _filler(schema: dict):
    """A plausible value of the schema's type (for parameters the gold call lacks)."""
    if schema.get("enum"):
        return schema["enum"][0]
    typ = schema.get("type")
    if typ == "integer":
        return 7
    if typ == "float" or typ == "number":
        return 2.5
    if typ == "boolean":
        return True
    if typ in ("array", "tuple"):
        return [_filler(schema.get("items") or {"type": "string"})]
    if typ in ("dict", "object"):
        return {"zq": "zq"}
    return "zq filler"


def _first(args: dict, props: dict, pred) -> str | None:
    for p, v in args.items():
        if pred(v, props.get(p, {})):
            return p
    return None


def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _mutate_call(sample: Sample, name: str, args: dict):
    """``(kind, new_name, new_args)`` for every mutation that applies to this call."""
    props = _props(sample, name)
    out = []

    def with_(kind, param, value):
        out.append((kind, name, {**args, param: value}))

    p = _first(args, props, lambda v, s: isinstance(v, str) and v.strip())
    if p:
        with_("wrong_string", p, _changed(args[p]))
        with_("string_upper", p, args[p].upper())
        with_("string_punct", p, "-" + args[p].replace(" ", "_") + ".")
    p = _first(args, props, lambda v, s: _is_num(v))
    if p:
        with_("wrong_number", p, _changed(args[p]))
    p = _first(args, props, lambda v, s: isinstance(v, float) and s.get("type") == "float")
    if p:
        with_("int_for_float", p, int(args[p]) if abs(args[p]) < 1e15 else args[p])
    p = _first(args, props, lambda v, s: type(v) is int and s.get("type") == "integer")
    if p:
        with_("float_for_int", p, float(args[p]))
    p = _first(args, props, lambda v, s: isinstance(v, bool))
    if p:
        with_("bool_as_int", p, int(args[p]))
    p = _first(args, props, lambda v, s: type(v) is int and v in (0, 1))
    if p:
        with_("int_as_bool", p, bool(args[p]))
    p = _first(args, props, lambda v, s: isinstance(v, list) and any(type(x) is int and x in (0, 1) for x in v))
    if p:
        with_("int_as_bool_in_list", p, [bool(x) if type(x) is int and x in (0, 1) else x for x in args[p]])
    p = _first(args, props, lambda v, s: isinstance(v, list) and any(type(x) is float and x.is_integer() for x in v))
    if p:
        with_("int_for_float_in_list", p, [int(x) if type(x) is float and x.is_integer() else x for x in args[p]])
    p = _first(args, props, lambda v, s: isinstance(v, list) and len(v) >= 2 and v != v[::-1])
    if p:
        with_("list_reordered", p, args[p][::-1])
    p = _first(args, props, lambda v, s: isinstance(v, list) and any(isinstance(x, str) for x in v))
    if p:
        with_("list_string_upper", p, [x.upper() if isinstance(x, str) else x for x in args[p]])
    p = _first(args, props, lambda v, s: isinstance(v, dict) and v)
    if p:
        k = next(iter(args[p]))
        with_("dict_value_changed", p, {**args[p], k: _changed(args[p][k])})
        with_("dict_key_dropped", p, {kk: vv for kk, vv in args[p].items() if kk != k})
    p = _first(args, props, lambda v, s: isinstance(v, dict) and any(isinstance(x, str) for x in v.values()))
    if p:
        with_("dict_string_upper", p, {k: x.upper() if isinstance(x, str) else x for k, x in args[p].items()})
    p = _first(args, props, lambda v, s: isinstance(v, list) and v and all(isinstance(x, dict) and x for x in v))
    if p:
        first = args[p][0]
        k = next(iter(first))
        with_("list_dict_value_changed", p, [{**first, k: _changed(first[k])}, *args[p][1:]])

    p = _first(
        args, props, lambda v, s: isinstance(v, dict) and any(type(x) is int and x in (0, 1) for x in v.values())
    )
    if p:
        d = args[p]
        with_("dict_int_as_bool", p, {k: bool(x) if type(x) is int and x in (0, 1) else x for k, x in d.items()})
    p = _first(args, props, lambda v, s: isinstance(v, dict) and any(type(x) is int for x in v.values()))
    if p:
        with_("dict_int_as_float", p, {k: float(x) if type(x) is int else x for k, x in args[p].items()})
    p = _first(args, props, lambda v, s: _is_num(v))
    if p:
        with_("number_as_string", p, str(args[p]))
    if args:
        with_("none_value", next(iter(args)), None)

    gold = next((a[name] for a in sample.possible_answer if name in a), {})
    # an optional parameter given as an empty value ("" for strings, [] for lists)
    p = next((q for q, acc in gold.items() if "" in acc and props.get(q, {}).get("type") in ("array", "tuple")), None)
    if p:
        with_("empty_list_for_optional", p, [])
    p = next((q for q, acc in gold.items() if "" in acc and props.get(q, {}).get("type") == "string"), None)
    if p:
        with_("empty_string_for_optional", p, "")

    required = _required(sample, name)
    drop = next((q for q in args if q in required), None) or next(iter(args), None)
    if drop is not None:
        out.append(("param_dropped", name, {q: v for q, v in args.items() if q != drop}))
    out.append(("param_hallucinated", name, {**args, "zq_unknown_param": "zq"}))
    extra = next((q for q in props if q not in gold and q not in args), None)
    if extra is not None:
        out.append(("param_redundant", name, {**args, extra: _filler(props[extra])}))
    only_empty = next((q for q, acc in gold.items() if q not in args and all(a == "" for a in acc)), None)
    if only_empty is not None:
        out.append(("omitted_param_given", name, {**args, only_empty: _filler(props.get(only_empty, {}))}))
        out.append(("omitted_param_empty", name, {**args, only_empty: ""}))

    others = [f["name"] for f in sample.functions if f["name"] != name]
    if others:
        out.append(("tool_wrong_candidate", others[0], args))
    out.append(("tool_hallucinated", name + "_zq", args))
    return out


def predictions(sample: Sample) -> list:
    """Gold variants and mutations of ``sample``; kinds are unique within a sample."""
    gold = _gold_calls(sample)
    preds = {"gold": gold}
    for kind, calls in (
        ("gold_min", _gold_calls(sample, minimal=True)),
        ("gold_last", _gold_calls(sample, last=True)),
    ):
        if calls != gold:
            preds[kind] = calls
    if gold:
        k = zlib.crc32(sample.id.encode()) % len(gold)
        name, args = gold[k]
        for kind, new_name, new_args in _mutate_call(sample, name, args):
            preds[kind] = gold[:k] + [(new_name, new_args)] + gold[k + 1 :]
        if len(gold) >= 2:
            preds["calls_reordered"] = gold[::-1]
            preds["calls_rotated"] = gold[1:] + gold[:1]
            preds["calls_reordered_min"] = preds.get("gold_min", gold)[::-1]
        preds["call_dropped"] = gold[:k] + gold[k + 1 :]
        preds["call_duplicated"] = gold[: k + 1] + [copy.deepcopy(gold[k])] + gold[k + 1 :]
    return [Prediction(sample, kind, tuple(calls)) for kind, calls in preds.items()]
