"""Which arm to deploy: the best-scoring arm, unless a cheaper one is not significantly worse.

Arms are ranked by cost (build once, then serve a number of answers; see `ArmCost.total_seconds`).
The recommended arm is the cheapest one that the best arm does not beat significantly, by an exact
two-sided sign test (McNemar) over the questions one arm got right and the other wrong. So the best
arm is recommended exactly when it is significantly better than every cheaper arm.

When the two arms differ on too few questions for any split to reach p < alpha (five or fewer at
alpha=0.05: even 5 / 0 gives p=0.062), the test cannot decide and nothing is recommended: a cheaper
arm is never recommended for want of evidence, least of all one that lost every question the arms
differ on. Arms that answer every one of at least `decisive_count()` questions alike are a tie.

>>> sign_test(9, 0)
0.00390625
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from posttrain.evals.compare import decisive_count

ALPHA = 0.05
ANSWERS = 10_000        # the serving volume build costs are spread over when ranking arms


def sign_test(wins: int, losses: int) -> float:
    """Exact two-sided sign test: the chance of a split at least this uneven if each question that
    the two arms scored differently were equally likely to go either way (1.0 when none differ)."""
    changed = wins + losses
    if not changed:
        return 1.0
    tail = sum(math.comb(changed, k) for k in range(min(wins, losses) + 1)) / 2 ** changed
    return min(1.0, 2 * tail)


@dataclass(frozen=True)
class Paired:
    """`better` against `other` on the same questions: questions only `better` got right (`wins`),
    only `other` got right (`losses`), and the sign test's p-value."""

    better: str
    other: str
    wins: int
    losses: int
    p_value: float

    def significant(self, alpha: float = ALPHA) -> bool:
        return self.p_value < alpha and self.wins > self.losses

    def decidable(self, alpha: float = ALPHA, questions: int | None = None) -> bool:
        """Whether the test could give a verdict: the arms differ on enough questions to reach p < `alpha`,
        or they agree on all of `questions` and those are enough."""
        needed = decisive_count(alpha)
        changed = self.wins + self.losses
        return changed >= needed or (changed == 0 and questions is not None and questions >= needed)

    def __str__(self) -> str:
        return f"{self.wins} / {self.losses} questions (p={self.p_value:.2g})"


def paired(report: Any, better: str, other: str, *, judged: str = "correct") -> Paired:
    """The paired comparison of two arms of a `ComparisonReport` over every question. `judged="exact"`
    judges open answers by SQuAD's exact match instead of the report's `match` (multiple choice as before)."""
    a, b = correctness(report, better, judged), correctness(report, other, judged)
    wins = sum(1 for x, y in zip(a, b) if x and not y)
    losses = sum(1 for x, y in zip(a, b) if y and not x)
    return Paired(better, other, wins, losses, sign_test(wins, losses))


def correctness(report: Any, arm: str, judged: str = "correct") -> list[bool]:
    """Right/wrong per question for one arm, in the order the questions were asked (all evals); `judged`:
    the verdict to read ("correct", or "exact" for open answers by exact match)."""
    return [bool(item.get(judged, item.get("correct"))) for result in report.results[arm].values()
            for item in result.details]


@dataclass
class Recommendation:
    """`arm` to deploy (None when the questions are too few to decide), the `best` scorer, the arms
    ordered cheapest first, and the paired evidence of `best` against each cheaper arm."""

    arm: str | None
    best: str
    order: list[str]
    evidence: list[Paired] = field(default_factory=list)
    alpha: float = ALPHA
    answers: int = ANSWERS
    questions: int = 0

    def to_markdown(self) -> str:
        if self.arm is None:
            return f"{self._undecided()}\n{self._footer()}"
        lines = [f"**Recommendation: `{self.arm}`.**"]
        if self.arm == self.best:
            beaten = ", ".join(f"`{p.other}` ({p})" for p in self.evidence)
            lines.append(f"It scores best and is significantly better than every cheaper arm: {beaten}."
                         if self.evidence else "It scores best and is also the cheapest arm.")
        else:
            tie = next(p for p in self.evidence if p.other == self.arm)
            lines.append(f"`{self.best}` scores highest but is not significantly better than `{self.arm}`, "
                         f"which costs less ({tie}); pay for `{self.best}` only if more questions would show "
                         "the gap is real.")
        lines.append(self._footer())
        return "\n".join(lines)

    def _undecided(self) -> str:
        thin = next(p for p in self.evidence if not p.significant(self.alpha))
        return (f"**Recommendation: none.** Too few questions to decide: at least "
                f"{decisive_count(self.alpha)} questions where the arms differ are needed for p < {self.alpha}, "
                f"and `{self.best}` and the cheaper `{thin.other}` differ on {thin.wins + thin.losses} of "
                f"{self.questions} ({thin}). Fix: evaluate on more questions, then compare again.")

    def _footer(self) -> str:
        return (f"Cost order, cheapest first (build + {self.answers:,} answers): {' < '.join(self.order)}. "
                f"Paired sign test per question, wins / losses of `{self.best}`, alpha={self.alpha}.")


def recommend(report: Any, *, answers: int = ANSWERS, alpha: float = ALPHA) -> Recommendation:
    """The arm to deploy from a `ComparisonReport` (see the module docstring for the rule).

    Without measured costs, the arms' order in the report is taken as cheapest first.

    Example:
        >>> rec = recommend(report)          # doctest: +SKIP
        >>> rec.arm, rec.best                # doctest: +SKIP
        ('rag', 'ft+rag')
    """
    names = list(report.scores)
    order = sorted(names, key=lambda n: (report.costs[n].total_seconds(answers) if n in report.costs else 0.0,
                                         names.index(n)))
    best = max(order, key=lambda n: (_score(report.scores[n]), -order.index(n)))
    cheaper = order[: order.index(best)]
    evidence = [paired(report, best, other) for other in cheaper]
    questions = len(correctness(report, best))
    # the cheapest arm `best` does not significantly beat, unless the test could not have decided
    first = next((p for p in evidence if not p.significant(alpha)), None)
    if first is None:
        arm: str | None = best
    elif first.decidable(alpha, questions) and (first.losses > 0 or first.wins == 0):
        arm = first.other
    else:
        arm = None
    return Recommendation(arm, best, order, evidence, alpha, answers, questions)


def _score(result: Any) -> float:
    score = result.score
    return -1.0 if score is None or (isinstance(score, float) and math.isnan(score)) else float(score)
