"""What an arm costs: to build (fine-tuning time, index build time) and to serve (seconds, retrieved
chunks and prompt tokens per answer), as `compare()` measures them.

>>> cost = ArmCost(train_seconds=600.0, seconds_per_answer=0.5)
>>> cost.build_seconds, cost.total_seconds(answers=1000)
(600.0, 1100.0)
"""

from __future__ import annotations

import math
import statistics
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from posttrain.types import Tokenizer


@dataclass
class ArmCost:
    """Build and serving costs of one arm; None/NaN where a cost is unknown (e.g. a saved index).

    `seconds_per_answer` is measured over the whole batched run (retrieval + generation, divided by
    the questions); `latency_seconds` is the median time to answer one question on its own, retrieval
    included.
    """

    train_seconds: float | None = None
    index_seconds: float | None = None
    seconds_per_answer: float = math.nan
    retrieval_seconds_per_answer: float = 0.0
    latency_seconds: float = math.nan
    prompt_tokens_per_answer: float = math.nan
    chunks_per_answer: float = 0.0
    searches_per_answer: float = 0.0

    @property
    def build_seconds(self) -> float:
        """Training plus index building (unknown parts count as 0)."""
        return (self.train_seconds or 0.0) + (self.index_seconds or 0.0)

    def total_seconds(self, answers: int) -> float:
        """Build once, then serve `answers` answers: the cost `recommend()` ranks arms by."""
        serve = 0.0 if math.isnan(self.seconds_per_answer) else self.seconds_per_answer
        return self.build_seconds + serve * answers

    def to_dict(self) -> dict:
        return {key: None if isinstance(value, float) and math.isnan(value) else value
                for key, value in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict) -> ArmCost:
        nan_fields = {"seconds_per_answer", "latency_seconds", "prompt_tokens_per_answer"}
        known = {f.name for f in fields(cls)}
        return cls(**{key: (math.nan if value is None and key in nan_fields else value)
                      for key, value in data.items() if key in known})


@dataclass
class Meter:
    """Accumulates one arm's serving time, retrieved chunks and prompt tokens while `compare()` runs."""

    retrieval: float = 0.0
    answering: float = 0.0
    answers: int = 0
    chunks: int = 0
    searches: int = 0
    prompt_tokens: list[int] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)

    @contextmanager
    def timing(self, part: str):
        """Add the block's wall time to `part` ("retrieval" or "answering")."""
        start = time.perf_counter()
        try:
            yield
        finally:
            setattr(self, part, getattr(self, part) + time.perf_counter() - start)

    def count_prompts(self, tokenizer: Tokenizer, prompts: list, system: str | None) -> None:
        """Record the token count of each prompt as the model sees it (chat template included)."""
        from posttrain.generation import render_prompt

        self.prompt_tokens += [len(tokenizer(render_prompt(tokenizer, prompt, system),
                                             add_special_tokens=False)["input_ids"]) for prompt in prompts]

    def cost(self, train_seconds: float | None, index_seconds: float | None) -> ArmCost:
        per = 1 / self.answers if self.answers else math.nan
        return ArmCost(train_seconds=train_seconds, index_seconds=index_seconds,
                       seconds_per_answer=(self.retrieval + self.answering) * per,
                       retrieval_seconds_per_answer=self.retrieval * per,
                       latency_seconds=statistics.median(self.latencies) if self.latencies else math.nan,
                       prompt_tokens_per_answer=statistics.fmean(self.prompt_tokens) if self.prompt_tokens else math.nan,
                       chunks_per_answer=self.chunks * per if self.answers else 0.0,
                       searches_per_answer=self.searches * per if self.answers else 0.0)


def training_seconds(model: object) -> float | None:
    """Seconds a training result spent in its stages (None for anything that is not one)."""
    stages = getattr(model, "stages", None)
    if not stages or not all(hasattr(stage, "seconds") for stage in stages):
        return None
    return float(sum(stage.seconds for stage in stages))


def cost_table(costs: dict[str, ArmCost]) -> str:
    """A markdown table of every arm's costs."""
    lines = ["| arm | train s | index s | s / answer (batched) | latency s (one question) | chunks / answer "
             "| searches / answer | prompt tokens / answer |", "|---|---|---|---|---|---|---|---|"]
    for name, c in costs.items():
        cells = [_seconds(c.train_seconds), _seconds(c.index_seconds), _seconds(c.seconds_per_answer, 3),
                 _seconds(c.latency_seconds, 3), f"{c.chunks_per_answer:.1f}", f"{c.searches_per_answer:.2f}", _seconds(c.prompt_tokens_per_answer, 0)]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _seconds(value: float | None, digits: int = 1) -> str:
    return "–" if value is None or math.isnan(value) else f"{value:.{digits}f}"
