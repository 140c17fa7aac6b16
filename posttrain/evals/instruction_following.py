"""`InstructionFollowing`: prompts carrying verifiable constraints, scored per prompt and per constraint."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import ClassVar

from posttrain.errors import Problem, short
from posttrain.evals.base import Rows, check_prompt
from posttrain.evals.generative import BATCH_SIZE, GenerativeEval
from posttrain.evals.instructions import CHECKS, check_constraint, constraint_problems
from posttrain.generation import Precision


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
class InstructionFollowing(GenerativeEval):
    """IFEval-style instruction following.

    Rows: `{"prompt": "Describe Paris in under 50 words, all lowercase.", "constraints":
    [{"kind": "max_words", "value": 50}, {"kind": "lowercase"}]}`; the kinds are those of
    `posttrain.evals.instructions.CHECKS`. `score` is prompt-level strict accuracy (every constraint of
    the prompt met); `metrics` holds `constraint_accuracy` (over all constraints) and
    `constraint/<kind>` for each kind used. Answers are generated to their end (per-constraint
    verdicts such as `ends_with` need the whole answer).

    >>> ev = InstructionFollowing([{"prompt": "Say hi in lowercase.", "constraints": [{"kind": "lowercase"}]}])
    >>> ev.score(["hi there"]).score, ev.score(["Hi there"]).score
    (1.0, 0.0)
    """

    kind: ClassVar[str] = "instruction_following"
    rows: Rows
    name: str = "instruction_following"
    max_new_tokens: int = 256
    batch_size: int = BATCH_SIZE
    system: str | None = None
    precision: Precision | None = None
    samples: int = 1
    temperature: float = 0.0
    seed: int = 0
    items: list[dict] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.read_items(self.rows, _check_row)

    def question(self, row: dict) -> str | list[dict]:
        return row["prompt"] if "prompt" in row else row["question"]      # the row check requires one

    def judge(self, row: dict, output: str) -> dict:
        verdicts = [check_constraint(output, c) for c in row["constraints"]]
        return {"correct": all(verdicts),
                "constraints": [dict(c, passed=ok) for c, ok in zip(row["constraints"], verdicts)]}

    def metrics(self, details: list[dict]) -> dict[str, float]:
        per_kind: dict[str, list[bool]] = defaultdict(list)
        for detail in details:
            for constraint in detail["constraints"]:
                per_kind[constraint["kind"]].append(constraint["passed"])
        every = [ok for verdicts in per_kind.values() for ok in verdicts]
        return {"constraint_accuracy": sum(every) / len(every)} | {
            f"constraint/{kind}": sum(v) / len(v) for kind, v in sorted(per_kind.items())}
