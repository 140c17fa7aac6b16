"""Reward functions: hand-worked cases, TRL's calling convention, and failure isolation.

No test here measures time: a hang is shown cut off by the flags and counters the guard sets, and
`pytest.mark.timeout` is the safety net if a guard ever stops working.
"""

from __future__ import annotations

import math
import threading
import time

import pytest

from posttrain import rewards
from posttrain.rewards import SafeReward, TimeLimit, extract_final_answer, reward_metrics, safe_rewards


@pytest.mark.parametrize("text, expected", [
    ("so the result is \\boxed{\\frac{1}{2}}", "\\frac{1}{2}"),
    ("\\boxed{\\sqrt{\\frac{1}{4}}} and later \\boxed{7}", "7"),
    ("\\boxed{\\sqrt{\\frac{1}{4}}}", "\\sqrt{\\frac{1}{4}}"),
    ("Work...\n#### 1,234", "1,234"),
    ("First 3, then 4. The answer is 12.", "12"),
    ("The answer is 12. Done, 3 steps.", "12"),
    ("Answer: -3", "-3"),
    ("The final answer is $\\frac{3}{4}$.", "\\frac{3}{4}"),
    ("she keeps 3/4 of it", "3/4"),
    ("x equals 0.5 here", "0.5"),
    ("There were 3 apples, then 7", "7"),
    ("no number at all", None),
])
def test_extract_final_answer(text, expected):
    assert extract_final_answer(text) == expected


@pytest.mark.parametrize("completion, answer, reward", [
    ("12", "12", 1.0),
    ("1/2", "0.5", 1.0),
    ("0.5", "1/2", 1.0),
    ("\\boxed{\\frac{1}{2}}", "0.5", 1.0),
    ("The answer is 12.", "12", 1.0),
    ("Step one gives 5.\n#### 12", "12", 1.0),
    ("#### 1,234", "1234", 1.0),
    ("\\boxed{\\sqrt{2}}", "\\sqrt{2}", 1.0),
    ("The answer is 13.", "12", 0.0),
    ("I do not know", "3", 0.0),
    ("0.51", "1/2", 0.0),
])
def test_math_accuracy_table(completion, answer, reward):
    assert rewards.math_accuracy([completion], answer=[answer]) == [reward]


def test_math_accuracy_takes_conversational_completions_and_trl_keywords():
    completions = [[{"role": "assistant", "content": "It is \\boxed{4}"}],
                   [{"role": "assistant", "content": "It is 5"}]]
    scores = rewards.math_accuracy(prompts=["2+2?", "2+2?"], completions=completions,
                                   completion_ids=[[1], [2]], answer=["4", "4"], trainer_state=object())
    assert scores == [1.0, 0.0]


def test_missing_answer_value_gives_none_and_missing_column_names_the_fix():
    assert rewards.exact_match(["a", "b"], answer=["a", None]) == [1.0, None]
    with pytest.raises(KeyError, match="'answer' field"):
        rewards.math_accuracy(["4"], solution=["4"])


def test_exact_match_and_contains():
    assert rewards.exact_match(["  The   Answer ", "the answer."], answer=["the answer", "the answer"]) == [1.0, 0.0]
    assert rewards.contains(["It is PARIS, France", "Lyon"], answer=["paris", "paris"]) == [1.0, 0.0]


def test_format_regex_is_named_and_matches_from_the_start():
    reward = rewards.format_regex(r"<think>.+</think>\s*\S", name="think")
    assert reward.__name__ == "format_think"
    assert reward(["<think>a\nb</think> 4", "x <think>a</think> 4", "<think></think>"]) == [1.0, 0.0, 0.0]
    assert rewards.format_regex(r"^\d+$").__name__ == "format_d"


def test_factories_refuse_to_be_used_uncalled():
    with pytest.raises(TypeError, match="makes a reward function"):
        rewards.format_regex(completions=["x"])
    with pytest.raises(TypeError, match="length_penalty"):
        rewards.length_penalty(prompts=["p"], completions=["x"])


def test_length_penalty_is_linear_between_the_limit_and_twice_the_limit():
    words = rewards.length_penalty(10)
    assert words([" ".join(["w"] * n) for n in (5, 10, 15, 20, 40)]) == [0.0, 0.0, -0.5, -1.0, -1.0]
    chars = rewards.length_penalty(4, unit="chars")
    assert chars.__name__ == "length_penalty_4_chars" and chars(["abcdef"]) == [-0.5]


# --- the reward guard: each of the four faults costs only its samples, and is counted -------------------

def reciprocal(completions, **columns):
    return [1.0 / float(c) for c in completions]


def test_safe_reward_isolates_a_raising_sample_and_counts_it():
    safe = SafeReward(reciprocal, timeout_s=5)
    assert safe(["2", "0", "4"]) == [0.5, None, 0.25]
    assert safe.__name__ == "reciprocal"
    assert (safe.errors, safe.timeouts, safe.wrong_lengths, safe.failures) == (2, 0, 0, 2)
    assert safe.failed_by_cause == {"error": 1, "timeout": 0, "wrong_length": 0, "non_finite": 0}
    assert safe.failed_samples == 1
    assert "ZeroDivisionError" in safe.stats()["last_error"]


def test_safe_reward_passes_per_sample_columns_when_retrying():
    def strict(completions, answer, **columns):
        if "bad" in completions:
            raise ValueError("bad completion")
        return [float(c == a) for c, a in zip(completions, answer)]

    safe = SafeReward(strict, timeout_s=5)
    assert safe(["a", "bad", "c"], answer=["a", "b", "x"], trainer_state=None) == [1.0, None, 0.0]


def _hangs(completions, **columns):
    while True:
        try:
            time.sleep(10)
        except Exception:          # must not swallow the time limit
            pass


@pytest.mark.timeout(60)
def test_safe_reward_stops_a_hanging_function_that_swallows_exceptions():
    safe = SafeReward(_hangs, timeout_s=0.2)
    assert safe(["a", "b"]) == [None, None]          # returned at all: the endless loop was cut off
    assert (safe.timeouts, safe.errors, safe.failed_samples) == (1, 0, 2)
    assert safe.failed_by_cause["timeout"] == 2 and "timed out after 0.2 s" in safe.last_error


@pytest.mark.timeout(60)
def test_safe_reward_bounds_a_hang_outside_the_main_thread():
    stop = threading.Event()

    def hangs(completions, **columns):
        stop.wait()                # only the test's own `stop.set()` ends this
        return [1.0] * len(completions)

    safe, results = SafeReward(hangs, timeout_s=0.2), []
    worker = threading.Thread(target=lambda: results.append(safe(["a"])))
    worker.start()
    worker.join()                  # returns only if the guard gave up waiting: `stop` is still clear
    assert not stop.is_set()
    stop.set()
    assert results == [[None]] and safe.timeouts == 1 and safe.failed_by_cause["timeout"] == 1


@pytest.mark.parametrize("returned", [[1.0], [1.0, 1.0, 1.0], [], 1.0, None, "11", {"a": 1.0, "b": 1.0}])
def test_safe_reward_gives_none_for_a_call_with_the_wrong_number_of_rewards(returned):
    calls = []

    def wrong(completions, **columns):
        calls.append(len(completions))
        return returned

    safe = SafeReward(wrong, timeout_s=5)
    assert safe(["a", "b"]) == [None, None]
    assert calls == [2]                              # not retried: no reward can be matched to its sample
    assert (safe.wrong_lengths, safe.errors, safe.failed_samples) == (1, 0, 2)
    assert safe.failed_by_cause["wrong_length"] == 2
    assert "rewards" in safe.last_error


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_safe_reward_drops_only_the_non_finite_rewards(bad):
    safe = SafeReward(lambda completions, **columns: [1.0, bad, None, 0.5], timeout_s=5)
    assert safe(["a", "b", "c", "d"]) == [1.0, None, None, 0.5]
    assert safe.failed_by_cause == {"error": 0, "timeout": 0, "wrong_length": 0, "non_finite": 1}
    assert safe.failed_samples == 1 and safe.failures == 0
    assert "non-finite" in safe.last_error


def test_safe_reward_turns_numpy_and_string_numbers_into_floats():
    import numpy as np

    safe = SafeReward(lambda completions, **columns: np.array([1, 0], dtype=np.int64), timeout_s=5)
    assert safe(["a", "b"]) == [1.0, 0.0] and all(type(v) is float for v in safe(["a", "b"]))
    text = SafeReward(lambda completions, **columns: list(completions), timeout_s=5)
    assert text(["0.5", "oops"]) == [0.5, None]           # "oops" is no number: its sample alone is lost
    assert text.failed_by_cause["error"] == 1


@pytest.mark.timeout(120)
def test_every_fault_kind_is_counted_in_the_stage_metrics():
    def by_prompt(completions, **columns):
        kinds = [columns["fault"][i] for i in range(len(completions))]
        if "hang" in kinds:
            _hangs(completions)
        if "raise" in kinds and len(completions) > 1:
            raise RuntimeError("batch refused")
        if "raise" in kinds:
            raise RuntimeError("this sample")
        if "short" in kinds:
            return [1.0] * (len(completions) - 1)
        return [float("nan") if kind == "nan" else 1.0 for kind in kinds]

    safe = safe_rewards(by_prompt, timeout_s=0.2)[0]
    assert safe(["x"] * 3, fault=["ok", "raise", "ok"]) == [1.0, None, 1.0]
    assert safe(["x"] * 2, fault=["ok", "hang"]) == [None, None]
    assert safe(["x"] * 2, fault=["ok", "short"]) == [None, None]
    assert safe(["x"] * 3, fault=["ok", "nan", "ok"]) == [1.0, None, 1.0]
    metrics = reward_metrics([safe, "a/reward-model"])
    assert metrics == {"reward_failures/by_prompt": 6, "reward_failures/by_prompt/error": 1,
                       "reward_failures/by_prompt/timeout": 2, "reward_failures/by_prompt/wrong_length": 2,
                       "reward_failures/by_prompt/non_finite": 1}
    assert safe.stats()["calls"] == 4 and safe.failures == 4   # batch + one sample raised, 1 hang, 1 short


def test_safe_reward_without_faults_costs_nothing():
    safe = SafeReward(rewards.exact_match, timeout_s=5)
    assert safe(["a", "b"], answer=["a", "a"]) == [1.0, 0.0]
    assert safe.failed_samples == 0 and safe.metrics() == {"reward_failures/exact_match": 0}
    assert all(math.isfinite(v) for v in safe(["a"], answer=["a"]))


def test_safe_rewards_wraps_once_and_returns_correct_rewards():
    wrapped = safe_rewards([rewards.math_accuracy, rewards.contains], timeout_s=5)
    again = safe_rewards(wrapped, timeout_s=1)
    assert [w.__name__ for w in again] == ["math_accuracy", "contains"]
    assert again[0].fn is rewards.math_accuracy and again[0].timeout_s == 1
    assert again[0](["#### 4", "#### 5"], answer=["4", "4"]) == [1.0, 0.0]
    assert safe_rewards("some/reward-model") == ["some/reward-model"]


@pytest.mark.timeout(60)
def test_time_limits_nest_and_the_outer_one_still_fires():
    outer, inner = TimeLimit(0.3), TimeLimit(5)
    with outer:
        with inner:
            pass
        time.sleep(30)             # only the re-armed outer limit ends this early
    assert outer.expired and not inner.expired


@pytest.mark.timeout(60)
def test_math_equal_is_bounded():
    slow = TimeLimit(0.2)
    with slow:
        rewards.math_equal("1", "1", timeout_s=None)
        time.sleep(30)             # math_equal must leave the enclosing limit armed
    assert slow.expired
