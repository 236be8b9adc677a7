"""Reading source files: JSON Lines, one JSON array, or parquet; each row named for error messages.

Row names are ``file.jsonl:LINE`` (1-based line) for JSON Lines and ``file.json[INDEX]`` for a JSON
array or a parquet file (0-based row), so a RecordError points at the exact place to fix. The
format is told by the content, not the file name: parquet by its ``PAR1`` magic bytes, a JSON
array by a leading ``[``, anything else is read as JSON Lines. A file none of these can read
raises :class:`InputFileError`: one line naming the file and the formats read.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from data_transforms.records import RecordError

__all__ = ["FORMATS_READ", "InputFileError", "iter_rows"]

FORMATS_READ = "JSON Lines (one object per line), a JSON array of objects, or parquet"
_PARQUET_MAGIC = b"PAR1"
_GZIP_MAGIC = b"\x1f\x8b"
_ZIP_MAGIC = b"PK\x03\x04"
_PARQUET_BATCH = 1024  # rows decoded at a time: a large file is never held as Python objects at once


class InputFileError(ValueError):
    """A source file that cannot be read at all (not one bad row: the whole file)."""

    def __init__(self, path, problem: str):
        self.path, self.problem = str(path), problem
        super().__init__(f"cannot read {path}: {problem}; the formats read are {FORMATS_READ}")


def iter_rows(path, bad_rows: str = "raise") -> Iterator[tuple[str, dict | RecordError]]:
    """Yield ``(row name, row dict)`` from a JSON Lines, JSON array or parquet file.

    A row that is not a JSON object (or a line that is not JSON) raises its RecordError, or with
    ``bad_rows="yield"`` comes out as ``(row name, RecordError)`` and reading goes on, so a caller
    that skips bad rows loses only them. A file that cannot be read at all raises InputFileError.
    """
    if bad_rows not in ("raise", "yield"):
        raise ValueError(f"bad_rows must be 'raise' or 'yield', got {bad_rows!r}")
    for name, row in _rows(Path(path)):
        if isinstance(row, RecordError) and bad_rows == "raise":
            raise row
        yield name, row


def _rows(path: Path) -> Iterator[tuple[str, dict | RecordError]]:
    try:
        with path.open("rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        raise InputFileError(path, exc.strerror or type(exc).__name__) from None
    if magic == _PARQUET_MAGIC:
        yield from _parquet_rows(path)
        return
    if magic[:2] == _GZIP_MAGIC or magic == _ZIP_MAGIC:
        raise InputFileError(path, "it is a compressed archive; decompress it first")
    if path.suffix == ".parquet":
        raise InputFileError(path, "named .parquet but not a parquet file (no PAR1 magic bytes)")
    try:
        yield from _json_rows(path)
    except UnicodeDecodeError as exc:
        raise InputFileError(path, f"neither UTF-8 text ({exc.reason} in a {exc.encoding} read) nor parquet") from None


def _json_rows(path: Path) -> Iterator[tuple[str, dict]]:
    with path.open(encoding="utf-8") as fh:
        head = fh.read(4096).lstrip("\ufeff \t\r\n")
    if head.startswith("["):
        try:
            rows = json.loads(path.read_text(encoding="utf-8-sig"))
        except ValueError as exc:
            if isinstance(exc, UnicodeDecodeError):
                raise
            # one broken array loses every row of it: the whole file, never skipped row by row
            raise InputFileError(path, f"not a valid JSON array ({exc})") from None
        for i, row in enumerate(rows):
            name = f"{path.name}[{i}]"
            if not isinstance(row, dict):
                row = RecordError(name, "<row>", f"must be a JSON object, got {type(row).__name__}")
            yield name, row
        return
    with path.open(encoding="utf-8-sig") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            name = f"{path.name}:{lineno}"
            try:
                row = json.loads(line)
            except ValueError as exc:
                row = RecordError(name, "<line>", f"not valid JSON ({exc})")
            else:
                if not isinstance(row, dict):
                    row = RecordError(name, "<row>", f"must be a JSON object, got {type(row).__name__}")
            yield name, row


def _parquet_rows(path: Path) -> Iterator[tuple[str, dict]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        batches = pq.ParquetFile(path).iter_batches(batch_size=_PARQUET_BATCH)
        index = 0
        for batch in batches:
            for row in batch.to_pylist():
                yield f"{path.name}[{index}]", row
                index += 1
    except (pa.ArrowException, OSError) as exc:
        raise InputFileError(path, f"a broken parquet file ({str(exc).splitlines()[0][:200]})") from None
