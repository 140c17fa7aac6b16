"""What a stage is, as data: `StageSpec`, and building TRL's config from a stage's settings.

Every stage module declares one `SPEC`; `posttrain.stages` registers them, and the Trainer's
methods, YAML, `plan()`, `validate()`, the runner and the advisor's routing read that registry.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from posttrain.config import StageSettings
from posttrain.errors import Problem, short


@dataclass(frozen=True)
class StageSpec:
    """One kind of stage.

    `kind` is its one name: the Trainer method, the YAML `kind`, the folder suffix `NN-kind`.
    `trl_args(ctx, rows)` gives the TRL arguments the library sets; `run(ctx)` trains and saves;
    `check(settings, data, where)` returns stage-specific problems found before training."""

    kind: str
    summary: str
    settings: type[StageSettings]
    formats: tuple[Any, ...]                       # posttrain.data.DataFormat members
    trl_config: str                                # name of TRL's config class, e.g. "SFTConfig"
    default_lr: tuple[float, float]                # (full fine-tuning, LoRA)
    data_hint: str                                 # what rows look like, for errors and advice
    trl_args: Callable[[Any, int], dict[str, Any]]
    run: Callable[[Any], dict[str, Any]]
    check: Callable[[Any, Any, str], list[Problem]] | None = None
    aliases: tuple[str, ...] = ()

    def config_class(self) -> type:
        """TRL's config class for this stage."""
        return getattr(importlib.import_module("trl"), self.trl_config)

    def learning_rate(self, settings: StageSettings, lora: bool) -> float:
        """The rate given, else the default for this kind (LoRA trains few parameters from zero,
        so it takes rates about ten times higher)."""
        return settings.learning_rate or self.default_lr[1 if lora else 0]


# Bounds TRL's config classes do not check themselves: (test, what is allowed).
RANGES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "learning_rate": (lambda v: v > 0, "> 0"),
    "num_train_epochs": (lambda v: v > 0, "> 0"),
    "max_steps": (lambda v: v == -1 or v >= 1, ">= 1 (or -1 for epochs)"),
    "per_device_train_batch_size": (lambda v: v >= 1, ">= 1"),
    "gradient_accumulation_steps": (lambda v: v >= 1, ">= 1"),
    "warmup_steps": (lambda v: v >= 0, ">= 0"),
    "weight_decay": (lambda v: v >= 0, ">= 0"),
    "max_grad_norm": (lambda v: v >= 0, ">= 0"),
    "logging_steps": (lambda v: v > 0, "> 0"),
    "save_steps": (lambda v: v > 0, "> 0"),
    "max_length": (lambda v: v is None or v >= 1, ">= 1"),
    "max_completion_length": (lambda v: v >= 1, ">= 1"),
    "num_generations": (lambda v: v >= 2, ">= 2 (GRPO compares answers within a group)"),
    "temperature": (lambda v: v > 0, "> 0"),
    "beta": (lambda v: v >= 0, ">= 0"),
}


def check_trl_args(trl_args: dict[str, Any], config_class: type, where: str) -> list[Problem]:
    """Keys that TRL's config class does not have, and values outside the bounds in `RANGES`."""
    known = {f.name for f in dataclasses.fields(config_class)}
    problems = []
    for key, value in trl_args.items():
        if key not in known:
            close = difflib.get_close_matches(key, sorted(known), n=1)
            fix = f"did you mean '{close[0]}'?" if close else f"see the fields of trl.{config_class.__name__}"
            problems.append(Problem(f"{where}, trl_args key '{key}'",
                                    f"is not a field of trl.{config_class.__name__}", fix))
        elif key in RANGES:
            ok, allowed = RANGES[key]
            try:
                fine = ok(value)
            except TypeError:
                fine = False
            if not fine:
                problems.append(Problem(f"{where}, trl_args key '{key}'", f"got {short(value)}",
                                        f"use a value {allowed}"))
    return problems


def merged_trl_args(spec: StageSpec, ctx: Any, rows: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The keyword arguments for TRL's config: the library's, with the user's `trl_args` on top
    (the user's value wins). Returns (arguments, {key: (library value, user value)} overridden)."""
    ours = spec.trl_args(ctx, rows)
    user = ctx.settings.trl_args
    overridden = {k: (ours[k], v) for k, v in user.items() if k in ours and ours[k] != v}
    return {**ours, **user}, overridden


def build_trl_config(spec: StageSpec, ctx: Any, rows: int) -> Any:
    """TRL's config object for the stage (TRL checks its own fields here)."""
    arguments, _ = merged_trl_args(spec, ctx, rows)
    return spec.config_class()(**arguments)
