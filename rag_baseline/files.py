"""Read documents as users have them, through LangChain's document loaders: PDF (one document a page,
pypdf), HTML (the page's text, BeautifulSoup), Markdown and plain text (whole files), and .jsonl files
(one document per row). A folder may hold any mix of them.

>>> from rag_baseline import read_documents
>>> docs = read_documents(["handbook.pdf", "faq.html", "notes/"])        # doctest: +SKIP
>>> docs[0].metadata["source"], docs[0].metadata["format"]               # doctest: +SKIP
('handbook.pdf', 'pdf')
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from posttrain.data.readers import read_file
from posttrain.errors import DataError, Problem, short

if TYPE_CHECKING:
    from langchain_core.document_loaders import BaseLoader
    from langchain_core.documents import Document

# suffix -> format; every format but jsonl is read by a LangChain loader (see `_loader`)
FORMATS = {".txt": "text", ".md": "markdown", ".markdown": "markdown", ".pdf": "pdf", ".html": "html",
           ".htm": "html", ".jsonl": "jsonl"}
SUFFIXES = tuple(FORMATS)
TEXT_FIELDS = ("text", "content", "page_content")
_KINDS = ".txt, .md, .pdf, .html or .jsonl"
_READ_FIXES = {"pdf": "check the PDF opens in a viewer, or export it again", "html": "save the page as UTF-8 HTML"}


def read_documents(paths: Sequence[str | os.PathLike] | str | os.PathLike) -> list[Document]:
    """LangChain `Document`s from files and folders (folders: their supported files, sorted).

    Every document's metadata holds `source` (the file) and `format` (text, markdown, pdf, html or
    jsonl); a PDF page's also `page`, an HTML page's its `title`, a .jsonl row's its other fields.
    Problems with several files (missing, unsupported, unreadable, no text) are reported together.
    """
    files = _expand([paths] if isinstance(paths, (str, os.PathLike)) else list(paths))
    documents, problems = [], []
    for path in files:
        docs, bad = _jsonl_documents(path) if FORMATS[path.suffix.lower()] == "jsonl" else _loaded(path)
        documents += docs
        problems += bad
    if problems:
        raise DataError(problems)
    return documents


def _expand(paths: list[str | os.PathLike]) -> list[Path]:
    if not paths:
        raise DataError(Problem("paths", "is empty", f"name at least one {_KINDS} file or a folder"))
    files, problems = [], []
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix.lower() in SUFFIXES and p.is_file())
            if not found:
                problems.append(Problem(str(path), f"holds no {_KINDS} file", "point to the documents"))
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


def _loader(path: Path) -> BaseLoader:
    """The LangChain loader for one file, chosen by its suffix."""
    from langchain_community.document_loaders import BSHTMLLoader, PyPDFLoader, TextLoader

    kind = FORMATS[path.suffix.lower()]
    if kind == "pdf":
        return PyPDFLoader(str(path))
    if kind == "html":     # the standard library's parser: no lxml needed
        return BSHTMLLoader(str(path), open_encoding="utf-8", bs_kwargs={"features": "html.parser"},
                            get_text_separator="\n")
    return TextLoader(str(path), encoding="utf-8")


def _loaded(path: Path) -> tuple[list[Document], list[Problem]]:
    kind = FORMATS[path.suffix.lower()]
    try:
        docs = _loader(path).load()
    except ImportError as error:
        return [], [Problem(str(path), f"needs a package to read {kind} files ({error})",
                            "pip install pypdf (PDF) or beautifulsoup4 (HTML)")]
    except Exception as error:   # a loader's own error: a damaged PDF, a file in another encoding
        return [], [Problem(str(path), f"could not be read as {kind}: {type(error).__name__}: {short(str(error), 120)}",
                            _READ_FIXES.get(kind, "save the file as UTF-8 text"))]
    docs = [doc for doc in docs if doc.page_content.strip()]
    if not docs:
        hint = "a scanned PDF needs OCR first" if kind == "pdf" else "give a file with text in it"
        return [], [Problem(str(path), f"holds no text ({kind})", hint)]
    for doc in docs:
        doc.metadata = {**doc.metadata, "source": str(path), "format": kind}
    return docs, []


def _jsonl_documents(path: Path) -> tuple[list[Document], list[Problem]]:
    documents: list[Document] = []
    problems: list[Problem] = []
    for number, row in enumerate(read_file(path), start=1):
        field = next((f for f in TEXT_FIELDS if isinstance(row, dict) and isinstance(row.get(f), str)), None)
        if field is None:
            problems.append(Problem(f"{path}, row {number}", f"has no text field ({short(row)})",
                                    'write rows like {"text": "...", "title": "..."}'))
            continue
        metadata = {key: value for key, value in row.items() if key != field}
        documents.append(_document(row[field], {"source": str(path), "format": "jsonl", "row": number, **metadata}))
    return documents, problems


def _document(text: str, metadata: dict) -> Document:
    from langchain_core.documents import Document

    return Document(page_content=text, metadata=metadata)
