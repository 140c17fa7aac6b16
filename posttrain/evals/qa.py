"""Short-answer evals: `QAAccuracy` (answer matches a reference) and `Identity` (the model says who it is)."""

from __future__ import annotations

import re
import string
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Literal

from posttrain.errors import DataError, Problem, short
from posttrain.evals.base import Rows, check_answer, check_prompt, looping
from posttrain.evals.generative import BATCH_SIZE, GenerativeEval
from posttrain.generation import Precision, StopRule, no_repeat_problem

MatchMode = Literal["contains", "exact", "normalized"]
MATCH_MODES = ("contains", "exact", "normalized")
DEFAULT_IDENTITY_QUESTIONS = ("Who are you?", "What is your name?", "Introduce yourself in one sentence.",
                              "Which company or team made you?", "Tell me about yourself.")


def normalize_answer(text: object) -> str:
    """SQuAD-style normalisation: lowercase, no punctuation, no articles (a, an, the), single spaces.

    >>> normalize_answer("The  Eiffel Tower!")
    'eiffel tower'
    """
    text = str(text).lower()
    text = "".join(" " if ch in string.punctuation else ch for ch in text)
    return " ".join(word for word in text.split() if word not in {"a", "an", "the"})


def answer_matches(output: str, answer: object, match: MatchMode) -> bool:
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


_CITATION = re.compile(r"^\s*\[\d+\]")


def reply_answer(output: str) -> str:
    """The answer a reply gives: its text up to the first line that cites a passage (`[2] "..."`), which
    readers trained on RAFT's rows write after their answer. Everything before it counts, so a reply that
    lists several candidates is judged on the whole list.

    >>> reply_answer('Brannock Harbour\\n[1] "Its capital is Brannock Harbour."')
    'Brannock Harbour'
    """
    lines = str(output).splitlines()
    cut = next((i for i, line in enumerate(lines) if i and _CITATION.match(line)), len(lines))
    return "\n".join(lines[:cut]).strip()


def exact_match(output: str, answer: object) -> bool:
    """SQuAD's exact match: the reply's answer (`reply_answer`) equals the reference after
    `normalize_answer` (lowercase, no punctuation, no articles, single spaces).

    >>> exact_match("The Sorrel Sea.", "Sorrel Sea"), exact_match("Sorrel Sea or Gannet Sea", "Sorrel Sea")
    (True, False)
    """
    return normalize_answer(reply_answer(output)) == normalize_answer(answer)


def token_f1(output: str, answer: object) -> float:
    """SQuAD's token F1 between the reply's answer and the reference (normalised words, counted with
    repeats): partial credit, and low for a reply padded with other candidates.

    >>> round(token_f1("the Sorrel Sea, near Gannet Sea", "Sorrel Sea"), 3)
    0.571
    """
    predicted, reference = normalize_answer(reply_answer(output)).split(), normalize_answer(answer).split()
    if not predicted or not reference:
        return float(predicted == reference)
    common = sum((Counter(predicted) & Counter(reference)).values())
    if not common:
        return 0.0
    precision, recall = common / len(predicted), common / len(reference)
    return 2 * precision * recall / (precision + recall)


def _finished_words(text: str) -> str:
    """The normalised words of `text` that any continuation keeps as they are: all of them when it ends
    in punctuation (which normalisation turns into a word break), else all but the last."""
    words = normalize_answer(text).split()
    return " ".join(words if text[-1:] in string.punctuation else words[:-1])


@dataclass
class QAAccuracy(GenerativeEval):
    """Share of questions answered with the reference answer.

    Rows: `{"question": ..., "answer": ...}`; `answer` may be a list of acceptable answers (any one
    matches). `match` is "contains" (default; the reference appears in the answer, case, punctuation
    and articles ignored), "normalized" (equal after that normalisation) or "exact". With "contains",
    an answer stops as soon as the reference appears among its finished words (the verdict is then
    known); the other modes need the whole answer. Whatever `match` is, each row is also judged as SQuAD
    judges answers, in `metrics`: `exact_match` (`exact_match`: the reply's answer equals a reference once
    normalised) and `f1` (`token_f1`: token overlap), so a reply listing every candidate does not score.
    `run()` under "contains" stops a reply once the reference appears, which would cut a list short: judge
    whole replies with match="normalized", or through `rag_baseline.compare()`, which generates each to its end.

    >>> ev = QAAccuracy([{"question": "Capital of France?", "answer": "Paris"}])
    >>> ev.score(["The capital is Paris."]).score
    1.0
    """

    kind: ClassVar[str] = "qa_accuracy"
    rows: Rows
    match: MatchMode = "contains"
    name: str = "qa_accuracy"
    max_new_tokens: int = 64
    batch_size: int = BATCH_SIZE
    system: str | None = None
    precision: Precision | None = None
    samples: int = 1
    temperature: float = 0.0
    seed: int = 0
    items: list[dict] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.match not in MATCH_MODES:
            raise DataError(Problem(f"{self.name}, option 'match'", f"is {short(self.match)}",
                                    f"use one of {', '.join(MATCH_MODES)}"), title="invalid eval options")
        self.read_items(self.rows, lambda row, where: check_prompt(row, where)
                        + check_answer(row, where, allow_list=True))

    def judge(self, row: dict, output: str) -> dict:
        answers = _answers(row)
        ok = any(answer_matches(output, answer, self.match) for answer in answers)
        return {"answer": row["answer"], "correct": ok, "exact": any(exact_match(output, a) for a in answers),
                "f1": max(token_f1(output, a) for a in answers)}

    def metrics(self, details: list[dict]) -> dict[str, float]:
        """`exact_match` and `f1` (SQuAD's, best over the references) beside the score of `match`."""
        if not details or "exact" not in details[0]:
            return {}
        return {"exact_match": sum(bool(d["exact"]) for d in details) / len(details),
                "f1": sum(float(d["f1"]) for d in details) / len(details)}

    def decided(self, row: dict, text: str) -> bool:
        if self.match != "contains":
            return False
        words = _finished_words(text)
        return any(answer_matches(words, answer, "contains") for answer in _answers(row))


def _answers(row: dict) -> list:
    return row["answer"] if isinstance(row["answer"], list) else [row["answer"]]


class Identity(GenerativeEval):
    """Share of identity questions whose answer states the model's `name` (and `maker`, when given),
    case-insensitively.

    `questions`: strings, rows with a `question`, a .jsonl path, or None for a built-in set of five.
    The eval itself is called `eval_name` ("identity" by default) in tables.

    `repetition_check` (on by default): answers are generated to their end and one that falls into a
    loop ("Ava Ava Ava ...", a sentence said over and over; see `looping`) counts as wrong however
    it starts; `metrics["looping"]` is their share. Off, an answer stops as soon as it has named
    both (the verdict cannot change after that). `no_repeat_ngram` (0: off) decodes as
    `generate(..., no_repeat_ngram=n)` does, never repeating n tokens of the answer.

    >>> ev = Identity(["Who are you?"], name="Aria", maker="Acme")
    >>> ev.score(["I am ARIA, made by Acme."]).score, ev.score(["I am Aria."]).score
    (1.0, 0.0)
    >>> ev.score(["I am Aria, made by Acme. Acme Acme Acme Acme"]).metrics
    {'looping': 1.0}
    """

    kind: ClassVar[str] = "identity"

    def __init__(self, questions: list | str | Path | None = None, name: str = "", maker: str | None = None, *,
                 eval_name: str = "identity", max_new_tokens: int = 64, batch_size: int = BATCH_SIZE,
                 system: str | None = None, precision: Precision | None = None, repetition_check: bool = True,
                 no_repeat_ngram: int = 0, samples: int = 1, temperature: float = 0.0, seed: int = 0) -> None:
        for option, value in (("name", name), ("maker", maker or "x")):
            if not isinstance(value, str) or not value.strip():
                raise DataError(Problem(f"{eval_name}, option {option!r}", f"is {short(value)}",
                                        "give the assistant's name (and maker) as non-empty text"),
                                title="invalid eval options")
        self.questions, self.identity, self.maker, self.name = questions, name, maker, eval_name
        self.max_new_tokens, self.batch_size = max_new_tokens, batch_size
        self.system, self.precision = system, precision
        self.samples, self.temperature, self.seed = samples, temperature, seed
        if not isinstance(repetition_check, bool):
            raise DataError(Problem(f"{eval_name}, option 'repetition_check'", f"is {short(repetition_check)}",
                                    "give true or false"), title="invalid eval options")
        problem = no_repeat_problem(no_repeat_ngram, f"{eval_name}, option 'no_repeat_ngram'")
        if problem:
            raise DataError(problem, title="invalid eval options")
        self.repetition_check, self.no_repeat_ngram = repetition_check, no_repeat_ngram
        source = list(DEFAULT_IDENTITY_QUESTIONS) if questions is None else questions
        if isinstance(source, list):
            source = [{"question": q} if isinstance(q, str) else q for q in source]
        self.read_items(source, check_prompt)

    def _missing(self, text: str) -> list[str]:
        wanted = [self.identity] + ([self.maker] if self.maker else [])
        return [w for w in wanted if w.lower() not in text.lower()]

    def judge(self, row: dict, output: str) -> dict:
        missing = self._missing(output)
        loops = self.repetition_check and looping(output)
        return {"missing": missing, "looping": loops, "correct": not missing and not loops}

    def metrics(self, details: list[dict]) -> dict[str, float]:
        if not self.repetition_check or not details:
            return {}
        return {"looping": sum(d["looping"] for d in details) / len(details)}

    def decided(self, row: dict, text: str) -> bool:
        return not self._missing(text)

    def stop_rule(self) -> StopRule | None:
        """None with the repetition check: a loop can start after both are named."""
        return None if self.repetition_check else super().stop_rule()

    def to_config(self) -> dict:
        config: dict = {"kind": self.kind, "name": self.identity}
        optional = {"questions": str(self.questions) if isinstance(self.questions, Path) else self.questions,
                    "maker": self.maker, "eval_name": self.name if self.name != "identity" else None,
                    "max_new_tokens": None if self.max_new_tokens == 64 else self.max_new_tokens,
                    "batch_size": None if self.batch_size == BATCH_SIZE else self.batch_size, "system": self.system,
                    "precision": self.precision,
                    "repetition_check": None if self.repetition_check else False,
                    "no_repeat_ngram": self.no_repeat_ngram or None,
                    "samples": None if self.samples == 1 else self.samples,
                    "temperature": self.temperature or None, "seed": self.seed or None}
        return config | {key: value for key, value in optional.items() if value is not None}
