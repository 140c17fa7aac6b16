"""The FAISS index behind a RAGBaseline: inner product on normalised vectors (cosine similarity).

`index="flat"` searches exactly; `"hnsw"` is a graph index whose queries stay fast at any size
(approximate, recall near 1); `"auto"` is flat below `HNSW_FROM` chunks and HNSW from there on.
"""

from __future__ import annotations

from typing import Any, Literal

from posttrain.errors import ConfigError, Problem

IndexKind = Literal["auto", "flat", "hnsw"]
INDEX_KINDS = ("auto", "flat", "hnsw")
HNSW_FROM = 50_000          # exact search over 100k x 384 floats costs ~13 ms a query on 2 CPU cores
HNSW_NEIGHBOURS = 32
HNSW_EF_CONSTRUCTION = 64
HNSW_EF_SEARCH = 64


def choose_kind(kind: str, count: int) -> Literal["flat", "hnsw"]:
    """The concrete index kind for `count` chunks."""
    if kind not in INDEX_KINDS:
        raise ConfigError(Problem("index", f"unknown index kind {kind!r}", f"use one of {INDEX_KINDS}"))
    if kind == "auto":
        return "hnsw" if count >= HNSW_FROM else "flat"
    return kind   # type: ignore[return-value]


def new_index(kind: Literal["flat", "hnsw"], dimension: int) -> Any:
    """An empty inner-product FAISS index."""
    import faiss

    if kind == "flat":
        return faiss.IndexFlatIP(dimension)
    index = faiss.IndexHNSWFlat(dimension, HNSW_NEIGHBOURS, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    index.hnsw.efSearch = HNSW_EF_SEARCH
    return index


def index_kind(index: Any) -> str:
    """"flat" or "hnsw" for an index made by `new_index` (or read back from disk)."""
    return "hnsw" if hasattr(index, "hnsw") else "flat"


def prepare_for_search(index: Any) -> Any:
    """Settings faiss does not save with the index (the HNSW search breadth)."""
    if hasattr(index, "hnsw"):
        index.hnsw.efSearch = max(index.hnsw.efSearch, HNSW_EF_SEARCH)
    return index
