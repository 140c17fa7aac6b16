"""`LMEvalTask`: an lm-evaluation-harness task as a member of an `EvalSuite`.

`lm_eval` is optional and not a dependency. Without it, or when the task's data cannot be had (no
network, unknown task), the eval returns a result marked `skipped` with the reason instead of failing
the suite.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from posttrain.errors import ConfigError, Problem, short
from posttrain.evals.base import EvalResult, Z_95, config_of

if TYPE_CHECKING:
    from posttrain.types import CausalLM, Tokenizer

PREFERRED_METRICS = ("acc_norm", "acc", "exact_match", "f1", "word_perplexity")


@dataclass
class LMEvalTask:
    """Run one lm-eval task on the model in memory (through lm-eval's `HFLM` wrapper).

    `metric` picks the score (e.g. "acc_norm"; default: the first of acc_norm, acc, exact_match, f1
    the task reports); the interval is the score +/- 1.96 standard errors; `limit` caps the examples.

    >>> from posttrain.testing import tiny_model
    >>> result = LMEvalTask("hellaswag", limit=10).run(*tiny_model())
    >>> result.skipped is not None or result.n > 0
    True
    """

    kind: ClassVar[str] = "lm_eval"
    task_name: str
    name: str = ""
    metric: str | None = None
    num_fewshot: int | None = None
    limit: int | None = None
    batch_size: int = 8

    def __post_init__(self) -> None:
        if not isinstance(self.task_name, str) or not self.task_name.strip():
            raise ConfigError(Problem("lm_eval, option 'task_name'", f"is {short(self.task_name)}",
                                      "give an lm-eval task name, e.g. 'hellaswag'"))
        self.name = self.name or f"lm_eval/{self.task_name}"

    def run(self, model: CausalLM, tokenizer: Tokenizer) -> EvalResult:
        """The task's score, or a skipped result saying why it could not run."""
        try:
            import lm_eval
            from lm_eval.models.huggingface import HFLM
        except ImportError:
            return EvalResult.skip(self.name, "lm_eval is not installed (pip install lm-eval to run this task)")
        try:
            wrapped = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=self.batch_size)
            raw = lm_eval.simple_evaluate(model=wrapped, tasks=[self.task_name], num_fewshot=self.num_fewshot,
                                          limit=self.limit)
        except Exception as error:  # noqa: BLE001 - offline data, unknown task: a skip, not a crash
            return EvalResult.skip(self.name, f"lm-eval task {self.task_name!r} could not run "
                                   f"({type(error).__name__}: {str(error)[:300]})")
        return lm_eval_result(self.name, self.task_name, raw, self.metric)

    def to_config(self) -> dict:
        config = config_of(self, self.kind)
        if config.get("name") == f"lm_eval/{self.task_name}":
            del config["name"]
        return config


def lm_eval_result(name: str, task: str, raw: dict, metric: str | None = None) -> EvalResult:
    """An `EvalResult` from the dict `lm_eval.simple_evaluate` returns (keys like "acc,none")."""
    scores = (raw.get("results") or {}).get(task)
    if not scores:
        return EvalResult.skip(name, f"lm-eval returned no results for task {task!r}")
    reported = {key.split(",")[0]: key for key, value in scores.items()
                if isinstance(value, (int, float)) and "_stderr" not in key}
    chosen = metric or next((m for m in PREFERRED_METRICS if m in reported), None) or next(iter(reported), None)
    if chosen not in reported:
        return EvalResult.skip(name, f"task {task!r} reports no metric {chosen!r} (it has {sorted(reported)})")
    key = reported[chosen]
    score = float(scores[key])
    stderr = scores.get(key.replace(chosen, f"{chosen}_stderr", 1))
    spread = Z_95 * float(stderr) if isinstance(stderr, (int, float)) else math.nan
    samples = (raw.get("n-samples") or {}).get(task) or {}
    higher = (raw.get("higher_is_better") or {}).get(task, {}).get(chosen, True)
    return EvalResult(name=name, score=score, n=int(samples.get("effective", 0)),
                      ci=(score - spread, score + spread), higher_is_better=bool(higher),
                      metrics={m: float(scores[k]) for m, k in reported.items()})
