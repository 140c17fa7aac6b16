"""Read rows from files, lists of dicts or `datasets.Dataset` objects."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from posttrain.errors import DataError, Problem, short

SUFFIXES = (".jsonl", ".json", ".csv", ".parquet", ".txt", ".md")


def read_rows(source: Any) -> tuple[list[dict], str]:
    """Return `(rows, label)` from a path, a list of dicts or a `datasets.Dataset`.

    `label` names the source in error messages (the file path, or "rows").
    """
    if isinstance(source, (str, Path)):
        path = Path(source).expanduser()
        return read_file(path), str(path)
    if _is_hf_dataset(source):
        return [dict(row) for row in source], "dataset"
    if isinstance(source, dict):
        raise DataError(Problem("data", f"got one dict ({short(source)}), not a list of rows",
                                "pass a list of dicts, e.g. [row] instead of row"))
    if isinstance(source, Iterable) and not isinstance(source, (bytes, str)):
        return list(source), "rows"
    raise DataError(Problem("data", f"cannot read rows from a {type(source).__name__} ({short(source)})",
                            "pass a list of dicts, a path to a .jsonl/.json/.csv/.parquet file, "
                            "or a datasets.Dataset"))


def _is_hf_dataset(obj: Any) -> bool:
    return type(obj).__name__ in {"Dataset", "IterableDataset"} and hasattr(obj, "column_names")


def read_file(path: Path) -> list[dict]:
    """Rows of one file; the format is chosen by suffix."""
    if not path.exists():
        raise DataError(Problem(str(path), "file not found", "check the path (relative paths are "
                                f"resolved from {Path.cwd()})"))
    if path.is_dir():
        raise DataError(Problem(str(path), "is a folder, not a data file",
                                f"name one file ending in {', '.join(SUFFIXES)}"))
    suffix = path.suffix.lower()
    readers = {".jsonl": _read_jsonl, ".json": _read_json, ".csv": _read_csv,
               ".parquet": _read_parquet, ".txt": _read_text, ".md": _read_text}
    if suffix not in readers:
        raise DataError(Problem(str(path), f"unsupported file type {suffix!r}",
                                f"use one of {', '.join(SUFFIXES)}"))
    try:
        return readers[suffix](path)
    except UnicodeDecodeError as err:
        raise DataError(Problem(str(path), f"is not UTF-8 text (byte {err.object[err.start]:#04x} at offset "
                                f"{err.start})", "save the file as UTF-8")) from None
    except OSError as err:
        raise DataError(Problem(str(path), f"cannot be read ({err.strerror or err})",
                                "check the file's permissions and that it is a regular file")) from None


def _read_jsonl(path: Path) -> list[dict]:
    rows, problems = [], []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as err:
                problems.append(Problem(f"{path}, line {number}", f"invalid JSON ({err.msg} at column "
                                        f"{err.colno}): {short(line.strip())}",
                                        "write one JSON object per line"))
    if problems:
        raise DataError(problems)
    return rows


def _read_json(path: Path) -> list[dict]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise DataError(Problem(str(path), f"invalid JSON ({err.msg} at line {err.lineno})",
                                "fix the JSON, or use .jsonl with one object per line")) from None
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        data = data["data"]
    if not isinstance(data, list):
        raise DataError(Problem(str(path), f"top level is a {type(data).__name__}, not a list of rows",
                                'write a JSON list of objects, or {"data": [...]}'))
    return data


def _read_csv(path: Path) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        rows = [dict(row) for row in reader]
    for number, row in enumerate(rows, start=1):
        if None in row:
            raise DataError(Problem(f"{path}, row {number}", "has more values than the header has columns",
                                    "quote fields that contain commas"))
    return [{key: _maybe_json(value) for key, value in row.items()} for row in rows]


def _maybe_json(value: str | None) -> Any:
    """CSV cells holding JSON lists (messages) are decoded; others stay strings."""
    if value and value[:1] == "[" and value[-1:] == "]":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _read_parquet(path: Path) -> list[dict]:
    import pyarrow
    import pyarrow.parquet

    try:
        return pyarrow.parquet.read_table(path).to_pylist()
    except (pyarrow.ArrowException, ValueError) as err:
        raise DataError(Problem(str(path), f"is not a readable Parquet file ({err})",
                                "write it with pandas/pyarrow/datasets `to_parquet`, or use .jsonl")) from None


def _read_text(path: Path) -> list[dict]:
    """A plain text file is one document per blank-line separated block."""
    blocks = [block.strip() for block in path.read_text(encoding="utf-8").split("\n\n")]
    return [{"text": block} for block in blocks if block]
