"""Save and load a RAGBaseline without pickle: faiss's own index file, JSON chunks, a JSON manifest.

LangChain's `FAISS.save_local` pickles its docstore, and `load_local` must be allowed to unpickle
(arbitrary code on load). Here nothing is pickled: a folder holds `index.faiss`, `chunks.json` and
`manifest.json` (format, embedder name and dimension, index kind, chunking settings, and the size and
SHA-256 of the two data files). Loading checks the manifest before anything else is read: a missing
file, another format version, a malformed manifest, or a data file changed since the save (its hash
differs) is refused with a `DataError` that names the file and says to rebuild the index.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar

from posttrain.errors import ConfigError, DataError, Problem, short
from rag_baseline.embeddings import DEFAULT_NAME, embedder_name, resolve_embedder

if TYPE_CHECKING:
    import faiss
    from langchain_core.embeddings import Embeddings

    from rag_baseline.answer import ModelSpec
    from langchain_community.vectorstores import FAISS
    from langchain_core.documents import Document

    from rag_baseline.embeddings import EmbedderSpec

FORMAT = "rag_baseline.index/2"     # /2: the manifest holds the data files' hashes
INDEX_FILE, CHUNKS_FILE, MANIFEST_FILE = "index.faiss", "chunks.json", "manifest.json"
DATA_FILES = (INDEX_FILE, CHUNKS_FILE)
REBUILD = "rebuild the index (RAGBaseline.save or `posttrain rag build`); do not edit its files by hand"

Built = TypeVar("Built")


class Saved(Protocol):
    """What `save` reads of a `RAGBaseline` (rag_baseline.store, which imports this module)."""

    store: FAISS
    chunk_size: int
    chunk_overlap: int

    @property
    def embedder(self) -> Embeddings: ...

    def documents(self) -> list[Document]: ...


def save(rag: Saved, directory: str | os.PathLike) -> Path:
    """Write `rag` into `directory` (created if needed); the manifest is written last."""
    import faiss

    from rag_baseline.index import index_kind

    folder = Path(directory).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    chunks = [{"id": doc.id, "text": doc.page_content, "metadata": doc.metadata} for doc in rag.documents()]
    _check_serialisable(chunks)
    faiss.write_index(rag.store.index, str(folder / INDEX_FILE))
    (folder / CHUNKS_FILE).write_text(json.dumps(chunks, ensure_ascii=False), encoding="utf-8")
    manifest = {"format": FORMAT, "count": len(chunks), "metric": "cosine",
                "index": index_kind(rag.store.index),
                "chunk_size": rag.chunk_size, "chunk_overlap": rag.chunk_overlap,
                "embedder": {"name": embedder_name(rag.embedder), "dimension": int(rag.store.index.d),
                             "path": getattr(rag.embedder, "path", None)},
                "files": {name: _file_record(folder / name) for name in DATA_FILES}}
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return folder


def load(cls: Callable[..., Built], directory: str | os.PathLike, embedder: EmbedderSpec | None = None,
         model: ModelSpec = "default") -> Built:
    """A RAGBaseline (made by `cls`) read from `directory`; the embedder must match the manifest's name and dimension."""
    from langchain_community.docstore.in_memory import InMemoryDocstore
    from langchain_community.vectorstores import FAISS
    from langchain_community.vectorstores.utils import DistanceStrategy
    from langchain_core.documents import Document

    from rag_baseline.index import prepare_for_search

    folder = Path(directory).expanduser()
    manifest = read_manifest(folder)
    embeddings = _matching_embedder(manifest["embedder"], embedder, folder)
    index = prepare_for_search(_read_index(folder / INDEX_FILE))
    chunks = _read_chunks(folder / CHUNKS_FILE)
    if not index.ntotal == len(chunks) == manifest["count"] or index.d != manifest["embedder"]["dimension"]:
        raise DataError(Problem(str(folder), f"index holds {index.ntotal} vectors of dimension {index.d} but "
                                f"there are {len(chunks)} chunks, and the manifest says {manifest['count']} of "
                                f"dimension {manifest['embedder']['dimension']}",
                                "rebuild the index; the folder's files come from different saves"))
    docstore = InMemoryDocstore({c["id"]: Document(page_content=c["text"], metadata=c["metadata"], id=c["id"])
                                 for c in chunks})
    store = FAISS(embeddings, index, docstore, {position: c["id"] for position, c in enumerate(chunks)},
                  distance_strategy=DistanceStrategy.MAX_INNER_PRODUCT)
    return cls(store, chunk_size=manifest["chunk_size"], chunk_overlap=manifest["chunk_overlap"],
               index=manifest["index"], model=model)


def read_manifest(folder: Path) -> dict:
    """The manifest of a saved index, after checking the folder holds a complete, unchanged save:
    every file present, this format version, the manifest's fields well-typed, and each data file's
    size and SHA-256 as the manifest records them."""
    missing = [name for name in (MANIFEST_FILE, *DATA_FILES) if not (folder / name).is_file()]
    if missing:
        raise DataError(Problem(str(folder), f"is not a saved RAG index (missing {', '.join(missing)})",
                                "point to a folder written by RAGBaseline.save or `posttrain rag build`"))
    where = str(folder / MANIFEST_FILE)
    try:
        manifest = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataError(Problem(where, f"is not valid JSON ({err})", REBUILD)) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else manifest
        raise DataError(Problem(where, f"has format {short(found)}, this version reads {FORMAT!r}",
                                f"rebuild the index with this version (format {FORMAT})"))
    problems = _manifest_problems(manifest, where)
    if problems:
        raise DataError(problems, title="invalid RAG index manifest")
    changed = [Problem(str(folder / name), f"differs from the save recorded in {MANIFEST_FILE} ({reason})", REBUILD)
               for name in DATA_FILES if (reason := _changed(folder / name, manifest["files"][name]))]
    if changed:
        raise DataError(changed, title="RAG index files changed since they were saved")
    return manifest


_FIELDS = {"count": int, "metric": str, "index": str, "chunk_size": int, "chunk_overlap": int, "embedder": dict,
           "files": dict}
_KIND_NAMES = {int: "an integer", str: "a string", dict: "a mapping"}


def _manifest_problems(manifest: dict, where: str) -> list[Problem]:
    problems = [Problem(f"{where}, field '{key}'", f"must be {_KIND_NAMES[kind]}, got {short(manifest.get(key))}",
                        REBUILD) for key, kind in _FIELDS.items()
                if not isinstance(manifest.get(key), kind) or isinstance(manifest.get(key), bool)]
    embedder, files = manifest.get("embedder"), manifest.get("files")
    if isinstance(embedder, dict) and not (isinstance(embedder.get("name"), str)
                                           and type(embedder.get("dimension")) is int):
        problems.append(Problem(f"{where}, field 'embedder'", f"needs a name and an integer dimension, got "
                                f"{short(embedder)}", REBUILD))
    if isinstance(files, dict):
        problems += [Problem(f"{where}, field 'files.{name}'", f"needs 'sha256' and 'bytes', got {short(files.get(name))}",
                             REBUILD) for name in DATA_FILES if not _is_record(files.get(name))]
    return problems


def _is_record(record: object) -> bool:
    return isinstance(record, dict) and isinstance(record.get("sha256"), str) and type(record.get("bytes")) is int


def _file_record(path: Path) -> dict:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return {"sha256": digest.hexdigest(), "bytes": path.stat().st_size}


def _changed(path: Path, record: dict) -> str:
    """Why `path` is not the file `record` describes, or "" when it is."""
    size = path.stat().st_size
    if size != record["bytes"]:
        return f"{size} bytes, recorded {record['bytes']}"
    if _file_record(path)["sha256"] != record["sha256"]:
        return "same size, different SHA-256"
    return ""


def _read_index(path: Path) -> faiss.Index:
    import faiss

    try:
        return faiss.read_index(str(path))
    except RuntimeError as err:
        raise DataError(Problem(str(path), f"faiss cannot read it ({str(err).strip().splitlines()[-1]})",
                                REBUILD)) from None


def _read_chunks(path: Path) -> list[dict]:
    try:
        chunks = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataError(Problem(str(path), f"is not valid JSON ({err})", REBUILD)) from None
    valid = isinstance(chunks, list) and all(
        isinstance(c, dict) and isinstance(c.get("id"), str) and isinstance(c.get("text"), str)
        and isinstance(c.get("metadata"), dict) for c in chunks)
    if not valid:
        raise DataError(Problem(str(path), "is not a list of chunks {'id': str, 'text': str, 'metadata': {...}}",
                                REBUILD))
    return chunks


def _matching_embedder(saved: dict, requested: EmbedderSpec | None, folder: Path) -> Embeddings:
    if requested is None:
        requested = _saved_embedder(saved, folder)
    embeddings = resolve_embedder(requested)
    name = embedder_name(embeddings)
    dimension = getattr(embeddings, "dimension", None) or len(embeddings.embed_query("dimension"))
    if name != saved["name"] or dimension != saved["dimension"]:
        raise ConfigError(Problem("embedder", f"is {name!r} ({dimension}-d) but the index in {folder} was built "
                                  f"with {saved['name']!r} ({saved['dimension']}-d); its vectors would not be "
                                  "comparable", f"load with the embedder {saved['name']!r}, or rebuild the index"))
    return embeddings


def _saved_embedder(saved: dict, folder: Path) -> str:
    if saved["name"] == DEFAULT_NAME:
        return "default"
    if saved.get("path") and Path(saved["path"]).exists():
        return saved["path"]
    raise ConfigError(Problem("embedder", f"the index in {folder} was built with the custom embedder "
                              f"{saved['name']!r}, which cannot be rebuilt from the manifest",
                              "pass it: RAGBaseline.load(path, embedder=...)"))


def _check_serialisable(chunks: list[dict]) -> None:
    problems = []
    for chunk in chunks:
        try:
            json.dumps(chunk["metadata"])
        except (TypeError, ValueError):
            problems.append(Problem(f"chunk {chunk['id']}, metadata", f"is not JSON ({short(chunk['metadata'])})",
                                    "keep metadata to strings, numbers, booleans, lists and dicts"))
    if problems:
        raise DataError(problems, title="cannot save the index")
