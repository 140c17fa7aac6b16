"""rag_baseline: would retrieval have been enough? A FAISS + sentence-embedding RAG baseline over
LangChain, and a harness comparing it with base and fine-tuned models on your own questions.

>>> from rag_baseline import RAGBaseline, compare
>>> rag = RAGBaseline.from_files(["examples/data/fictional_facts/docs"])
>>> rag.answer("What is the capital of Quellmoor?").text
>>> report = compare("examples/data/fictional_facts/qa.jsonl", arms={"base": "default", "rag": rag})
>>> print(report.to_markdown())

Heavy modules (torch, faiss, LangChain) load on first use of a name that needs them.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "RAGBaseline": "rag_baseline.store",
    "Answer": "rag_baseline.answer",
    "clear_model_cache": "rag_baseline.answer",
    "compare": "rag_baseline.comparison",
    "Arm": "rag_baseline.comparison",
    "parse_arm": "rag_baseline.comparison",
    "ComparisonReport": "rag_baseline.report",
    "knowledge_pipeline": "rag_baseline.knowledge",
    "knowledge_rows": "rag_baseline.knowledge",
    "qa_sft_rows": "rag_baseline.knowledge",
    "SentenceEmbeddings": "rag_baseline.embeddings",
    "resolve_embedder": "rag_baseline.embeddings",
    "read_documents": "rag_baseline.files",
    "raft_rows": "rag_baseline.raft",
    "raft_pipeline": "rag_baseline.raft",
    "ArmCost": "rag_baseline.costs",
    "Recommendation": "rag_baseline.recommend",
    "recommend": "rag_baseline.recommend",
    "SweepReport": "rag_baseline.sweeps",
    "sweep_k": "rag_baseline.sweeps",
    "sweep_paraphrases": "rag_baseline.sweeps",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'rag_baseline' has no attribute {name!r}")
