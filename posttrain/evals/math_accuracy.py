"""`MathAccuracy`: the final answer of each generated solution, checked against the reference by math-verify."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from posttrain.errors import DataError, Problem, short
from posttrain.evals.base import Rows, check_answer, check_prompt
from posttrain.evals.generative import BATCH_SIZE, GenerativeEval
from posttrain.generation import Precision
from posttrain.rewards import extract_final_answer, math_equal

_VERDICT_KEYS = ("answer", "extracted", "correct")   # what judge() writes; a group column must not clash


@dataclass
class MathAccuracy(GenerativeEval):
    r"""Share of questions whose final answer equals the reference mathematically.

    Rows: `{"question": ..., "answer": ...}` (`prompt` may stand for `question`); a list or a .jsonl
    path. The final answer is read as in `posttrain.rewards.extract_final_answer` (`\boxed{}`,
    "#### 12", "The answer is 12", else the last number), so "1/2", "0.5" and "\frac{1}{2}" all match.
    `instruction` is appended to every question (say how to state the answer). Answers are generated
    to their end: the last number stated counts, so no verdict is known earlier. Rows with a `kind`
    column (e.g. "add", "two_step") also get the accuracy of each kind in `metrics`; `group_by` names
    another column to split by (e.g. "op").

    >>> ev = MathAccuracy([{"question": "What is 6 * 7?", "answer": "42"}])
    >>> ev.score(["6 * 7 = 42"]).score
    1.0
    """

    kind: ClassVar[str] = "math_accuracy"
    rows: Rows
    name: str = "math_accuracy"
    instruction: str = ""
    max_new_tokens: int = 256
    batch_size: int = BATCH_SIZE
    system: str | None = None
    precision: Precision | None = None
    samples: int = 1
    temperature: float = 0.0
    seed: int = 0
    group_by: str = "kind"
    items: list[dict] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.group_by, str) or not self.group_by or self.group_by in _VERDICT_KEYS:
            raise DataError(Problem(f"{self.name}, option 'group_by'", f"is {short(self.group_by)}",
                                    "name a column of the rows, such as 'kind' or 'op'"), title="invalid eval options")
        self.read_items(self.rows, lambda row, where: check_prompt(row, where) + check_answer(row, where))

    def ask(self, row: dict) -> str | list[dict]:
        """The question with `instruction` appended (to string questions)."""
        question = self.question(row)
        return question + f"\n{self.instruction}" if isinstance(question, str) and self.instruction else question

    def judge(self, row: dict, output: str) -> dict:
        extracted = extract_final_answer(output)
        ok = math_equal(row["answer"], extracted)
        group = row.get(self.group_by)
        grouped = {self.group_by: str(group)} if group is not None else {}
        return {"answer": row["answer"], "extracted": extracted, "correct": ok, **grouped}

    def metrics(self, details: list[dict]) -> dict[str, float]:
        """Accuracy per group (`accuracy/<value>`) when the rows have the `group_by` column."""
        groups: dict[str, list[bool]] = {}
        for detail in details:
            if self.group_by in detail:
                groups.setdefault(detail[self.group_by], []).append(bool(detail["correct"]))
        return {f"accuracy/{group}": sum(marks) / len(marks) for group, marks in sorted(groups.items())}
