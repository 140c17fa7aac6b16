r"""Reward functions for GRPO, in TRL's calling convention: `fn(completions, **columns) -> list[float | None]`.

A completion is a string or a conversational list (`[{"role": "assistant", "content": ...}]`); dataset
columns (e.g. `answer`) arrive as keyword lists, one value per completion. `None` means "no reward for
this sample" (TRL turns it into NaN and ignores it).

>>> from posttrain import rewards
>>> rewards.math_accuracy(["The answer is \\boxed{\\frac{1}{2}}", "#### 3"], answer=["0.5", "4"])
[1.0, 0.0]
>>> wrapped = rewards.safe_rewards([rewards.math_accuracy], timeout_s=10)  # failures -> None, counted

`safe_rewards`, `SafeReward` and `TimeLimit` live in `posttrain.reward_guard` and are re-exported here.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence

from posttrain.reward_guard import SafeReward, TimeLimit, TimeLimitExceeded, reward_metrics, safe_rewards

RewardFn = Callable[..., list]
MATH_TIMEOUT_S = 5.0

__all__ = ["math_accuracy", "exact_match", "contains", "format_regex", "length_penalty", "safe_rewards",
           "SafeReward", "reward_metrics", "extract_final_answer", "math_equal", "completion_text",
           "TimeLimit", "TimeLimitExceeded"]


# --- completions ---------------------------------------------------------------------------------------

def completion_text(completion: object) -> str:
    """The text of one completion: a string, or the content of the last message of a conversation that is
    not a tool's reply (in an episode with tool calls: the model's final answer, never a tool's result)."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        return str(completion.get("content") or "")
    if isinstance(completion, (list, tuple)) and completion:
        own = [m for m in completion if not (isinstance(m, dict) and m.get("role") == "tool")]
        return completion_text(own[-1]) if own else ""
    return "" if completion is None or completion == [] else str(completion)


def normalize_text(text: object) -> str:
    """Lowercase with runs of whitespace collapsed to one space and the ends stripped."""
    return " ".join(str(text).lower().split())


def _column(columns: dict, name: str, fn_name: str, size: int) -> list:
    if name not in columns:
        raise KeyError(f"reward {fn_name!r} needs a dataset column {name!r}; the columns given are "
                       f"{sorted(columns)}. Fix: add an '{name}' field to every prompt row")
    values = columns[name]
    if len(values) != size:
        raise ValueError(f"reward {fn_name!r}: column {name!r} has {len(values)} values for {size} completions")
    return list(values)


# --- final answers and math-verify ----------------------------------------------------------------------

_NUMBER = r"-?\d[\d,]*(?:\.\d+)?(?:\s*/\s*\d+)?|-?\.\d+"
_ANSWER_IS = re.compile(r"answer\s*(?:is|:|=)\s*:?\s*(.+)", re.IGNORECASE)
_HASHES = re.compile(r"####\s*(.+)")


def extract_final_answer(text: str) -> str | None:
    r"""The final answer stated in a model's output, or None when it states none.

    Tried in order: the last `\boxed{...}`; the text after `####`; the text after the last
    "answer is" / "answer:"; the last number (integers, decimals, fractions like 3/4).

    >>> extract_final_answer("so x = 2 and \\boxed{\\frac{1}{2}}")
    '\\frac{1}{2}'
    >>> extract_final_answer("Adding them gives 5. The answer is 12."), extract_final_answer("#### 1,234")
    ('12', '1,234')
    >>> extract_final_answer("There are 3 apples and 4 pears, so 7 fruits"), extract_final_answer("none")
    ('7', None)
    """
    text = completion_text(text)
    boxed = _last_boxed(text)
    if boxed is not None:
        return _clean(boxed)
    for pattern in (_HASHES, _ANSWER_IS):
        matches = list(pattern.finditer(text))
        if matches:
            found = _clean(matches[-1].group(1).splitlines()[0])
            if found:
                return found
    numbers = re.findall(_NUMBER, text)
    return _clean(numbers[-1]) if numbers else None


def _last_boxed(text: str) -> str | None:
    start = max(text.rfind("\\boxed{"), text.rfind("\\fbox{"))
    if start < 0:
        return None
    depth, begin = 0, text.index("{", start)
    for index in range(begin, len(text)):
        depth += {"{": 1, "}": -1}.get(text[index], 0)
        if depth == 0:
            return text[begin + 1:index]
    return None


def _clean(answer: str) -> str:
    """Cut the answer at its sentence end and drop $ or \\( \\) delimiters."""
    answer = re.split(r"\.(?:\s|$)", answer.strip(), maxsplit=1)[0]
    answer = re.sub(r"^\\\(|\\\)$", "", answer.strip()).strip()
    return answer.strip("$").strip()


def _parse_math(text: str) -> list:
    from math_verify import parse

    parsed = parse(text, parsing_timeout=None)
    if not parsed and "$" not in text:
        parsed = parse(f"${text}$", parsing_timeout=None)
    return parsed


def math_equal(gold: object, predicted: str | None, timeout_s: float | None = MATH_TIMEOUT_S) -> bool:
    r"""Whether `predicted` (an extracted answer) equals `gold` mathematically, via math-verify.

    "1/2", "0.5" and "\frac{1}{2}" are equal; "1,234" equals 1234. Bounded by `timeout_s` (in the main
    thread; elsewhere math-verify runs unbounded, so wrap the caller with `safe_rewards`). A timeout or
    a parse failure counts as not equal.

    >>> math_equal("0.5", "\\frac{1}{2}"), math_equal("12", "13")
    (True, False)
    """
    import logging

    from math_verify import verify

    if predicted is None or gold is None:
        return False
    logging.getLogger("math_verify").setLevel(logging.ERROR)   # it warns that we time it out ourselves
    limit = TimeLimit(timeout_s)
    with limit:
        gold_parsed, predicted_parsed = _parse_math(str(gold)), _parse_math(str(predicted))
        return bool(gold_parsed and predicted_parsed and verify(gold_parsed, predicted_parsed,
                                                                timeout_seconds=None))
    return False   # reached only when the time limit cut the check short


def _score_answers(name: str, check: Callable[[str, object], bool], completions: Sequence, columns: dict) -> list:
    answers = _column(columns, "answer", name, len(completions))
    return [float(check(completion_text(c), a)) if a is not None else None
            for c, a in zip(completions, answers)]


def math_accuracy(completions: Sequence, **columns: object) -> list[float | None]:
    """1.0 when the completion's final answer (see `extract_final_answer`) equals the `answer` column
    mathematically (math-verify), else 0.0; None where the answer is missing.

    >>> math_accuracy(["#### 1/2", "The answer is 12.", "about 7"], answer=["0.5", "12", "8"])
    [1.0, 1.0, 0.0]
    """
    return _score_answers("math_accuracy", lambda text, gold: math_equal(gold, extract_final_answer(text)),
                          completions, columns)


def exact_match(completions: Sequence, **columns: object) -> list[float | None]:
    """1.0 when the completion equals the `answer` column after lowercasing and collapsing whitespace.

    >>> exact_match(["  Paris ", "paris, France"], answer=["paris", "Paris"])
    [1.0, 0.0]
    """
    return _score_answers("exact_match", lambda text, gold: normalize_text(text) == normalize_text(gold),
                          completions, columns)


def contains(completions: Sequence, **columns: object) -> list[float | None]:
    """1.0 when the `answer` column appears in the completion (case and whitespace ignored).

    >>> contains(["The capital is Paris.", "Lyon"], answer=["paris", "Paris"])
    [1.0, 0.0]
    """
    return _score_answers("contains", lambda text, gold: normalize_text(gold) in normalize_text(text),
                          completions, columns)


# --- factories ------------------------------------------------------------------------------------------

def _factory(make: Callable[..., RewardFn]) -> Callable[..., RewardFn]:
    """Make a factory fail clearly when it is handed to a trainer uncalled, as if it were a reward."""
    example = (make.__doc__ or make.__name__).splitlines()[0]

    @functools.wraps(make)
    def checked(*args: object, **kwargs: object) -> RewardFn:
        if "completions" in kwargs or "prompts" in kwargs:
            raise TypeError(f"{make.__name__} makes a reward function; it is not one itself. Fix: pass "
                            f"rewards.{make.__name__}(...) (called), e.g. {example}")
        return make(*args, **kwargs)
    return checked


@_factory
def format_regex(pattern: str, *, name: str | None = None, flags: int = re.DOTALL) -> RewardFn:
    """format_regex(r"^<think>.*</think>") -> a reward: 1.0 when the completion matches `pattern`
    (re.match from the start, after stripping whitespace), else 0.0. Named `format_<name>` for logs.

    >>> has_think = format_regex(r"<think>.+</think>", name="think")
    >>> has_think.__name__, has_think(["<think>hm</think> 4", "4"])
    ('format_think', [1.0, 0.0])
    """
    compiled = re.compile(pattern, flags)

    def reward(completions: Sequence, **columns: object) -> list[float | None]:
        return [float(compiled.match(completion_text(c).strip()) is not None) for c in completions]

    reward.__name__ = reward.__qualname__ = f"format_{name or _slug(pattern)}"
    reward.__doc__ = f"1.0 when the completion matches {pattern!r}, else 0.0."
    return reward


@_factory
def length_penalty(max_words: int = 200, *, unit: str = "words") -> RewardFn:
    """length_penalty(max_words=200) -> a reward: 0.0 up to `max_words` words (or characters with
    `unit="chars"`), then falling linearly to -1.0 at twice that length, and -1.0 beyond.

    Add it next to a task reward to stop completions growing without bound.

    >>> short = length_penalty(4)
    >>> short.__name__, short(["one two three", "a b c d e f", "a b c d e f g h i j"])
    ('length_penalty_4_words', [0.0, -0.5, -1.0])
    """
    if unit not in ("words", "chars") or max_words < 1:
        raise ValueError(f"length_penalty(max_words={max_words!r}, unit={unit!r}): Fix: max_words >= 1 "
                         "and unit 'words' or 'chars'")

    def reward(completions: Sequence, **columns: object) -> list[float | None]:
        sizes = [len(completion_text(c).split()) if unit == "words" else len(completion_text(c))
                 for c in completions]
        return [-min(1.0, (size - max_words) / max_words) if size > max_words else 0.0 for size in sizes]

    reward.__name__ = reward.__qualname__ = f"length_penalty_{max_words}_{unit}"
    return reward


def _slug(pattern: str) -> str:
    return re.sub(r"\W+", "_", pattern).strip("_")[:30] or "regex"
