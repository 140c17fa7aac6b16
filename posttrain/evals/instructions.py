"""Verifiable instruction checks in the style of IFEval: one function per constraint kind, and the schema
of a constraint (`{"kind": ..., "value": ...}`).

Every check is `check(response, value) -> bool` and is registered in `CHECKS` with the value it takes.

>>> check_constraint("hello world", {"kind": "max_words", "value": 3})
True
>>> check_constraint("Hello, world", {"kind": "no_commas"})
False
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from posttrain.errors import Problem, short

ValueType = Literal["none", "count", "text", "texts"]
#: A constraint's `value`: by its ValueType, None, a count, a text or a list of texts.
ConstraintValue = int | str | list[str] | None


def count_words(text: str) -> int:
    """Words are runs of letters or digits, joined by inner apostrophes or hyphens ("don't" is one);
    a number with a decimal point or thousands separator ("3.5", "1,000") is one word."""
    return len(re.findall(r"\w+(?:['’-]\w+|(?<=\d)[.,]\d+)*", text))


def count_sentences(text: str) -> int:
    """Pieces ending in . ! or ? followed by space (or the end), that contain a letter or digit."""
    return len([s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if re.search(r"\w", s)])


def _has_word(text: str, word: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(word)}(?!\w)", text, re.IGNORECASE) is not None


def _paragraphs(text: str) -> list[str]:
    return [p for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]


def _bullets(text: str) -> list[str]:
    return re.findall(r"^\s*[*-]\s+\S.*$", text, re.MULTILINE)


def check_max_words(response: str, value: int) -> bool:
    return count_words(response) <= value


def check_min_words(response: str, value: int) -> bool:
    return count_words(response) >= value


def check_max_sentences(response: str, value: int) -> bool:
    return count_sentences(response) <= value


def check_min_sentences(response: str, value: int) -> bool:
    return count_sentences(response) >= value


def check_include_keywords(response: str, value: list[str]) -> bool:
    return all(_has_word(response, word) for word in value)


def check_exclude_keywords(response: str, value: list[str]) -> bool:
    return not any(_has_word(response, word) for word in value)


def check_lowercase(response: str, value: None = None) -> bool:
    return bool(re.search(r"[^\W\d_]", response)) and response == response.lower()


def check_uppercase(response: str, value: None = None) -> bool:
    return bool(re.search(r"[^\W\d_]", response)) and response == response.upper()


def check_json_format(response: str, value: None = None) -> bool:
    """The whole answer is JSON (a ```json fence around it is allowed)."""
    text = re.sub(r"^```(?:json)?\s*|\s*```$", "", response.strip(), flags=re.IGNORECASE)
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def check_bullet_points(response: str, value: int) -> bool:
    """Exactly `value` markdown bullets (lines starting with "* " or "- ")."""
    return len(_bullets(response)) == value


def check_ends_with(response: str, value: str) -> bool:
    return response.strip().lower().endswith(value.strip().lower())


def check_starts_with(response: str, value: str) -> bool:
    return response.strip().lower().startswith(value.strip().lower())


def check_no_commas(response: str, value: None = None) -> bool:
    return "," not in response


def check_title(response: str, value: None = None) -> bool:
    """A title in double angular brackets, like <<Poem of Joy>>."""
    return re.search(r"<<[^\n<>]*\w[^\n<>]*>>", response) is not None


def check_paragraphs(response: str, value: int) -> bool:
    """Exactly `value` paragraphs, separated by blank lines."""
    return len(_paragraphs(response)) == value


def check_quotation(response: str, value: None = None) -> bool:
    """The whole answer is wrapped in double quotes."""
    text = response.strip()
    return len(text) >= 2 and text[0] == '"' and text[-1] == '"'


def check_placeholders(response: str, value: int) -> bool:
    """At least `value` placeholders in square brackets, like [address]."""
    return len(re.findall(r"\[[^\[\]\n]+\]", response)) >= value


@dataclass(frozen=True)
class Check:
    """One constraint kind: its checker, the value it takes, and what it asks, for docs and errors."""

    kind: str
    fn: Callable[..., bool]            # (response, value), the value of the type `value` names
    value: ValueType
    asks: str
    example: ConstraintValue = None


CHECKS: dict[str, Check] = {c.kind: c for c in [
    Check("max_words", check_max_words, "count", "at most N words", 50),
    Check("min_words", check_min_words, "count", "at least N words", 100),
    Check("max_sentences", check_max_sentences, "count", "at most N sentences", 3),
    Check("min_sentences", check_min_sentences, "count", "at least N sentences", 5),
    Check("include_keywords", check_include_keywords, "texts", "mention every keyword", ["budget", "risk"]),
    Check("exclude_keywords", check_exclude_keywords, "texts", "mention none of the keywords", ["very"]),
    Check("lowercase", check_lowercase, "none", "only lowercase letters"),
    Check("uppercase", check_uppercase, "none", "only capital letters"),
    Check("json_format", check_json_format, "none", "the whole answer is valid JSON"),
    Check("bullet_points", check_bullet_points, "count", "exactly N markdown bullet points", 3),
    Check("ends_with", check_ends_with, "text", "end with the phrase", "Is there anything else?"),
    Check("starts_with", check_starts_with, "text", "start with the phrase", "Dear team"),
    Check("no_commas", check_no_commas, "none", "no commas at all"),
    Check("title", check_title, "none", "a title in double angular brackets, like <<title>>"),
    Check("paragraphs", check_paragraphs, "count", "exactly N paragraphs separated by blank lines", 2),
    Check("quotation", check_quotation, "none", "the whole answer wrapped in double quotes"),
    Check("placeholders", check_placeholders, "count", "at least N [placeholders] in square brackets", 2),
]}


def check_constraint(response: str, constraint: dict) -> bool:
    """Whether `response` meets one (already validated) constraint."""
    return CHECKS[constraint["kind"]].fn(response, constraint.get("value"))


def constraint_problems(constraint: object, where: str) -> list[Problem]:
    """Everything wrong with one constraint, each naming where it is, the bad value and the fix."""
    if not isinstance(constraint, dict) or not isinstance(constraint.get("kind"), str):
        return [Problem(where, f"is {short(constraint)}, not a constraint",
                        'write {"kind": "max_words", "value": 50}; kinds: ' + ", ".join(CHECKS))]
    kind = constraint["kind"]
    if kind not in CHECKS:
        return [Problem(f"{where}, field 'kind'", f"{kind!r} is not a known constraint",
                        "use one of: " + ", ".join(CHECKS))]
    problems = [Problem(f"{where}, field {key!r}", f"is not a field of a constraint ({short(constraint[key])})",
                        "keep only 'kind' and 'value'") for key in constraint if key not in ("kind", "value")]
    check = CHECKS[kind]
    fix = _value_fix(check)
    value = constraint.get("value")
    if not _value_ok(check.value, value):
        problems.append(Problem(f"{where}, field 'value'", f"is {short(value)} for kind {kind!r} ({check.asks})",
                                fix))
    return problems


def _value_ok(expected: ValueType, value: object) -> bool:
    if expected == "none":
        return value is None
    if expected == "count":
        return isinstance(value, int) and not isinstance(value, bool) and value >= 1
    if expected == "text":
        return isinstance(value, str) and bool(value.strip())
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) and v.strip() for v in value)


def _value_fix(check: Check) -> str:
    if check.value == "none":
        return f'drop the value: {{"kind": "{check.kind}"}}'
    wanted = {"count": "a whole number >= 1", "text": "a non-empty string",
              "texts": "a non-empty list of strings"}[check.value]
    example = json.dumps({"kind": check.kind, "value": check.example})
    return f"give {wanted}, e.g. {example}"
