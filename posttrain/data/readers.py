"""Read rows from files, lists of dicts or `datasets.Dataset` objects."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeAlias, TypeGuard

from posttrain.errors import DataError, Problem, short

if TYPE_CHECKING:
    from posttrain.types import JSONValue

SUFFIXES = (".jsonl", ".json", ".csv", ".parquet", ".txt", ".md")
TABLE_SUFFIXES = (".parquet", ".jsonl", ".json", ".csv")
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")

#: A `datasets.Dataset` (or any table) as posttrain reads it: rows, each a mapping of column to value.
Table: TypeAlias = Iterable[Mapping[str, object]]


class Splits(Protocol):
    """A `datasets.DatasetDict`: tables by split name."""

    def keys(self) -> Iterable[str]: ...

    def __getitem__(self, split: str, /) -> Table: ...


def read_rows(source: object, split: str | None = None) -> tuple[list[dict], str]:
    """Return `(rows, label)` from a path, a folder, a cached hub dataset id, a list of dicts or a
    `datasets.Dataset`/`DatasetDict`.

    `label` names the source in error messages (the file path, or "rows").
    """
    if isinstance(source, (str, Path)):
        path = Path(source).expanduser()
        if path.is_dir():
            return read_folder(path, split), str(path)
        if not path.exists() and isinstance(source, str) and HUB_ID.match(source) \
                and path.suffix.lower() not in SUFFIXES:
            return read_hub_cache(source, split), source
        return read_file(path), str(path)
    if is_dataset_dict(source):
        return [dict(row) for row in pick_split(source, split, "the DatasetDict")], "dataset"
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


def _is_hf_dataset(obj: object) -> TypeGuard[Table]:
    return type(obj).__name__ in {"Dataset", "IterableDataset"} and hasattr(obj, "column_names")


def is_dataset_dict(obj: object) -> TypeGuard[Splits]:
    return type(obj).__name__ in {"DatasetDict", "IterableDatasetDict"} and hasattr(obj, "keys")


def pick_split(splits: Splits, split: str | None, where: str) -> Table:
    names = sorted(splits.keys())
    if split is None:
        split = "train" if "train" in names else (names[0] if len(names) == 1 else None)
        if split is None:
            raise DataError(Problem(where, f"has splits {names} and none is called 'train'",
                                    f"choose one: load_data(..., split={names[0]!r})"))
    if split not in names:
        raise DataError(Problem(where, f"has no split {split!r}", f"use one of {names}"))
    return splits[split]


# --- folders -----------------------------------------------------------------------------------------------

def read_folder(path: Path, split: str | None = None) -> list[dict]:
    """A folder written by `Dataset.save_to_disk`/`DatasetDict.save_to_disk`, or a folder of data files
    (a hub snapshot: Parquet/JSONL/JSON/CSV files, the split taken from their names; or .txt/.md
    documents for pre-training, one row per file block)."""
    if is_saved_dataset(path):
        return [dict(row) for row in load_saved(path, split)]
    return [row for f in folder_files(path, split) for row in read_file(f)]


def is_saved_dataset(path: Path) -> bool:
    """True for a folder written by `save_to_disk`."""
    return any((path / name).exists() for name in ("dataset_info.json", "state.json", "dataset_dict.json"))


def folder_files(path: Path, split: str | None = None) -> list[Path]:
    """The data files of one split of a folder: its Parquet/JSONL/JSON/CSV files of that split, or else
    its .txt/.md documents (which have no splits)."""
    files = sorted(f for f in path.rglob("*") if f.is_file() and not any(p.startswith(".") for p in
                                                                           f.relative_to(path).parts))
    tables = [f for f in files if f.suffix.lower() in TABLE_SUFFIXES]
    if tables:
        return _split_files(tables, split, path)
    documents = [f for f in files if f.suffix.lower() in (".txt", ".md")]
    if documents and split is None:
        return documents
    raise DataError(Problem(str(path), "is a folder with no data files in it" if not documents else
                            "holds only text documents, which have no splits",
                            f"name a folder of {', '.join(TABLE_SUFFIXES + ('.txt', '.md'))} files, "
                            "a folder written by datasets' save_to_disk, or one data file"))


def load_saved(path: Path, split: str | None) -> Table:
    """The `datasets.Dataset` (memory-mapped, not read) of a `save_to_disk` folder, of one split."""
    import datasets

    try:
        loaded = datasets.load_from_disk(str(path))
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise DataError(Problem(str(path), f"looks like a saved dataset but cannot be loaded ({err})",
                                "write it again with Dataset.save_to_disk(folder)")) from None
    if is_dataset_dict(loaded):
        loaded = pick_split(loaded, split, str(path))
    elif split is not None:
        raise DataError(Problem(str(path), f"is one saved Dataset, without a split {split!r}",
                                "leave split out for a single saved Dataset"))
    return loaded


def _split_files(files: list[Path], split: str | None, root: Path) -> list[Path]:
    """The files of one split, by hub conventions (`train-0000.parquet`, `data/train/...`,
    `test.jsonl`); files that name no split all belong to the only split, 'train'."""
    def split_of(f: Path) -> str:
        for part in reversed(f.relative_to(root).with_suffix("").parts):
            match = re.match(r"^(train|test|validation|valid|dev|eval)(?:[-_.].*)?$", part.lower())
            if match:
                return match.group(1)
        return "train"

    by_split: dict[str, list[Path]] = {}
    for f in files:
        by_split.setdefault(split_of(f), []).append(f)
    wanted = split or ("train" if "train" in by_split else (next(iter(by_split)) if len(by_split) == 1 else None))
    if wanted not in by_split:
        raise DataError(Problem(str(root), f"has no split {wanted!r} among its files (splits: {sorted(by_split)})",
                                f"choose one with load_data(..., split={sorted(by_split)[0]!r})"))
    return by_split[wanted]


# --- hub datasets, from the local cache only --------------------------------------------------------------

def read_hub_cache(repo_id: str, split: str | None = None) -> list[dict]:
    """A hub dataset already in the local Hugging Face cache: its snapshot's data files, else the
    `datasets` cache of an earlier `load_dataset`. Nothing is ever downloaded."""
    folder = _hub_snapshot(repo_id)
    if folder is not None:
        try:
            return read_folder(folder, split)
        except DataError:
            pass
    rows = _datasets_cache(repo_id, split)
    if rows is not None:
        return rows
    raise DataError(Problem(f"dataset {repo_id!r}", "is neither a file or folder here nor a hub dataset in the "
                            "local Hugging Face cache (posttrain never downloads data)",
                            f"check the path; or, on a machine with network access, run `hf download "
                            f"{repo_id} --repo-type dataset` (or `datasets.load_dataset({repo_id!r})"
                            f".save_to_disk('folder')` and pass the folder)"))


def _hub_snapshot(repo_id: str) -> Path | None:
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(repo_id, repo_type="dataset", local_files_only=True))
    except Exception:       # not cached, or no huggingface_hub: both mean "not here"
        return None


def _datasets_cache(repo_id: str, split: str | None) -> list[dict] | None:
    import os

    previous = os.environ.get("HF_DATASETS_OFFLINE")
    os.environ["HF_DATASETS_OFFLINE"] = "1"
    try:
        import datasets
        from datasets import config as ds_config

        offline = ds_config.HF_HUB_OFFLINE
        ds_config.HF_HUB_OFFLINE = True
        try:
            loaded = datasets.load_dataset(repo_id)
        finally:
            ds_config.HF_HUB_OFFLINE = offline
    except Exception:       # not in the datasets cache either
        return None
    finally:
        if previous is None:
            os.environ.pop("HF_DATASETS_OFFLINE", None)
        else:
            os.environ["HF_DATASETS_OFFLINE"] = previous
    return [dict(row) for row in pick_split(loaded, split, f"dataset {repo_id!r}")]


def read_file(path: Path) -> list[dict]:
    """Rows of one file; the format is chosen by suffix."""
    if not path.exists():
        raise DataError(Problem(str(path), "file not found", "check the path (relative paths are "
                                f"resolved from {Path.cwd()})"))
    if path.is_dir():
        return read_folder(path)
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
    # lines end at "\n" only (a carriage return inside a line is the parser's to report, at its column);
    # "utf-8-sig": a byte-order mark (Excel, PowerShell, Notepad) is read as the start of UTF-8 text
    with path.open(encoding="utf-8-sig", newline="\n") as handle:
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
        with path.open(encoding="utf-8-sig", newline="") as handle:    # positions as in the file
            data = json.loads(handle.read())
    except json.JSONDecodeError as err:
        raise DataError(Problem(str(path), f"invalid JSON ({err.msg} at line {err.lineno}, column {err.colno})",
                                "fix the JSON, or use .jsonl with one object per line")) from None
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        data = data["data"]
    if not isinstance(data, list):
        raise DataError(Problem(str(path), f"top level is a {type(data).__name__}, not a list of rows",
                                'write a JSON list of objects, or {"data": [...]}'))
    return data


def _read_csv(path: Path) -> list[dict]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        rows = [dict(row) for row in reader]
    for number, row in enumerate(rows, start=1):
        if None in row:
            raise DataError(Problem(f"{path}, row {number}", "has more values than the header has columns",
                                    "quote fields that contain commas"))
    return [{key: maybe_json(value) for key, value in row.items()} for row in rows]


def maybe_json(value: str | None) -> JSONValue:
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
    blocks = [block.strip() for block in path.read_text(encoding="utf-8-sig").split("\n\n")]
    return [{"text": block} for block in blocks if block]
