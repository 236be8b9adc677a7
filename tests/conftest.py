"""Markers for the whole suite.

``verl`` is put on every test of a module that imports verl, directly or through the parts of
tl-plugin that do (``tl_plugin.verl_ext``, ``tl_plugin.cli.inspect_sft``, ``tests.helpers.verl_*``),
so the fast loop can leave them out: ``pytest tests/reward_fns tests/data_transforms reward_fns
data_transforms -m "not verl and not slow"``. ``slow`` (end-to-end runs) is written on the test.
CI runs everything.
"""

import re
from functools import cache
from pathlib import Path

import pytest

VERL_IMPORT = re.compile(
    r"^\s*(?:from|import)\s+(?:verl\b|tests\.helpers\.verl_|tl_plugin\.cli\.inspect_sft\b|"
    r"tl_plugin\.verl_ext(?:\.(?!row_format\b|tool_runner\b|pkt_tokens\b)|\s+import))",
    re.M,
)


@cache
def imports_verl(path: Path) -> bool:
    return bool(VERL_IMPORT.search(path.read_text(encoding="utf-8")))


def pytest_collection_modifyitems(items):
    for item in items:
        path = Path(str(item.fspath))
        if path.suffix == ".py" and path.name.startswith("test_") and imports_verl(path):
            item.add_marker(pytest.mark.verl)
