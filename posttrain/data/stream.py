"""Corpora larger than memory: text rows read while a stage trains, never all held at once.

`load_data(source, streaming=True)` streams a .jsonl, .csv, .parquet, .txt or .md file, a folder of them,
or a folder written by `save_to_disk`; a `datasets.IterableDataset` (`load_dataset(..., streaming=True)`)
given as data is always streamed. Only raw text streams (`{"text": ...}` rows, for `.pretrain()`): the
other stages' data is read whole. The first rows are read and checked when the pipeline is checked; each
later row is checked as it is read, and a bad one stops training naming its row. A stream's length is
unknown, so a stage that trains on one needs `max_steps`.

>>> from posttrain import Trainer
>>> from posttrain.data import load_data
>>> corpus = load_data("corpus.jsonl", streaming=True)                    # doctest: +SKIP
>>> Trainer("default").pretrain(corpus, max_steps=2000).run()             # doctest: +SKIP
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import IO, cast

from posttrain.data.formats import DataFormat, check_row
from posttrain.data.readers import folder_files, is_dataset_dict, is_saved_dataset, load_saved, maybe_json, pick_split
from posttrain.errors import DataError, Problem, short

HEAD_ROWS = 64                 # rows read and checked before training starts
STREAM_SUFFIXES = (".jsonl", ".csv", ".parquet", ".txt", ".md")


@dataclass(frozen=True)
class Stream:
    """Rows read lazily: each `rows()` call is a fresh pass; `head` holds the first rows, checked up
    front. `len()` is the number of rows read so far (0 before training starts)."""

    open_rows: Callable[[], Iterator[object]]
    head: list[dict]
    source: str
    fingerprint: str
    format: DataFormat = DataFormat.TEXT
    columns: dict[str, str | None] | None = None
    conversational: bool = False
    _read: list[int] = field(default_factory=lambda: [0], init=False, repr=False, compare=False)

    def __len__(self) -> int:
        return self._read[0]

    def rows(self) -> Iterator[dict]:
        """One pass over the rows, each renamed by `columns` and checked as it is read."""
        for number, row in enumerate(self.open_rows(), start=1):
            where = f"{self.source}, row {number}"
            if not isinstance(row, dict):
                raise DataError(Problem(where, f"is a {type(row).__name__} ({short(row)}), not an object",
                                        'write each row as {"text": "..."}'))
            if self.columns:
                row = {self.columns.get(k, k): v for k, v in row.items() if self.columns.get(k, k) is not None}
            problems = check_row(row, self.format, where)
            if problems:
                raise DataError(problems, title="a bad row in the streamed data")
            self._read[0] += 1
            yield row


def is_stream(source: object) -> bool:
    """True for a `datasets.IterableDataset` (or a dict of them), which is streamed, never read whole."""
    return type(source).__name__ in {"IterableDataset", "IterableDatasetDict"}


def open_stream(source: object, split: str | None = None) -> Stream:
    """A stream over `source` (a path, or a `datasets` Dataset of any kind) with its first rows read;
    `load_data` checks them. Its fingerprint covers the files' names, sizes and times, else the rows read."""
    stamp: object = None
    opener: Callable[[], Iterator[object]]
    if isinstance(source, (str, Path)):
        path, label = Path(source).expanduser(), str(source)
        if path.is_dir() and is_saved_dataset(path):
            source, stamp = load_saved(path, split), _stamps(sorted(f for f in path.rglob("*") if f.is_file()))
        else:
            files = stream_files(path, split)
            opener, stamp = (lambda: (row for f in files for row in read_lazily(f))), _stamps(files)
    else:
        label = "dataset"
    if is_stream(source) or type(source).__name__ in {"Dataset", "DatasetDict"}:
        dataset = pick_split(source, split, "the dataset") if is_dataset_dict(source) else source
        if hasattr(dataset, "to_iterable_dataset"):             # a Dataset: memory-mapped, read a row at a time
            dataset = dataset.to_iterable_dataset()
        rows = cast("Iterable[object]", dataset)      # a Dataset or IterableDataset, told by its class name
        opener = (lambda: iter(rows))
    elif stamp is None:
        raise DataError(Problem("data", f"cannot stream a {type(source).__name__} ({short(source)})",
                                "stream a path (.jsonl/.csv/.parquet/.txt/.md, or a folder of them) or a "
                                "datasets.IterableDataset; rows already in memory need no streaming=True"))
    head = cast("list[dict]", list(islice(opener(), HEAD_ROWS)))     # as read: load_data checks each row
    digest = hashlib.sha256(json.dumps([stamp, head], sort_keys=True, default=str).encode()).hexdigest()[:16]
    return Stream(opener, head, label, digest)


def _stamps(files: list[Path]) -> list[tuple[str, int, int]]:
    return [(str(f.resolve()), f.stat().st_size, f.stat().st_mtime_ns) for f in files]


def stream_files(path: Path, split: str | None) -> list[Path]:
    """The files to stream from `path`, a file or a folder of data files."""
    if path.is_dir():
        files = folder_files(path, split)
    elif not path.exists():
        raise DataError(Problem(str(path), "file not found", f"check the path (relative paths are resolved from "
                                f"{Path.cwd()})"))
    else:
        files = [path]
    bad = [f for f in files if f.suffix.lower() not in STREAM_SUFFIXES]
    if bad:
        raise DataError([Problem(str(f), f"is a {f.suffix or 'suffix-less'} file, which cannot be read a row at a "
                                 "time", "write it as .jsonl (one row per line) to stream it, or leave out "
                                 "streaming=True to read it whole") for f in bad])
    return files


def read_lazily(path: Path) -> Iterator[dict]:
    """The rows of one file, read a few at a time (UTF-8 and JSON problems name the file and line)."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            import pyarrow.parquet

            for batch in pyarrow.parquet.ParquetFile(path).iter_batches(batch_size=256):
                yield from batch.to_pylist()
            return
        newline = {".csv": "", ".jsonl": "\n"}.get(suffix)      # as `posttrain.data.readers` reads them whole
        with path.open(encoding="utf-8-sig", newline=newline) as handle:
            if suffix == ".csv":
                for row in csv.DictReader(handle):
                    yield {key: maybe_json(value) for key, value in row.items()}
            elif suffix == ".jsonl":
                yield from _jsonl_rows(handle, path)
            else:
                yield from _text_blocks(handle)
    except UnicodeDecodeError as err:
        raise DataError(Problem(str(path), f"is not UTF-8 text (byte {err.object[err.start]:#04x})",
                                "save the file as UTF-8")) from None
    except OSError as err:
        raise DataError(Problem(str(path), f"cannot be read ({err.strerror or err})",
                                "check the file's permissions and that it is a regular file")) from None


def _jsonl_rows(handle: IO[str], path: Path) -> Iterator[dict]:
    for number, line in enumerate(handle, start=1):
        if line.strip():
            try:
                yield json.loads(line)
            except json.JSONDecodeError as err:
                raise DataError(Problem(f"{path}, line {number}", f"invalid JSON ({err.msg} at column {err.colno}): "
                                        f"{short(line.strip())}", "write one JSON object per line")) from None


def _text_blocks(handle: IO[str]) -> Iterator[dict]:
    """A text file's blank-line separated blocks, as `read_file` reads them whole."""
    block: list[str] = []
    for line in handle:
        if line.strip("\n") == "" and block:
            text = "".join(block).strip()
            block = []
            if text:
                yield {"text": text}
        elif line.strip("\n") != "":
            block.append(line)
    text = "".join(block).strip()
    if text:
        yield {"text": text}
