"""`GenerativeEval`: what every eval that generates answers shares (reading rows, the prompts, the scoring
loop, running through the shared generator, the config) so that each eval holds only what differs: how
a row is checked, asked and judged, and when its verdict is known before the answer ends."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, ClassVar

from posttrain.errors import DataError, Problem
from posttrain.evals.base import (EvalResult, accuracy_result, check_options, check_output_count, check_precision,
                                  config_of, prompt_of, read_eval_rows, sampled_result)
from posttrain.generation import Precision, StopRule, sampling_problem

if TYPE_CHECKING:
    from dataclasses import Field

    from posttrain.types import CausalLM, Tokenizer

BATCH_SIZE = 64    # answers decoded together: each decoding step reads every weight once, whatever the rows


class GenerativeEval:
    """Base of the built-in generative evals (`MathAccuracy`, `InstructionFollowing`, `QAAccuracy`,
    `Identity`). Each is a dataclass that declares its own options in its own order (with its own
    defaults) and calls `read_items`; it fills in:

    - `judge(row, output) -> dict`: the verdict fields of one item, `"correct"` among them;
    - optionally `ask(row)` (the prompt sent; default: the row's question), `question(row)` (the
      prompt shown in details), `metrics(details)`, and `decided(row, text)`: True when `text`'s
      verdict cannot change however the answer goes on, so generation stops there (greedy answers
      are the same up to that point, so scores are the same as generating to the end).

    `precision` (None by default, `generation.eval_precision`): greedy answers decode in "fp32", the same
    answers on every machine; sampled answers in "auto", bf16 weights where the CPU multiplies bf16
    natively (about twice as fast with AMX; a draw is random either way). "auto" for greedy answers is faster too,
    but a few of them, and so verdicts, differ from fp32's where two tokens are nearly tied; "fp32" for
    sampled ones gives the same draws on every machine.

    Greedy by default (`temperature=0`, one answer per item). With `temperature > 0` the eval samples
    `samples` answers per item (k; seeded by `seed`) through the same batched generator and scores
    avg@k: the mean over items of each item's share of right answers, i.e. pass@1 estimated at that
    temperature, as RL papers report it (see `sampled_result`); `metrics` also holds pass@k. Each
    item's detail then has `mean` (its share), `right`, `k` and its `samples` (output and verdict each),
    and a before/after comparison is paired on the item means (`compare.paired_test`). To show both,
    put a greedy and a sampled copy of the eval (different `name`s) in one suite.
    """

    kind: ClassVar[str]
    __dataclass_fields__: ClassVar[dict[str, Field[object]]]     # every subclass is a dataclass
    name: str
    max_new_tokens: int
    batch_size: int
    system: str | None
    precision: Precision | None
    items: list[dict]
    samples: int = 1            # defaults for subclasses that do not declare the sampling options
    temperature: float = 0.0
    seed: int = 0

    def read_items(self, source: object, check: Callable[[dict, str], list[Problem]]) -> None:
        """Read and check the rows, and the generation options."""
        check_precision(self.precision, self.name)
        self.items = read_eval_rows(source, self.kind, check)
        check_options({"max_new_tokens": self.max_new_tokens, "batch_size": self.batch_size}, self.name)
        self.check_sampling()

    def check_sampling(self) -> None:
        """`samples` >= 1 and `temperature` >= 0; more than one sample needs a temperature > 0."""
        if self.temperature == 0 and self.samples == 1:
            return
        problem = sampling_problem(self.samples, self.temperature)
        if problem is None:
            return
        fix = (f"{problem.fix}; or samples: 1 for one greedy answer per item" if problem.where == "temperature"
               else problem.fix)
        raise DataError(Problem(f"{self.name}, option {problem.where!r}", problem.message, fix),
                        title="invalid eval options")

    def question(self, row: dict) -> str | list[dict]:
        return prompt_of(row)

    def ask(self, row: dict) -> str | list[dict]:
        return self.question(row)

    def judge(self, row: dict, output: str) -> dict:
        raise NotImplementedError

    def metrics(self, details: list[dict]) -> dict[str, float]:
        return {}

    def decided(self, row: dict, text: str) -> bool:
        return False

    def prompts(self) -> list:
        """The prompts as sent to the model, one per row."""
        return [self.ask(row) for row in self.items]

    def score(self, outputs: Sequence[str]) -> EvalResult:
        """Score one output per row (in row order)."""
        check_output_count(outputs, self.items, self.name)
        details = [{"prompt": self.question(row), "output": output, **self.judge(row, output)}
                   for row, output in zip(self.items, outputs)]
        return accuracy_result(self.name, [d["correct"] for d in details], details, self.metrics(details))

    def score_samples(self, outputs: Sequence[Sequence[str]]) -> EvalResult:
        """Score k outputs per row (in row order): avg@k with its interval, pass@k in `metrics`; the
        eval's own `metrics` are computed over every sample (so per-group rates are avg@k too).

        >>> from posttrain.evals import MathAccuracy
        >>> ev = MathAccuracy([{"question": "2 + 2?", "answer": "4"}, {"question": "3 * 3?", "answer": "9"}])
        >>> result = ev.score_samples([["4", "5", "4", "4"], ["6", "9", "8", "7"]])
        >>> result.score, result.metrics["pass@4"], result.details[0]["mean"]
        (0.5, 1.0, 0.75)
        """
        check_output_count(outputs, self.items, self.name)
        details, verdicts, flat = [], [], []
        for row, answers in zip(self.items, outputs):
            judged = [{"output": output, **self.judge(row, output)} for output in answers]
            marks = [bool(j["correct"]) for j in judged]
            details.append({"prompt": self.question(row), "mean": sum(marks) / len(marks), "right": sum(marks),
                            "k": len(marks), "samples": judged})
            verdicts.append(marks)
            flat += judged
        return sampled_result(self.name, verdicts, details, self.metrics(flat))

    def stop_rule(self) -> StopRule | None:
        """`decided` as the generator's stop rule (None when this eval never decides early)."""
        if type(self).decided is GenerativeEval.decided:
            return None
        return lambda index, text: self.decided(self.items[index], text)

    def run(self, model: CausalLM, tokenizer: Tokenizer) -> EvalResult:
        """Generate every answer (batched, greedy, stopping once a verdict is known) and score them; with
        `temperature > 0`, `samples` sampled answers per item, scored by `score_samples`."""
        from posttrain.generation import eval_precision, generate, generate_samples

        if self.temperature > 0:
            sampled = generate_samples(model, tokenizer, self.prompts(), self.samples, temperature=self.temperature,
                                       max_new_tokens=self.max_new_tokens, batch_size=self.batch_size,
                                       system=self.system, seed=self.seed, stop=self.stop_rule(),
                                       precision=eval_precision(self.precision, sampled=True),
                                       no_repeat_ngram=getattr(self, "no_repeat_ngram", 0))
            return self.score_samples(sampled)
        outputs = generate(model, tokenizer, self.prompts(), max_new_tokens=self.max_new_tokens,
                           batch_size=self.batch_size, system=self.system, stop=self.stop_rule(),
                           precision=eval_precision(self.precision, sampled=False),
                           no_repeat_ngram=getattr(self, "no_repeat_ngram", 0))
        return self.score(outputs)

    def to_config(self) -> dict:
        return config_of(self, self.kind)
