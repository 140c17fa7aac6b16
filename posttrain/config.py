"""Typed, strict settings for each stage, and LoRA.

Every stage shares the training-loop settings of `StageSettings`; each method adds its own
(`beta` exists only on the preference and RL stages) in a class whose `kind` names the stage.
Anything else TRL's own config class takes goes in `trl_args`, checked by that class in
`validate()`. Which settings class belongs to which stage is kept in the registry
(`posttrain.stages`).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import ErrorDetails

from posttrain.errors import ConfigError, Problem, short
from posttrain.trust import resolve_named


S = TypeVar("S", bound="StageSettings")

class LoraSettings(BaseModel):
    """A LoRA adapter trained per stage, then merged so the next stage gets a full model."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    r: int = Field(16, gt=0, description="Rank of the update matrices.")
    alpha: int = Field(32, gt=0, description="Scaling numerator (update scaled by alpha / r).")
    dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: str | list[str] = Field("all-linear", description="Modules to adapt.")
    quantize: Literal["nf4"] | None = Field(
        None, description="'nf4': QLoRA, the adapter trained over the input model loaded in 4-bit NF4 "
        "(bitsandbytes, a CUDA GPU), then merged into the unquantized model (posttrain.qlora).")


class MixSource(BaseModel):
    """Other data mixed into a stage (`posttrain.data.mix`): `share` of the rows the stage trains on are drawn
    from `data` (a file path or rows, of the stage data's format)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    data: str | list[dict[str, object]] = Field(..., description="A file path or rows, in the stage data's format.")
    share: float = Field(..., gt=0, lt=1, description="Fraction of the stage's rows drawn from this data.")

    @field_validator("data", mode="before")
    @classmethod
    def _path_as_text(cls, value: object) -> Any:
        return str(value) if isinstance(value, Path) else value


class StageSettings(BaseModel):
    """Settings every stage has: the training loop, precision and LoRA."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: str = Field("", description="The stage kind; each method's settings class fixes it.")
    epochs: float = Field(1.0, gt=0, description="Passes over the data (ignored when max_steps is set).")
    max_steps: int | None = Field(None, gt=0, description="Stop after this many optimizer steps.")
    learning_rate: float | None = Field(None, gt=0, description="None: a default that suits the stage "
                                        "and whether LoRA is on (its StageSpec.default_lr).")
    batch_size: int = Field(4, gt=0, description="Examples per device per step.")
    grad_accum: int = Field(1, gt=0, description="Steps accumulated into one optimizer step.")
    max_length: int = Field(512, gt=0, description="Tokens kept per example (prompt + answer).")
    lr_scheduler: Literal["linear", "cosine", "constant", "constant_with_warmup"] = "linear"
    warmup_ratio: float = Field(0.0, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0)
    lora: LoraSettings | bool | None = Field(None, description="None: use the Trainer's setting.")
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field(
        "auto", description="auto: bf16 autocast where the hardware computes bf16 natively (recent GPUs, "
        "CPUs with AMX or AVX512-BF16), else fp32.")
    weights: Literal["auto", "fp32", "bf16"] = Field(
        "auto", description="dtype the model is trained in. auto: bf16 on a bf16 GPU (full fine-tuning then "
        "uses AdamW with Kahan summation for fp32-quality updates), fp32 on CPU (see posttrain.device).")
    optimizer: Literal["auto", "adamw_torch_fused", "adamw_kahan", "adamw_8bit_sr"] = Field(
        "auto", description="auto: see posttrain.device. adamw_kahan: AdamW with Kahan summation (torch-optimi); "
        "adamw_8bit_sr: 8-bit AdamW moments with bf16 stochastic rounding (torchao); adamw_torch_fused: "
        "PyTorch's AdamW. `trl_args={'optim': ...}` picks any of transformers' optimizers instead.")
    gradient_checkpointing: bool | None = Field(
        None, description="Trade compute for memory. None: on only when the estimated peak would not fit the GPU.")
    lean_layers: bool | None = Field(
        None, description="RMSNorm and SwiGLU keep fewer activations for the backward pass (posttrain.lean; same "
        "computation, gradients within bf16 rounding under autocast). None: on for CPU training in fp32 weights.")
    save_steps: int | None = Field(None, gt=0, description="Checkpoint interval; None: about 4 per stage.")
    logging_steps: int = Field(1, gt=0)
    trl_args: dict[str, object] = Field(default_factory=dict, description="Any other field of TRL's config.")
    mix: list[MixSource] = Field(default_factory=list, description="Other data mixed in, each a share of the "
                                 "stage's rows, e.g. [{'data': 'general.jsonl', 'share': 0.2}] to replay general "
                                 "data while a new skill is trained (posttrain.data.mix).")

    @field_validator("mix")
    @classmethod
    def _shares_leave_room(cls, value: list[MixSource]) -> list[MixSource]:
        total = sum(source.share for source in value)
        if total >= 1:
            raise ValueError(f"the shares add up to {total:g}, leaving none of the rows to the stage's own data; "
                             "fix: make the shares add up to less than 1 (e.g. 0.2 for a replay share)")
        return value


def settings_as(settings: StageSettings, kind: type[S]) -> S:
    """`settings` as a method's settings class (a plug-in's subclass of it passes); a stage handed another
    method's settings is a bug in the caller, not in the user's input."""
    if not isinstance(settings, kind):
        raise TypeError(f"a {type(settings).__name__} stage ran code written for {kind.__name__}")
    return settings


def problems_from_validation(err: ValidationError, where: str, model: type[BaseModel]) -> list[Problem]:
    """pydantic's errors as problems a person can act on: the field, the bad value, the fix."""
    return [_problem(where, model, e) for e in err.errors()]


def _problem(where: str, model: type[BaseModel], error: ErrorDetails) -> Problem:
    field = ".".join(str(p) for p in error["loc"]) or "settings"
    if error["type"] == "extra_forbidden":
        known = [f for f in model.model_fields if f != "kind"]
        close = difflib.get_close_matches(str(error["loc"][0]), known, n=1)
        hint = f"did you mean '{close[0]}'?" if close else f"it takes: {', '.join(known)}"
        extra = " Fields of TRL's own config go in trl_args={...}" if issubclass(model, StageSettings) else ""
        return Problem(f"{where}, setting '{field}'", f"unknown setting (got {short(error.get('input'))})",
                       hint + extra)
    message, _, fix = error["msg"].removeprefix("Value error, ").partition("; fix: ")
    return Problem(f"{where}, setting '{field}'", f"{message} (got {short(error.get('input'))})",
                   fix or f"see the field's description in {model.__module__}.{model.__name__}")


def resolve_lora(value: object, where: str) -> LoraSettings | None:
    """LoRA from what a user writes: None/False (full fine-tuning), True (defaults), a dict or settings."""
    if value is None or value is False:
        return None
    if value is True:
        return LoraSettings()
    if isinstance(value, LoraSettings):
        return value
    if isinstance(value, dict):
        odd = [key for key in value if not isinstance(key, str)]
        if odd:
            raise ConfigError(Problem(where, f"has setting names that are not text: {odd!r}",
                                      "LoRA takes r, alpha, dropout, target_modules, quantize"))
        try:
            return LoraSettings(**value)
        except ValidationError as err:
            raise ConfigError(problems_from_validation(err, where, LoraSettings)) from None
    raise ConfigError(Problem(where, f"got {short(value)}", "use True, False, or a dict like {'r': 16}"))


def stage_lora(default: LoraSettings | None, settings: StageSettings, where: str) -> LoraSettings | None:
    """A stage's LoRA: its own setting when given, else the pipeline's `default`."""
    return default if settings.lora is None else resolve_lora(settings.lora, f"{where}, setting 'lora'")


def settings_to_data(settings: StageSettings, exclude_defaults: bool = False, strict: bool = True) -> dict[str, Any]:
    """Settings as plain data (for YAML, records and keys): functions become dotted import paths.

    `strict`: a function that cannot be imported back (a lambda, a local function) is an error, as
    YAML needs; otherwise it is written as `module.qualname` for the record."""
    data = settings.model_dump(exclude_defaults=exclude_defaults, exclude={"kind"})
    return {key: _portable(value, strict) for key, value in data.items()}


def _portable(value: object, strict: bool) -> Any:
    if isinstance(value, (list, tuple)):
        return [_portable(v, strict) for v in value]
    if isinstance(value, dict):
        return {k: _portable(v, strict) for k, v in value.items()}
    if callable(value):
        return callable_path(value) if strict else f"{value.__module__}.{getattr(value, '__qualname__', type(value).__qualname__)}"
    return str(value) if isinstance(value, str) else value      # a path named in a file is plain text again


def resolve_callable(spec: object, where: str) -> Callable:
    """A function given directly, or by dotted import path ('package.module.name').

    A path must name a Python function defined with `def` (or a partial of one, or an instance of a
    class with `__call__`) in an importable module: builtins such as `os.system`, classes and modules
    are refused. A path read from a pipeline file resolves only from an allow-list unless its reader
    trusts the file (`posttrain.trust`)."""
    if callable(spec):
        return spec
    return resolve_named(spec if isinstance(spec, str) else str(spec), where)


def resolve_factory(spec: object, where: str) -> Callable:
    """An environment factory given directly (a class or a function) or by dotted import path; under the
    same rules as `resolve_callable`, except that a class is accepted."""
    if callable(spec):
        return spec
    return resolve_named(spec if isinstance(spec, str) else str(spec), where, factory=True)


def callable_path(fn: Callable) -> str:
    """The dotted import path of a module-level function (for YAML); raises if it has none."""
    module, name = getattr(fn, "__module__", None), getattr(fn, "__qualname__", "")
    if not module or "<" in name or module == "__main__":
        raise ConfigError(Problem(f"reward {getattr(fn, '__name__', fn)!r}", "cannot be written to YAML: "
                                  "it is not importable (a lambda, a local or __main__ function)",
                                  "define it at module level in an importable module"))
    return f"{module}.{name}"
