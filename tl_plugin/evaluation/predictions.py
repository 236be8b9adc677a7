"""Predictions files: JSON Lines, one ``{"id": ..., "response": "<raw model text>"}`` per line.

``id`` is the benchmark's sample id (BFCL's ``simple_python_0``; ``clean:12`` for row 12 of a
RoTBench file ``clean.json``), a string or an integer. Files are read and written by
:mod:`data_transforms.io` (so a JSON array or a parquet file of such rows is read too). Bad rows
raise a ValueError naming the file, the row and the field; an id given twice is an error (which
answer would count?).

>>> import tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "p.jsonl")
>>> append_predictions(path, [("a", "x"), ("b", "[f(n=1)]")])
>>> read_predictions(path)
{'a': 'x', 'b': '[f(n=1)]'}
"""

from __future__ import annotations

from pathlib import Path

from data_transforms.io import append_jsonl, iter_rows
from data_transforms.records import RecordError

__all__ = ["append_predictions", "read_predictions"]


def read_predictions(path, response_field: str = "response") -> dict[str, str]:
    """``{id: response}`` from a predictions file; ``response_field`` names the text field
    (``result`` reads BFCL's own result files)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"predictions file not found: {path}")
    out: dict[str, str] = {}
    first_row: dict[str, str] = {}
    for name, row in iter_rows(path, bad_rows="yield"):
        where = str(path.with_name(name))  # the path with the row: preds.jsonl:3
        if isinstance(row, RecordError):
            raise ValueError(f"{where}: {row.problem}") from None
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
        if sample_id in first_row:
            raise ValueError(f"{where}: id {sample_id!r} already given in row {first_row[sample_id]}")
        first_row[sample_id] = name
        out[sample_id] = response
    return out


def append_predictions(path, items) -> None:
    """Append ``(id, response)`` pairs, flushed: an interrupted run keeps what it generated."""
    append_jsonl(({"id": sample_id, "response": response} for sample_id, response in items), path)
