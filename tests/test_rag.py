"""RAGBaseline: retrieval quality on the fictional-facts corpus, pickle-free persistence, bad inputs."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from posttrain.errors import ConfigError, DataError

FACTS = Path(__file__).resolve().parents[1] / "examples" / "data" / "fictional_facts"
QA = [json.loads(line) for line in (FACTS / "qa.jsonl").read_text().splitlines() if line.strip()]


class HashEmbeddings:
    """A tiny deterministic embedder (bag of hashed words), to stand for "another embedder"."""

    def __init__(self, dimension: int = 64, name: str = "hash-words") -> None:
        from langchain_core.embeddings import Embeddings

        Embeddings.register(HashEmbeddings)
        self.dimension, self.name = dimension, name

    def _vector(self, text: str) -> list[float]:
        vector = np.zeros(self.dimension, dtype=np.float32)
        for word in text.lower().split():
            vector[sum(map(ord, word)) % self.dimension] += 1.0
        return (vector / max(np.linalg.norm(vector), 1e-9)).tolist()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._vector(text) for text in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._vector(text)


@pytest.fixture(scope="module")
def rag():
    from rag_baseline import RAGBaseline

    return RAGBaseline.from_files([FACTS / "docs"], chunk_size=300, chunk_overlap=30)


def recall_at(rag, rows: list[dict], k: int) -> float:
    results = rag.retrieve_many([row["question"] for row in rows], k)
    return sum(any(row["evidence"] in doc.page_content for doc in docs) for row, docs in zip(rows, results)) / len(rows)


def test_corpus_is_split_into_many_chunks_each_fact_in_one(rag):
    assert len(rag) >= 15
    for row in QA:   # every evidence phrase survives chunking whole, so recall below is meaningful
        assert any(row["evidence"] in doc.page_content for doc in rag.documents()), row["id"]


def test_recall_on_fictional_facts(rag):
    assert recall_at(rag, QA, 3) >= 0.9
    assert recall_at(rag, QA, 1) >= 0.8


def test_retrieve_returns_best_first_with_cosine_scores_and_source(rag):
    docs = rag.retrieve("Who is the chief executive of Tarvessa Dynamics?", k=4)
    scores = [doc.metadata["score"] for doc in docs]
    assert len(docs) == 4 and scores == sorted(scores, reverse=True)
    assert all(-1.0 <= s <= 1.0 + 1e-5 for s in scores)
    assert "Imra Solberg-Nakano" in docs[0].page_content
    assert docs[0].metadata["source"].endswith("tarvessa_dynamics.md")
    query = np.array(rag.embedder.embed_query("Who is the chief executive of Tarvessa Dynamics?"))
    chunk = np.array(rag.embedder.embed_query(docs[0].page_content))
    assert scores[0] == pytest.approx(float(query @ chunk), abs=1e-4)    # the score is the cosine


def test_retrieve_many_equals_one_by_one(rag):
    questions = [row["question"] for row in QA[:5]]
    batched = rag.retrieve_many(questions, k=3)
    single = [rag.retrieve(q, k=3) for q in questions]
    assert [[d.id for d in docs] for docs in batched] == [[d.id for d in docs] for docs in single]


def test_save_load_gives_identical_results_without_pickle(rag, tmp_path, monkeypatch):
    from rag_baseline import RAGBaseline

    rag.save(tmp_path / "index")
    files = sorted(p.name for p in (tmp_path / "index").rglob("*"))
    assert files == ["chunks.json", "index.faiss", "manifest.json"]
    for path in (tmp_path / "index").iterdir():
        assert not path.read_bytes().startswith(b"\x80"), f"{path.name} looks like a pickle"

    def refuse(*args, **kwargs):
        raise AssertionError("pickle used while loading")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    loaded = RAGBaseline.load(tmp_path / "index")
    questions = [row["question"] for row in QA]
    before, after = rag.retrieve_many(questions, 3), loaded.retrieve_many(questions, 3)
    assert [[(d.id, d.page_content, d.metadata) for d in docs] for docs in before] == \
           [[(d.id, d.page_content, d.metadata) for d in docs] for docs in after]
    manifest = json.loads((tmp_path / "index" / "manifest.json").read_text())
    assert manifest["embedder"] == {"name": "all-MiniLM-L6-v2", "dimension": 384,
                                    "path": manifest["embedder"]["path"]}


def test_load_with_another_embedder_is_an_error(tmp_path):
    from rag_baseline import RAGBaseline

    built = RAGBaseline.from_texts(["Quellmoor lies in the Sorrel Sea."], embedder=HashEmbeddings(64))
    built.save(tmp_path / "hash")
    with pytest.raises(ConfigError, match="built with the custom embedder 'hash-words'"):
        RAGBaseline.load(tmp_path / "hash")                                    # cannot guess it
    with pytest.raises(ConfigError, match=r"is 'all-MiniLM-L6-v2' \(384-d\).*'hash-words' \(64-d\)"):
        RAGBaseline.load(tmp_path / "hash", embedder="default")               # other name
    with pytest.raises(ConfigError, match=r"\(32-d\).*\(64-d\)"):
        RAGBaseline.load(tmp_path / "hash", embedder=HashEmbeddings(32))      # same name, other size
    assert len(RAGBaseline.load(tmp_path / "hash", embedder=HashEmbeddings(64))) == 1


def test_load_of_a_folder_that_is_not_an_index(tmp_path):
    from rag_baseline import RAGBaseline

    with pytest.raises(DataError, match="not a saved RAG index"):
        RAGBaseline.load(tmp_path)


def test_add_texts_makes_new_facts_retrievable_and_survives_save(tmp_path):
    from rag_baseline import RAGBaseline

    rag = RAGBaseline.from_texts(["The Quellmoor ferry leaves at dawn."], [{"source": "a"}])
    ids = rag.add_texts(["The Vellan glacier melts every June.", "Bakers in Ondrel use rye flour."],
                        [{"source": "b"}, {"source": "c"}])
    assert ids == ["1", "2"] and len(rag) == 3
    top = rag.retrieve("When does the Vellan glacier melt?", k=1)[0]
    assert top.metadata["source"] == "b" and top.metadata["chunk_id"] == "1"
    rag.save(tmp_path / "grown")
    assert len(RAGBaseline.load(tmp_path / "grown")) == 3


def test_as_retriever_is_a_langchain_retriever(rag):
    from langchain_core.documents import Document
    from langchain_core.retrievers import BaseRetriever

    retriever = rag.as_retriever(k=2)
    docs = retriever.invoke("What is the national bird of Quellmoor?")
    assert isinstance(retriever, BaseRetriever)
    assert len(docs) == 2 and all(isinstance(doc, Document) for doc in docs)
    assert any("copper-tailed heron" in doc.page_content for doc in docs)


def test_hnsw_index_finds_the_same_top_chunk_as_exact_search(rag):
    from rag_baseline import RAGBaseline
    from rag_baseline.index import index_kind

    docs = rag.documents()
    vectors = rag.embedder.embed_documents([d.page_content for d in docs])
    graph = RAGBaseline.from_embeddings([d.page_content for d in docs], vectors, [d.metadata for d in docs],
                                        embedder=rag.embedder, index="hnsw")
    assert index_kind(graph.store.index) == "hnsw" and index_kind(rag.store.index) == "flat"
    questions = [row["question"] for row in QA]
    exact = [docs[0].page_content for docs in rag.retrieve_many(questions, 1)]
    approximate = [docs[0].page_content for docs in graph.retrieve_many(questions, 1)]
    assert exact == approximate


@pytest.mark.parametrize("texts, settings, error, message", [
    ([], {}, DataError, "is an empty list"),
    (["", "  "], {}, DataError, "nothing to index"),
    ("one string", {}, DataError, "not a list of texts"),
    (["fine", 3], {}, DataError, r"texts\[1\]: must be a string"),
    (["a", "b"], {"metadatas": [{}]}, DataError, "1 entries for 2 texts"),
    (["a"], {"chunk_size": 100, "chunk_overlap": 100}, ConfigError, "chunk_overlap < chunk_size"),
    (["a"], {"index": "ivf"}, ConfigError, "unknown index kind 'ivf'"),
    (["a"], {"embedder": 42}, ConfigError, "got a int"),
])
def test_bad_inputs_are_clear_errors(texts, settings, error, message):
    from rag_baseline import RAGBaseline

    with pytest.raises(error, match=message):
        RAGBaseline.from_texts(texts, **settings)


def test_bad_queries_are_clear_errors(rag):
    with pytest.raises(ConfigError, match="must be a positive integer"):
        rag.retrieve("capital?", k=0)
    with pytest.raises(ConfigError, match=r"queries\[1\]: must be a non-empty string"):
        rag.retrieve_many(["capital?", ""], k=2)


def test_from_files_reads_jsonl_rows_with_metadata(tmp_path):
    from rag_baseline import RAGBaseline

    path = tmp_path / "notes.jsonl"
    path.write_text('{"text": "The Ondrel lab tests turbine blades.", "title": "lab"}\n'
                    '{"text": "Pippet the otter is painted on turbines.", "title": "mascot"}\n')
    rag = RAGBaseline.from_files([path])
    top = rag.retrieve("Which otter is painted on turbines?", k=1)[0]
    assert top.metadata["title"] == "mascot" and top.metadata["row"] == 2
    (tmp_path / "x.pdf").write_text("x")
    with pytest.raises(DataError, match="unsupported file type '.pdf'"):
        RAGBaseline.from_files([tmp_path / "x.pdf"])


def test_import_is_light():
    code = ("import sys, rag_baseline, rag_baseline.cli; "
            "print(sorted(m for m in ('torch', 'faiss', 'langchain_core', 'langchain_community', "
            "'sentence_transformers', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_hnsw_index_round_trips_through_save_and_load(tmp_path):
    from rag_baseline import RAGBaseline
    from rag_baseline.index import HNSW_EF_SEARCH, index_kind

    embedder = HashEmbeddings(64)
    texts = [f"record {i} marker{i % 7} tag{i % 11}" for i in range(300)]
    built = RAGBaseline.from_texts(texts, embedder=embedder, index="hnsw")
    built.save(tmp_path / "graph")
    loaded = RAGBaseline.load(tmp_path / "graph", embedder=embedder)
    assert index_kind(loaded.store.index) == "hnsw" and loaded.store.index.hnsw.efSearch >= HNSW_EF_SEARCH
    queries = ["marker3 tag5", "marker1 tag2", "record 42"]
    assert [[d.id for d in docs] for docs in built.retrieve_many(queries, 5)] == \
           [[d.id for d in docs] for docs in loaded.retrieve_many(queries, 5)]
