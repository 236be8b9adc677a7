"""Markers for the whole suite.

``verl`` goes on every test that imports verl: all tests of a module that imports it at module
level, directly or through the parts of tl-plugin that do (``tl_plugin.verl_ext``,
``tl_plugin.cli.inspect_sft``, ``tests.helpers.verl_*``), and each test whose own body or fixtures
import it. A test that reaches verl through a helper function says so with ``@pytest.mark.verl``;
``tests/test_layering.py`` runs the fast loop with verl unimportable, so a missing mark fails CI.

Fast loop (the pure layers): ``TL_FAST_LOOP=1 pytest tests/reward_fns tests/data_transforms
reward_fns data_transforms -m "not verl and not slow"``; ``TL_FAST_LOOP=1`` runs a fifth of each
property test's examples (``tests.helpers.examples``). ``slow`` (over about 10 s: end-to-end runs,
whole-dataset checks) is written on the test. CI runs everything, with every example.
"""

import inspect
import os
import re
from functools import cache
from pathlib import Path

import pytest
from hypothesis import settings

if os.environ.get("TL_FAST_LOOP") == "1":  # property tests without their own count: 20 examples
    settings.register_profile("fast_loop", max_examples=20)
    settings.load_profile("fast_loop")

_TARGETS = (
    r"(?:verl\b|tests\.helpers\.verl_|tl_plugin\.cli\.inspect_sft\b|"
    r"tl_plugin\.verl_ext(?:\.(?!row_format\b|tool_runner\b|pkt_tokens\b)|\s+import))"
)
TOP_LEVEL_IMPORT = re.compile(r"^(?:from|import)\s+" + _TARGETS, re.M)
ANY_IMPORT = re.compile(r"^\s*(?:from|import)\s+" + _TARGETS, re.M)


@cache
def _module_imports_verl(path: str) -> bool:
    return bool(TOP_LEVEL_IMPORT.search(Path(path).read_text(encoding="utf-8")))


@cache
def _function_imports_verl(func) -> bool:
    try:
        return bool(ANY_IMPORT.search(inspect.getsource(func)))
    except (OSError, TypeError):
        return False


def _uses_verl(item) -> bool:
    if _module_imports_verl(str(item.fspath)):
        return True
    if _function_imports_verl(getattr(item, "function", None)):
        return True
    fixtures = getattr(item, "_fixtureinfo", None)
    for defs in fixtures.name2fixturedefs.values() if fixtures else ():
        if any(_function_imports_verl(d.func) for d in defs):
            return True
    return False


def pytest_collection_modifyitems(items):
    for item in items:
        if isinstance(item, pytest.Function) and _uses_verl(item):
            item.add_marker(pytest.mark.verl)
