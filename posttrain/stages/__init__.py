"""The registry of stages: one `StageSpec` per stage module, under one name each.

The Trainer's methods, YAML pipelines, `plan()`, `validate()`, the runner and the advisor's
routing all read `STAGES`. Adding a stage is one module with a `SPEC` plus one line below.

>>> from posttrain.stages import get_stage
>>> get_stage("sft").trl_config
'SFTConfig'
"""

from __future__ import annotations

from typing import Any

from posttrain.config import StageSettings, problems_from_validation
from posttrain.errors import ConfigError, Problem
from posttrain.stages import dpo, grpo, kto, pretrain, sft
from posttrain.stages.spec import StageSpec

STAGES: dict[str, StageSpec] = {}


def register(spec: StageSpec) -> StageSpec:
    """Add a stage kind to the registry (its `kind` and aliases must be new)."""
    for name in (spec.kind, *spec.aliases):
        if name in STAGES or any(name in s.aliases for s in STAGES.values()):
            raise ValueError(f"stage name {name!r} is already registered")
    STAGES[spec.kind] = spec
    return spec


for _module in (pretrain, sft, dpo, grpo, kto):
    register(_module.SPEC)


def kinds() -> tuple[str, ...]:
    """The registered stage kinds, in registration order."""
    return tuple(STAGES)


def get_stage(name: str) -> StageSpec:
    """The stage registered as `name` (or under an alias, e.g. "cpt" for "pretrain")."""
    for spec in STAGES.values():
        if name == spec.kind or name in spec.aliases:
            return spec
    raise ConfigError(Problem(f"stage kind {name!r}", "is not a registered stage",
                              f"use one of {', '.join(STAGES)}"))


def make_settings(kind: str, where: str, /, **values: Any) -> StageSettings:
    """One stage's settings; every bad field is reported at once with its value and the fix."""
    from pydantic import ValidationError

    settings_class = get_stage(kind).settings
    try:
        return settings_class(**values)
    except ValidationError as err:
        raise ConfigError(problems_from_validation(err, where, settings_class)) from None


def stages_markdown() -> str:
    """The registered stages as a markdown table (docs/api.md holds this table; a test keeps it current)."""
    lines = ["| kind | what it trains | data | TRL config | default lr (full / LoRA) |", "|---|---|---|---|---|"]
    for spec in STAGES.values():
        names = f"`{spec.kind}`" + "".join(f" (alias `{a}`)" for a in spec.aliases)
        formats = ", ".join(f"`{f}`" for f in spec.formats)
        lines.append(f"| {names} | {spec.summary} | {formats} | `{spec.trl_config}` | "
                     f"{spec.default_lr[0]:g} / {spec.default_lr[1]:g} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(stages_markdown())
