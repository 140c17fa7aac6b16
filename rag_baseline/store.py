"""RAGBaseline: chunk documents, embed them, index them in FAISS through LangChain, retrieve, answer.

>>> from rag_baseline import RAGBaseline
>>> rag = RAGBaseline.from_texts(["Quellmoor's capital is Brannock Harbour."])
>>> rag.retrieve("What is the capital of Quellmoor?", k=1)[0].page_content
"Quellmoor's capital is Brannock Harbour."
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, TypedDict

import numpy as np

from posttrain.errors import ConfigError, DataError, Problem, short
from rag_baseline import index as faiss_index
from rag_baseline.embeddings import DEFAULT_EMBEDDER, embed_queries, embed_texts, resolve_embedder

if TYPE_CHECKING:
    from langchain_community.vectorstores import FAISS
    from langchain_core.documents import Document
    from langchain_core.embeddings import Embeddings
    from langchain_core.vectorstores import VectorStoreRetriever
    from numpy.typing import ArrayLike
    from typing_extensions import Unpack

    from rag_baseline.answer import Answer, AnswerOptions, ModelSpec
    from rag_baseline.embeddings import EmbedderSpec

CHUNK_SIZE, CHUNK_OVERLAP = 500, 50


class BuildSettings(TypedDict, total=False):
    """`from_texts` settings that `from_documents` and `from_files` pass on."""

    chunk_size: int
    chunk_overlap: int
    embedder: EmbedderSpec
    index: str
    model: ModelSpec


class RAGBaseline:
    """Retrieval-augmented generation over a FAISS index with cosine similarity.

    Build it with `from_texts`, `from_documents`, `from_files` or `load`; the constructor takes an
    already built LangChain FAISS store. `model` is the generator `answer()` and `compare()` use
    ("default", a folder, or a loaded `(model, tokenizer)`); `with_model()` swaps it. With `short_answers`,
    every answer (`answer()`, `compare()`) drops the question's own noun in front of it
    (`rag_baseline.answer.short_answer`: "which river?" -> "the river Pisk" becomes "Pisk"); the RAG that
    `advise(...).route(documents=...)` builds has it on.
    """

    def __init__(self, store: FAISS, *, chunk_size: int = CHUNK_SIZE, chunk_overlap: int = CHUNK_OVERLAP,
                 index: str = "flat", model: ModelSpec = "default", short_answers: bool = False) -> None:
        self.store, self.chunk_size, self.chunk_overlap = store, chunk_size, chunk_overlap
        self.index_kind, self.model, self.short_answers = index, model, short_answers
        self.build_seconds: float | None = None     # chunk + embed + index, when built here
        self.train_seconds: float | None = None     # the generator's training, when `with_model` knew it

    # ---- building -------------------------------------------------------------------------------
    @classmethod
    def from_texts(cls, texts: Sequence[str], metadatas: Sequence[dict] | None = None, *,
                   chunk_size: int = CHUNK_SIZE, chunk_overlap: int = CHUNK_OVERLAP,
                   embedder: EmbedderSpec = DEFAULT_EMBEDDER, index: str = "flat",
                   model: ModelSpec = "default") -> RAGBaseline:
        """Chunk, embed and index `texts`; each chunk keeps its text's metadata.

        Example:
            >>> rag = RAGBaseline.from_texts(["doc one ...", "doc two ..."], [{"source": "a"}, {"source": "b"}])
        """
        start = time.perf_counter()
        chunks, chunk_metadatas = split_texts(texts, metadatas, chunk_size, chunk_overlap)
        embeddings = resolve_embedder(embedder)
        rag = cls.from_embeddings(chunks, embed_texts(embeddings, chunks), chunk_metadatas, embedder=embeddings,
                                  index=index, model=model, chunk_size=chunk_size, chunk_overlap=chunk_overlap)
        rag.build_seconds = time.perf_counter() - start
        return rag

    @classmethod
    def from_documents(cls, documents: Sequence[Document], **settings: Unpack[BuildSettings]) -> RAGBaseline:
        """Build from LangChain `Document`s (their metadata is kept on every chunk).

        Example:
            >>> from langchain_core.documents import Document
            >>> rag = RAGBaseline.from_documents([Document("text", metadata={"source": "x"})])
        """
        texts, metadatas = documents_to_texts(documents)
        return cls.from_texts(texts, metadatas, **settings)

    @classmethod
    def from_files(cls, paths: Sequence[str | os.PathLike] | str | os.PathLike,
                   **settings: Unpack[BuildSettings]) -> RAGBaseline:
        """Build from files and folders: .txt/.md (one document each), .pdf (one a page), .html, and
        .jsonl (one per row's `text`), read by LangChain's loaders (see `read_documents`).

        Example:
            >>> rag = RAGBaseline.from_files(["examples/data/fictional_facts/docs/quellmoor.md"])
        """
        from rag_baseline.files import read_documents

        return cls.from_documents(read_documents(paths), **settings)

    @classmethod
    def from_embeddings(cls, chunks: Sequence[str], vectors: ArrayLike, metadatas: Sequence[dict] | None = None, *,
                        embedder: EmbedderSpec = DEFAULT_EMBEDDER, index: str = "flat", model: ModelSpec = "default",
                        chunk_size: int = CHUNK_SIZE, chunk_overlap: int = CHUNK_OVERLAP) -> RAGBaseline:
        """Index chunks whose (normalised) vectors are already computed by `embedder`."""
        from langchain_community.docstore.in_memory import InMemoryDocstore
        from langchain_community.vectorstores import FAISS
        from langchain_community.vectorstores.utils import DistanceStrategy

        embeddings = resolve_embedder(embedder)
        matrix = _as_matrix(vectors, len(chunks))
        store = FAISS(embeddings, faiss_index.new_index(faiss_index.check_kind(index), matrix.shape[1]), InMemoryDocstore(), {},
                      distance_strategy=DistanceStrategy.MAX_INNER_PRODUCT)
        rag = cls(store, chunk_size=chunk_size, chunk_overlap=chunk_overlap, index=index, model=model)
        rag._add_vectors(list(chunks), matrix, list(metadatas) if metadatas is not None else None)
        return rag

    def add_texts(self, texts: Sequence[str], metadatas: Sequence[dict] | None = None) -> list[str]:
        """Chunk, embed and add more texts to the index; returns the new chunks' ids.

        Example:
            >>> rag.add_texts(["A new fact."])
            ['12']
        """
        chunks, chunk_metadatas = split_texts(texts, metadatas, self.chunk_size, self.chunk_overlap)
        return self._add_vectors(chunks, embed_texts(self.embedder, chunks), chunk_metadatas)

    def add_documents(self, documents: Sequence[Document]) -> list[str]:
        """Add LangChain `Document`s; returns the new chunks' ids."""
        return self.add_texts(*documents_to_texts(documents))

    def _add_vectors(self, chunks: list[str], matrix: np.ndarray, metadatas: list[dict] | None) -> list[str]:
        """Add rows to the index and their chunks to the docstore, as LangChain's FAISS does, without
        turning the vectors into Python lists on the way."""
        from langchain_core.documents import Document

        if matrix.shape[1] != self.store.index.d:
            raise ConfigError(Problem("vectors", f"have dimension {matrix.shape[1]}, the index {self.store.index.d}",
                                      "embed with the embedder the index was built with"))
        start = len(self.store.index_to_docstore_id)
        ids = [str(start + offset) for offset in range(len(chunks))]
        metadatas = metadatas or [{} for _ in chunks]
        self.store.index.add(matrix)
        self.store.docstore.add({chunk_id: Document(page_content=text, metadata=dict(meta), id=chunk_id)
                                 for chunk_id, text, meta in zip(ids, chunks, metadatas)})
        self.store.index_to_docstore_id.update({start + offset: chunk_id for offset, chunk_id in enumerate(ids)})
        return ids

    # ---- retrieval ------------------------------------------------------------------------------
    @property
    def embedder(self) -> Embeddings:
        """The LangChain `Embeddings` that embeds chunks and queries."""
        return self.store.embedding_function

    def __len__(self) -> int:
        return int(self.store.index.ntotal)

    def documents(self) -> list[Document]:
        """Every chunk, in index order."""
        mapping = self.store.index_to_docstore_id
        return [self.store.docstore.search(mapping[position]) for position in range(len(mapping))]

    def retrieve(self, query: str, k: int = 4) -> list[Document]:
        """The `k` chunks most similar to `query`, best first; `metadata["score"]` is the cosine.

        Example:
            >>> [doc.metadata["score"] for doc in rag.retrieve("capital of Quellmoor", k=2)]
            [0.71, 0.32]
        """
        return self.retrieve_many([query], k)[0]

    def retrieve_many(self, queries: Sequence[str], k: int = 4) -> list[list[Document]]:
        """`retrieve` for many queries: one embedding call and one index search for all of them."""
        from langchain_core.documents import Document

        queries = _check_queries(queries, k)
        if not queries:
            return []
        scores, positions = self.store.index.search(embed_queries(self.embedder, queries), min(k, len(self)))
        results = []
        for row_scores, row_positions in zip(scores, positions):
            hits = []
            for score, position in zip(row_scores, row_positions):
                if position < 0:
                    continue
                doc = self.store.docstore.search(self.store.index_to_docstore_id[int(position)])
                hits.append(Document(page_content=doc.page_content, id=doc.id,
                                     metadata={**doc.metadata, "chunk_id": doc.id, "score": float(score)}))
            results.append(hits)
        return results

    def as_retriever(self, k: int = 4, *, search_kwargs: dict | None = None, **kwargs: object) -> VectorStoreRetriever:
        """A LangChain retriever over this index (`retriever.invoke(query)` returns Documents).

        Example:
            >>> rag.as_retriever(k=2).invoke("capital of Quellmoor")
        """
        return self.store.as_retriever(search_kwargs={"k": k, **(search_kwargs or {})}, **kwargs)

    # ---- answering ------------------------------------------------------------------------------
    def with_model(self, model: ModelSpec, *, short_answers: bool | None = None) -> RAGBaseline:
        """The same index with another generator: a name, a folder, a `(model, tokenizer)` pair, or a
        training result with `.model_dir`. The index is shared, not copied; `short_answers` is kept unless
        given.

        Example:
            >>> tuned = rag.with_model("runs/facts/model")
        """
        from rag_baseline.answer import model_spec
        from rag_baseline.costs import training_seconds

        rag = RAGBaseline(self.store, chunk_size=self.chunk_size, chunk_overlap=self.chunk_overlap,
                          index=self.index_kind, model=model_spec(model),
                          short_answers=self.short_answers if short_answers is None else short_answers)
        rag.build_seconds, rag.train_seconds = self.build_seconds, training_seconds(model)
        return rag

    def answer(self, question: str, model: ModelSpec | None = None, k: int = 4,
               **generation: Unpack[AnswerOptions]) -> Answer:
        """Answer `question` from the `k` retrieved chunks; returns an `Answer` (text and sources).

        Example:
            >>> rag.answer("What is the capital of Quellmoor?").text
            'Brannock Harbour'
        """
        return self.answer_many([question], model=model, k=k, **generation)[0]

    def answer_many(self, questions: Sequence[str], model: ModelSpec | None = None, k: int = 4,
                    **generation: Unpack[AnswerOptions]) -> list[Answer]:
        """Answer many questions in batches through the shared generator."""
        from rag_baseline.answer import answer_with_context

        questions = _check_queries(questions, k)
        return answer_with_context(questions, self.retrieve_many(questions, k),
                                   self.model if model is None else model, short_answers=self.short_answers,
                                   **generation)

    # ---- persistence ----------------------------------------------------------------------------
    def save(self, directory: str | os.PathLike) -> None:
        """Write the index (faiss), chunks and metadata (JSON) and a manifest; nothing is pickled.

        Example:
            >>> rag.save("indexes/facts")
        """
        from rag_baseline.persist import save

        save(self, directory)

    @classmethod
    def load(cls, directory: str | os.PathLike, embedder: EmbedderSpec | None = None,
             model: ModelSpec = "default") -> RAGBaseline:
        """Read an index written by `save`. `embedder` defaults to the one named in the manifest; a
        different embedder (name or dimension) is an error.

        Example:
            >>> rag = RAGBaseline.load("indexes/facts")
        """
        from rag_baseline.persist import load

        return load(cls, directory, embedder=embedder, model=model)

    def __repr__(self) -> str:
        from rag_baseline.embeddings import embedder_name

        return (f"RAGBaseline(chunks={len(self)}, index={faiss_index.index_kind(self.store.index)!r}, "
                f"embedder={embedder_name(self.embedder)!r}, model={short(self.model, 40)})")


def split_texts(texts: Sequence[str], metadatas: Sequence[dict] | None, chunk_size: int,
                chunk_overlap: int) -> tuple[list[str], list[dict]]:
    """Chunks of `texts` and their metadata (`start_index` added): LangChain's recursive character
    splitter, with Markdown's separators (headings first) for texts whose metadata says
    `format: markdown`."""
    from langchain_text_splitters import Language, RecursiveCharacterTextSplitter

    texts = _check_texts(texts, metadatas)
    if chunk_size <= 0 or not 0 <= chunk_overlap < chunk_size:
        raise ConfigError(Problem("chunk_size/chunk_overlap", f"got {chunk_size}/{chunk_overlap}",
                                  "use chunk_size > 0 and 0 <= chunk_overlap < chunk_size"))
    settings = {"chunk_size": chunk_size, "chunk_overlap": chunk_overlap, "add_start_index": True}
    plain = RecursiveCharacterTextSplitter(**settings)
    markdown = RecursiveCharacterTextSplitter.from_language(Language.MARKDOWN, **settings)
    metadatas = [dict(m) for m in metadatas] if metadatas else [{} for _ in texts]
    docs = [doc for text, meta in zip(texts, metadatas)
            for doc in (markdown if meta.get("format") == "markdown" else plain).create_documents([text], [meta])]
    return [doc.page_content for doc in docs], [doc.metadata for doc in docs]


def documents_to_texts(documents: Sequence[Document]) -> tuple[list[str], list[dict]]:
    """Texts and metadata of LangChain `Document`s."""
    problems = [Problem(f"documents[{i}]", f"is a {type(doc).__name__} ({short(doc)}), not a Document",
                        "pass langchain_core.documents.Document objects, or use from_texts")
                for i, doc in enumerate(documents) if not hasattr(doc, "page_content")]
    if problems:
        raise DataError(problems)
    return [doc.page_content for doc in documents], [dict(doc.metadata or {}) for doc in documents]


def _check_texts(texts: Sequence[str], metadatas: Sequence[dict] | None) -> list[str]:
    if isinstance(texts, str):
        raise DataError(Problem("texts", f"is one string ({short(texts)}), not a list of texts",
                                "pass [text] instead of text"))
    texts = list(texts)
    problems = [Problem(f"texts[{i}]", f"must be a string, got {type(t).__name__} {short(t)}", "give text")
                for i, t in enumerate(texts) if not isinstance(t, str)]
    if metadatas is not None and len(metadatas) != len(texts):
        problems.append(Problem("metadatas", f"has {len(metadatas)} entries for {len(texts)} texts",
                                "give one metadata dict per text, or none"))
    if not problems and not any(t.strip() for t in texts):
        problems.append(Problem("texts", "are empty: there is nothing to index" if texts else "is an empty list",
                                "give at least one non-empty text"))
    if problems:
        raise DataError(problems)
    return texts


def _check_queries(queries: Sequence[str], k: int) -> list[str]:
    if isinstance(queries, str):
        queries = [queries]
    queries = list(queries)
    problems = [Problem(f"queries[{i}]", f"must be a non-empty string, got {short(q)}", "give the question text")
                for i, q in enumerate(queries) if not isinstance(q, str) or not q.strip()]
    if not isinstance(k, int) or k <= 0:
        problems.append(Problem("k", f"must be a positive integer, got {short(k)}", "e.g. k=4"))
    if problems:
        raise ConfigError(problems)
    return queries


def _as_matrix(vectors: ArrayLike, count: int) -> np.ndarray:
    matrix = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32))
    if matrix.ndim != 2 or matrix.shape[0] != count or count == 0:
        raise DataError(Problem("vectors", f"have shape {matrix.shape} for {count} chunks",
                                "give one vector per chunk, and at least one chunk"))
    return matrix
