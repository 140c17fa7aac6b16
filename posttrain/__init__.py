"""posttrain: post-training on TRL as one fluent, resumable, evaluated chain of eight methods: continued
pre-training (`pretrain`), supervised fine-tuning (`sft`), preference tuning (`dpo`, `kto`), online RL (`grpo`,
`rloo`) and distillation from a teacher (`distill`, `gkd`); a plug-in method registers with
`posttrain.stages.register`.

>>> from posttrain import Trainer, rewards
>>> run = (Trainer("default", output_dir="runs/math")
...        .sft("sft.jsonl").grpo("problems.jsonl", rewards=[rewards.math_accuracy]).run())

Heavy modules (torch, TRL) load on first use of a name that needs them.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "Trainer": "posttrain.pipeline.builder",
    "RunResult": "posttrain.pipeline.result",
    "StageResult": "posttrain.pipeline.result",
    "load_model": "posttrain.models",
    "load_tokenizer": "posttrain.models",
    "tiny_model": "posttrain.testing",
    "generate": "posttrain.generation",
    "load_data": "posttrain.data",
    "DataFormat": "posttrain.data",
    "PosttrainError": "posttrain.errors",
    "DataError": "posttrain.errors",
    "ConfigError": "posttrain.errors",
}
_SUBMODULES = {"rewards", "evals", "data", "models", "generation", "errors", "stages", "config", "testing"}

__all__ = sorted(_EXPORTS) + sorted(_SUBMODULES)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    if name in _SUBMODULES:
        return importlib.import_module(f"posttrain.{name}")
    raise AttributeError(f"module 'posttrain' has no attribute {name!r}")
