"""RAFT (Zhang et al., 2024, "RAFT: Adapting Language Model to Domain Specific RAG"): fine-tune on
training questions asked with retrieved context, so the model learns to read its context.

Each training question becomes an SFT row whose prompt is exactly what the RAG arm sends at test
time (the same system message, the same numbered passages), built from the same index: the chunk
that holds the answer (the "oracle") among distractor chunks retrieved for the question, in a
random position. In a share of rows (`oracle_share`, 0.8 as in the paper) the oracle is left out,
so the model also keeps what it learnt. The answer comes first, then the passage it was read from,
quoted (the paper's answers quote the context).

>>> from rag_baseline import RAGBaseline, raft_pipeline
>>> rag = RAGBaseline.from_files("examples/data/fictional_facts/docs")           # doctest: +SKIP
>>> run = raft_pipeline(rag, "examples/data/fictional_facts/qa_train.jsonl").run()  # doctest: +SKIP
>>> # then: compare(rows, {"rag": rag, "raft": rag.with_model(run)})
"""

from __future__ import annotations

import os
import random
import re
from pathlib import Path
from typing import TYPE_CHECKING

from posttrain.errors import ConfigError, Problem, short
from rag_baseline.answer import SYSTEM, augment

if TYPE_CHECKING:
    from langchain_core.documents import Document

    from posttrain.config import LoraSettings
    from posttrain.evals.base import Rows
    from posttrain.pipeline.builder import Trainer
    from rag_baseline.answer import Trained
    from rag_baseline.store import RAGBaseline

ORACLE_SHARE = 0.8
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def raft_rows(rag: RAGBaseline, qa_rows: Rows, *, k: int = 3, oracle_share: float = ORACLE_SHARE, samples: int = 1,
              quote: bool = True, seed: int = 0) -> list[dict]:
    """Conversational SFT rows `{"prompt": [system, user], "completion": [assistant]}`.

    Args:
        rag: the `RAGBaseline` the RAFT arm will retrieve from at test time.
        qa_rows: training question-answer rows (or a .jsonl path), worded unlike the test questions.
        k: passages per prompt (the same k the arm is evaluated with).
        oracle_share: share of rows whose passages include the chunk holding the answer.
        samples: rows per question, each with its own draw of distractors and oracle position.
        quote: follow the answer with the passage sentence it comes from.

    The oracle is the best-ranked chunk for the question that contains the answer; when no chunk
    does, the row keeps the top `k` retrieved chunks and the answer alone.
    """
    from rag_baseline.qa_rows import qa_sft_rows

    _check(k, oracle_share, samples)
    pairs = qa_sft_rows(qa_rows)
    rng = random.Random(seed)
    ranked = rag.retrieve_many([pair["prompt"] for pair in pairs], min(len(rag), max(4 * k, 12)))
    rows = []
    for pair, chunks in zip(pairs, ranked):
        oracle = next((doc for doc in chunks if _holds(doc.page_content, pair["completion"])), None)
        for _ in range(samples):
            rows.append(_row(pair, chunks, oracle, k, rng.random() < oracle_share, quote, rng))
    return rows


def _row(pair: dict, chunks: list[Document], oracle: Document | None, k: int, with_oracle: bool, quote: bool,
         rng: random.Random) -> dict:
    others = [doc for doc in chunks if oracle is None or doc.id != oracle.id]
    pool = others[: 2 * k]
    if oracle is None:
        passages = chunks[:k]
    elif with_oracle:
        passages = rng.sample(pool, min(k - 1, len(pool)))
        passages.insert(rng.randrange(len(passages) + 1), oracle)
    else:
        passages = rng.sample(pool, min(k, len(pool)))
    answer = pair["completion"]
    if quote and oracle is not None and any(doc.id == oracle.id for doc in passages):
        number = next(i for i, doc in enumerate(passages, start=1) if doc.id == oracle.id)
        answer = f'{answer}\n[{number}] "{_sentence_with(oracle.page_content, pair["completion"])}"'
    return {"prompt": [{"role": "system", "content": SYSTEM},
                       {"role": "user", "content": augment(pair["prompt"], passages)}],
            "completion": [{"role": "assistant", "content": answer}]}


def raft_pipeline(rag: RAGBaseline, qa_rows: Rows, *, model: str | os.PathLike[str] | Trained = "default",
                  output_dir: str | Path = "runs/raft", lora: bool | dict | LoraSettings | None = None,
                  seed: int = 0, k: int = 3, oracle_share: float = ORACLE_SHARE, samples: int = 1,
                  quote: bool = True, sft: dict | None = None) -> Trainer:
    """A `posttrain.Trainer` with one ordinary SFT stage on `raft_rows(rag, qa_rows, ...)`.

    Evaluate the result with retrieval: `compare(rows, {"raft": rag.with_model(run)}, k=k)`.

    Example:
        >>> plan = raft_pipeline(rag, "qa_train.jsonl", samples=2, sft={"epochs": 3})  # doctest: +SKIP
    """
    from posttrain.pipeline.builder import Trainer
    from rag_baseline.qa_rows import model_name

    rows = raft_rows(rag, qa_rows, k=k, oracle_share=oracle_share, samples=samples, quote=quote, seed=seed)
    return Trainer(model_name(model), output_dir=output_dir, lora=lora, seed=seed).sft(rows, **(sft or {}))


def _check(k: object, oracle_share: object, samples: object) -> None:
    problems = []
    if not isinstance(k, int) or k < 1:
        problems.append(Problem("k", f"must be a whole number >= 1, got {short(k)}", "e.g. k=3, as the arm retrieves"))
    if not isinstance(oracle_share, (int, float)) or not 0 <= oracle_share <= 1:
        problems.append(Problem("oracle_share", f"must lie in [0, 1], got {short(oracle_share)}",
                                "e.g. 0.8: the answer's chunk in 80% of rows"))
    if not isinstance(samples, int) or samples < 1:
        problems.append(Problem("samples", f"must be a whole number >= 1, got {short(samples)}", "e.g. samples=2"))
    if problems:
        raise ConfigError(problems, title="invalid RAFT settings")


def _holds(text: str, answer: str) -> bool:
    return _norm(answer) in _norm(text)


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def _sentence_with(text: str, answer: str) -> str:
    """The sentence of `text` that holds `answer` (the whole text, flattened, if none does alone)."""
    sentences = [" ".join(s.split()) for s in _SENTENCE.split(text) if s.strip()]
    return next((s for s in sentences if _holds(s, answer)), " ".join(text.split()))
