"""Short-answer evals: `QAAccuracy` (answer matches a reference) and `Identity` (the model says who it is)."""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from posttrain.errors import DataError, Problem, short
from posttrain.evals.base import (EvalResult, Rows, accuracy_result, check_answer, check_options, check_output_count,
                                  check_prompt, config_of, prompt_of, read_eval_rows, run_generative)

MatchMode = Literal["contains", "exact", "normalized"]
MATCH_MODES = ("contains", "exact", "normalized")
DEFAULT_IDENTITY_QUESTIONS = ("Who are you?", "What is your name?", "Introduce yourself in one sentence.",
                              "Which company or team made you?", "Tell me about yourself.")


def normalize_answer(text: Any) -> str:
    """SQuAD-style normalisation: lowercase, no punctuation, no articles (a, an, the), single spaces.

    >>> normalize_answer("The  Eiffel Tower!")
    'eiffel tower'
    """
    text = str(text).lower()
    text = "".join(" " if ch in string.punctuation else ch for ch in text)
    return " ".join(word for word in text.split() if word not in {"a", "an", "the"})


def answer_matches(output: str, answer: Any, match: MatchMode) -> bool:
    """Whether `output` matches one reference (`exact`: equal once stripped; `normalized`: equal after
    `normalize_answer`; `contains`: the normalised reference appears in it as whole words).

    >>> answer_matches("It is the Eiffel Tower.", "eiffel tower", "contains")
    True
    >>> answer_matches("Paris", "paris", "exact"), answer_matches("Paris.", "paris", "normalized")
    (False, True)
    """
    if match == "exact":
        return output.strip() == str(answer).strip()
    if match == "normalized":
        return normalize_answer(output) == normalize_answer(answer)
    reference = normalize_answer(answer)
    return bool(reference) and f" {reference} " in f" {normalize_answer(output)} "


@dataclass
class QAAccuracy:
    """Share of questions answered with the reference answer.

    Rows: `{"question": ..., "answer": ...}`; `answer` may be a list of acceptable answers (any one
    matches). `match` is "contains" (default; the reference appears in the answer, case, punctuation
    and articles ignored), "normalized" (equal after that normalisation) or "exact".

    >>> ev = QAAccuracy([{"question": "Capital of France?", "answer": "Paris"}])
    >>> ev.score(["The capital is Paris."]).score
    1.0
    """

    kind: ClassVar[str] = "qa_accuracy"
    rows: Rows
    match: MatchMode = "contains"
    name: str = "qa_accuracy"
    max_new_tokens: int = 64
    batch_size: int = 16
    system: str | None = None
    items: list[dict] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.match not in MATCH_MODES:
            raise DataError(Problem(f"{self.name}, option 'match'", f"is {short(self.match)}",
                                    f"use one of {', '.join(MATCH_MODES)}"), title="invalid eval options")
        self.items = read_eval_rows(self.rows, self.kind, lambda row, where: check_prompt(row, where)
                                    + check_answer(row, where, allow_list=True))
        check_options({"max_new_tokens": self.max_new_tokens, "batch_size": self.batch_size}, self.name)

    def prompts(self) -> list:
        return [prompt_of(row) for row in self.items]

    def score(self, outputs: list[str]) -> EvalResult:
        """Score one output per row (in row order)."""
        check_output_count(outputs, self.items, self.name)
        details, correct = [], []
        for row, output in zip(self.items, outputs):
            answers = row["answer"] if isinstance(row["answer"], list) else [row["answer"]]
            ok = any(answer_matches(output, answer, self.match) for answer in answers)
            correct.append(ok)
            details.append({"prompt": prompt_of(row), "output": output, "answer": row["answer"], "correct": ok})
        return accuracy_result(self.name, correct, details)

    def run(self, model: Any, tokenizer: Any) -> EvalResult:
        return run_generative(self, model, tokenizer)

    def to_config(self) -> dict:
        return config_of(self, self.kind)


class Identity:
    """Share of identity questions whose answer states the model's `name` (and `maker`, when given),
    case-insensitively.

    `questions`: strings, rows with a `question`, a .jsonl path, or None for a built-in set of five.
    The eval itself is called `eval_name` ("identity" by default) in tables.

    >>> ev = Identity(["Who are you?"], name="Aria", maker="Acme")
    >>> ev.score(["I am ARIA, made by Acme."]).score, ev.score(["I am Aria."]).score
    (1.0, 0.0)
    """

    kind: ClassVar[str] = "identity"

    def __init__(self, questions: list | str | Path | None = None, name: str = "", maker: str | None = None, *,
                 eval_name: str = "identity", max_new_tokens: int = 64, batch_size: int = 16,
                 system: str | None = None) -> None:
        for option, value in (("name", name), ("maker", maker or "x")):
            if not isinstance(value, str) or not value.strip():
                raise DataError(Problem(f"{eval_name}, option {option!r}", f"is {short(value)}",
                                        "give the assistant's name (and maker) as non-empty text"),
                                title="invalid eval options")
        self.questions, self.identity, self.maker, self.name = questions, name, maker, eval_name
        self.max_new_tokens, self.batch_size, self.system = max_new_tokens, batch_size, system
        source = list(DEFAULT_IDENTITY_QUESTIONS) if questions is None else questions
        if isinstance(source, list):
            source = [{"question": q} if isinstance(q, str) else q for q in source]
        self.items = read_eval_rows(source, self.kind, check_prompt)
        check_options({"max_new_tokens": max_new_tokens, "batch_size": batch_size}, eval_name)

    def prompts(self) -> list:
        return [prompt_of(row) for row in self.items]

    def score(self, outputs: list[str]) -> EvalResult:
        """Score one output per question (in order)."""
        check_output_count(outputs, self.items, self.name)
        wanted = [self.identity] + ([self.maker] if self.maker else [])
        details, correct = [], []
        for row, output in zip(self.items, outputs):
            missing = [w for w in wanted if w.lower() not in output.lower()]
            correct.append(not missing)
            details.append({"prompt": prompt_of(row), "output": output, "missing": missing, "correct": not missing})
        return accuracy_result(self.name, correct, details)

    def run(self, model: Any, tokenizer: Any) -> EvalResult:
        return run_generative(self, model, tokenizer)

    def to_config(self) -> dict:
        config: dict = {"kind": self.kind, "name": self.identity}
        optional = {"questions": str(self.questions) if isinstance(self.questions, Path) else self.questions,
                    "maker": self.maker, "eval_name": self.name if self.name != "identity" else None,
                    "max_new_tokens": None if self.max_new_tokens == 64 else self.max_new_tokens,
                    "batch_size": None if self.batch_size == 16 else self.batch_size, "system": self.system}
        return config | {key: value for key, value in optional.items() if value is not None}
