"""Reward functions: hand-worked cases, TRL's calling convention, and failure isolation."""

from __future__ import annotations

import threading
import time

import pytest

from posttrain import rewards
from posttrain.rewards import SafeReward, TimeLimit, extract_final_answer, safe_rewards


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


def test_safe_reward_isolates_a_raising_sample_and_counts_it():
    def reciprocal(completions, **columns):
        return [1.0 / float(c) for c in completions]

    safe = SafeReward(reciprocal, timeout_s=5)
    assert safe(["2", "0", "4"]) == [0.5, None, 0.25]
    assert safe.__name__ == "reciprocal"
    assert (safe.errors, safe.timeouts, safe.failed_samples, safe.failures) == (2, 0, 1, 2)
    assert "ZeroDivisionError" in safe.stats()["last_error"]


def test_safe_reward_passes_per_sample_columns_when_retrying():
    def strict(completions, answer, **columns):
        if "bad" in completions:
            raise ValueError("bad completion")
        return [float(c == a) for c, a in zip(completions, answer)]

    safe = SafeReward(strict, timeout_s=5)
    assert safe(["a", "bad", "c"], answer=["a", "b", "x"], trainer_state=None) == [1.0, None, 0.0]


def test_safe_reward_stops_a_hanging_function_that_swallows_exceptions():
    def hangs(completions, **columns):
        while True:
            try:
                time.sleep(10)
            except Exception:          # must not swallow the time limit
                pass

    safe = SafeReward(hangs, timeout_s=0.2)
    start = time.monotonic()
    assert safe(["a", "b"]) == [None, None]
    assert time.monotonic() - start < 2
    assert (safe.timeouts, safe.errors, safe.failed_samples) == (1, 0, 2)


def test_safe_reward_bounds_a_hang_outside_the_main_thread():
    stop = threading.Event()

    def hangs(completions, **columns):
        stop.wait(10)
        return [1.0] * len(completions)

    safe, results = SafeReward(hangs, timeout_s=0.2), []
    worker = threading.Thread(target=lambda: results.append(safe(["a"])))
    worker.start()
    worker.join(3)
    stop.set()
    assert results == [[None]] and safe.timeouts == 1


def test_safe_rewards_wraps_once_and_returns_correct_rewards():
    wrapped = safe_rewards([rewards.math_accuracy, rewards.contains], timeout_s=5)
    again = safe_rewards(wrapped, timeout_s=1)
    assert [w.__name__ for w in again] == ["math_accuracy", "contains"]
    assert again[0].fn is rewards.math_accuracy and again[0].timeout_s == 1
    assert again[0](["#### 4", "#### 5"], answer=["4", "4"]) == [1.0, 0.0]
    assert safe_rewards("some/reward-model") == ["some/reward-model"]


def test_time_limits_nest_and_the_outer_one_still_fires():
    outer, inner = TimeLimit(0.3), TimeLimit(5)
    start = time.monotonic()
    with outer:
        with inner:
            pass
        time.sleep(3)
    assert outer.expired and not inner.expired
    assert time.monotonic() - start < 2


def test_math_equal_is_bounded():
    slow = TimeLimit(0.2)
    start = time.monotonic()
    with slow:
        rewards.math_equal("1", "1", timeout_s=None)
        time.sleep(3)
    assert slow.expired and time.monotonic() - start < 2
