"""Pipelines as plain data: a Trainer to and from a dict (and so YAML)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from posttrain.config import callable_path
from posttrain.errors import ConfigError, Problem

TOP_LEVEL = {"model", "output_dir", "lora", "seed", "evals", "stages"}


def read_yaml(path: str | Path) -> dict[str, Any]:
    import yaml

    path = Path(path)
    if not path.exists():
        raise ConfigError(Problem(str(path), "file not found", "check the pipeline's path"))
    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ConfigError(Problem(str(path), f"invalid YAML: {err}", "fix the YAML syntax")) from None
    if not isinstance(spec, dict):
        raise ConfigError(Problem(str(path), f"top level is {type(spec).__name__}, not a mapping",
                                  "write keys model:, output_dir:, stages: [...]"))
    return spec


def trainer_to_dict(trainer: Any) -> dict[str, Any]:
    """Everything needed to rebuild the pipeline; in-memory datasets become inline rows."""
    spec: dict[str, Any] = {"model": trainer.model, "output_dir": str(trainer.output_dir), "seed": trainer.seed}
    if trainer.lora is not None:
        spec["lora"] = trainer.lora.model_dump()
    if trainer.evals is not None:
        spec["evals"] = trainer.evals.to_config()
    spec["stages"] = [_stage_to_dict(stage) for stage in trainer.stages]
    return spec


def _stage_to_dict(stage: Any) -> dict[str, Any]:
    settings = stage.settings.model_dump(exclude_defaults=True, exclude={"kind", "rewards"})
    out: dict[str, Any] = {"kind": stage.kind, "data": _data_to_yaml(stage.data), **settings}
    if stage.kind == "grpo":
        out["rewards"] = [r if isinstance(r, str) else callable_path(r) for r in stage.settings.rewards]
    return out


def _data_to_yaml(data: Any) -> Any:
    if isinstance(data, (str, Path)):
        return str(data)
    if hasattr(data, "rows"):               # posttrain.data.Data
        return list(data.rows)
    return [dict(row) for row in data]


def trainer_from_dict(cls: type, spec: dict[str, Any], base_dir: Path | None) -> Any:
    unknown = sorted(set(spec) - TOP_LEVEL)
    if unknown:
        raise ConfigError([Problem(f"pipeline key '{key}'", "is not a pipeline setting",
                                   f"use only {sorted(TOP_LEVEL)}") for key in unknown])
    evals = spec.get("evals")
    if evals is not None:
        from posttrain.evals import EvalSuite

        evals = EvalSuite.from_config(evals, base_dir=base_dir)
    trainer = cls(spec.get("model", "default"), spec.get("output_dir", "runs/posttrain"),
                  lora=spec.get("lora"), seed=spec.get("seed", 0), evals=evals)
    for index, stage in enumerate(spec.get("stages") or [], start=1):
        trainer = _add_stage(trainer, dict(stage), index, base_dir)
    return trainer


def _add_stage(trainer: Any, stage: dict[str, Any], index: int, base_dir: Path | None) -> Any:
    kind = stage.pop("kind", None)
    if kind not in {"pretrain", "sft", "dpo", "grpo"}:
        raise ConfigError(Problem(f"stages[{index - 1}], 'kind'", f"got {kind!r}",
                                  "use one of pretrain, sft, dpo, grpo"))
    if "data" not in stage:
        raise ConfigError(Problem(f"stages[{index - 1}] ({kind})", "has no 'data'",
                                  "give a path to a data file or inline rows"))
    data = stage.pop("data")
    if isinstance(data, str) and base_dir is not None and not Path(data).is_absolute():
        data = str(base_dir / data) if (base_dir / data).exists() else data
    return getattr(trainer, kind)(data, **stage)
