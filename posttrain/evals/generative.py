"""`GenerativeEval`: what every eval that generates answers shares (reading rows, the prompts, the scoring
loop, running through the shared generator, the config) so that each eval holds only what differs: how
a row is checked, asked and judged, and when its verdict is known before the answer ends."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, ClassVar

from posttrain.errors import Problem
from posttrain.evals.base import (EvalResult, accuracy_result, check_options, check_output_count, check_precision,
                                  config_of, prompt_of, read_eval_rows)
from posttrain.generation import Precision, StopRule

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

    `precision` is "fp32" by default: the same answers on every machine. "auto" decodes with bf16
    weights where the CPU multiplies bf16 natively (faster; a few greedy answers, and so verdicts,
    differ from fp32's where two tokens are nearly tied).
    """

    kind: ClassVar[str]
    __dataclass_fields__: ClassVar[dict[str, Field[object]]]     # every subclass is a dataclass
    name: str
    max_new_tokens: int
    batch_size: int
    system: str | None
    precision: Precision
    items: list[dict]

    def read_items(self, source: object, check: Callable[[dict, str], list[Problem]]) -> None:
        """Read and check the rows, and the generation options."""
        check_precision(self.precision, self.name)
        self.items = read_eval_rows(source, self.kind, check)
        check_options({"max_new_tokens": self.max_new_tokens, "batch_size": self.batch_size}, self.name)

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

    def stop_rule(self) -> StopRule | None:
        """`decided` as the generator's stop rule (None when this eval never decides early)."""
        if type(self).decided is GenerativeEval.decided:
            return None
        return lambda index, text: self.decided(self.items[index], text)

    def run(self, model: CausalLM, tokenizer: Tokenizer) -> EvalResult:
        """Generate every answer (batched, greedy, stopping once a verdict is known) and score them."""
        from posttrain.generation import generate

        outputs = generate(model, tokenizer, self.prompts(), max_new_tokens=self.max_new_tokens,
                           batch_size=self.batch_size, system=self.system, stop=self.stop_rule(),
                           precision=self.precision, no_repeat_ngram=getattr(self, "no_repeat_ngram", 0))
        return self.score(outputs)

    def to_config(self) -> dict:
        return config_of(self, self.kind)
