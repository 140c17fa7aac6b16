"""Sampled evals: k answers per item at a temperature, scored as avg@k (each item's share of right
answers, averaged) with its interval and pass@k, and compared before/after on the per-item shares with an
exact sign-flip permutation test. Numbers worked out by hand."""

from __future__ import annotations

import pytest

from posttrain.errors import DataError
from posttrain.evals import EvalResult, EvalSuite, Identity, InstructionFollowing, MathAccuracy, QAAccuracy
from posttrain.evals.base import sampled_interval, sampled_result, wilson_interval
from posttrain.evals.compare import compare_results, paired_changes, paired_test, sign_flip_p

MATH = [{"question": "What is 2 + 2?", "answer": "4", "op": "add"},
        {"question": "What is 3 * 3?", "answer": "9", "op": "mul"},
        {"question": "What is 8 - 5?", "answer": "3", "op": "sub"}]


def test_avg_at_k_is_the_mean_of_item_shares_and_pass_at_k_the_share_with_a_right_answer():
    ev = MathAccuracy(MATH, group_by="op", samples=4, temperature=0.9)
    result = ev.score_samples([["4", "4", "5", "4"], ["6", "7", "8", "1"], ["3", "3", "3", "3"]])
    assert [d["mean"] for d in result.details] == [0.75, 0.0, 1.0]
    assert [d["right"] for d in result.details] == [3, 0, 4] and {d["k"] for d in result.details} == {4}
    assert result.score == pytest.approx((0.75 + 0 + 1) / 3)
    assert result.metrics["avg@4"] == result.score and result.metrics["pass@4"] == pytest.approx(2 / 3)
    assert result.metrics["accuracy/add"] == 0.75 and result.metrics["accuracy/mul"] == 0.0   # per group, avg@k
    assert result.details[0]["samples"][2] == {"output": "5", "answer": "4", "extracted": "5", "correct": False,
                                               "op": "add"}
    assert result.n == 3 and result.ci == sampled_interval([0.75, 0.0, 1.0], 4)


@pytest.mark.parametrize("means, k, answers, right", [
    ([1, 1, 0, 0], 2, 4, 2),              # items always agree with themselves: 4 items worth one answer each
    ([1, 0.5, 0, 0.5], 2, 8, 4),          # s^2 = 0.125 = p(1-p)/2: as informative as 8 independent answers
    ([0, 0, 0], 4, 12, 0),                # no spread at all: every answer counts
    ([1, 0, 1, 1, 0], 1, 5, 3),           # one answer each: the greedy Wilson interval
])
def test_sampled_interval_is_wilson_at_the_effective_number_of_answers(means, k, answers, right):
    assert sampled_interval(means, k) == pytest.approx(wilson_interval(right, answers))


def test_sampled_result_of_one_answer_per_item_equals_the_greedy_result():
    marks = [True, False, True, True]
    greedy = EvalResult("m", 0.75, 4, wilson_interval(3, 4))
    sampled = sampled_result("m", [[m] for m in marks], [{}] * 4)
    assert (sampled.score, sampled.ci) == (greedy.score, greedy.ci)


@pytest.mark.parametrize("differences, p", [
    ([2, 1, 1], 2 / 8),                   # only +2+1+1 and -2-1-1 reach |4|
    ([3, -1, 1, 1], 8 / 16),              # 3 + (three of +-1) >= 4: 1 + 3 ways, and the mirror
    ([1, 1, 1, 1, 1, 1], 2 / 64),         # six items all up: the smallest p of six changes
    ([0, 0], 1.0),
    ([4, -4], 1.0),
])
def test_sign_flip_p_by_hand(differences, p):
    assert sign_flip_p(differences) == pytest.approx(p)


@pytest.mark.parametrize("fixed, broken", [(9, 0), (7, 2), (3, 3), (0, 6), (12, 1)])
def test_on_greedy_items_the_permutation_test_is_the_sign_test(fixed, broken):
    def run(marks):
        return EvalResult("m", 0.0, len(marks), (0, 1), [{"prompt": str(i), "correct": c} for i, c in enumerate(marks)])
    before = [False] * fixed + [True] * broken + [True, False]
    after = [True] * fixed + [False] * broken + [True, False]
    assert paired_test(run(before), run(after)) == paired_changes(run(before), run(after))


def _sampled_run(rights: list[int], k: int = 4) -> EvalResult:
    details = [{"prompt": f"q{i}", "mean": r / k, "right": r, "k": k} for i, r in enumerate(rights)]
    return sampled_result("math", [[True] * r + [False] * (k - r) for r in rights], details)


def test_a_sampled_eval_is_compared_on_per_item_means():
    before, after = _sampled_run([0, 1, 2, 2, 0, 1, 3, 0]), _sampled_run([1, 2, 3, 3, 1, 2, 3, 0])
    (delta,) = compare_results({"math": before}, {"math": after})
    assert (delta.fixed, delta.broken) == (6, 0) and delta.p_value == pytest.approx(2 / 64)
    assert delta.improved and not delta.regressed and delta.delta == pytest.approx(6 / 32)
    (back,) = compare_results({"math": after}, {"math": before})
    assert back.regressed and back.p_value == delta.p_value
    mixed_after = _sampled_run([1, 2, 3, 3, 1, 0, 3, 0])       # one item fell from 1/4 to 0/4
    (mixed,) = compare_results({"math": before}, {"math": mixed_after})
    assert (mixed.fixed, mixed.broken) == (5, 1) and not mixed.improved
    assert mixed.p_value == pytest.approx(sign_flip_p([1, 1, 1, 1, 1, -1]))       # 14 / 64


def test_greedy_before_and_sampled_after_compare_per_item():
    greedy = EvalResult("math", 0.5, 2, (0, 1), [{"prompt": "q0", "correct": True}, {"prompt": "q1", "correct": False}])
    sampled = _sampled_run([2, 1])
    assert paired_test(greedy, sampled) == (1, 1, 1.0)           # differences 1/2 - 1 and 1/4 - 0 (times 4)


@pytest.mark.parametrize("make", [
    lambda **o: MathAccuracy(MATH, **o),
    lambda **o: QAAccuracy([{"question": "Capital of France?", "answer": "Paris"}], **o),
    lambda **o: InstructionFollowing([{"prompt": "Say hi.", "constraints": [{"kind": "lowercase"}]}], **o),
    lambda **o: Identity(["Who are you?"], name="Ava", **o),
])
def test_every_generative_eval_takes_the_sampling_options_and_checks_them(make):
    ev = make(samples=4, temperature=0.9, seed=3)
    assert (ev.samples, ev.temperature, ev.seed) == (4, 0.9, 3)
    assert EvalSuite.from_config([ev.to_config()]).to_config() == [ev.to_config()]
    assert {"samples": 4, "temperature": 0.9, "seed": 3}.items() <= ev.to_config().items()
    with pytest.raises(DataError, match="'temperature'.*samples: 1 for one greedy answer"):
        make(samples=4)
    with pytest.raises(DataError, match="'samples'"):
        make(samples=0, temperature=0.9)


def test_a_sampled_eval_runs_k_seeded_answers_per_item(tiny):
    model, tokenizer = tiny
    ev = MathAccuracy(MATH, max_new_tokens=6, samples=3, temperature=1.0, seed=1)
    result = ev.run(model, tokenizer)
    assert result.n == 3 and [len(d["samples"]) for d in result.details] == [3, 3, 3]
    assert "avg@3" in result.metrics and "pass@3" in result.metrics
    again = ev.run(model, tokenizer)
    assert [s["output"] for d in again.details for s in d["samples"]] == \
        [s["output"] for d in result.details for s in d["samples"]]
