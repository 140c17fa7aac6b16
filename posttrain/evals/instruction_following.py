"""`InstructionFollowing`: prompts carrying verifiable constraints, scored per prompt and per constraint."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, ClassVar

from posttrain.errors import Problem, short
from posttrain.evals.base import (EvalResult, Rows, accuracy_result, check_options, check_output_count, check_prompt,
                                  config_of, read_eval_rows, run_generative)
from posttrain.evals.instructions import CHECKS, check_constraint, constraint_problems


def _check_row(row: dict, where: str) -> list[Problem]:
    problems = check_prompt(row, where, fields=("prompt", "question"))
    constraints = row.get("constraints")
    if not isinstance(constraints, list) or not constraints:
        return problems + [Problem(f"{where}, field 'constraints'", f"is {short(constraints)}",
                                   'give a non-empty list like [{"kind": "max_words", "value": 50}]; kinds: '
                                   + ", ".join(CHECKS))]
    for index, constraint in enumerate(constraints):
        problems += constraint_problems(constraint, f"{where}, constraints[{index}]")
    return problems


@dataclass
class InstructionFollowing:
    """IFEval-style instruction following.

    Rows: `{"prompt": "Describe Paris in under 50 words, all lowercase.", "constraints":
    [{"kind": "max_words", "value": 50}, {"kind": "lowercase"}]}`; the kinds are those of
    `posttrain.evals.instructions.CHECKS`. `score` is prompt-level strict accuracy (every constraint of
    the prompt met); `metrics` holds `constraint_accuracy` (over all constraints) and
    `constraint/<kind>` for each kind used.

    >>> ev = InstructionFollowing([{"prompt": "Say hi in lowercase.", "constraints": [{"kind": "lowercase"}]}])
    >>> ev.score(["hi there"]).score, ev.score(["Hi there"]).score
    (1.0, 0.0)
    """

    kind: ClassVar[str] = "instruction_following"
    rows: Rows
    name: str = "instruction_following"
    max_new_tokens: int = 256
    batch_size: int = 16
    system: str | None = None
    items: list[dict] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.items = read_eval_rows(self.rows, self.kind, _check_row)
        check_options({"max_new_tokens": self.max_new_tokens, "batch_size": self.batch_size}, self.name)

    def prompts(self) -> list:
        return [row.get("prompt", row.get("question")) for row in self.items]

    def score(self, outputs: list[str]) -> EvalResult:
        """Score one output per row (in row order)."""
        check_output_count(outputs, self.items, self.name)
        per_kind: dict[str, list[bool]] = defaultdict(list)
        details, correct = [], []
        for prompt, row, output in zip(self.prompts(), self.items, outputs):
            verdicts = [check_constraint(output, c) for c in row["constraints"]]
            for constraint, ok in zip(row["constraints"], verdicts):
                per_kind[constraint["kind"]].append(ok)
            correct.append(all(verdicts))
            details.append({"prompt": prompt, "output": output, "correct": all(verdicts),
                            "constraints": [dict(c, passed=ok) for c, ok in zip(row["constraints"], verdicts)]})
        every = [ok for verdicts in per_kind.values() for ok in verdicts]
        metrics = {"constraint_accuracy": sum(every) / len(every)}
        metrics |= {f"constraint/{kind}": sum(v) / len(v) for kind, v in sorted(per_kind.items())}
        return accuracy_result(self.name, correct, details, metrics)

    def run(self, model: Any, tokenizer: Any) -> EvalResult:
        return run_generative(self, model, tokenizer)

    def to_config(self) -> dict:
        return config_of(self, self.kind)
