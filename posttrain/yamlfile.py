"""The one reader of YAML (and JSON) files for pipelines, eval suites and task specs: a missing
file, a syntax error or the wrong top level is a ConfigError naming the file and the fix."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from posttrain.errors import ConfigError, Problem

# YAML 1.2's floats that PyYAML (YAML 1.1) reads as text: `1e-5`, `5E-6` (an exponent without a
# decimal point), `-.5e2`; so `learning_rate: 1e-5` reaches a setting as a number. Only these forms:
# `0099` stays text, as before.
FLOAT_12 = re.compile(r"""^(?:[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+
                          |[-+]?\.[0-9_]+(?:[eE][-+]?[0-9]+)?)$""", re.VERBOSE)


class SafeLoader12(yaml.SafeLoader):
    """PyYAML's SafeLoader (no Python objects), resolving YAML 1.2 floats (`1e-5`, `5E-6`, `.5`) as
    floats; whole numbers stay ints (the int resolver is tried first)."""


SafeLoader12.add_implicit_resolver("tag:yaml.org,2002:float", FLOAT_12, list("-+0123456789."))


def load_yaml_text(text: str) -> Any:
    """YAML text parsed safely, with YAML 1.2 floats (`1e-5` is 0.00001, not "1e-5")."""
    return yaml.load(text, Loader=SafeLoader12)


def parse_file(path: Path) -> Any:
    """A YAML or .json file parsed (UTF-8, a byte-order mark allowed); the parsers' errors pass through."""
    with path.open(encoding="utf-8-sig", newline="") as handle:      # positions as the file has them
        text = handle.read()
    return json.loads(text) if path.suffix.lower() == ".json" else load_yaml_text(text)


def syntax_problem(path: Path, err: Exception, what: str = "file") -> Problem:
    """A parser's error as a Problem naming the file, line and column (the parser's own positions; PyYAML,
    given text, would name "<unicode string>")."""
    if isinstance(err, json.JSONDecodeError):
        where, message = f"{path}, line {err.lineno}, column {err.colno}", err.msg
    elif isinstance(err, yaml.MarkedYAMLError) and err.problem_mark is not None:
        mark = err.problem_mark
        context = f" ({err.context} at line {err.context_mark.line + 1}, column {err.context_mark.column + 1})" \
            if err.context and err.context_mark is not None else ""
        where, message = f"{path}, line {mark.line + 1}, column {mark.column + 1}", f"{err.problem}{context}"
    elif isinstance(err, UnicodeDecodeError):
        where, message = str(path), f"is not UTF-8 text (byte {err.object[err.start]:#04x} at offset {err.start})"
        return Problem(where, message, "save the file as UTF-8")
    else:
        where, message = str(path), str(err)
    return Problem(where, f"cannot be parsed as {what}: {message}", "fix the YAML/JSON syntax there")


def read_yaml(path: str | Path, what: str = "file", expect: type | tuple[type, ...] = dict,
              example: str = "") -> Any:
    """The parsed content of a YAML or .json file; `expect` is the type(s) its top level must have."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(Problem(str(path), f"{what} not found", "check the path"))
    try:
        data = parse_file(path)
    except (json.JSONDecodeError, yaml.YAMLError, UnicodeDecodeError) as err:
        raise ConfigError(syntax_problem(path, err, what)) from None
    if data is None and dict in (expect if isinstance(expect, tuple) else (expect,)):
        data = {}
    if not isinstance(data, expect):
        names = " or ".join(t.__name__ for t in (expect if isinstance(expect, tuple) else (expect,)))
        raise ConfigError(Problem(str(path), f"top level is {type(data).__name__}, not a {names}",
                                  example or "see the documentation of this file's format"))
    return data
