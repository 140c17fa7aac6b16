"""Verdicts that rest on the paired sign test when too few items differ for it to decide anything."""

from __future__ import annotations

import pytest
from tests.rag_baseline.test_recommend import right, synthetic

COSTS = {"base": {"seconds_per_answer": 0.2}, "rag": {"index_seconds": 2.0, "seconds_per_answer": 0.25}}


@pytest.mark.parametrize("alpha, needed", [(0.05, 6), (0.01, 8), (0.3, 3)])
def test_decisive_count_is_the_smallest_n_whose_best_case_reaches_alpha(alpha, needed):
    from posttrain.evals.compare import decisive_count
    from rag_baseline.recommend import sign_test

    assert decisive_count(alpha) == needed
    assert sign_test(needed, 0) < alpha <= sign_test(needed - 1, 0)     # 2 * 0.5^n by hand: 6 -> 0.031, 5 -> 0.062


# marks, the arm recommended (None: too few to decide), what the markdown must say
CASES = [
    # the case: 5 questions, base 0/5, rag 5/5 -> p=0.062 can never reach 0.05
    ({"base": right(0, of=5), "rag": right(5, of=5)}, None,
     ["Recommendation: none", "Too few questions to decide", "at least 6 questions where the arms differ",
      "p < 0.05", "`rag` and the cheaper `base` differ on 5 of 5", "5 / 0", "evaluate on more questions"]),
    # many questions, but the arms differ on only 3, all won by rag: base lost every one, never recommended
    ({"base": right(20), "rag": right(23)}, None,
     ["Recommendation: none", "at least 6 questions where the arms differ", "differ on 3 of 40", "3 / 0"]),
    # a split of 3 / 2 cannot decide either
    ({"base": right(20), "rag": right(21, start=2)}, None, ["Recommendation: none", "3 / 2"]),
    # 6 / 0 is the smallest split that decides: rag is significantly better
    ({"base": right(0, of=6), "rag": right(6, of=6)}, "rag", ["Recommendation: `rag`", "significantly better"]),
    # 4 / 3 over 7 differing questions could have decided and did not: the cheaper arm is not worse
    ({"base": right(28), "rag": right(29, start=3)}, "base", ["Recommendation: `base`", "not significantly better"]),
    # identical answers on enough questions are a tie: the cheaper arm
    ({"base": right(20), "rag": right(20)}, "base", ["Recommendation: `base`"]),
    # 4 questions, the arms differ on 1: nothing to decide on
    ({"base": right(1, of=3) + [False], "rag": right(1, of=3) + [True]}, None, ["Recommendation: none", "1 / 0"]),
]


@pytest.mark.parametrize("marks, arm, says", CASES)
def test_recommendation_needs_enough_differing_questions(marks, arm, says):
    report = synthetic(marks, COSTS)
    rec = report.recommendation()
    assert rec.arm == arm
    markdown = report.to_markdown()
    for text in says:
        assert text in markdown


def test_an_arm_that_lost_every_differing_question_is_never_recommended():
    for losers in range(1, 6):
        rec = synthetic({"base": right(10), "rag": right(10 + losers)}, COSTS).recommendation()
        assert rec.arm != "base" and rec.evidence[0].losses == 0


@pytest.mark.parametrize("before, after, verdict", [
    ([True] * 5 + [False] * 5, [False] * 10, "too few changed items to decide (p < 0.05 needs 6)"),   # 0 / 5
    ([True] * 6 + [False] * 4, [False] * 10, "**REGRESSED**"),                                          # 0 / 6
    ([True] * 5 + [False] * 5, [True] * 5 + [False] * 5, "within noise"),                              # nothing changed
])
def test_eval_deltas_say_when_too_few_items_changed_to_decide(before, after, verdict):
    from posttrain.evals import (
        EvalResult,
        compare_results,
        deltas_table,
        wilson_interval,
    )

    def result(marks):
        return EvalResult("m", sum(marks) / len(marks), len(marks), wilson_interval(sum(marks), len(marks)),
                          [{"prompt": f"q{i}", "correct": c} for i, c in enumerate(marks)])

    delta, = compare_results({"m": result(before)}, {"m": result(after)})
    assert deltas_table([delta]).splitlines()[2].endswith(f"| {verdict} |")


def test_the_report_says_which_evals_changed_too_little_to_decide():
    from posttrain.evals import EvalDelta
    from posttrain.pipeline.report import what_this_shows

    thin = EvalDelta("identity", 0.5, 0.1, -0.4, False, False, fixed=0, broken=4, p_value=0.125)
    enough = EvalDelta("math", 0.5, 0.5, 0.0, False, False, fixed=4, broken=4, p_value=1.0)
    text = what_this_shows("01-sft", [thin, enough])
    assert "Too few items changed to decide on identity (0 fixed, 4 broken)" in text
    assert "at least 6 changed items for p < 0.05" in text and "more items" in text
    assert "math" not in text.split("Too few")[1]
