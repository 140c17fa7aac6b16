"""Pipelines as plain data: a Trainer to and from a dict (and so YAML)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from posttrain.config import settings_to_data
from posttrain.errors import ConfigError, Problem
from posttrain.stages import STAGES
from posttrain.trust import mark_named
from posttrain.yamlfile import read_yaml as read_file

TOP_LEVEL = {"model", "output_dir", "lora", "seed", "evals", "report_to", "stages"}


def read_yaml(path: str | Path) -> dict[str, Any]:
    """A pipeline's YAML file as a mapping."""
    return read_file(path, what="pipeline YAML", expect=dict, example="write keys model:, output_dir:, stages: [...]")


def trainer_to_dict(trainer: Any) -> dict[str, Any]:
    """Everything needed to rebuild the pipeline; in-memory datasets become inline rows."""
    spec: dict[str, Any] = {"model": trainer.model, "output_dir": str(trainer.output_dir), "seed": trainer.seed}
    if trainer.lora is not None:
        spec["lora"] = trainer.lora.model_dump()
    if trainer.evals is not None:
        spec["evals"] = trainer.evals.to_config()
    if trainer.report_to:
        spec["report_to"] = list(trainer.report_to)
    spec["stages"] = [_stage_to_dict(stage) for stage in trainer.stages]
    return spec


def _stage_to_dict(stage: Any) -> dict[str, Any]:
    return {"kind": stage.kind, "data": _data_to_yaml(stage.data),
            **settings_to_data(stage.settings, exclude_defaults=True)}


def _data_to_yaml(data: Any) -> Any:
    if isinstance(data, (str, Path)):
        return str(data)
    if hasattr(data, "rows"):               # posttrain.data.Data
        return list(data.rows)
    return [dict(row) for row in data]


def trainer_from_dict(cls: type, spec: dict[str, Any], base_dir: Path | None, trust_file: bool = False) -> Any:
    """A Trainer from a pipeline's data. Callables it names resolve only from the allow-list of
    `posttrain.trust` (the library's, and modules in `base_dir`) unless `trust_file`."""
    if not isinstance(spec, dict):
        raise ConfigError(Problem("pipeline", f"is a {type(spec).__name__}, not a mapping",
                                  "write keys model:, output_dir:, stages: [...]"))
    unknown = sorted(str(key) for key in set(spec) - TOP_LEVEL)
    if unknown:
        raise ConfigError([Problem(f"pipeline key '{key}'", "is not a pipeline setting",
                                   f"use only {sorted(TOP_LEVEL)}") for key in unknown])
    evals = spec.get("evals")
    if evals is not None:
        from posttrain.evals import EvalSuite

        evals = EvalSuite.from_config(evals, base_dir=base_dir)
    seed = spec.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ConfigError(Problem("pipeline key 'seed'", f"got {seed!r}", "use a whole number, e.g. seed: 0"))
    trainer = cls(spec.get("model", "default"), spec.get("output_dir", "runs/posttrain"),
                  lora=spec.get("lora"), seed=seed, evals=evals, report_to=spec.get("report_to"))
    stages = spec.get("stages") or []
    if not isinstance(stages, list):
        raise ConfigError(Problem("pipeline key 'stages'", f"is a {type(stages).__name__}, not a list",
                                  "write stages: [{kind: sft, data: ...}, ...]"))
    for index, stage in enumerate(stages, start=1):
        if not isinstance(stage, dict):
            raise ConfigError(Problem(f"stages[{index - 1}]", f"is a {type(stage).__name__}, not a mapping",
                                      "write each stage as {kind: sft, data: ..., <settings>}"))
        trainer = _add_stage(trainer, dict(stage), index, base_dir, trust_file)
    return trainer


def _add_stage(trainer: Any, stage: dict[str, Any], index: int, base_dir: Path | None, trust_file: bool) -> Any:
    kind = stage.pop("kind", None)
    if not isinstance(kind, str) or kind not in STAGES:
        raise ConfigError(Problem(f"stages[{index - 1}], 'kind'", f"got {kind!r}",
                                  f"use one of {', '.join(STAGES)}"))
    if "data" not in stage:
        raise ConfigError(Problem(f"stages[{index - 1}] ({kind})", "has no 'data'",
                                  "give a path to a data file or inline rows"))
    data = stage.pop("data")
    odd = [key for key in stage if not isinstance(key, str)]
    if odd:
        raise ConfigError(Problem(f"stages[{index - 1}] ({kind})", f"has non-text setting names {odd!r}",
                                  "name each setting, e.g. max_steps: 10"))
    if isinstance(data, str) and base_dir is not None and not Path(data).is_absolute():
        data = str(base_dir / data) if (base_dir / data).exists() else data
    # Text in the settings (and their lists) keeps the mark of this file, so any of it resolved as a
    # callable later passes the allow-list first; typed settings drop the mark when validated.
    marked = {key: value if key == "trl_args" else mark_named(value, base_dir, trust_file)
              for key, value in stage.items()}
    return trainer.add_stage(kind, data, **marked)
