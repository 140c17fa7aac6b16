"""The FAISS index behind a RAGBaseline: inner product on normalised vectors (cosine similarity).

`index="flat"` (the default) searches exactly: the same results as LangChain's FAISS store, ~13 ms
a query at 100k chunks x 384 dimensions on 2 CPU cores. `"hnsw"` is a graph index whose queries take
well under a millisecond at any size, at the price of approximate results (recall below 1; measure it
on your data with bench/rag.py) and a slower build.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from posttrain.errors import ConfigError, Problem

if TYPE_CHECKING:
    import faiss

IndexKind = Literal["flat", "hnsw"]
INDEX_KINDS = ("flat", "hnsw")
HNSW_NEIGHBOURS = 32
HNSW_EF_CONSTRUCTION = 64
HNSW_EF_SEARCH = 128


def check_kind(kind: str) -> IndexKind:
    """`kind` if it names an index kind, else a ConfigError listing the kinds."""
    if kind not in INDEX_KINDS:
        raise ConfigError(Problem("index", f"unknown index kind {kind!r}",
                                  f"use one of {INDEX_KINDS} (flat: exact; hnsw: fast, approximate)"))
    return kind   # type: ignore[return-value]  # one of INDEX_KINDS, as just checked


def new_index(kind: IndexKind, dimension: int) -> faiss.Index:
    """An empty inner-product FAISS index."""
    import faiss

    if check_kind(kind) == "flat":
        return faiss.IndexFlatIP(dimension)
    index = faiss.IndexHNSWFlat(dimension, HNSW_NEIGHBOURS, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    index.hnsw.efSearch = HNSW_EF_SEARCH
    return index


def index_kind(index: faiss.Index) -> IndexKind:
    """"flat" or "hnsw" for an index made by `new_index` (or read back from disk)."""
    return "hnsw" if hasattr(index, "hnsw") else "flat"


def prepare_for_search(index: faiss.Index) -> faiss.Index:
    """Settings faiss does not save with the index (the HNSW search breadth)."""
    if hasattr(index, "hnsw"):
        index.hnsw.efSearch = max(index.hnsw.efSearch, HNSW_EF_SEARCH)
    return index
