"""What every eval shares: the `Eval` protocol, `EvalResult`, confidence intervals and row checks."""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from posttrain.errors import DataError, Problem, short

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

    from posttrain.types import CausalLM, Tokenizer

Rows = list[dict] | str | Path
Z_95 = 1.959964


@dataclass
class EvalResult:
    """The outcome of one eval on one model.

    `score` is an accuracy in [0, 1] (or, for perplexity, the perplexity with `higher_is_better`
    False); `ci` its 95% confidence interval; `details` one dict per item (prompt, output, verdict);
    `metrics` any further numbers (e.g. per-constraint accuracy); `skipped` the reason when the eval
    could not run (then `score` is NaN).

    >>> result = EvalResult("qa", score=0.5, n=2, ci=wilson_interval(1, 2))
    >>> EvalResult.from_dict(result.to_dict()) == result
    True
    """

    name: str
    score: float
    n: int
    ci: tuple[float, float]
    details: list[dict] = field(default_factory=list)
    higher_is_better: bool = True
    metrics: dict[str, float] = field(default_factory=dict)
    skipped: str | None = None

    @classmethod
    def skip(cls, name: str, reason: str, higher_is_better: bool = True) -> EvalResult:
        """A result for an eval that could not run, with the reason."""
        return cls(name, math.nan, 0, (math.nan, math.nan), higher_is_better=higher_is_better, skipped=reason)

    def to_dict(self) -> dict:
        """Plain JSON-ready data (NaN becomes None)."""
        data = dataclasses.asdict(self)
        data["score"], data["ci"] = _nan_to_none(self.score), [_nan_to_none(v) for v in self.ci]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> EvalResult:
        """The inverse of `to_dict`."""
        data = dict(data)
        data["score"] = math.nan if data.get("score") is None else float(data["score"])
        data["ci"] = tuple(math.nan if v is None else float(v) for v in data.get("ci") or (None, None))
        return cls(**data)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, EvalResult) and self.to_dict() == other.to_dict()


def _nan_to_none(value: float) -> float | None:
    return None if value is None or math.isnan(value) else float(value)


@runtime_checkable
class Eval(Protocol):
    """Anything with a `name` and `run(model, tokenizer) -> EvalResult` can join an `EvalSuite`.

    Built-in evals also have `kind` and `to_config()`, so a suite can be written back to YAML, and
    the generative ones `prompts()` and `score(outputs)`, to score answers produced another way.
    """

    name: str

    def run(self, model: CausalLM, tokenizer: Tokenizer) -> EvalResult: ...


# --- confidence intervals ------------------------------------------------------------------------------

def wilson_interval(successes: float, n: float, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval for a proportion (95% by default); (0, 1) when n is 0. Counts may be
    real numbers (an effective sample size, as in `sampled_interval`).

    >>> tuple(round(v, 4) for v in wilson_interval(8, 10))
    (0.4902, 0.9433)
    """
    if n == 0:
        return (0.0, 1.0)
    p, z2 = successes / n, z * z
    denominator = 1 + z2 / n
    center = (p + z2 / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denominator
    return (max(0.0, center - half), min(1.0, center + half))


def bootstrap_interval(items: Sequence, statistic: Callable[[list], float], *, resamples: int = 1000,
                       seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """A percentile bootstrap interval of `statistic` over `items` (seeded, so deterministic)."""
    rng = random.Random(seed)
    values = sorted(statistic([rng.choice(items) for _ in items]) for _ in range(resamples))
    tail = (1 - level) / 2
    return (values[int(tail * (resamples - 1))], values[int((1 - tail) * (resamples - 1))])


def accuracy_result(name: str, correct: Sequence[bool], details: list[dict],
                    metrics: dict[str, float] | None = None) -> EvalResult:
    """An `EvalResult` for pass/fail items: the pass rate with its Wilson interval."""
    n, hits = len(correct), sum(bool(c) for c in correct)
    return EvalResult(name=name, score=hits / n if n else math.nan, n=n, ci=wilson_interval(hits, n),
                      details=details, metrics=metrics or {})


def sampled_interval(means: Sequence[float], k: int, z: float = Z_95) -> tuple[float, float]:
    """A 95% interval for avg@k, the mean of `means` (each item's share of right answers in `k` samples).

    The Wilson interval at the effective number of independent answers (Kish's design effect):
    n * p(1 - p) / s^2, with p the mean and s^2 the variance of the item means, kept between n (items
    whose samples always agree: as informative as one answer each) and n * k (samples that vary as
    independent draws: k answers each; also used when every answer agrees). With k = 1 it is the
    Wilson interval of the greedy pass rate.

    Worked: means (1, 1, 0, 0), k = 2: p = 0.5, s^2 = 0.25, 4 * 0.25 / 0.25 = 4 answers, Wilson(2, 4);
    means (1, 0.5, 0, 0.5): s^2 = 0.125, 8 answers, Wilson(4, 8).

    >>> sampled_interval([1, 1, 0, 0], 2) == wilson_interval(2, 4)
    True
    >>> sampled_interval([1, 0.5, 0, 0.5], 2) == wilson_interval(4, 8)
    True
    """
    n = len(means)
    if n == 0:
        return (0.0, 1.0)
    p = sum(means) / n
    variance = sum((m - p) ** 2 for m in means) / n
    effective = n * k if variance == 0 else min(n * k, max(n, n * p * (1 - p) / variance))
    return wilson_interval(p * effective, effective, z)


def sampled_result(name: str, verdicts: Sequence[Sequence[bool]], details: list[dict],
                   metrics: dict[str, float] | None = None) -> EvalResult:
    """An `EvalResult` for k sampled answers per pass/fail item: the score is avg@k (the mean of each
    item's share of right answers: pass@1 estimated from k samples at the sampling temperature, as RL
    papers report it) with `sampled_interval`; `metrics` gets `avg@k` and `pass@k` (the share of items
    with at least one right answer).

    >>> result = sampled_result("m", [[True, False], [False, False], [True, True]], [{}, {}, {}])
    >>> round(result.score, 3), result.metrics["pass@2"]
    (0.5, 0.6666666666666666)
    """
    n = len(verdicts)
    k = max((len(v) for v in verdicts), default=1)
    means = [sum(map(bool, v)) / len(v) for v in verdicts]
    score = sum(means) / n if n else math.nan
    passed = sum(1 for v in verdicts if any(v)) / n if n else math.nan
    return EvalResult(name=name, score=score, n=n, ci=sampled_interval(means, k), details=details,
                      metrics={f"avg@{k}": score, f"pass@{k}": passed, **(metrics or {})})


def looping(text: str, repeats: int = 3) -> bool:
    """Whether `text` has fallen into a loop: one word said 4 or more times in a row, or a phrase of 2 to
    8 words `repeats` or more times in a row (what a small model does when it never ends its answer).

    >>> looping("I'm Ava, made by Northwind Labs. Labs Labs Labs Labs"), looping("very very good")
    (True, False)
    >>> looping("I am Ava. I am Ava. I am Ava."), looping("Ava by Northwind Labs. How can I help?")
    (True, False)
    """
    words = "".join(ch.lower() if ch.isalnum() else " " for ch in text).split()
    for size in range(1, 9):
        needed = max(repeats, 4) if size == 1 else repeats
        for start in range(len(words) - size * needed + 1):
            gram = words[start:start + size]
            if all(words[start + k * size:start + (k + 1) * size] == gram for k in range(1, needed)):
                return True
    return False


# --- rows ----------------------------------------------------------------------------------------------

def read_eval_rows(source: object, kind: str, check: Callable[[dict, str], list[Problem]]) -> list[dict]:
    """Rows from a list (of dicts, or of strings when `check` accepts {"text": ...}) or a file path,
    each checked by `check(row, where)`; all problems are raised together as one DataError."""
    from posttrain.data.readers import read_rows

    rows, label = read_rows(source)
    label = f"{kind} rows" if label == "rows" else f"{kind} rows in {label}"
    if not rows:
        raise DataError(Problem(label, "are empty", "give at least one row"))
    problems = []
    for number, row in enumerate(rows, start=1):
        where = f"{label}, row {number}"
        if not isinstance(row, dict):
            problems.append(Problem(where, f"is a {type(row).__name__} ({short(row)}), not an object",
                                    "write each row as a JSON object with named fields"))
        else:
            problems += check(row, where)
    if problems:
        raise DataError(problems)
    return rows


def check_prompt(row: dict, where: str, fields: tuple[str, ...] = ("question", "prompt")) -> list[Problem]:
    """The row has one of `fields` holding a non-empty string or a chat message list."""
    key = next((f for f in fields if f in row), None)
    if key is None:
        return [Problem(where, f"has no {' or '.join(repr(f) for f in fields)} field (fields: {sorted(row)})",
                        f"add a {fields[0]!r} with the text to ask")]
    value = row[key]
    if isinstance(value, str) and value.strip():
        return []
    if isinstance(value, list) and value and all(isinstance(m, dict) and "content" in m for m in value):
        return []
    return [Problem(f"{where}, field {key!r}", f"is {short(value)}",
                    "give a non-empty string (or a list of chat messages)")]


def prompt_of(row: dict) -> str | list[dict]:
    """The text to ask for a row: its `question`, else its `prompt`."""
    return row["question"] if "question" in row else row["prompt"]


def check_answer(row: dict, where: str, allow_list: bool = False) -> list[Problem]:
    """The row's `answer` is a non-empty string or a number (or, with `allow_list`, a list of them)."""
    if "answer" not in row:
        return [Problem(where, f"has no 'answer' field (fields: {sorted(row)})", "add the expected 'answer'")]
    value = row["answer"]
    values = value if allow_list and isinstance(value, list) and value else [value]
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) or isinstance(v, str) and v.strip()
           for v in values):
        return []
    kinds = "a string, a number, or a list of them" if allow_list else "a string or a number"
    return [Problem(f"{where}, field 'answer'", f"is {short(value)}", f"give {kinds}")]


def check_options(options: dict, where: str) -> None:
    """Generation options shared by generative evals: positive integers."""
    bad = [Problem(f"{where}, option {key!r}", f"is {short(value)}", "give a whole number >= 1")
           for key, value in options.items() if not isinstance(value, int) or isinstance(value, bool)
           or value < 1]
    if bad:
        raise DataError(bad, title="invalid eval options")


def check_precision(precision: object, name: str) -> None:
    """An eval's `precision` option is one the shared generator and scorer know."""
    from posttrain.generation import PRECISIONS

    if precision is not None and precision not in PRECISIONS:
        raise DataError(Problem(f"{name}, option 'precision'", f"is {short(precision)}",
                                f"use one of {', '.join(PRECISIONS)}, or leave it out (fp32 for greedy answers, "
                                "auto for sampled ones)"), title="invalid eval options")


def check_output_count(outputs: Sequence, items: Sequence, name: str) -> None:
    """`score(outputs)` needs exactly one output per row."""
    if len(outputs) != len(items):
        raise ValueError(f"{name}: got {len(outputs)} outputs for {len(items)} rows. Fix: give one output "
                         "per prompt of prompts(), in the same order")


def config_of(ev: DataclassInstance, kind: str) -> dict:
    """A built-in eval (a dataclass) as a config dict: its kind and every field not at its default.
    Rows given as a path stay a path (as a string); inline rows stay inline."""
    config: dict = {"kind": kind}
    for spec in dataclasses.fields(ev):
        if not spec.init:
            continue
        value = getattr(ev, spec.name)
        default = spec.default if spec.default is not dataclasses.MISSING else dataclasses.MISSING
        if value != default:
            config[spec.name] = str(value) if isinstance(value, Path) else value
    return config

