"""The registry of stages: one `StageSpec` per stage module, under one name each.

The Trainer's methods, YAML pipelines, `plan()`, `validate()`, the runner and the advisor's
routing all read `STAGES`. Adding a stage is one module with a `SPEC` plus one line below.

>>> from posttrain.stages import get_stage
>>> get_stage("sft").trl_config
'SFTConfig'
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from posttrain.config import StageSettings, problems_from_validation
from posttrain.data.formats import DataFormat, set_method_hint
from posttrain.errors import ConfigError, Problem
from posttrain.stages import distill, dpo, gkd, grpo, kto, pretrain, rloo, sft
from posttrain.stages.spec import StageSpec

if TYPE_CHECKING:
    from posttrain.device import Choices, DeviceProfile

STAGES: dict[str, StageSpec] = {}


def register(spec: StageSpec) -> StageSpec:
    """Add a stage kind to the registry (its `kind` and aliases must be new)."""
    for name in {spec.kind, spec.advisor_name, *spec.aliases}:
        if find_stage(name) is not None:
            raise ValueError(f"stage name {name!r} is already registered")
    STAGES[spec.kind] = spec
    return spec


def unregister(kind: str) -> StageSpec:
    """Remove a registered kind (a plug-in method's tests register and remove their own)."""
    return STAGES.pop(get_stage(kind).kind)


def holds_reference_copy(settings: StageSettings, lora: bool) -> bool:
    """Whether a stage keeps a frozen copy of its input model in memory (its method's `Cost.reference_copy`):
    DPO and KTO without precomputed reference log-probs, GRPO with a KL term; never under LoRA."""
    return get_stage(settings.kind).cost.reference_copy(settings, lora)


def tokens_per_pass(settings: StageSettings, cuda: bool) -> int:
    """Tokens whose activations one forward/backward pass of a stage holds, at most (its method's
    `Cost.tokens_per_pass`: DPO runs each pair's chosen and rejected answers in one batch; GRPO trains
    a step's completions in micro-batches, with the gradients accumulated)."""
    return get_stage(settings.kind).cost.tokens_per_pass(settings, cuda)


def stage_choices(model: str, settings: StageSettings, lora: bool, device: DeviceProfile | None = None) -> Choices:
    """Weights, precision, optimizer, checkpointing and the rest of `Choices` for a stage of `model` (a folder,
    "default" or a hub id; its size read from its files) on `device` (default: this machine's), as `plan()`
    works them out (`StageSpec.choose`)."""
    from posttrain.device import DeviceProfile, model_size
    from posttrain.errors import PosttrainError
    from posttrain.models import resolve

    try:
        params, shape = model_size(resolve(model))
    except PosttrainError:
        params, shape = None, {}
    return get_stage(settings.kind).choose(settings, device or DeviceProfile.detect(), params, shape, lora=lora)


def kinds() -> tuple[str, ...]:
    """The registered stage kinds, in registration order."""
    return tuple(STAGES)


def find_stage(name: str) -> StageSpec | None:
    """The stage registered as `name` (its kind, an alias or the advisor's name), or None."""
    for spec in STAGES.values():
        if name in (spec.kind, spec.advisor_name) or name in spec.aliases:
            return spec
    return None


def by_order() -> list[StageSpec]:
    """The registered methods in the order a chain runs them (`Advice.order`, then registration)."""
    return sorted(STAGES.values(), key=lambda spec: spec.advice.order)


def stage_for_format(fmt: object) -> StageSpec | None:
    """The method the advisor routes a dataset of format `fmt` to: the one registered last among those
    whose `Advice.claims` name it; None when no method claims it."""
    claimed = [spec for spec in STAGES.values() if str(fmt) in {str(f) for f in spec.advice.claims}]
    return claimed[-1] if claimed else None


def get_stage(name: str) -> StageSpec:
    """The stage registered as `name` (or under an alias, e.g. "cpt" for "pretrain")."""
    spec = find_stage(name)
    if spec is not None:
        return spec
    raise ConfigError(Problem(f"stage kind {name!r}", "is not a registered stage",
                              f"use one of {', '.join(STAGES)}"))


for _module in (pretrain, sft, dpo, grpo, kto, rloo, distill, gkd):
    register(_module.SPEC)

BUILT_IN: tuple[str, ...] = tuple(STAGES)         # the methods this package registers (typed Trainer entries)


def _method_hint(fmt: DataFormat) -> str | None:
    """How to train on a format: the method that claims it (`stage_for_format`), for data errors."""
    spec = stage_for_format(fmt)
    return None if spec is None else f".{spec.kind}(data) (YAML kind: {spec.kind}): {spec.summary}"


set_method_hint(_method_hint)


def make_settings(kind: str, where: str, /, **values: object) -> StageSettings:
    """One stage's settings; every bad field is reported at once with its value and the fix."""
    from pydantic import ValidationError

    settings_class: type[StageSettings] = get_stage(kind).settings
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

