"""The one reader of YAML (and JSON) files for pipelines, eval suites and task specs: a missing
file, a syntax error or the wrong top level is a ConfigError naming the file and the fix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from posttrain.errors import ConfigError, Problem


def read_yaml(path: str | Path, what: str = "file", expect: type | tuple[type, ...] = dict,
              example: str = "") -> Any:
    """The parsed content of a YAML or .json file; `expect` is the type(s) its top level must have."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(Problem(str(path), f"{what} not found", "check the path"))
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError, UnicodeDecodeError) as err:
        raise ConfigError(Problem(str(path), f"cannot be parsed as {what}: {err}",
                                  "fix the YAML/JSON syntax")) from None
    if data is None and dict in (expect if isinstance(expect, tuple) else (expect,)):
        data = {}
    if not isinstance(data, expect):
        names = " or ".join(t.__name__ for t in (expect if isinstance(expect, tuple) else (expect,)))
        raise ConfigError(Problem(str(path), f"top level is {type(data).__name__}, not a {names}",
                                  example or "see the documentation of this file's format"))
    return data
