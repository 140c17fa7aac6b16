"""`MathAccuracy`: the final answer of each generated solution, checked against the reference by math-verify."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from posttrain.evals.base import (EvalResult, Rows, accuracy_result, check_answer, check_options, check_output_count,
                                  check_prompt, config_of, prompt_of, read_eval_rows, run_generative)
from posttrain.rewards import extract_final_answer, math_equal


@dataclass
class MathAccuracy:
    r"""Share of questions whose final answer equals the reference mathematically.

    Rows: `{"question": ..., "answer": ...}` (`prompt` may stand for `question`); a list or a .jsonl
    path. The final answer is read as in `posttrain.rewards.extract_final_answer` (`\boxed{}`,
    "#### 12", "The answer is 12", else the last number), so "1/2", "0.5" and "\frac{1}{2}" all match.
    `instruction` is appended to every question (say how to state the answer).

    >>> ev = MathAccuracy([{"question": "What is 6 * 7?", "answer": "42"}])
    >>> ev.score(["6 * 7 = 42"]).score
    1.0
    """

    kind: ClassVar[str] = "math_accuracy"
    rows: Rows
    name: str = "math_accuracy"
    instruction: str = ""
    max_new_tokens: int = 256
    batch_size: int = 16
    system: str | None = None
    items: list[dict] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.items = read_eval_rows(self.rows, self.kind,
                                    lambda row, where: check_prompt(row, where) + check_answer(row, where))
        check_options({"max_new_tokens": self.max_new_tokens, "batch_size": self.batch_size}, self.name)

    def prompts(self) -> list:
        """The questions as sent to the model (with `instruction` appended to string questions)."""
        suffix = f"\n{self.instruction}" if self.instruction else ""
        return [p + suffix if isinstance(p, str) else p for p in map(prompt_of, self.items)]

    def score(self, outputs: list[str]) -> EvalResult:
        """Score one output per row (in row order)."""
        check_output_count(outputs, self.items, self.name)
        details, correct = [], []
        for row, output in zip(self.items, outputs):
            extracted = extract_final_answer(output)
            ok = math_equal(row["answer"], extracted)
            correct.append(ok)
            details.append({"prompt": prompt_of(row), "output": output, "answer": row["answer"],
                            "extracted": extracted, "correct": ok})
        return accuracy_result(self.name, correct, details)

    def run(self, model: Any, tokenizer: Any) -> EvalResult:
        """Generate every answer (batched, greedy) and score them."""
        return run_generative(self, model, tokenizer)

    def to_config(self) -> dict:
        return config_of(self, self.kind)

