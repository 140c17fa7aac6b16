"""Read documents for indexing: .txt and .md files whole, .jsonl files one document per row."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from posttrain.data.readers import read_file
from posttrain.errors import DataError, Problem, short

SUFFIXES = (".txt", ".md", ".jsonl")
TEXT_FIELDS = ("text", "content", "page_content")


def read_documents(paths: Sequence[str | os.PathLike] | str | os.PathLike) -> list[Any]:
    """LangChain `Document`s from files and folders (folders: their .txt/.md/.jsonl files, sorted).

    Every document's metadata holds `source` (the file); a .jsonl row's other fields are kept too.
    """
    files = _expand([paths] if isinstance(paths, (str, os.PathLike)) else list(paths))
    documents, problems = [], []
    for path in files:
        if path.suffix.lower() == ".jsonl":
            docs, bad = _jsonl_documents(path)
            documents += docs
            problems += bad
        else:
            documents.append(_document(path.read_text(encoding="utf-8"), {"source": str(path)}))
    if problems:
        raise DataError(problems)
    return documents


def _expand(paths: list[str | os.PathLike]) -> list[Path]:
    if not paths:
        raise DataError(Problem("paths", "is empty", "name at least one .txt, .md or .jsonl file or a folder"))
    files, problems = [], []
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix.lower() in SUFFIXES and p.is_file())
            if not found:
                problems.append(Problem(str(path), "holds no .txt, .md or .jsonl file", "point to the documents"))
            files += found
        elif not path.exists():
            problems.append(Problem(str(path), "file not found", f"check the path (from {Path.cwd()})"))
        elif path.suffix.lower() not in SUFFIXES:
            problems.append(Problem(str(path), f"unsupported file type {path.suffix!r}", f"use {', '.join(SUFFIXES)}"))
        else:
            files.append(path)
    if problems:
        raise DataError(problems)
    return files


def _jsonl_documents(path: Path) -> tuple[list[Any], list[Problem]]:
    documents, problems = [], []
    for number, row in enumerate(read_file(path), start=1):
        field = next((f for f in TEXT_FIELDS if isinstance(row, dict) and isinstance(row.get(f), str)), None)
        if field is None:
            problems.append(Problem(f"{path}, row {number}", f"has no text field ({short(row)})",
                                    'write rows like {"text": "...", "title": "..."}'))
            continue
        metadata = {key: value for key, value in row.items() if key != field}
        documents.append(_document(row[field], {"source": str(path), "row": number, **metadata}))
    return documents, problems


def _document(text: str, metadata: dict) -> Any:
    from langchain_core.documents import Document

    return Document(page_content=text, metadata=metadata)
