"""Question-answer rows as SFT rows, and the model name a pipeline starts from: shared by the
fine-tuned arm (`knowledge`) and the RAFT arm (`raft`)."""

from __future__ import annotations

import os

from posttrain.errors import ConfigError, DataError, Problem, short


def qa_sft_rows(qa_rows: object) -> list[dict]:
    """SFT rows `{"prompt": question, "completion": answer}` from eval-style rows (a list or a path)."""
    from posttrain.data.readers import read_rows

    rows, label = read_rows(qa_rows)
    problems = [Problem(f"{label}, row {number}", f"needs 'question' and 'answer' strings, got {short(row)}",
                        'write rows like {"question": "...", "answer": "..."}')
                for number, row in enumerate(rows, start=1)
                if not (isinstance(row, dict) and isinstance(row.get("question"), str) and row.get("answer"))]
    if problems or not rows:
        raise DataError(problems or Problem(label, "has no rows", "give question-answer rows"))
    return [{"prompt": row["question"], "completion": _answer_text(row["answer"])} for row in rows]


def _answer_text(answer: object) -> str:
    return str(answer[0] if isinstance(answer, list) else answer)


def model_name(model: object) -> str:
    """The model a Trainer starts from: a name or folder, or a training result's `model_dir`."""
    if hasattr(model, "model_dir"):
        return str(model.model_dir)
    if isinstance(model, (str, os.PathLike)):
        return str(model)
    raise ConfigError(Problem("model", f"got {type(model).__name__} {short(model)}",
                              "give a model name ('default') or folder; the Trainer loads it itself"))
