"""Files in and out: JSON Lines, JSON and parquet, read row by row and written atomically.

The one home of file reading and writing for ``data_transforms`` and ``tl_plugin``
(:func:`iter_rows`, :func:`read_json`; :func:`write_json`, :func:`write_jsonl`, :func:`append_jsonl`,
:func:`write_parquet`). Reading source files:

Row names are ``file.jsonl:LINE`` (1-based line) for JSON Lines and ``file.json[INDEX]`` for a JSON
array or a parquet file (0-based row), so a RecordError points at the exact place to fix. The
format is told by the content, not the file name: parquet by its ``PAR1`` magic bytes, a JSON
array by a leading ``[``, anything else is read as JSON Lines. A file none of these can read
raises :class:`InputFileError`: one line naming the file and the formats read.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from data_transforms.records import RecordError

__all__ = [
    "FORMATS_READ",
    "InputFileError",
    "append_jsonl",
    "atomic_path",
    "iter_rows",
    "read_json",
    "write_json",
    "write_jsonl",
    "write_parquet",
]

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


def read_json(path, what: str = "JSON file"):
    """The JSON document in ``path`` (a report, a manifest); a ValueError naming the file if it
    is not JSON, FileNotFoundError naming ``what`` if there is no file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except ValueError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None


# --------------------------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------------------------


@contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path``; on success it replaces ``path``, else it is removed.

    A killed or failed run never leaves a half-written file under the real name.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(obj, path) -> Path:
    """Write ``obj`` as indented JSON atomically (see :func:`atomic_path`)."""
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, indent=2, ensure_ascii=False)
    return path


def write_jsonl(rows: list, path) -> Path:
    """Write ``rows`` as JSON Lines atomically (see :func:`atomic_path`)."""
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


def write_parquet(rows: list, path) -> Path:
    """Write ``rows`` to parquet atomically (see :func:`atomic_path`)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist(rows)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
    return Path(path)


def append_jsonl(rows: Iterable, path) -> Path:
    """Append ``rows`` as JSON Lines, flushed: a run killed later keeps what was appended. Not atomic
    (a kill during the write can leave a torn last line); readers that resume cut it off."""
    path = Path(path)
    with open(path, "a", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        fh.flush()
    return path
