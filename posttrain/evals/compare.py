"""Before/after comparison of two suite results, flagging what got worse beyond noise."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from posttrain.evals.base import EvalResult


ALPHA = 0.05   # significance level of the paired test


@dataclass(frozen=True)
class EvalDelta:
    """How one eval moved between two runs.

    When both runs scored the same items (same prompts, in order), the verdict is paired on the
    items' scores (`paired_test`): `fixed` and `broken` count the items whose score rose and fell
    (for greedy evals, items turned right and turned wrong; for sampled ones, items whose share of
    right samples rose and fell), `p_value` is the exact two-sided sign-flip permutation test of the
    per-item differences (for greedy evals the sign / McNemar test), and `regressed` is set when the
    mean fell with p < 0.05, `improved` the other way. Otherwise (perplexity, different items) the interval rule
    applies: `regressed` when the score moved the worse way AND lies outside the before-run's 95%
    interval, `improved` likewise the other way. Anything else is treated as noise.
    """

    name: str
    before: float
    after: float
    delta: float
    regressed: bool
    improved: bool
    higher_is_better: bool = True
    before_ci: tuple[float, float] = (math.nan, math.nan)
    note: str = ""
    fixed: int | None = None
    broken: int | None = None
    p_value: float | None = None

    @property
    def undecided(self) -> bool:
        """Items changed, but too few for the paired test to reach p < 0.05 whichever way they went."""
        return self.fixed is not None and 0 < self.fixed + (self.broken or 0) < decisive_count()

    @property
    def paired(self) -> str:
        """The paired evidence as text ("12 / 1 (p=0.0034)": fixed / broken), or "" without it."""
        return "" if self.fixed is None else f"{self.fixed} / {self.broken} (p={self.p_value:.2g})"

    def to_dict(self) -> dict:
        return {key: (None if isinstance(value, float) and math.isnan(value) else value)
                for key, value in self.__dict__.items()}


class _HasResults(Protocol):
    """A `SuiteResult`: results by eval name."""

    @property
    def results(self) -> Mapping[str, EvalResult]: ...


EvalResults = _HasResults | Mapping[str, EvalResult]


def compare_results(before: EvalResults, after: EvalResults) -> list[EvalDelta]:
    """One `EvalDelta` per eval name in either result (a `SuiteResult` or a name -> EvalResult mapping),
    in the order they appear; evals skipped or missing on one side get a note and no flag.

    >>> from posttrain.evals import EvalResult, wilson_interval
    >>> old = {"qa": EvalResult("qa", 0.8, 100, wilson_interval(80, 100))}
    >>> [d.regressed for d in compare_results(old, {"qa": EvalResult("qa", 0.6, 100, (0.5, 0.7))})]
    [True]
    >>> [d.regressed for d in compare_results(old, {"qa": EvalResult("qa", 0.75, 100, (0.66, 0.82))})]
    [False]
    """
    old, new = _results(before), _results(after)
    names = list(old) + [name for name in new if name not in old]
    return [_delta(name, old.get(name), new.get(name)) for name in names]


def _results(value: EvalResults) -> Mapping[str, EvalResult]:
    return value if isinstance(value, Mapping) else value.results


def _delta(name: str, old: EvalResult | None, new: EvalResult | None) -> EvalDelta:
    either = old or new
    assert either is not None, "each name comes from one side or the other"
    higher = either.higher_is_better
    before = old.score if old and not old.skipped else math.nan
    after = new.score if new and not new.skipped else math.nan
    note = _note(old, new)
    if note or old is None or new is None:       # a missing side always has a note
        return EvalDelta(name, before, after, after - before, False, False, higher, note=note)
    low, high = old.ci
    paired = paired_test(old, new)
    if paired is not None:
        fixed, broken, p_value = paired
        significant, moved = p_value < ALPHA, (after - before) * (1 if higher else -1)
        return EvalDelta(name, before, after, after - before, regressed=significant and moved < 0,
                         improved=significant and moved > 0, higher_is_better=higher, before_ci=(low, high),
                         fixed=fixed, broken=broken, p_value=p_value)
    worse = after < before if higher else after > before
    outside = (after < low) if higher else (after > high)
    better_outside = (after > high) if higher else (after < low)
    return EvalDelta(name, before, after, after - before, regressed=worse and outside,
                     improved=not worse and after != before and better_outside,
                     higher_is_better=higher, before_ci=(low, high))


def paired_changes(old: EvalResult, new: EvalResult) -> tuple[int, int, float] | None:
    """(fixed, broken, p) over items scored right/wrong in both results, or None when they are not the
    same items. p is the exact two-sided sign test: the chance of a split at least this uneven if
    each changed item were equally likely to go either way.

    >>> from posttrain.evals import EvalResult
    >>> def run(marks): return EvalResult("m", 0.0, len(marks), (0, 1), [{"prompt": str(i), "correct": c}
    ...                                                                for i, c in enumerate(marks)])
    >>> paired_changes(run([False] * 10), run([True] * 9 + [False]))
    (9, 0, 0.00390625)
    """
    a, b = old.details or [], new.details or []
    if not a or len(a) != len(b):
        return None
    if not all(isinstance(x.get("correct"), bool) and isinstance(y.get("correct"), bool)
               and x.get("prompt") == y.get("prompt") for x, y in zip(a, b)):
        return None
    fixed = sum(1 for x, y in zip(a, b) if y["correct"] and not x["correct"])
    broken = sum(1 for x, y in zip(a, b) if x["correct"] and not y["correct"])
    changed = fixed + broken
    tail = sum(math.comb(changed, k) for k in range(min(fixed, broken) + 1)) / 2 ** changed
    return fixed, broken, min(1.0, 2 * tail) if changed else 1.0


def item_scores(result: EvalResult) -> list[tuple[int, int]] | None:
    """Each item's (right answers, answers): (right, k) for a sampled eval's items (`mean`, `right`, `k`),
    (1 or 0, 1) for a greedy pass/fail item; None when an item has neither."""
    scores = []
    for detail in result.details or []:
        if isinstance(detail.get("right"), int) and isinstance(detail.get("k"), int) and detail["k"] > 0:
            scores.append((detail["right"], detail["k"]))
        elif isinstance(detail.get("correct"), bool):
            scores.append((int(detail["correct"]), 1))
        else:
            return None
    return scores


def paired_test(old: EvalResult, new: EvalResult) -> tuple[int, int, float] | None:
    """(rose, fell, p) over the items of two results on the same prompts, or None when they are not the
    same items or not pass/fail. Each item's score is its share of right answers (0 or 1 greedy, avg@k
    sampled); `rose` and `fell` count items whose score went up and down, and p is the exact two-sided
    sign-flip permutation test of the per-item differences (`sign_flip_p`). On greedy items it is the
    exact sign (McNemar) test of `paired_changes`.

    >>> from posttrain.evals import EvalResult
    >>> def run(rights): return EvalResult("m", 0.0, len(rights), (0, 1), [
    ...     {"prompt": str(i), "mean": r / 4, "right": r, "k": 4} for i, r in enumerate(rights)])
    >>> paired_test(run([0, 1, 2, 2, 0]), run([2, 2, 3, 4, 0]))
    (4, 0, 0.125)
    """
    a, b = item_scores(old), item_scores(new)
    if not a or not b or len(a) != len(b) or any(x.get("prompt") != y.get("prompt")
                                                 for x, y in zip(old.details, new.details)):
        return None
    scale = math.lcm(*(k for _, k in a + b))
    differences = [right_b * (scale // k_b) - right_a * (scale // k_a) for (right_a, k_a), (right_b, k_b) in zip(a, b)]
    rose, fell = sum(1 for d in differences if d > 0), sum(1 for d in differences if d < 0)
    return rose, fell, sign_flip_p(differences)


def sign_flip_p(differences: list[int]) -> float:
    """The exact two-sided sign-flip permutation test of paired differences (whole numbers; item scores
    times a common denominator): under "no change", each nonzero difference was as likely to have the
    other sign, so p is the share of the 2^m sign assignments whose sum is at least as far from 0 as the
    observed sum. Counted exactly by convolution over the sums, not sampled.

    Worked: (2, 1, 1) sums to 4; of the 8 assignments only +2+1+1 and -2-1-1 reach |4|: p = 2/8. (3, -1, 1, 1)
    sums to 4; |sum| >= 4 for 8 of 16 assignments: p = 0.5. With every difference +-1 it is the sign test.

    >>> sign_flip_p([2, 1, 1]), sign_flip_p([3, -1, 1, 1]), sign_flip_p([1] * 9 + [0])
    (0.25, 0.5, 0.00390625)
    """
    nonzero = [abs(d) for d in differences if d]
    if not nonzero:
        return 1.0
    counts = {0: 1}                        # sum -> number of sign assignments reaching it
    for d in nonzero:
        following: dict[int, int] = {}
        for total, count in counts.items():
            for signed in (d, -d):
                following[total + signed] = following.get(total + signed, 0) + count
        counts = following
    observed = abs(sum(differences))
    return min(1.0, sum(c for total, c in counts.items() if abs(total) >= observed) / 2 ** len(nonzero))


def decisive_count(alpha: float = ALPHA) -> int:
    """The fewest changed items that let the exact two-sided sign test reach p < `alpha` at all: its best
    case, every change going the same way, has p = 2 * 0.5^n (6 at alpha=0.05, where 5 / 0 gives 0.062).
    The same holds for the sign-flip test of sampled items: its smallest p is also 2 * 0.5^n.

    >>> decisive_count(), decisive_count(0.01)
    (6, 8)
    """
    needed = 1
    while 2 * 0.5 ** needed >= alpha:
        needed += 1
    return needed


def _note(old: EvalResult | None, new: EvalResult | None) -> str:
    if old is None or new is None:
        return "only after" if old is None else "only before"
    if old.skipped or new.skipped:
        return f"skipped: {(old.skipped or new.skipped or '')[:80]}"
    if any(math.isnan(v) for v in (old.score, new.score, *old.ci)):
        return "no score"
    return ""


def deltas_table(deltas: list[EvalDelta], before_label: str = "before", after_label: str = "after") -> str:
    """A markdown table of the deltas; regressions are marked **REGRESSED**, gains "improved".

    >>> print(deltas_table([EvalDelta("qa", 0.8, 0.6, -0.2, True, False, before_ci=(0.71, 0.87),
    ...                                   fixed=1, broken=21, p_value=1.1e-05)]))
    | eval | before | after | delta | before 95% CI | fixed / broken (p) | verdict |
    |---|---|---|---|---|---|---|
    | qa ↑ | 0.800 | 0.600 | -0.200 | [0.710, 0.870] | 1 / 21 (p=1.1e-05) | **REGRESSED** |
    """
    lines = [f"| eval | {before_label} | {after_label} | delta | {before_label} 95% CI | fixed / broken (p) | verdict |",
             "|---|---|---|---|---|---|---|"]
    for d in deltas:
        verdict = "**REGRESSED**" if d.regressed else "improved" if d.improved else d.note or (
            f"too few changed items to decide (p < {ALPHA} needs {decisive_count()})" if d.undecided else "within noise")
        arrow = "↑" if d.higher_is_better else "↓"
        ci = "" if math.isnan(d.before_ci[0]) else f"[{_num(d.before_ci[0])}, {_num(d.before_ci[1])}]"
        lines.append(f"| {d.name} {arrow} | {_num(d.before)} | {_num(d.after)} | {_num(d.delta, sign=True)} | "
                     f"{ci} | {d.paired} | {verdict} |")
    return "\n".join(lines)


def _num(value: float, sign: bool = False) -> str:
    if value is None or math.isnan(value):
        return "–"
    return f"{value:+.3f}" if sign else f"{value:.3f}"
