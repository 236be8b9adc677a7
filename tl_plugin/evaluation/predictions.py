"""Predictions files: JSON Lines, one ``{"id": ..., "response": "<raw model text>"}`` per line.

``id`` is the benchmark's sample id (BFCL's ``simple_python_0``; ``clean:12`` for row 12 of a
RoTBench file ``clean.json``), a string or an integer. Bad lines raise a ValueError naming the
file, the line and the field; an id given twice is an error (which answer would count?).

>>> import tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "p.jsonl")
>>> append_predictions(path, [("a", "x"), ("b", "[f(n=1)]")])
>>> read_predictions(path)
{'a': 'x', 'b': '[f(n=1)]'}
"""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["append_predictions", "read_predictions"]


def read_predictions(path, response_field: str = "response") -> dict[str, str]:
    """``{id: response}`` from a JSON Lines file; ``response_field`` names the text field
    (``result`` reads BFCL's own result files)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"predictions file not found: {path}")
    out: dict[str, str] = {}
    first_line: dict[str, int] = {}
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            where = f"{path}:{n}"
            try:
                row = json.loads(line)
            except ValueError as exc:
                raise ValueError(f"{where}: not a JSON object ({exc})") from None
            if not isinstance(row, dict):
                raise ValueError(f"{where}: expected a JSON object, got {type(row).__name__}")
            sample_id = row.get("id")
            if isinstance(sample_id, bool) or not isinstance(sample_id, (str, int)):
                raise ValueError(f"{where}: field 'id' must be a string or an integer, got {sample_id!r}")
            response = row.get(response_field)
            if not isinstance(response, str):
                raise ValueError(
                    f"{where}: field {response_field!r} must be the model's raw text (a string), "
                    f"got {type(response).__name__}"
                )
            sample_id = str(sample_id)
            if sample_id in first_line:
                raise ValueError(f"{where}: id {sample_id!r} already given on line {first_line[sample_id]}")
            first_line[sample_id] = n
            out[sample_id] = response
    return out


def append_predictions(path, items) -> None:
    """Append ``(id, response)`` pairs, flushed: an interrupted run keeps what it generated."""
    with open(path, "a", encoding="utf-8") as fh:
        for sample_id, response in items:
            fh.write(json.dumps({"id": sample_id, "response": response}, ensure_ascii=False) + "\n")
        fh.flush()
