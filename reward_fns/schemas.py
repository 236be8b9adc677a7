"""Decode and validate the reward's two data inputs: gold calls and candidate tool schemas.

This module is also the one place that reads a tool schema: :func:`read_tool` checks one function
schema (plain or OpenAI-wrapped) and :func:`canonical_tool` writes it with JSON-Schema type names;
``tl-prepare`` (:mod:`data_transforms.records`) and the reward both use them, so the data
pipeline refuses exactly the schemas the reward cannot read. A bad schema raises
:class:`SchemaError` naming the field (``tools[0]``, ``tools[0].name``,
``tools[0][get_weather].parameters.required``).

Both arrive as JSON strings (parquet merges nested dicts of different shapes, so rows store them
as strings) or as already-decoded lists. Bad data raises ``ValueError`` naming the item and
field; it is the dataset's fault, not the model's. (``tl_tool`` caches the decoded pair per
(ground truth, tools) strings, because a GRPO group scores ``n`` responses against the same one.)

>>> decode_gold_calls('[{"name": "f", "arguments": {"x": [1, 2], "unit": ["", "km"]}}]')
(GoldCall(name='f', arguments={'x': [1, 2], 'unit': ['', 'km']}),)
>>> decode_gold_calls('[{"f": {"x": [1]}}]')  # BFCL's possible-answer form
(GoldCall(name='f', arguments={'x': [1]}),)
>>> index_tools('[{"name": "f", "parameters": {"type": "dict", "properties": {"x": {"type": "integer"}}, "required": ["x"]}}]')["f"].required
('x',)
"""

from __future__ import annotations

import copy
import json
from typing import NamedTuple

from .schema_types import canonical_schema
from .values import dict_form

__all__ = [
    "GoldCall",
    "SchemaError",
    "ToolSpec",
    "canonical_tool",
    "check_gold_against_tools",
    "decode_gold_calls",
    "index_tools",
    "load_json",
    "load_json_list",
    "read_tool",
    "tool_spec",
    "tools_from_gold",
]


class GoldCall(NamedTuple):
    name: str
    arguments: dict  # parameter -> list of acceptable values ("" = may be omitted)


class ToolSpec(NamedTuple):
    properties: dict  # parameter -> its JSON schema (may lack "type")
    required: tuple


def load_json(value, what: str):
    if isinstance(value, (bytes, bytearray)):
        value = value.decode("utf-8", errors="replace")
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError as exc:
            raise ValueError(f"{what} is not valid JSON: {exc}") from None
    if hasattr(value, "tolist"):  # numpy arrays from a parquet list column
        return value.tolist()
    return value


def _gold_call(i: int, item) -> GoldCall:
    if isinstance(item, dict) and "name" in item:
        name, args = item["name"], item.get("arguments", {})
    elif isinstance(item, dict) and len(item) == 1:
        ((name, args),) = item.items()
    else:
        raise ValueError(
            f"ground_truth[{i}] must be {{'name': str, 'arguments': {{param: [values]}}}} "
            f"or BFCL's {{name: {{param: [values]}}}}, got {str(item)[:200]!r}"
        )
    if not isinstance(name, str) or not name:
        raise ValueError(f"ground_truth[{i}].name must be a non-empty string, got {name!r}")
    if isinstance(args, str):
        args = load_json(args, f"ground_truth[{i}].arguments")
    if not isinstance(args, dict):
        raise ValueError(f"ground_truth[{i}].arguments must be an object, got {type(args).__name__}")
    for param, acceptable in args.items():
        if not isinstance(acceptable, list):
            raise ValueError(
                f"ground_truth[{i}].arguments.{param} must be a list of acceptable values, got "
                f"{acceptable!r}; wrap a single value as [value] (converters do this)"
            )
    return GoldCall(name, args)


def load_json_list(value, what: str, noun: str) -> list:
    value = load_json(value, what)
    if not isinstance(value, list):
        raise ValueError(
            f"{what} must be a JSON list of {noun}s, got {type(value).__name__}"
            + (f"; wrap a single {noun} as [{noun}]" if isinstance(value, dict) else "")
        )
    return value


def decode_gold_calls(value) -> tuple:
    """Gold calls from a JSON string or list. An empty list means "no tool should be called"."""
    return tuple(_gold_call(i, item) for i, item in enumerate(load_json_list(value, "ground_truth", "gold call")))


class SchemaError(ValueError):
    """A tool schema that cannot be read: ``field`` says where, ``problem`` what is wrong."""

    def __init__(self, field: str, problem: str):
        self.field, self.problem = field, problem
        super().__init__(f"{field}: {problem}")


class ToolSchema(NamedTuple):
    """One function schema as :func:`read_tool` found it (the OpenAI wrapper removed)."""

    schema: dict  # the function's own fields: name, description, parameters, ...
    name: str
    parameters: dict  # decoded; "properties" and "required" checked


_NO_PARAMETERS = {"type": "object", "properties": {}}


def read_tool(item, where: str = "tools") -> ToolSchema:
    """Check one function schema, plain ``{"name", "parameters", ...}`` or OpenAI's
    ``{"type": "function", "function": {...}}``; raise :class:`SchemaError` where it is not one.

    ``parameters`` may be a JSON string; left out, null or empty it means no parameters. Its
    ``properties`` must be an object and its ``required`` a list of names (null or empty: none).
    Errors name ``where`` for the schema, ``where.name`` for its name and
    ``where[NAME].parameters...`` for its parameters.
    """
    if isinstance(item, dict) and isinstance(item.get("function"), dict):
        item = item["function"]
    if not isinstance(item, dict):
        raise SchemaError(where, f"a tool schema must be an object, got {str(item)[:120]!r}")
    name = item.get("name")
    if not isinstance(name, str) or not name:
        raise SchemaError(f"{where}.name", f"a tool needs a non-empty string name, got {name!r}")
    params_where = f"{where}[{name}].parameters"
    params = item.get("parameters") or _NO_PARAMETERS
    if isinstance(params, str):
        try:
            params = json.loads(params)
        except ValueError as exc:
            raise SchemaError(params_where, f"not valid JSON ({exc}): {params[:120]!r}") from None
    if not isinstance(params, dict):
        raise SchemaError(params_where, f"must be an object, got {str(params)[:120]!r}")
    props = params.get("properties")
    if props and not isinstance(props, dict):
        raise SchemaError(f"{params_where}.properties", f"must be an object, got {str(props)[:120]!r}")
    required = params.get("required")
    if required and (not isinstance(required, list) or not all(isinstance(r, str) for r in required)):
        raise SchemaError(f"{params_where}.required", f"must be a list of names, got {str(required)[:120]!r}")
    return ToolSchema(item, name, params)


def canonical_tool(item, where: str = "tools") -> dict:
    """A plain ``{"name", "description", "parameters", ...}`` schema with JSON-Schema type names
    (:func:`reward_fns.schema_types.canonical_schema`), the input unchanged; checked as
    :func:`read_tool` checks it. A null or empty non-object ``properties`` becomes ``{}``, a null
    or empty non-list ``required`` is left out.

    >>> canonical_tool({"type": "function", "function": {"name": "f", "parameters": {"type": "dict",
    ...     "properties": {"x": {"type": "float"}}, "required": None}}})
    {'name': 'f', 'description': '', 'parameters': {'type': 'object', 'properties': {'x': {'type': 'number'}}}}
    """
    schema, name, params = read_tool(item, where)
    params = dict(params)
    if "properties" in params and not isinstance(params["properties"], dict):
        params["properties"] = {}  # null, [] (PHP's empty object), "": no parameters
    if "required" in params and not isinstance(params["required"], list):
        del params["required"]  # null, "": none
    extra = {k: copy.deepcopy(v) for k, v in schema.items() if k not in ("name", "description", "parameters")}
    return {
        "name": name,
        "description": str(schema.get("description") or ""),
        "parameters": canonical_schema(params).schema,
        **extra,
    }


def tool_spec(i: int, item) -> tuple[str, ToolSpec]:
    """``(name, ToolSpec)`` of ``extra_info.tools[i]``, checked by :func:`read_tool`."""
    _, name, params = read_tool(item, f"extra_info.tools[{i}]")
    # types read as tl-prepare maps them ("Dict" -> object, "List[str]" -> array of strings); a
    # spelling with no clear meaning stays, and the parameter counts as untyped
    props = canonical_schema({"properties": params.get("properties") or {}}).schema["properties"]
    return name, ToolSpec(props, tuple(params.get("required") or ()))


def index_tools(value) -> dict:
    """``{tool name: ToolSpec}`` from a JSON string or list of OpenAI/BFCL function schemas.

    A name listed twice keeps its first schema (``tl-prepare``'s ``duplicate_tools=keep_first``).
    """
    items = load_json_list(value, "extra_info.tools", "tool schema")
    index: dict = {}
    for i, item in enumerate(items):
        name, spec = tool_spec(i, item)
        index.setdefault(name, spec)
    return index


def tools_from_gold(gold: tuple) -> dict:
    """Stand-in tool index when a row carries no schemas: the gold calls' names and parameters.

    Without schemas a parameter outside the gold call cannot be told apart as redundant, so it
    counts as hallucinated; types come from the gold values.
    """
    index = {}
    for call in gold:
        props = dict(index[call.name].properties) if call.name in index else {}
        props.update({p: {} for p in call.arguments})
        index[call.name] = ToolSpec(props, ())  # gold lists without "" already make params required
    return index


def _check_dict_option(option: dict, where: str) -> None:
    for key, acceptable in option.items():
        if not isinstance(acceptable, list):
            raise ValueError(
                f"{where}: a dict's values must be lists of acceptable values (BFCL form "
                f"{{key: [values]}}), got {key!r}: {acceptable!r}"
            )


def check_gold_against_tools(gold: tuple, tools: dict) -> None:
    """Raise ``ValueError`` where the gold calls do not fit the tool schemas.

    Every gold call must name a candidate tool, and wherever the reward reads acceptable dicts in
    BFCL form (:func:`reward_fns.values.dict_form`: an object parameter, an untyped one whose gold
    is a dict, the items of an array of objects) they must be ``{key: [values]}``. Gold that is
    well formed but cannot be met (an empty acceptable list, a required parameter the schema
    lacks) is not refused: no response scores +1 against it, which is BFCL's verdict too.
    """
    for i, call in enumerate(gold):
        spec = tools.get(call.name)
        if spec is None:
            raise ValueError(f"ground_truth[{i}] calls {call.name!r}, which is not in extra_info.tools")
        for param, acceptable in call.arguments.items():
            if param not in spec.properties:
                # Unsatisfiable if required (giving it is a hallucination, leaving it out a missing
                # parameter): scored as never right, as BFCL does, not refused.
                continue
            where = f"ground_truth[{i}].arguments.{param}"
            form = dict_form(acceptable, spec.properties[param])
            for option in acceptable:
                if form == "dict" and isinstance(option, dict):
                    _check_dict_option(option, where)
                elif form == "dict_items" and isinstance(option, list):
                    for item in option:
                        if isinstance(item, dict):
                            _check_dict_option(item, where)
