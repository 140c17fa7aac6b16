"""Looking before running: the plan of a pipeline, and the check of everything in it."""

from __future__ import annotations

import importlib.util

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from posttrain.config import stage_lora
from posttrain.errors import ConfigError, DataError, PosttrainError, Problem, ProblemsError
from posttrain.stages import get_stage, holds_reference_copy
from posttrain.stages.common import StageContext
from posttrain.stages.spec import build_trl_config, check_trl_args, merged_trl_args


@dataclass(frozen=True)
class PlannedStage:
    """One line of a plan."""

    index: int
    kind: str
    data: str
    output_dir: Path
    lora: bool
    settings: dict[str, Any]
    trl_overrides: dict[str, Any] = field(default_factory=dict)   # key -> (library value, user value)
    choices: Any = None                                           # posttrain.device.Choices

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
    report_to: tuple[str, ...] = ()
    device: str = ""

    @classmethod
    def of(cls, trainer: Any) -> Plan:
        from posttrain.device import DeviceProfile

        device, stages = DeviceProfile.detect(), []
        for index, stage in enumerate(trainer.stages, start=1):
            ctx = stage_context(trainer, stage, index, device=device)
            rows = len(stage.data) if isinstance(stage.data, (list, tuple)) else 1
            stages.append(PlannedStage(index, stage.kind, stage.data_label, ctx.output_dir, ctx.lora is not None,
                                       stage.settings.model_dump(exclude_defaults=True, exclude={"kind"}),
                                       _overrides(stage.kind, ctx, rows), ctx.choices))
        evals = [e.name for e in trainer.evals.evals] if trainer.evals is not None else []
        return cls(trainer.model, Path(trainer.output_dir), stages, evals, tuple(trainer.report_to), device.describe())

    def __str__(self) -> str:
        lines = [f"model: {self.model}  ->  {self.output_dir}", f"device: {self.device}"]
        source = self.model
        for s in self.stages:
            shown = {k: (getattr(v, "__name__", v) if k != "rewards" else [getattr(f, "__name__", f) for f in v])
                     for k, v in s.settings.items()}
            lines.append(f"  {s.index}. {s.kind:<8} data={s.data}  from={source}  lora={s.lora}  {shown}")
            if s.choices is not None:
                lines.append(f"     trains with: {s.choices.describe()}")
            if s.trl_overrides:
                lines.append("     trl_args replace the library's: " + _overrides_text(s.trl_overrides))
            source = str(s.output_dir / "model")
        if self.evals:
            lines.append(f"  evals before and after each stage: {', '.join(self.evals)}")
        if self.report_to:
            lines.append(f"  trackers: {', '.join(self.report_to)} (files under {self.output_dir / 'logs'})")
        return "\n".join(lines)

    def reasons(self) -> str:
        """Why each stage trains the way it does (the device- and size-aware choices), one line each."""
        return "\n".join(f"{s.index}. {s.kind}: " + "; ".join(s.choices.reasons) for s in self.stages if s.choices)

    def __rich__(self):
        from rich.markup import escape
        from rich.table import Table

        # paths, data labels and settings (a system prompt, say) are the user's text, not markup
        table = Table(title=escape(f"{self.model} -> {self.output_dir}"), caption=escape(f"device: {self.device}"))
        for column in ("#", "stage", "data", "LoRA", "settings", "trains with"):
            table.add_column(column)
        for s in self.stages:
            settings = ", ".join(f"{k}={getattr(v, '__name__', v)}" for k, v in s.settings.items())
            if s.trl_overrides:
                settings += f" (replacing the library's: {_overrides_text(s.trl_overrides)})"
            table.add_row(str(s.index), s.kind, escape(s.data), "yes" if s.lora else "no", escape(settings),
                          escape(s.choices.describe()) if s.choices is not None else "")
        return table


def _overrides(kind: str, ctx: StageContext, rows: int) -> dict[str, Any]:
    try:
        return merged_trl_args(get_stage(kind), ctx, rows)[1]
    except Exception:  # noqa: BLE001 - the plan is shown even when a setting is wrong; validate() says why
        return {}


def _overrides_text(overrides: dict[str, Any]) -> str:
    return ", ".join(f"{k}={user!r} (was {ours!r})" for k, (ours, user) in overrides.items())


def stage_dir(output_dir: Path, index: int, kind: str) -> Path:
    """A stage's folder: `output_dir/NN-kind`."""
    return Path(output_dir) / f"{index:02d}-{kind}"


def stage_context(trainer: Any, stage: Any, index: int, data: Any = None, device: Any = None) -> StageContext:
    """The context a stage will run with (before the runner adds its input model and callbacks),
    with the device- and size-aware choices (`posttrain.device`) for its model."""
    where = f"stage {index} ({stage.kind})"
    lora = stage_lora(trainer.lora, stage.settings, where)
    folder = stage_dir(trainer.output_dir, index, stage.kind)
    return StageContext(settings=stage.settings, data=data, input_model="", output_dir=folder, lora=lora,
                        learning_rate=get_stage(stage.kind).learning_rate(stage.settings, lora is not None),
                        seed=trainer.seed, report_to=list(trainer.report_to),
                        run_name=f"{Path(trainer.output_dir).name}/{folder.name}",
                        choices=stage_choices(trainer.model, stage.settings, lora is not None, device))


def stage_choices(model: str, settings: Any, lora: bool, device: Any = None) -> Any:
    """Weights, precision, optimizer and checkpointing for a stage of `model` on this device."""
    from posttrain.device import DeviceProfile, choose, model_size
    from posttrain.models import resolve

    try:
        params, shape = model_size(resolve(model))
    except PosttrainError:
        params, shape = None, {}
    device = device or DeviceProfile.detect()
    return choose(device, params, lora=lora, precision=settings.precision,
                  weights=settings.weights, checkpointing=settings.gradient_checkpointing,
                  optimizer=settings.optimizer, fused_head=get_stage(settings.kind).cost.fused_head,
                  tokens_per_step=tokens_per_pass(settings, cuda=device.kind == "cuda"), shape=shape,
                  reference_copy=holds_reference_copy(settings, lora))


def tokens_per_pass(settings: Any, cuda: bool) -> int:
    """Tokens whose activations one forward/backward pass of a stage holds, at most (its method's
    `Cost.tokens_per_pass`: DPO runs each pair's chosen and rejected answers in one batch; GRPO trains
    a step's completions in micro-batches, with the gradients accumulated)."""
    return get_stage(settings.kind).cost.tokens_per_pass(settings, cuda)


def check_pipeline(trainer: Any) -> list:
    """Every problem of every stage, gathered into one error; returns each stage's checked Data."""
    from posttrain.data import load_data
    from posttrain.tracking import check_trackers

    problems: list[Problem] = []
    if not trainer.stages:
        problems.append(Problem("pipeline", "has no stages", "chain .sft(...), .dpo(...), .grpo(...) or "
                                ".pretrain(...) before run()"))
    problems += _check_model(trainer.model) + check_trackers(tuple(trainer.report_to))
    loaded = []
    for index, stage in enumerate(trainer.stages, start=1):
        where, spec = f"stage {index} ({stage.kind})", get_stage(stage.kind)
        try:
            data = load_data(stage.data, expect=spec.formats, name=f"{where} data {stage.data_label}")
        except DataError as err:
            problems += err.problems
            data = None
        loaded.append(data)
        problems += _check_settings(trainer, stage, index, data, where)
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


def _check_settings(trainer: Any, stage: Any, index: int, data: Any, where: str) -> list[Problem]:
    """`trl_args` keys and values, then TRL's own config built from everything (its checks run
    here, before training), then the stage's own checks."""
    spec = get_stage(stage.kind)
    try:
        ctx = stage_context(trainer, stage, index, data)
    except ProblemsError as err:
        return err.problems
    problems = check_trl_args(stage.settings.trl_args, spec.config_class(), where)
    if not problems:
        try:
            build_trl_config(spec, ctx, len(data) if data is not None else 1)
        except (ValueError, TypeError) as err:
            problems.append(Problem(f"{where}, TRL settings", f"trl.{spec.trl_config} refuses them: {err}",
                                    "change the setting it names (in the stage's settings or trl_args)"))
    if stage.settings.optimizer == "adamw_8bit_sr" and importlib.util.find_spec("torchao") is None:
        problems.append(Problem(f"{where}, setting 'optimizer'", "is 'adamw_8bit_sr', which needs torchao "
                                "(not installed)", "pip install torchao, or choose another optimizer"))
    if spec.check is not None:
        problems += spec.check(stage.settings, data, where)
    return problems
