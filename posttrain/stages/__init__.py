"""One module per stage; this registry maps a stage `kind` to its module.

Each stage module exposes `SETTINGS` (its pydantic settings class), `FORMATS` (the data formats
it takes), `TRL_CONFIG` (the name of TRL's config class that `trl_args` is checked against) and
`run(ctx) -> {"metrics", "history"}`.
"""

from __future__ import annotations

import importlib
from types import ModuleType

KINDS = ("pretrain", "sft", "dpo", "grpo")


def stage_module(kind: str) -> ModuleType:
    """The module implementing stage `kind`."""
    if kind not in KINDS:
        raise KeyError(f"unknown stage kind {kind!r}; known: {', '.join(KINDS)}")
    return importlib.import_module(f"posttrain.stages.{kind}")
