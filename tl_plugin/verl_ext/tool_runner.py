"""Run a tool function by import path, in this process or in a fresh one killed at a time limit.

Kept free of verl imports: a tool process imports this module and the tool's own module only.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import multiprocessing
from collections.abc import Callable
from typing import Any

__all__ = ["call_in_process", "exception_text", "preload", "render_result", "resolve_function"]


def _split(path: str) -> tuple[str, str]:
    if not isinstance(path, str) or not path.strip():
        raise ValueError(f"tool config 'function' must be 'module:function', got {path!r}")
    module_name, sep, attr = path.partition(":")
    if not sep:
        module_name, _, attr = path.rpartition(".")
    if not module_name or not attr:
        raise ValueError(f"tool config 'function' must be 'module:function', got {path!r}")
    return module_name, attr


def resolve_function(path: str) -> Callable:
    """The callable at ``"package.module:function"`` (or ``"package.module.function"``)."""
    module_name, attr = _split(path)
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"tool function {path!r}: cannot import module {module_name!r}: {exc}") from exc
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"tool function {path!r}: {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ValueError(f"tool function {path!r} is a {type(obj).__name__}, not a function")
    return obj


def render_result(result: Any) -> str:
    """Tool output as text: strings as they are, JSON data as JSON, anything else through ``str``."""
    if isinstance(result, str):
        return result
    if isinstance(result, (bytes, bytearray)):
        return bytes(result).decode("utf-8", errors="replace")
    if result is None or isinstance(result, (dict, list, tuple, int, float, bool)):
        try:
            return json.dumps(result, ensure_ascii=False, default=str)
        except (TypeError, ValueError):  # circular data
            pass
    return str(result)


def exception_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


_PRELOAD = [__name__]


def preload(target: str) -> None:
    """Import ``target``'s module once in the fork server, so that each call's process starts with
    it loaded (takes effect for tools declared before the first process call)."""
    module_name, _ = _split(target)
    if module_name not in _PRELOAD:
        _PRELOAD.append(module_name)
    ctx = _mp_context()
    if ctx.get_start_method() == "forkserver":
        ctx.set_forkserver_preload(list(_PRELOAD))


def _mp_context():
    methods = multiprocessing.get_all_start_methods()
    # forkserver: children fork from a clean server, not from this (threaded) process
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


def call_in_process(target: str, args: dict, timeout: float, timeout_text: str) -> str:
    """Run ``target(**args)`` in a new process; kill it at ``timeout``."""
    ctx = _mp_context()
    receiver, sender = ctx.Pipe(duplex=False)
    process = ctx.Process(target=_child, args=(target, args, sender), daemon=True)
    process.start()
    sender.close()
    try:
        if not receiver.poll(timeout):
            process.kill()
            return timeout_text
        try:
            return receiver.recv()
        except EOFError:  # the process died without answering (os._exit, a crash)
            process.join(5)
            return f"RuntimeError: the tool process exited with code {process.exitcode} without a result"
    finally:
        receiver.close()
        process.join(5)
        if process.is_alive():
            process.kill()


def _child(target: str, args: dict, sender) -> None:
    try:
        fn = resolve_function(target)
        result = fn(**args)
        if inspect.isawaitable(result):
            result = asyncio.run(_await(result))
        text = render_result(result)
    except BaseException as exc:  # everything the function does is reported, nothing escapes
        text = exception_text(exc)
    sender.send(text)
    sender.close()


async def _await(awaitable):
    return await awaitable
