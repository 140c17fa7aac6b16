"""Looking before running: the plan of a pipeline, and the check of everything in it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from posttrain.errors import ConfigError, DataError, PosttrainError, Problem, ProblemsError


@dataclass(frozen=True)
class PlannedStage:
    """One line of a plan."""

    index: int
    kind: str
    data: str
    output_dir: Path
    lora: bool
    settings: dict[str, Any]

    @property
    def name(self) -> str:
        return self.output_dir.name


@dataclass(frozen=True)
class Plan:
    """The stages a Trainer will run, in order, with the model each starts from."""

    model: str
    output_dir: Path
    stages: list[PlannedStage]
    evals: list[str]

    @classmethod
    def of(cls, trainer: Any) -> Plan:
        from posttrain.trainer import stage_lora

        stages = [PlannedStage(i, s.kind, s.data_label, stage_dir(trainer.output_dir, i, s.kind),
                               stage_lora(trainer, s) is not None,
                               s.settings.model_dump(exclude_defaults=True, exclude={"kind"}))
                  for i, s in enumerate(trainer.stages, start=1)]
        evals = [e.name for e in trainer.evals.evals] if trainer.evals is not None else []
        return cls(trainer.model, Path(trainer.output_dir), stages, evals)

    def __str__(self) -> str:
        lines = [f"model: {self.model}  ->  {self.output_dir}"]
        source = self.model
        for s in self.stages:
            shown = {k: (getattr(v, "__name__", v) if k != "rewards" else [getattr(f, "__name__", f) for f in v])
                     for k, v in s.settings.items()}
            lines.append(f"  {s.index}. {s.kind:<8} data={s.data}  from={source}  lora={s.lora}  {shown}")
            source = str(s.output_dir / "model")
        if self.evals:
            lines.append(f"  evals before and after each stage: {', '.join(self.evals)}")
        return "\n".join(lines)

    def __rich__(self):
        from rich.table import Table

        table = Table(title=f"{self.model} -> {self.output_dir}")
        for column in ("#", "stage", "data", "LoRA", "settings"):
            table.add_column(column)
        for s in self.stages:
            table.add_row(str(s.index), s.kind, s.data, "yes" if s.lora else "no",
                          ", ".join(f"{k}={getattr(v, '__name__', v)}" for k, v in s.settings.items()))
        return table


def stage_dir(output_dir: Path, index: int, kind: str) -> Path:
    """A stage's folder: `output_dir/NN-kind`."""
    return Path(output_dir) / f"{index:02d}-{kind}"


def check_pipeline(trainer: Any) -> list:
    """Every problem of every stage, gathered into one error; returns each stage's checked Data."""
    from posttrain.data import load_data
    from posttrain.stages import stage_module

    problems: list[Problem] = []
    if not trainer.stages:
        problems.append(Problem("pipeline", "has no stages", "chain .sft(...), .dpo(...), .grpo(...) or "
                                ".pretrain(...) before run()"))
    problems += _check_model(trainer.model)
    loaded = []
    for index, stage in enumerate(trainer.stages, start=1):
        where = f"stage {index} ({stage.kind})"
        module = stage_module(stage.kind)
        try:
            data = load_data(stage.data, expect=module.FORMATS, name=f"{where} data {stage.data_label}")
        except DataError as err:
            problems += err.problems
            data = None
        loaded.append(data)
        problems += _check_settings(stage, module, where)
        if stage.kind == "grpo" and data is not None:
            problems += _check_rewards(stage, data, where)
    if problems:
        raise ConfigError(problems, title="the pipeline cannot run")
    return loaded


def _check_model(model: str) -> list[Problem]:
    from posttrain.models import resolve

    try:
        resolve(model)
    except PosttrainError as err:
        return [Problem(f"model {model!r}", str(err))]
    return []


def _check_settings(stage: Any, module: Any, where: str) -> list[Problem]:
    import trl

    from posttrain.config import check_trl_args

    problems = check_trl_args(stage.settings.trl_args, getattr(trl, module.TRL_CONFIG), where)
    if stage.kind == "grpo":
        problems += module.check_vllm(stage.settings, where)
    return problems


def _check_rewards(stage: Any, data: Any, where: str) -> list[Problem]:
    """Resolve each reward function and try it on the first row with a sample answer, so a missing
    column or a wrong signature shows up now rather than after the first generation."""
    from posttrain.stages.grpo import reward_functions

    try:
        functions = reward_functions(stage.settings, where)
    except ProblemsError as err:
        return err.problems
    row = data.rows[0]
    columns = {k: [v] for k, v in row.items() if k != "prompt"}
    problems = []
    for fn in functions:
        try:
            scores = fn(completions=["42"], prompts=[row["prompt"]], **columns)
        except Exception as err:  # noqa: BLE001 - any failure of user code is reported, not raised
            problems.append(Problem(f"{where}, reward {getattr(fn, '__name__', fn)!r}",
                                    f"fails on row 1 ({type(err).__name__}: {err})",
                                    f"rewards receive completions and the columns {sorted(columns)}; "
                                    "fix the function or the data columns"))
            continue
        if not isinstance(scores, (list, tuple)) or len(scores) != 1:
            problems.append(Problem(f"{where}, reward {getattr(fn, '__name__', fn)!r}",
                                    f"returned {scores!r} for 1 completion",
                                    "return a list with one float (or None) per completion"))
    return problems
