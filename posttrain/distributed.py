"""What the launcher asked for, checked against this machine before anything trains.

`accelerate launch --config_file ...` hands its config to every process as environment variables
(`ACCELERATE_USE_DEEPSPEED`, `ACCELERATE_DEEPSPEED_ZERO_STAGE`, `ACCELERATE_USE_FSDP`, ...), which
transformers and accelerate read when a stage builds TRL's config. A DeepSpeed (ZeRO) config is checked
here, so `validate()` names it and the fix instead of failing inside TRL's config (or later, in training):

- DeepSpeed must be installed (`pip install deepspeed`); with it installed, building each stage's TRL
  config in `validate()` builds accelerate's DeepSpeed plugin from the same variables, which checks the
  ZeRO settings themselves;
- DeepSpeed needs GPUs: on a CPU-only machine accelerate does not start it;
- a DeepSpeed JSON config named by the launcher (`deepspeed_config_file`) must exist.

An FSDP config on GPUs must save full state dicts (`fsdp_state_dict_type: FULL_STATE_DICT`): each stage
hands the next its saved model, and under FSDP the trainer writes a model's weights only from a full one.

FSDP is not refused on CPUs: accelerate (1.16) takes its FSDP path only on GPUs and other accelerators and
runs the same launch as plain data-parallel (DDP over gloo) on CPUs, which each stage records as
`metrics.distributed_type` in `stage.json` (docs/scaling.md, "What is tested where").
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import TYPE_CHECKING

from posttrain.errors import Problem

if TYPE_CHECKING:
    from posttrain.device import DeviceProfile


def _flag(name: str) -> bool:
    return os.environ.get(name, "false").strip().lower() in ("1", "true", "yes")


def deepspeed_requested() -> bool:
    """Whether the launcher's config asks for DeepSpeed (accelerate's `distributed_type: DEEPSPEED`)."""
    return _flag("ACCELERATE_USE_DEEPSPEED")


def launcher_problems(device: DeviceProfile) -> list[Problem]:
    """Why the launcher's distributed config cannot run here (empty when it can, or none was given)."""
    return _fsdp_problems(device) + _deepspeed_problems(device)


def _fsdp_problems(device: DeviceProfile) -> list[Problem]:
    """FSDP (on GPUs) must save full state dicts: transformers' `Trainer.save_model` writes a model's weights
    under FSDP only with FULL_STATE_DICT (checked on transformers 5.24), and each stage hands the next one
    its saved model. FSDP2's default is SHARDED_STATE_DICT."""
    if not _flag("ACCELERATE_USE_FSDP") or device.kind != "cuda":
        return []
    default = "FULL_STATE_DICT" if os.environ.get("FSDP_VERSION", "1").strip() == "1" else "SHARDED_STATE_DICT"
    kind = os.environ.get("FSDP_STATE_DICT_TYPE", default).strip().upper()
    if kind == "FULL_STATE_DICT":
        return []
    return [Problem(f"launcher (accelerate config with distributed_type FSDP, fsdp_state_dict_type {kind})",
                    "would save no weights at the end of a stage (under FSDP the trainer writes the model only "
                    "from a full state dict), so the next stage would have no model to start from",
                    "set fsdp_state_dict_type: FULL_STATE_DICT in the accelerate config "
                    "(as examples/accelerate/fsdp.yaml does)")]


def _deepspeed_problems(device: DeviceProfile) -> list[Problem]:
    if not deepspeed_requested():
        return []
    stage = os.environ.get("ACCELERATE_DEEPSPEED_ZERO_STAGE")
    config_file = os.environ.get("ACCELERATE_DEEPSPEED_CONFIG_FILE", "").strip()
    named = f"ZeRO stage {stage}" if stage else f"config file {config_file!r}" if config_file else "DeepSpeed"
    where = f"launcher (accelerate config with distributed_type DEEPSPEED, {named})"
    problems = []
    if importlib.util.find_spec("deepspeed") is None:
        problems.append(Problem(where, "needs DeepSpeed, which is not installed",
                                "pip install deepspeed on the GPU machine, or launch with "
                                "examples/accelerate/ddp.yaml (or fsdp.yaml) instead"))
    if device.kind != "cuda":
        problems.append(Problem(where, f"runs on GPUs only; accelerate does not start DeepSpeed on this machine "
                                f"({device.describe()})", "launch it on GPUs; on CPUs use torchrun or "
                                "examples/accelerate/ddp.yaml"))
    if config_file and not Path(config_file).is_file():
        problems.append(Problem(where, f"names the DeepSpeed config file {config_file!r}, which does not exist",
                                "fix deepspeed_config_file in the accelerate config"))
    return problems
