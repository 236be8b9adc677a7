"""Gold answers in possible-answer form: a reference answer to train on, and whether one exists.

Gold calls are ``[{"name": str, "arguments": {param: [acceptable values]}}]``
(docs/design.md#gold-calls), where an acceptable ``""`` means the parameter may be left out. The
reference answer takes each parameter's first acceptable value that is not ``""`` and leaves out
parameters that may only be omitted. Some BFCL gold cannot be met by any answer (an empty acceptable list, a parameter the gold
requires but the schema lacks, or one the schema requires but the gold only lets be omitted); :func:`gold_problem` says why, so the pipeline can count and
report those rows instead of writing a row no response can get right.

>>> gold = [{"name": "f", "arguments": {"x": [2, 2.0], "unit": ["", "km"], "opt": [""]}}]
>>> reference_answer(gold)
[{'name': 'f', 'arguments': {'x': 2, 'unit': 'km'}}]
>>> tools = [{"name": "f", "parameters": {"type": "object", "properties": {"x": {}, "unit": {}}}}]
>>> gold_problem(gold, tools)
>>> gold_problem([{"name": "f", "arguments": {"x": []}}], tools)
"tool 'f' parameter 'x' has no acceptable value"
>>> gold_problem([{"name": "f", "arguments": {"x": [[None, False]]}}],
...              [{"name": "f", "parameters": {"properties": {"x": {"type": "array", "items": {"type": "string"}}}}}])
"tool 'f' parameter 'x': the gold value [None, False] fails the type check for its schema {'type': 'array', 'items': {'type': 'string'}}"
>>> gold_problem([{"name": "f", "arguments": {"y": [1]}}], tools)
"tool 'f' parameter 'y' is required by the gold answer but not in the tool's schema"
>>> tools[0]["parameters"]["required"] = ["x"]
>>> gold_problem([{"name": "f", "arguments": {"x": [""]}}], tools)
"tool 'f' parameter 'x' is required by the schema but the gold answer gives no value for it"
"""

from __future__ import annotations

from reward_fns.values import dict_form, value_matches

__all__ = ["gold_problem", "reference_answer"]


def reference_answer(gold: list, tools: list | None = None) -> list:
    """Concrete calls that satisfy ``gold``: first acceptable non-empty value per parameter.

    With ``tools``, a parameter the schema lacks is left out when the gold lets it be omitted
    (giving it would be a hallucinated parameter), and dict values are unwrapped from BFCL form
    ``{key: [values]}`` exactly where the reward reads that form (``reward_fns.values.dict_form``).
    """
    props = {t["name"]: (t.get("parameters") or {}).get("properties") or {} for t in tools or ()}
    calls = []
    for call in gold:
        args = {}
        known = props.get(call["name"])
        for param, acceptable in call["arguments"].items():
            if known is not None and param not in known and "" in acceptable:
                continue
            for value in acceptable:
                if value != "":
                    schema = known.get(param) if known is not None else None
                    args[param] = _concrete(value, dict_form(acceptable, schema))
                    break
        calls.append({"name": call["name"], "arguments": args})
    return calls


def _first_options(option: dict) -> dict:
    # {"k": [v1, v2], "o": ["", v]} -> {"k": v1, "o": v}; a key with only "" is left out
    out = {}
    for key, options in option.items():
        if not isinstance(options, list):
            out[key] = options
            continue
        chosen = next((o for o in options if o != ""), None)
        if chosen is not None or "" not in options:
            out[key] = chosen
    return out


def _concrete(value, form):
    if form == "dict" and isinstance(value, dict):
        return _first_options(value)
    if form == "dict_items" and isinstance(value, list):
        return [_first_options(v) if isinstance(v, dict) else v for v in value]
    return value


def gold_problem(gold: list, tools: list) -> str | None:
    """Why no answer can satisfy ``gold`` under ``tools``; ``None`` when one can."""
    schemas = {t["name"]: t for t in tools}
    for call in gold:
        tool = schemas.get(call["name"])
        if tool is None:
            return f"tool {call['name']!r} is called by the gold answer but is not a candidate tool"
        params = tool.get("parameters") or {}
        props = params.get("properties") or {}
        for param in params.get("required") or ():
            if not any(v != "" for v in call["arguments"].get(param, ())):
                return f"tool {call['name']!r} parameter {param!r} is required by the schema but the gold answer gives no value for it"
        for param, acceptable in call["arguments"].items():
            if not acceptable:
                return f"tool {call['name']!r} parameter {param!r} has no acceptable value"
            if param not in props and "" not in acceptable:
                return f"tool {call['name']!r} parameter {param!r} is required by the gold answer but not in the tool's schema"
            reference = next((v for v in acceptable if v != ""), None)
            if param in props and reference is not None:
                # the value a reference answer gives must pass the reward's own type rules (BFCL's):
                # e.g. [None, False] for a list of strings fails them, so no answer scores +1
                value = _concrete(reference, dict_form(acceptable, props[param]))
                if not value_matches(value, acceptable, props[param]):
                    return (
                        f"tool {call['name']!r} parameter {param!r}: the gold value {value!r} fails the type "
                        f"check for its schema {props[param]!r}"
                    )
    return None
