"""Load rows from anywhere, detect their format, check every row, and hand TRL what it takes.

>>> from posttrain.data import load_data
>>> data = load_data([{"prompt": "2+2?", "completion": "4"}])
>>> data.format, len(data)
(<DataFormat.PROMPT_COMPLETION: 'prompt_completion'>, 1)
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from posttrain.data.formats import (EXAMPLES, OWN_COLUMNS, DataFormat, canonical, check_row,
                                    is_conversational, method_hint, odd_row, row_format, to_conversational)
from posttrain.data.readers import read_rows
from posttrain.data.stream import Stream, is_stream, open_stream
from posttrain.errors import ConfigError, DataError, Problem, short

__all__ = ["Data", "DataFormat", "DataError", "Stream", "load_data", "detect_format", "read_rows",
           "to_conversational", "EXAMPLES"]


@dataclass(frozen=True)
class Data:
    """Checked rows of one format, with the source they came from and a content fingerprint."""

    rows: list[dict]
    format: DataFormat
    source: str = "rows"
    conversational: bool = False
    fingerprint: str = field(default="")

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def extra_columns(self) -> list[str]:
        """Columns beyond the format's own (e.g. `answer` for a reward function)."""
        return _names({key for row in self.rows for key in row} - OWN_COLUMNS)

    def as_conversational(self, system: str | None = None) -> list[dict]:
        """Rows with string prompts/answers wrapped as chat messages (for chat-template models)."""
        return [to_conversational(row, self.format, system) for row in self.rows]

    def to_dataset(self, conversational: bool = False, system: str | None = None):
        """A `datasets.Dataset` of the rows (optionally turned conversational)."""
        import datasets

        rows = self.as_conversational(system) if conversational else self.rows
        return datasets.Dataset.from_list(rows)


def detect_format(rows: list[dict]) -> DataFormat:
    """The one format all rows share; raises DataError naming the rows that differ."""
    return load_data(rows).format


def load_data(source: Any, expect: Iterable[DataFormat | str] | None = None, *,
              name: str | None = None, columns: dict[str, str] | None = None, split: str | None = None,
              streaming: bool = False) -> Data | Stream:
    """Read, detect and check a dataset.

    Rows in ShareGPT (`conversations` of `from`/`value`), OpenAI chat or preference exports,
    Alpaca, and preference pairs whose prompt is implicit (shared opening turns) are converted to
    the canonical formats on load; tool calls and a `tools` column are kept for the chat template.

    Args:
        source: a list of dicts, a path (.jsonl/.json/.csv/.parquet/.txt/.md, a folder written by
            `datasets`' `save_to_disk`, or a folder of data files), a hub dataset id already in the
            local Hugging Face cache (never downloaded), or a `datasets.Dataset`.
        expect: the formats the caller can use; any other format is an error that says which to give.
        name: how to call the dataset in error messages (defaults to the file path, or "rows").
        columns: renames applied to every row before anything else, e.g.
            `{"question": "prompt", "answer": "completion"}`; a column mapped to None is dropped.
        split: which split of a folder or hub dataset to read (default: "train", or the only one).
        streaming: read a raw text corpus (`{"text": ...}` rows for `.pretrain()`) while training runs
            instead of all at once, for corpora larger than memory; returns a `Stream` whose first rows
            are checked here (see `posttrain.data.stream`). A `datasets.IterableDataset` is always streamed.

    Raises:
        DataError: listing every bad row with its number, field, value and the fix.
    """
    if streaming or is_stream(source) or isinstance(source, Stream):
        return _load_stream(source, expect, name=name, columns=columns, split=split)
    if isinstance(source, Data):
        rows, label = source.rows, source.source
    else:
        rows, label = read_rows(source, split=split)
    label = name or label
    if not rows:
        raise DataError(Problem(label, "has no rows", "give at least one example"))
    if columns is not None:
        rows = rename_columns(rows, columns, label)
    rows, fmt = _detect(rows, label)
    problems = [p for number, row in enumerate(rows, start=1)
                for p in check_row(row, fmt, f"{label}, row {number}")]
    problems += _check_consistent_style(rows, fmt, label)
    if problems:
        raise DataError(problems)
    if expect is not None:
        _check_expected(fmt, _formats(expect), label)
    return Data(rows=rows, format=fmt, source=label, conversational=is_conversational(rows[0]),
                fingerprint=fingerprint(rows))


def _load_stream(source: Any, expect: Iterable[DataFormat | str] | None, *, name: str | None,
                 columns: dict[str, str] | None, split: str | None) -> Stream:
    """A raw text corpus read while training runs: its first rows detected and checked here, the rest
    as they are read."""
    stream = source if isinstance(source, Stream) else open_stream(source, split)
    label = name or stream.source
    head = stream.head
    if not head:
        raise DataError(Problem(label, "has no rows", "give at least one example"))
    if columns is not None:
        head = rename_columns(head, columns, label)
    head, fmt = _detect(head, label)
    problems = [p for number, row in enumerate(head, start=1) for p in check_row(row, fmt, f"{label}, row {number}")]
    if problems:
        raise DataError(problems)
    if fmt is not DataFormat.TEXT:
        raise DataError(Problem(label, f"is in format '{fmt}', and only raw text ({EXAMPLES[DataFormat.TEXT]}) "
                                "is streamed", "leave out streaming=True (or pass list(dataset)) to read it whole: "
                                "streaming is for pre-training corpora larger than memory"))
    if expect is not None:
        _check_expected(fmt, _formats(expect), label)
    renamed: dict[str, str | None] | None = dict(columns) if columns is not None else stream.columns
    return replace(stream, head=head, source=label, columns=renamed)


def _detect(raw: Sequence[object], label: str) -> tuple[list[dict], DataFormat]:
    problems: list[Problem] = []
    rows: list[dict] = []
    formats: list[tuple[int, DataFormat]] = []
    for number, row in enumerate(raw, start=1):
        where = f"{label}, row {number}"
        if not isinstance(row, dict):
            problems.append(Problem(where, f"is a {type(row).__name__} ({short(row)}), not an object "
                                    "with named fields", f"write rows like {EXAMPLES[DataFormat.PROMPT_COMPLETION]}"))
            continue
        row = canonical(row)
        fmt = row_format(row)
        rows.append(row)
        if fmt is None:
            problems.append(Problem(where, f"has fields {_names(row)}, which match no known format",
                                    "use one of: " + "; ".join(EXAMPLES.values())))
            continue
        formats.append((number, fmt))
    if problems:
        raise DataError(problems)
    counts = Counter(fmt for _, fmt in formats)
    main, _ = counts.most_common(1)[0]
    if len(counts) > 1:
        odd = [odd_row(rows[number - 1], fmt, main, f"{label}, row {number}")
               for number, fmt in formats if fmt != main]
        raise DataError(odd, title="mixed data formats")
    return rows, main


def rename_columns(rows: list, columns: Any, label: str) -> list:
    """Rows with columns renamed by `columns` ({old: new}, new None drops old); a name no row has, or
    a rename onto a column the row already has, is an error."""
    if not isinstance(columns, dict) or not all(isinstance(k, str) and (v is None or isinstance(v, str))
                                                for k, v in columns.items()):
        raise ConfigError(Problem("load_data(columns=...)", f"got {short(columns)}",
                                  'map column names to new names, e.g. {"question": "prompt", "answer": '
                                  '"completion"} (None drops a column)'))
    present = {key for row in rows if isinstance(row, dict) for key in row}
    problems = [Problem(f"{label}, columns={{{old!r}: ...}}", "no row has this column",
                        f"use one of the columns the rows have: {_names(present)[:12]}")
                for old in columns if old not in present]
    out = []
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, dict):
            out.append(row)
            continue
        new = {key: value for key, value in row.items() if key not in columns}
        for old, target in columns.items():
            if old not in row or target is None:
                continue
            if target in new:
                problems.append(Problem(f"{label}, row {number}", f"has both {old!r} and {target!r}, so "
                                        f"renaming {old!r} to {target!r} would lose one",
                                        f"drop one of them first (columns={{{target!r}: None, ...}})"))
            new[target] = row[old]
        out.append(new)
    if problems:
        raise DataError(problems[:20])
    return out


def _check_consistent_style(rows: list[dict], fmt: DataFormat, label: str) -> list[Problem]:
    if fmt in (DataFormat.TEXT, DataFormat.MESSAGES):
        return []
    first = is_conversational(rows[0])
    return [Problem(f"{label}, row {number}, field 'prompt'",
                    f"is {'a string' if first else 'a message list'} unlike row 1",
                    "use strings in every row, or message lists in every row")
            for number, row in enumerate(rows, start=1) if "prompt" in row and is_conversational(row) != first][:10]


def _names(keys: Iterable) -> list:
    """Column names sorted for messages; names that are not strings (a dict with int keys) sort as text."""
    return sorted(keys, key=lambda key: (not isinstance(key, str), str(key)))


def _formats(expect: Iterable[DataFormat | str]) -> list[DataFormat]:
    known = tuple(f.value for f in DataFormat)
    unknown = [e for e in expect if e not in known]
    if unknown:
        raise ConfigError(Problem("load_data(expect=...)", f"unknown format(s) {short(unknown)}",
                                  f"use some of {list(known)}"))
    return [DataFormat(e) for e in expect]


def _check_expected(fmt: DataFormat, expected: list[DataFormat], label: str) -> None:
    if fmt in expected:
        return
    wanted = " or ".join(f"'{e}' (e.g. {EXAMPLES[e]})" for e in expected)
    stage = method_hint(fmt)
    fix = f"train on it with {stage}, or give data in format {wanted}" if stage else f"give data in format {wanted}"
    raise DataError(Problem(label, f"is in format '{fmt}', which this stage cannot use", fix))


def fingerprint(rows: Sequence[object]) -> str:
    """A stable hash of the rows' content, used to tell whether a stage's data changed."""
    digest = hashlib.sha256()
    for row in rows:
        digest.update(json.dumps(row, sort_keys=True, default=str, ensure_ascii=False).encode())
        digest.update(b"\n")
    return digest.hexdigest()[:16]
