"""The fluent, immutable training plan: `Trainer(model).sft(...).dpo(...).grpo(...).run()`.

Each chained call returns a NEW Trainer with one more stage; nothing runs until `run()`.

>>> from posttrain import Trainer, rewards
>>> plan = (Trainer("default", output_dir="runs/math")
...         .sft("sft.jsonl", epochs=2)
...         .dpo("prefs.jsonl", beta=0.1)
...         .grpo("problems.jsonl", rewards=[rewards.math_accuracy]))
>>> print(plan.plan())        # what will happen, stage by stage
>>> run = plan.run()          # validates everything first, then trains; resumable
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from typing_extensions import Self

from posttrain.config import LoraSettings, resolve_lora
from posttrain.errors import ConfigError, Problem, short
from posttrain.pipeline.chain import Pipeline, Stage
from posttrain.pipeline.methods import StageMethods
from posttrain.stages import STAGES, get_stage, make_settings

if TYPE_CHECKING:
    from transformers import TrainerCallback

    from posttrain.data import Data, Stream
    from posttrain.evals import Eval, EvalSuite
    from posttrain.pipeline.compile import CompiledRun, Plan
    from posttrain.pipeline.result import RunResult


class Trainer(StageMethods, Pipeline):
    """A post-training pipeline over one model, built by chaining stages.

    Args:
        model: "default" (the embedded SmolLM2-135M-Instruct), a local HF folder, or a hub id.
        output_dir: where each stage writes `NN-kind/` (model, metrics.jsonl, stage.json) and run.json.
        lora: None/False for full fine-tuning, True for LoRA defaults, or a dict/LoraSettings. Each
            stage may override it with its own `lora=` setting.
        seed: seed of every stage's data order, sampling and initialisation.
        evals: an `EvalSuite` (or a list of evals) run on the input model and after every stage.
        report_to: experiment trackers for every stage's log ("tensorboard", "wandb", "trackio",
            "mlflow", ... as TRL supports), one run per stage named `<output folder>/<NN-kind>`;
            offline, under `output_dir/logs/`, unless your environment says otherwise.
        callbacks: transformers `TrainerCallback` objects (or classes) added to every stage's TRL
            trainer, e.g. `EarlyStoppingCallback` or your own step timer.

    Every built-in method has a typed entry whose keywords are its settings (`posttrain.pipeline.methods`):
    `.pretrain()`, `.sft()`, `.dpo()`, `.grpo()`, `.kto()`, `.rloo()`, `.distill()`, `.gkd()`; a plug-in method
    (`posttrain.stages.register`) is `.add_stage(kind, data, **settings)`, or `.<kind>(...)` untyped.

    Example:
        >>> t = Trainer("default", output_dir="runs/demo").sft([{"prompt": "Hi", "completion": "Hello!"}])
        >>> [s.kind for s in t.stages]
        ['sft']
    """

    def __init__(self, model: str | Path = "default", output_dir: str | Path = "runs/posttrain", *,
                 lora: bool | dict | LoraSettings | None = None, seed: int = 0, evals: EvalSuite | Sequence[Eval] | None = None,
                 report_to: str | Sequence[str] | None = None, callbacks: Sequence[TrainerCallback | type[TrainerCallback]] = ()) -> None:
        from posttrain.tracking import normalise_report_to

        for name, value in (("model", model), ("output_dir", output_dir)):
            if not isinstance(value, (str, os.PathLike)) or not str(value).strip():
                raise ConfigError(Problem(f"Trainer({name}=...)", f"got {short(value)}",
                                          "give a model name or folder" if name == "model" else "give a folder path"))
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise ConfigError(Problem("Trainer(seed=...)", f"got {short(seed)}", "use a whole number, e.g. 0"))
        self.model = str(model)
        self.output_dir = Path(output_dir)
        self.lora = resolve_lora(lora, "Trainer(lora=...)")
        self.seed = seed
        self.evals = _suite(evals)
        self.report_to = normalise_report_to(report_to)
        self.callbacks = _callbacks(callbacks)
        self.stages = ()

    # -- building the chain ------------------------------------------------------------------------

    def add_stage(self, kind: str, data: object, /, **settings: object) -> Self:
        """A new Trainer with one more stage of a registered `kind` (`posttrain.stages.STAGES`)."""
        kind = get_stage(kind).kind
        where = f"stage {len(self.stages) + 1} ({kind})"
        if isinstance(settings.get("lora"), dict):
            settings["lora"] = resolve_lora(settings["lora"], f"{where}, setting 'lora'")
        new = copy.copy(self)
        new.stages = self.stages + (Stage(kind, data, make_settings(kind, where, **settings)),)
        return new

    if not TYPE_CHECKING:      # for a type checker, a misspelt method is an error; plug-ins use add_stage there
        def __getattr__(self, name: str) -> Callable[..., Trainer]:
            """A plug-in stage kind (registered after import, so without a typed method), e.g. `.echo(rows)`."""
            if name.startswith("_") or name not in STAGES:
                raise AttributeError(f"'Trainer' object has no attribute {name!r}")
            spec = STAGES[name]

            def add(data: object, **settings: object) -> Trainer:
                return self.add_stage(name, data, **settings)

            add.__name__, add.__doc__ = name, f"Add a {name} stage: {spec.summary}. Data: {spec.data_hint}."
            return add

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(STAGES))

    def evaluate(self, suite: EvalSuite | Sequence[Eval]) -> Trainer:
        """A new Trainer that runs `suite` on the input model and after every stage."""
        new = copy.copy(self)
        new.evals = _suite(suite)
        return new

    # -- looking before running --------------------------------------------------------------------

    def plan(self) -> Plan:
        """What `run()` will do: stages in order with their data, settings and folders (a view of the
        compiled run that reads no data)."""
        from posttrain.pipeline.compile import Plan

        return Plan.of(self)

    def compile(self) -> CompiledRun:
        """The run worked out once: every stage's folder, LoRA, device choices, merged TRL arguments and
        loaded data, with every problem found (`CompiledRun.problems`); nothing is written."""
        from posttrain.pipeline.compile import compile_run

        return compile_run(self)

    def validate(self) -> list[Data | Stream]:
        """Check every stage's data, settings, TRL arguments and reward functions; raise one error
        listing every problem. Returns the loaded datasets, one per stage."""
        return [job.loaded for job in self.compile().check().jobs]

    def run(self, resume: bool = True, progress: bool = True) -> RunResult:
        """Validate, then run every stage in order; returns a `RunResult`.

        With `resume=True`, stages already completed with the same settings and data are skipped and
        an interrupted stage continues from its last checkpoint.
        """
        from posttrain.pipeline.execute import run_pipeline

        return run_pipeline(self, resume=resume, progress=progress)

    # -- YAML --------------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, object]:
        from posttrain.pipeline.yamlspec import trainer_to_dict

        return trainer_to_dict(self)

    def to_yaml(self, path: str | Path | None = None) -> str:
        """The whole pipeline as YAML (reward functions as dotted import paths); written to `path`
        when given."""
        import yaml

        text = yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    @classmethod
    def from_dict(cls, spec: dict[str, object], base_dir: str | Path | None = None, *,
                  trust_file: bool = False) -> Trainer:
        """A pipeline from plain data (as `to_dict` gives). Reward functions it names by dotted path
        resolve only from `posttrain.rewards`, `posttrain.evals` and modules in `base_dir`, unless
        `trust_file=True`: you trust whoever wrote it to run any code it names."""
        from posttrain.pipeline.yamlspec import trainer_from_dict

        trainer: Trainer = trainer_from_dict(cls, spec, Path(base_dir) if base_dir else None, trust_file=trust_file)
        return trainer

    @classmethod
    def from_yaml(cls, path: str | Path, *, trust_file: bool = False) -> Trainer:
        """Load a pipeline written by `to_yaml` or by hand; relative data paths are read from the
        YAML file's folder.

        Reward functions the file names resolve only from `posttrain.rewards`, `posttrain.evals` and
        modules in the file's folder; anything else is refused in `validate()` without being imported
        or called. `trust_file=True` lifts that: only for a file you trust to run any code it names.

        >>> Trainer.from_yaml("examples/pipeline.yaml").plan()           # rewards from posttrain.rewards
        >>> Trainer.from_yaml("their/pipeline.yaml", trust_file=True)      # you read what it names
        """
        from posttrain.pipeline.yamlspec import read_pipeline_file

        return cls.from_dict(read_pipeline_file(path), base_dir=Path(path).parent, trust_file=trust_file)

    def __repr__(self) -> str:
        chain = "".join(f".{s.kind}({s.data_label!r})" for s in self.stages)
        return f"Trainer({self.model!r}, output_dir={str(self.output_dir)!r}){chain}"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Trainer) and self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]


def _suite(evals: EvalSuite | Sequence[Eval] | None) -> EvalSuite | None:
    if evals is None:
        return None
    from posttrain.evals import EvalSuite

    return evals if isinstance(evals, EvalSuite) else EvalSuite(list(evals))


def _callbacks(callbacks: object) -> tuple[TrainerCallback | type[TrainerCallback], ...]:
    """`Trainer(callbacks=...)`: transformers TrainerCallback instances or classes, checked up front."""
    if isinstance(callbacks, (list, tuple)) and not callbacks:
        return ()
    from transformers import TrainerCallback

    if isinstance(callbacks, (str, bytes)) or not isinstance(callbacks, (list, tuple)):
        callbacks = [callbacks]
    for number, item in enumerate(callbacks, start=1):
        is_class = isinstance(item, type) and issubclass(item, TrainerCallback)
        if not (is_class or isinstance(item, TrainerCallback)):
            raise ConfigError(Problem(f"Trainer(callbacks=...), item {number}", f"got {short(item)}",
                                      "give transformers.TrainerCallback instances or subclasses"))
    return tuple(callbacks)
