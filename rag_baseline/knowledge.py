"""A fine-tuned arm built from the same documents as the RAG arm, so the two compare like with like.

Knowledge-injection studies (Ovadia et al., 2023, "Fine-Tuning or Retrieval?") found that retrieval
beats unsupervised fine-tuning on facts the model has never seen, and that fine-tuning gains with the
number of paraphrases of each fact. `knowledge_pipeline` plans continued pre-training on the documents
with N paraphrased variants and/or SFT on question-answer pairs, as a `posttrain.Trainer`.

>>> from rag_baseline import knowledge_pipeline
>>> plan = knowledge_pipeline(["Quellmoor's capital is Brannock Harbour."], paraphrases=4,
...                           output_dir="runs/facts")
>>> run = plan.run()            # doctest: +SKIP
>>> # then: compare(rows, {"ft": run, "ft+rag": rag.with_model(run)})
"""

from __future__ import annotations

import os
import random
import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

from posttrain.errors import ConfigError, DataError, Problem, short
from rag_baseline.qa_rows import model_name as _model_name
from rag_baseline.qa_rows import qa_sft_rows

if TYPE_CHECKING:
    from langchain_core.documents import Document

    from posttrain.config import LoraSettings
    from posttrain.evals.base import Rows
    from posttrain.pipeline.builder import Trainer
    from rag_baseline.answer import Trained
    from rag_baseline.store import RAGBaseline

#: Documents as `knowledge_pipeline` takes them: texts, LangChain Documents, or files and folders.
Documents: TypeAlias = "str | os.PathLike[str] | Iterable[str | os.PathLike[str] | Document]"

# Each paraphrase variant rewrites every sentence with one of these and shuffles sentence order.
TEMPLATES = ("{sentence}", "It is a fact that {lowered}", "According to the records, {lowered}",
             "Note this: {sentence}", "Remember that {lowered}", "As is well documented, {lowered}",
             "Here is a fact: {sentence}", "In other words, {lowered}")
_COMMON_STARTS = {"The", "A", "An", "It", "Its", "In", "On", "Since", "Before", "Besides", "He", "She", "His",
                  "Her", "They", "Their", "This", "There", "Each", "Every"}
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9])")


def paragraphs(text: str) -> list[list[str]]:
    """The document's paragraphs, each a list of sentences; markdown headings dropped.

    >>> paragraphs("# Title\n\nOne fact. Two facts!\n\nThree.")
    [['One fact.', 'Two facts!'], ['Three.']]
    """
    blocks = [" ".join(line.strip() for line in block.splitlines() if not line.lstrip().startswith("#"))
              for block in re.split(r"\n\s*\n", text)]
    return [[part.strip() for part in _SENTENCE_END.split(block) if part.strip()] for block in blocks if block.strip()]


def paraphrase_variants(text: str, n: int, seed: int = 0) -> list[str]:
    """`n` template-based rewordings of `text`: every sentence framed by a template, paragraphs
    shuffled (sentences stay in order inside a paragraph, so "she" still follows its name).

    >>> paraphrase_variants("Ann was born in 1901. She sang.", 1)[0]
    'It is a fact that Ann was born in 1901. According to the records, she sang.'
    """
    blocks = paragraphs(text)
    rng = random.Random(seed)
    variants = []
    for number in range(n):
        order = blocks[:]
        rng.shuffle(order)
        sentences = [sentence for block in order for sentence in block]
        templates = [TEMPLATES[1 + (number + i) % (len(TEMPLATES) - 1)] for i in range(len(sentences))]
        variants.append(" ".join(t.format(sentence=s, lowered=_lower_first(s)) for t, s in zip(templates, sentences)))
    return variants


def _lower_first(sentence: str) -> str:
    """The sentence with its first word lowered when that word is a common one (names keep capitals)."""
    first, _, rest = sentence.partition(" ")
    return f"{first.lower()} {rest}" if first in _COMMON_STARTS else sentence


def knowledge_rows(documents: Documents, paraphrases: int = 4, seed: int = 0) -> list[dict]:
    """Continued pre-training rows `{"text": ...}`: each document, then its `paraphrases` variants."""
    if not isinstance(paraphrases, int) or paraphrases < 0:
        raise ConfigError(Problem("paraphrases", f"must be a whole number >= 0, got {short(paraphrases)}",
                                  "e.g. paraphrases=4 (more paraphrases help fine-tuning learn facts)"))
    rows = []
    for index, text in enumerate(document_texts(documents)):
        rows.append({"text": text})
        rows += [{"text": variant} for variant in paraphrase_variants(text, paraphrases, seed + index)]
    return rows


def knowledge_pipeline(documents: Documents | None = None, qa_rows: Rows | None = None, *, paraphrases: int = 4,
                       model: str | os.PathLike[str] | Trained = "default", output_dir: str | Path = "runs/knowledge",
                       lora: bool | dict | LoraSettings | None = None, seed: int = 0, pretrain: dict | None = None,
                       sft: dict | None = None, raft: bool | RAGBaseline | dict | None = False) -> Trainer:
    """A `posttrain.Trainer` that injects the documents' facts into `model`.

    Args:
        documents: texts, LangChain Documents, or files/folders (.txt/.md/.jsonl); continued
            pre-training on them and `paraphrases` variants of each. None: no pre-training stage.
        qa_rows: question-answer rows (or a .jsonl path) for an SFT stage after it. Use questions
            worded differently from the ones you evaluate on.
        pretrain, sft: settings of each stage (e.g. `{"epochs": 3}`).
        raft: make the SFT stage RAFT's (`rag_baseline.raft`): the QA rows asked with retrieved
            passages. True: from an index over `documents`; a `RAGBaseline`: from that index (the
            one the arm is evaluated with); a dict: `raft_rows` options, its "rag" the index.

    Example:
        >>> plan = knowledge_pipeline("docs/", "qa_train.jsonl", paraphrases=4, output_dir="runs/ft")  # doctest: +SKIP
    """
    from posttrain.pipeline.builder import Trainer

    if documents is None and qa_rows is None:
        raise ConfigError(Problem("knowledge_pipeline", "got neither documents nor qa_rows",
                                  "give the documents (continued pre-training), QA rows (SFT), or both"))
    trainer = Trainer(_model_name(model), output_dir=output_dir, lora=lora, seed=seed)
    if documents is not None:
        trainer = trainer.pretrain(knowledge_rows(documents, paraphrases, seed), **(pretrain or {}))
    if qa_rows is not None:
        rows = _raft_sft_rows(raft, documents, qa_rows, seed) if raft is not False and raft is not None \
            else qa_sft_rows(qa_rows)
        trainer = trainer.sft(rows, **(sft or {}))
    elif raft:
        raise ConfigError(Problem("raft", "needs qa_rows", "give the training questions RAFT asks with context"))
    return trainer


def _raft_sft_rows(raft: bool | RAGBaseline | dict | None, documents: Documents | None, qa_rows: Rows,
                   seed: int) -> list[dict]:
    from rag_baseline.raft import raft_rows
    from rag_baseline.store import RAGBaseline

    options = dict(raft) if isinstance(raft, dict) else {"rag": raft} if isinstance(raft, RAGBaseline) else {}
    if raft is not True and not options:
        raise ConfigError(Problem("raft", f"got {short(raft)}", "give True, a RAGBaseline, or a dict of raft_rows options"))
    rag = options.pop("rag", None)
    if rag is None:
        if documents is None:
            raise ConfigError(Problem("raft", "has no index and no documents to build one from",
                                      "give documents, or raft=rag (the index the arm is evaluated with)"))
        rag = RAGBaseline.from_texts(document_texts(documents))
    # the user's raft_rows options, as given: raft_rows checks k, oracle_share and samples itself
    return raft_rows(rag, qa_rows, seed=options.pop("seed", seed), **options)  # type: ignore[arg-type]


def document_texts(documents: Documents) -> list[str]:
    """Texts from texts, Documents, a RAGBaseline-style file list, or files/folders."""
    if isinstance(documents, (str, os.PathLike)) and Path(documents).exists():
        documents = [documents]
    elif isinstance(documents, str):
        raise DataError(Problem("documents", f"is one string ({short(documents)}) and not an existing path",
                                "pass a list of texts, Documents, or file paths"))
    elif isinstance(documents, os.PathLike):
        raise DataError(Problem("documents", f"path {documents} does not exist",
                                "check the path, or pass a list of texts, Documents, or file paths"))
    items = list(documents)
    if items and all(isinstance(item, (str, os.PathLike)) and _is_file_like(item) for item in items):
        from rag_baseline.files import read_documents

        items = read_documents(items)
    texts = [item.page_content if hasattr(item, "page_content") else item for item in items]
    problems = [Problem(f"documents[{i}]", f"is {short(text)}", "give non-empty text")
                for i, text in enumerate(texts) if not isinstance(text, str) or not text.strip()]
    if problems or not texts:
        raise DataError(problems or Problem("documents", "is empty", "give at least one document"))
    return [text for text in texts if isinstance(text, str)]         # all of them, as just checked


def _is_file_like(item: str | os.PathLike) -> bool:
    text = str(item)
    return len(text) < 4096 and "\n" not in text and Path(text).expanduser().exists()
