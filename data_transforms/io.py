"""Reading source files: JSON Lines or one JSON array, each row named for error messages.

Row names are ``file.jsonl:LINE`` (1-based line) for JSON Lines and ``file.json[INDEX]`` for a JSON
array, so a RecordError points at the exact place to fix.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from data_transforms.records import RecordError

__all__ = ["iter_rows"]


def iter_rows(path) -> Iterator[tuple[str, dict]]:
    """Yield ``(row name, row dict)`` from a JSON Lines file or a file holding one JSON array."""
    path = Path(path)
    with path.open(encoding="utf-8") as fh:
        head = fh.read(4096).lstrip()
    if head.startswith("["):
        try:
            rows = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise RecordError(path.name, "<file>", f"not a valid JSON array ({exc})") from None
        for i, row in enumerate(rows):
            name = f"{path.name}[{i}]"
            if not isinstance(row, dict):
                raise RecordError(name, "<row>", f"must be a JSON object, got {type(row).__name__}")
            yield name, row
        return
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            name = f"{path.name}:{lineno}"
            try:
                row = json.loads(line)
            except ValueError as exc:
                raise RecordError(name, "<line>", f"not valid JSON ({exc})") from None
            if not isinstance(row, dict):
                raise RecordError(name, "<row>", f"must be a JSON object, got {type(row).__name__}")
            yield name, row
