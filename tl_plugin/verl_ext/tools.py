"""Plain Python functions as executable tools in verl's multi-turn rollouts.

Declare each function in verl's own tool config file
(``actor_rollout_ref.rollout.multi_turn.tool_config_path``); verl instantiates the class and its
``ToolAgentLoop`` (and ``tl_multiturn_agent``, which extends it) calls ``execute``::

    tools:
      - class_name: tl_plugin.verl_ext.tools.PythonFunctionTool
        config:
          type: native                     # verl's tool type
          function: my_tools:get_weather   # module:function (module.function works too)
          timeout: 10                      # seconds per call
          isolation: thread                # or process: a fresh process per call, killed at the limit
          validate_arguments: true         # check argument types against the schema (jsonschema)
        # tool_schema: {...}               # optional; default: from the function's type hints and
        #                                  # Google-style docstring (transformers.utils.get_json_schema)

The functions need no verl import. Every outcome becomes a tool response, worded the way Python
words it, so that the MAE classifier (``data_transforms.tool_feedback``) can read it:

=======================================  ===============================================================  ========================
outcome                                  response text                                                    category
=======================================  ===============================================================  ========================
an argument the schema does not have     ``TypeError: get_weather() got an unexpected keyword argument``  param_hallucination
a required argument left out             ``TypeError: get_weather() missing 1 required positional ...``   param_missing
a value of the wrong type                ``ValidationError: parameter 'days': 'x' is not of type ...``    tool_call_failure
the function raised                      ``ValueError: unknown city 'Atlantis'``                          tool_call_failure
no result within ``timeout``             ``TimeoutError: get_weather did not return within 10 s``         tool_instability
=======================================  ===============================================================  ========================

Arguments are the JSON object the model wrote (verl decodes it with ``json.loads``) passed as
keyword arguments; nothing the model writes is evaluated.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from verl.tools.base_tool import BaseTool
from verl.tools.schemas import OpenAIFunctionToolSchema, ToolResponse

from tl_plugin.verl_ext.tool_runner import call_in_process, exception_text, preload, render_result, resolve_function

__all__ = ["PythonFunctionTool", "schema_from_function"]

ISOLATIONS = ("thread", "process")
_OPTIONS = {"type", "function", "name", "timeout", "isolation", "validate_arguments"}


def schema_from_function(fn: Callable, name: str | None = None) -> OpenAIFunctionToolSchema:
    """The OpenAI tool schema of ``fn`` from its type hints and Google-style docstring."""
    from transformers.utils import get_json_schema

    try:
        raw = get_json_schema(fn)
    except Exception as exc:  # DocstringParsingException, TypeHintParsingException
        raise ValueError(
            f"cannot build a tool schema from {fn.__module__}.{fn.__qualname__}: {exc}. Give every "
            "parameter a type hint and an 'Args:' entry in a Google-style docstring, or set tool_schema "
            "in the tool config"
        ) from exc
    if name:
        raw["function"]["name"] = name
    return OpenAIFunctionToolSchema.model_validate(raw)


class PythonFunctionTool(BaseTool):
    """A verl ``BaseTool`` that runs one Python function with a time limit (see the module doc)."""

    def __init__(self, config: dict, tool_schema: OpenAIFunctionToolSchema | None = None):
        config = dict(config or {})
        unknown = set(config) - _OPTIONS
        if unknown:
            raise ValueError(f"unknown PythonFunctionTool config keys {sorted(unknown)}; expected {sorted(_OPTIONS)}")
        self.target = config.get("function")
        self.fn = resolve_function(self.target)
        self.timeout = _positive(config.get("timeout", 10.0), f"tool {self.target!r}: timeout")
        self.isolation = config.get("isolation", "thread")
        if self.isolation not in ISOLATIONS:
            raise ValueError(f"tool {self.target!r}: isolation must be one of {ISOLATIONS}, got {self.isolation!r}")
        if self.isolation == "process":
            preload(self.target)
        if tool_schema is None:
            tool_schema = schema_from_function(self.fn, config.get("name"))
        super().__init__(config, tool_schema)

        params = self.tool_schema.function.parameters
        self.properties = dict(params.properties or {})
        self.required = tuple(params.required or ())
        self._check_signature()
        self.validator = None
        if config.get("validate_arguments", True):
            schema = {"type": "object", "properties": params.model_dump(exclude_none=True)["properties"]}
            try:
                Draft202012Validator.check_schema(schema)
            except SchemaError as exc:
                raise ValueError(
                    f"tool {self.name!r}: its parameter schema is not valid JSON Schema: {exc.message}"
                ) from exc
            self.validator = Draft202012Validator(schema)

    def _check_signature(self) -> None:
        """The schema must fit the function: a mismatch is the tool author's bug, not the model's."""
        try:
            sig = inspect.signature(self.fn)
        except (TypeError, ValueError):
            return  # builtins without a signature: nothing to compare
        params = sig.parameters
        if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
            extra = [p for p in self.properties if p not in params]
            if extra:
                raise ValueError(f"tool {self.name!r}: schema parameters {extra} are not parameters of {self.target}")
        needed = [
            n
            for n, p in params.items()
            if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and n not in self.required
        ]
        if needed:
            raise ValueError(
                f"tool {self.name!r}: {self.target} requires {needed}, which the schema does not mark required"
            )

    async def execute(self, instance_id: str, parameters: dict[str, Any], **kwargs) -> tuple[ToolResponse, float, dict]:
        text = self.argument_error(parameters)
        if text is None:
            text = await self.call(parameters)
        return ToolResponse(text=text), 0.0, {}

    def argument_error(self, args: Any) -> str | None:
        """The response for arguments the schema rejects (as CPython words it), else ``None``."""
        if not isinstance(args, dict):
            return f"TypeError: {self.name}() arguments must be a JSON object of keyword arguments, got {type(args).__name__}"
        for key in args:
            if key not in self.properties:
                return f"TypeError: {self.name}() got an unexpected keyword argument '{key}'"
        missing = [p for p in self.required if p not in args]
        if missing:
            names = [f"'{p}'" for p in missing]
            # CPython: 'a' / 'a' and 'b' / 'a', 'b', and 'c'
            listed = " and ".join(names) if len(names) <= 2 else ", ".join(names[:-1]) + f", and {names[-1]}"
            plural = "argument" if len(names) == 1 else "arguments"
            return f"TypeError: {self.name}() missing {len(names)} required positional {plural}: {listed}"
        if self.validator is not None:
            error = next(iter(self.validator.iter_errors(args)), None)
            if error is not None:
                where = f"parameter '{error.absolute_path[0]}': " if error.absolute_path else ""
                return f"ValidationError: {where}{error.message}"
        return None

    async def call(self, args: dict) -> str:
        """Run the function on ``args`` within ``timeout``; the response text, whatever happens."""
        timeout_text = f"TimeoutError: {self.name} did not return within {self.timeout:g} s"
        if self.isolation == "process":
            return await asyncio.to_thread(call_in_process, self.target, args, self.timeout, timeout_text)
        try:
            if inspect.iscoroutinefunction(self.fn):
                result = await asyncio.wait_for(self.fn(**args), self.timeout)
            else:
                # the worker thread cannot be stopped: past the limit it finishes unobserved
                result = await asyncio.wait_for(asyncio.to_thread(self.fn, **args), self.timeout)
        except asyncio.TimeoutError:
            return timeout_text
        except Exception as exc:
            return exception_text(exc)
        return render_result(result)


def _positive(value: Any, what: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number of seconds, got {value!r}") from None
    if not number > 0:
        raise ValueError(f"{what} must be > 0, got {value!r}")
    return number
