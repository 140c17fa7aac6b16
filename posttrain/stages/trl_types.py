"""Whether a `trl_args` value has the type its TRL config field is annotated with.

TRL's config dataclasses do not check types, so `packing: "yes"` would reach the trainer as a truthy
string. Only simple annotations are checked (bool, int, float, str, None, Literal and unions of them,
an enum taken as its values' text); any other annotation accepts every value.

>>> wrong_type("yes", bool)
'a bool (true/false)'
>>> wrong_type(512, int | None) is None
True
"""

from __future__ import annotations

import enum
import types
import typing
from typing import Any

from posttrain.errors import Problem, short

SIMPLE = {bool: "a bool (true/false)", int: "an int (a whole number)", float: "a number", str: "a string",
          type(None): "null"}


def type_problem(where: str, value: object, annotation: Any) -> Problem | None:
    """The problem of a value whose type does not fit its field's annotation, with the fix; None when
    it fits (or the annotation is not simple enough to check)."""
    expected = wrong_type(value, annotation)
    if expected is None:
        return None
    fix = f"give {expected}, unquoted in YAML"
    if isinstance(value, str) and "number" in expected and _number(value):
        fix += f" (YAML reads {value} as text; write it with a decimal point, e.g. 1.0e-5 for 1e-5)"
    return Problem(where, f"got {short(value)}, expected {expected}", fix)


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def wrong_type(value: object, annotation: Any) -> str | None:
    """What `annotation` expects, in words, when `value` does not fit it; None when it fits or cannot
    be checked."""
    accepts = _accepts(annotation)
    if accepts is None:
        return None
    check, expected = accepts
    return None if check(value) else expected


def _accepts(annotation: Any) -> tuple[Any, str] | None:
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        choices = typing.get_args(annotation)
        return (lambda value: value in choices), "one of " + ", ".join(map(repr, choices))
    if origin in (typing.Union, types.UnionType):
        found = [_accepts(member) for member in typing.get_args(annotation)]
        parts = [part for part in found if part is not None]
        if len(parts) < len(found):
            return None
        return (lambda value: any(check(value) for check, _ in parts)), " or ".join(text for _, text in parts)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        values = [member.value for member in annotation]
        return (lambda value: value in values or isinstance(value, annotation)), "one of " + ", ".join(map(repr, values))
    if annotation in SIMPLE:
        return _simple(annotation), SIMPLE[annotation]
    return None


def _simple(kind: type) -> Any:
    if kind is bool:
        return lambda value: isinstance(value, bool)
    if kind is int:
        return lambda value: isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return lambda value: isinstance(value, (int, float)) and not isinstance(value, bool)
    return lambda value: isinstance(value, kind)
