"""Compile once, then execute: a Trainer's pipeline worked out into frozen stage jobs.

`compile_run(trainer)` works out every fact of a run once — each stage's folder, LoRA, device choices,
learning rate, merged TRL arguments (the user's overrides recorded), loaded and checked data — and
gathers every problem. `Trainer.plan()` and `Trainer.validate()` are views of it; the runner executes
its jobs and recomputes nothing.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence, Sized
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from posttrain.config import LoraSettings, StageSettings, stage_lora
from posttrain.data.mix import describe as describe_mix
from posttrain.data.mix import mix, summary
from posttrain.device import Choices, DeviceProfile
from posttrain.distributed import launcher_problems
from posttrain.errors import ConfigError, DataError, PosttrainError, Problem, ProblemsError
from posttrain.pipeline.chain import Pipeline, Stage
from posttrain.stages import find_stage, get_stage
from posttrain.stages import stage_choices, tokens_per_pass  # noqa: F401 - their place before posttrain.stages
from posttrain.stages.context import StageContext
from posttrain.stages.spec import RowsCheck, StageSpec, check_trl_args, merged_trl_args

if TYPE_CHECKING:
    from rich.table import Table

    from posttrain.data import Data, Stream


@dataclass(frozen=True)
class StageJob:
    """One stage, compiled: what it is, where it writes, how it trains, on what data."""

    index: int
    kind: str
    spec: StageSpec
    settings: StageSettings
    data_label: str
    context: StageContext          # folder, LoRA, learning rate, device choices, merged TRL arguments
    data: Data | Stream | None = None   # loaded and checked; None in a plan view
    overrides: dict[str, tuple[object, object]] = field(default_factory=dict)   # key -> (library value, user value)
    mix: tuple[dict[str, object], ...] = ()   # the stage's own data and each mixed source: {"data", "share", "rows"}

    @property
    def where(self) -> str:
        return f"stage {self.index} ({self.kind})"

    @property
    def folder(self) -> Path:
        return self.context.output_dir

    @property
    def lora(self) -> LoraSettings | None:
        return self.context.lora

    @property
    def loaded(self) -> Data | Stream:
        """The stage's checked data: a run compiled with its data read holds it."""
        if self.data is None:
            raise ConfigError(Problem(self.where, "was compiled without reading its data",
                                      "compile with load=True (run() and validate() do)"))
        return self.data


@dataclass(frozen=True)
class CompiledRun:
    """A pipeline compiled: its jobs in order, the device they were worked out for, and every problem."""

    model: str
    output_dir: Path
    jobs: tuple[StageJob, ...]
    device: DeviceProfile
    source: str = ""                   # the input model's folder (or hub id), resolved once; "" if it cannot be
    problems: tuple[Problem, ...] = ()

    def check(self) -> CompiledRun:
        """This run, or a ConfigError listing every problem found (nothing has been written)."""
        if self.problems:
            raise ConfigError(list(self.problems), title="the pipeline cannot run")
        return self


def compile_run(trainer: Pipeline, load: bool = True, replace_run: bool = False) -> CompiledRun:
    """Work out every stage of `trainer` once. With `load`, every stage's data is read and checked, TRL's
    config is built from the merged arguments (its own checks run), the stages' own checks run and the
    output folder is checked (`output_problems`; `replace_run`: another pipeline's run there may be replaced);
    every problem is gathered, none raised. Without it (the plan's view), data is not read."""
    from posttrain import qlora
    from posttrain.data import Data, load_data
    from posttrain.tracking import check_trackers

    problems: list[Problem] = []
    source, model_problems = _resolve(trainer.model)
    if load:
        if not trainer.stages:
            problems.append(Problem("pipeline", "has no stages", "chain .sft(...), .dpo(...), .grpo(...) or "
                                    ".pretrain(...) before run()"))
        problems += model_problems + check_trackers(tuple(trainer.report_to))
        problems += output_problems(Path(trainer.output_dir), str(trainer.model),
                                    [stage.kind for stage in trainer.stages], replace_run)
    device, size = DeviceProfile.detect(), _model_size(source)
    launcher = launcher_problems(device) if load else []   # TRL's configs cannot be built under a launcher refused
    problems += launcher
    jobs = []
    tokenizer = _tokenizer(source) if load and any(getattr(find_stage(s.kind), "check_rows", None)
                                                   for s in trainer.stages) else None
    for index, stage in enumerate(trainer.stages, start=1):
        spec, where = get_stage(stage.kind), f"stage {index} ({stage.kind})"
        data = None
        if load:
            try:
                data = load_data(stage.data, expect=spec.formats, name=f"{where} data {stage.data_label}")
            except DataError as err:
                problems += err.problems
        data, mixed, mix_problems = _mixed(stage, data, spec, where, trainer.seed)
        problems += mix_problems
        checked = (_rows_check(spec, stage.settings, data, tokenizer, where)
                   if load and spec.check_rows is not None and tokenizer is not None and isinstance(data, Data)
                   else RowsCheck([]))
        try:
            lora = stage_lora(trainer.lora, stage.settings, where)
        except ProblemsError as err:
            problems += err.problems
            lora = None
        folder = stage_dir(trainer.output_dir, index, stage.kind)
        ctx = StageContext(settings=stage.settings, data=data, input_model="", output_dir=folder, lora=lora,
                           learning_rate=spec.learning_rate(stage.settings, lora is not None), seed=trainer.seed,
                           report_to=list(trainer.report_to), run_name=f"{Path(trainer.output_dir).name}/{folder.name}",
                           choices=_choices(size, spec, stage.settings, lora is not None, device,
                                            quantize=lora.quantize if lora is not None else None,
                                            lengths=checked.lengths))
        rows = _rows(data if data is not None else stage.data)
        arguments, overrides = _merged(spec, ctx, rows)
        ctx = replace(ctx, trl_args=arguments)
        if load:
            problems += _check_stage(spec, ctx, data, where, not launcher) + qlora.problems(lora, device, where)
            if spec.check_model is not None and source:
                problems += spec.check_model(stage.settings, source, where)
            problems += checked.problems
        jobs.append(StageJob(index, stage.kind, spec, stage.settings, stage.data_label, ctx, data, overrides, mixed))
    return CompiledRun(str(trainer.model), Path(trainer.output_dir), tuple(jobs), device, source, tuple(problems))


def output_problems(out: Path, model: str, kinds: Sequence[str], replace: bool = False) -> list[Problem]:
    """What stops a run from writing to `out`: a file there or above it, a folder this user cannot write,
    or another pipeline's run (another model, or another kind of stage at the same place: its models would
    be replaced, and its other stage folders left pointing at them), unless `replace`."""
    from posttrain.pipeline.records import folder_problems

    at = f"output_dir {str(out)!r}"
    unusable = folder_problems(out, at)
    if unusable:
        return unusable
    held_model, held = held_run(out)
    theirs = {index: kind for index, kind in held}
    clash = [f"{index:02d}-{theirs[index]}" for index, kind in enumerate(kinds, start=1)
             if index in theirs and theirs[index] != kind]
    other_model = held_model is not None and held_model != model
    if replace or not (clash or other_model):
        return []
    stages = ", ".join(f"{index:02d}-{kind}" for index, kind in held) or "none finished"
    why = f"model {held_model!r}" if other_model else f"stage {', '.join(clash)}"
    return [Problem(at, f"holds the run of another pipeline ({why}; stages {stages}), whose models this one "
                    "would replace", "choose another output_dir, or replace that run on purpose: "
                    "run(resume=False), or posttrain train --no-resume")]


def held_run(out: Path) -> tuple[str | None, list[tuple[int, str]]]:
    """The model (from `run.json`; None without one) and the `(index, kind)` of every stage folder of the run
    in `out`."""
    import json

    model = None
    try:
        manifest = json.loads((out / "run.json").read_text(encoding="utf-8"))
        model = str(manifest["model"]) if isinstance(manifest, dict) and manifest.get("model") is not None else None
    except (OSError, ValueError):
        pass
    folders = sorted(p.name for p in out.glob("[0-9][0-9]-*") if p.is_dir()) if out.is_dir() else []
    return model, [(int(name[:2]), name[3:]) for name in folders]


def _tokenizer(source: str) -> Any:
    """The model's tokenizer, loaded once for the stages' row checks; None when it cannot be (the model's
    own problem is reported where it is resolved)."""
    from posttrain.models import load_tokenizer

    if not source:
        return None
    try:
        return load_tokenizer(source)
    except (OSError, ValueError, PosttrainError):
        return None


def _rows_check(spec: StageSpec, settings: StageSettings, data: Data, tokenizer: Any, where: str) -> RowsCheck:
    """The stage's `check_rows`; a ConfigError it raises (a template that cannot render a row) is a problem
    of its list."""
    assert spec.check_rows is not None
    try:
        return spec.check_rows(settings, data, tokenizer, where)
    except ProblemsError as err:
        return RowsCheck(list(err.problems))


def _mixed(stage: Stage, data: Data | Stream | None, spec: StageSpec, where: str,
           seed: int) -> tuple[Data | Stream | None, tuple[dict[str, object], ...], list[Problem]]:
    """The stage's data with its `mix` sources drawn in (`posttrain.data.mix`), what each source gives, and
    the problems; without a mix, the data as it is. Data not read (the plan's view) is counted, not mixed."""
    from posttrain.data import Data

    sources = stage.settings.mix
    if not sources:
        return data, (), []
    if isinstance(data, Data):
        return mix(data, stage.data_label, sources, spec.formats, where, seed)
    if data is None and not isinstance(stage.data, (str, Path)) and isinstance(stage.data, Sized):
        return data, summary(stage.data_label, len(stage.data), sources), []
    problems = [] if data is None else [Problem(f"{where}, setting 'mix'", "needs the stage's data held in memory, "
                                                "not streamed", "drop the mix, or load the corpus without streaming")]
    return data, summary(stage.data_label, None, sources), problems


def _rows(data: object) -> int:
    """Rows to size the schedule by: the loaded data's (or the rows given); 1 when unknown (a stream,
    a path not read)."""
    if isinstance(data, (str, Path)) or not isinstance(data, Sized):
        return 1
    try:
        return max(1, len(data))
    except TypeError:                      # a Stream is Sized by type but has no length
        return 1


def _merged(spec: StageSpec, ctx: StageContext, rows: int) -> tuple[dict[str, object] | None,
                                                                     dict[str, tuple[object, object]]]:
    """The TRL arguments (the library's, the user's `trl_args` on top) and the keys the user replaced;
    (None, {}) when the library's own cannot be worked out (a bad setting: the checks say why)."""
    try:
        return merged_trl_args(spec, ctx, rows)
    except Exception:  # noqa: BLE001 - a wrong setting is reported by the checks, the plan is still shown
        return None, {}


@dataclass(frozen=True)
class PlannedStage:
    """One line of a plan."""

    index: int
    kind: str
    data: str
    output_dir: Path
    lora: bool
    settings: dict[str, Any]                                     # shown as given (functions by name)
    trl_overrides: dict[str, tuple[object, object]] = field(default_factory=dict)   # key -> (library value, user value)
    choices: Choices | None = None
    mix: tuple[dict[str, object], ...] = ()     # posttrain.data.mix.summary: rows from each source

    @property
    def name(self) -> str:
        return self.output_dir.name


@dataclass(frozen=True)
class Plan:
    """The stages a Trainer will run, in order, with the model each starts from: a view of its
    compiled run."""

    model: str
    output_dir: Path
    stages: list[PlannedStage]
    evals: list[str]
    report_to: tuple[str, ...] = ()
    device: str = ""

    @classmethod
    def of(cls, trainer: Pipeline, compiled: CompiledRun | None = None) -> Plan:
        compiled = compiled or compile_run(trainer, load=False)
        stages = [PlannedStage(job.index, job.kind, job.data_label, job.folder, job.lora is not None,
                               job.settings.model_dump(exclude_defaults=True, exclude={"kind", "mix"}), job.overrides,
                               job.context.choices, job.mix) for job in compiled.jobs]
        evals = [e.name for e in trainer.evals.evals] if trainer.evals is not None else []
        return cls(compiled.model, compiled.output_dir, stages, evals, tuple(trainer.report_to),
                   compiled.device.describe())

    def __str__(self) -> str:
        lines = [f"model: {self.model}  ->  {self.output_dir}", f"device: {self.device}"]
        source = self.model
        for s in self.stages:
            shown = {k: (getattr(v, "__name__", v) if k not in ("rewards", "tools") else [getattr(f, "__name__", f) for f in v])
                     for k, v in s.settings.items()}
            lines.append(f"  {s.index}. {s.kind:<8} data={s.data}  from={source}  lora={s.lora}  {shown}")
            if s.choices is not None:
                lines.append(f"     trains with: {s.choices.describe()}")
            if s.trl_overrides:
                lines.append("     trl_args replace the library's: " + _overrides_text(s.trl_overrides))
            if s.mix:
                lines.append("     " + describe_mix(s.mix))
            source = str(s.output_dir / "model")
        if self.evals:
            lines.append(f"  evals before and after each stage: {', '.join(self.evals)}")
        if self.report_to:
            lines.append(f"  trackers: {', '.join(self.report_to)} (files under {self.output_dir / 'logs'})")
        return "\n".join(lines)

    def reasons(self) -> str:
        """Why each stage trains the way it does (the device- and size-aware choices), one line each."""
        return "\n".join(f"{s.index}. {s.kind}: " + "; ".join(s.choices.reasons) for s in self.stages if s.choices)

    def __rich__(self) -> Table:
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
            if s.mix:
                settings += f"; {describe_mix(s.mix)}"
            table.add_row(str(s.index), s.kind, escape(s.data), "yes" if s.lora else "no", escape(settings),
                          escape(s.choices.describe()) if s.choices is not None else "")
        return table


def _overrides_text(overrides: dict[str, tuple[object, object]]) -> str:
    return ", ".join(f"{k}={user!r} (was {ours!r})" for k, (ours, user) in overrides.items())


def stage_dir(output_dir: Path, index: int, kind: str) -> Path:
    """A stage's folder: `output_dir/NN-kind`."""
    return Path(output_dir) / f"{index:02d}-{kind}"


def _resolve(model: str) -> tuple[str, list[Problem]]:
    """The model's folder (or hub id), resolved once, and the problem when it cannot be."""
    from posttrain.models import resolve

    try:
        return resolve(model), []
    except ProblemsError as err:               # e.g. a hub model not on this machine, while offline
        return "", list(err.problems)
    except PosttrainError as err:
        return "", [Problem(f"model {model!r}", str(err))]


def _model_size(source: str) -> tuple[int | None, dict[str, int]]:
    """The model's parameters and shape, read once from its config (None, {} when it cannot be read)."""
    from posttrain.device import model_size

    if not source:
        return None, {}
    try:
        return model_size(source)
    except PosttrainError:
        return None, {}


def _choices(size: tuple[int | None, dict[str, int]], spec: StageSpec, settings: StageSettings, lora: bool,
             device: DeviceProfile, quantize: str | None = None, lengths: tuple[int, ...] | None = None) -> Choices:
    """`quantize` ("nf4", QLoRA): the base is held in 4-bit, whatever `weights` says; `lengths`: the rows'
    token counts when the rows check counted them (`StageSpec.choose`)."""
    params, shape = size
    return spec.choose(settings, device, params, shape, lora=lora, quantize=quantize, lengths=lengths)


def _check_stage(spec: StageSpec, ctx: StageContext, data: Data | Stream | None, where: str,
                 build_config: bool = True) -> list[Problem]:
    """`trl_args` keys and values, then TRL's own config built from the merged arguments (its checks run
    here, before training; it also builds accelerate's plugin for the launcher's DeepSpeed config, so not
    when `posttrain.distributed` refused the launcher), then the stage's own checks."""
    from posttrain.tracking import check_trackers, normalise_report_to

    settings = ctx.settings
    problems = check_trl_args(settings.trl_args, spec.config_class(), where)
    if not problems and "report_to" in settings.trl_args:       # a stage's own trackers, checked as the run's
        try:
            trackers = normalise_report_to(settings.trl_args["report_to"], f"{where}, trl_args key 'report_to'")
        except ConfigError as err:
            problems += err.problems
        else:
            problems += [Problem(f"{where}, trl_args key 'report_to': {p.where}", p.message, p.fix)
                         for p in check_trackers(trackers)]
    if not problems and build_config:
        try:
            if ctx.trl_args is None:
                spec.trl_args(ctx, 1)                 # raises what stopped the merge
            spec.config_class()(**(ctx.trl_args or {}))
        except (ValueError, TypeError) as err:
            problems.append(Problem(f"{where}, TRL settings", f"trl.{spec.trl_config} refuses them: {err}",
                                    "change the setting it names (in the stage's settings or trl_args)"))
    if settings.optimizer == "adamw_8bit_sr" and importlib.util.find_spec("torchao") is None:
        problems.append(Problem(f"{where}, setting 'optimizer'", "is 'adamw_8bit_sr', which needs torchao "
                                "(not installed)", "pip install torchao, or choose another optimizer"))
    if spec.check is not None:
        problems += spec.check(settings, data, where)
    return problems
