"""Save and load a RAGBaseline without pickle: faiss's own index file, JSON chunks, a JSON manifest.

LangChain's `FAISS.save_local` pickles its docstore, and `load_local` must be allowed to unpickle
(arbitrary code on load). Here nothing is pickled: a folder holds `index.faiss`, `chunks.json` and
`manifest.json` (format, embedder name and dimension, index kind, chunking settings).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from posttrain.errors import ConfigError, DataError, Problem, short
from rag_baseline.embeddings import DEFAULT_NAME, embedder_name, resolve_embedder

FORMAT = "rag_baseline.index/1"
INDEX_FILE, CHUNKS_FILE, MANIFEST_FILE = "index.faiss", "chunks.json", "manifest.json"


def save(rag: Any, directory: str | os.PathLike) -> Path:
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
                             "path": getattr(rag.embedder, "path", None)}}
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return folder


def load(cls: type, directory: str | os.PathLike, embedder: Any = None, model: Any = "default") -> Any:
    """A RAGBaseline read from `directory`; the embedder must match the manifest's name and dimension."""
    import faiss
    from langchain_community.docstore.in_memory import InMemoryDocstore
    from langchain_community.vectorstores import FAISS
    from langchain_community.vectorstores.utils import DistanceStrategy
    from langchain_core.documents import Document

    from rag_baseline.index import prepare_for_search

    folder = Path(directory).expanduser()
    manifest = read_manifest(folder)
    embeddings = _matching_embedder(manifest["embedder"], embedder, folder)
    index = prepare_for_search(faiss.read_index(str(folder / INDEX_FILE)))
    chunks = json.loads((folder / CHUNKS_FILE).read_text(encoding="utf-8"))
    if index.ntotal != len(chunks) or index.d != manifest["embedder"]["dimension"]:
        raise DataError(Problem(str(folder), f"index holds {index.ntotal} vectors of dimension {index.d} but "
                                f"there are {len(chunks)} chunks for dimension {manifest['embedder']['dimension']}",
                                "rebuild the index; the folder's files come from different saves"))
    docstore = InMemoryDocstore({c["id"]: Document(page_content=c["text"], metadata=c["metadata"], id=c["id"])
                                 for c in chunks})
    store = FAISS(embeddings, index, docstore, {position: c["id"] for position, c in enumerate(chunks)},
                  distance_strategy=DistanceStrategy.MAX_INNER_PRODUCT)
    return cls(store, chunk_size=manifest["chunk_size"], chunk_overlap=manifest["chunk_overlap"],
               index=manifest["index"], model=model)


def read_manifest(folder: Path) -> dict:
    """The manifest of a saved index, after checking the folder holds a complete save."""
    missing = [name for name in (MANIFEST_FILE, INDEX_FILE, CHUNKS_FILE) if not (folder / name).exists()]
    if missing:
        raise DataError(Problem(str(folder), f"is not a saved RAG index (missing {', '.join(missing)})",
                                "point to a folder written by RAGBaseline.save or `posttrain rag build`"))
    manifest = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
    if manifest.get("format") != FORMAT:
        raise DataError(Problem(str(folder / MANIFEST_FILE), f"has format {short(manifest.get('format'))}",
                                f"rebuild the index with this version (format {FORMAT})"))
    return manifest


def _matching_embedder(saved: dict, requested: Any, folder: Path) -> Any:
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


def _saved_embedder(saved: dict, folder: Path) -> Any:
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
