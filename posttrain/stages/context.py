"""What a stage's `run` is given: `StageContext`, compiled once per stage (`posttrain.pipeline.compile.compile_run`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from posttrain.config import LoraSettings, StageSettings, settings_as
from posttrain.device import Choices
from posttrain.errors import ConfigError, Problem

if TYPE_CHECKING:
    from posttrain.data import Data, Stream

S = TypeVar("S", bound=StageSettings)


@dataclass(frozen=True)
class StageContext:
    """Everything a stage's `run` needs: compiled once (`posttrain.pipeline.compile.compile_run`), then given the
    input model, checkpoint and callbacks by the runner."""

    settings: StageSettings
    data: Data | Stream | None     # checked rows (a Stream for a streamed corpus); None in a plan's view
    input_model: str               # folder (or hub id) of the model this stage starts from
    output_dir: Path               # the stage folder: NN-kind/
    lora: LoraSettings | None
    learning_rate: float
    choices: Choices                                      # weights, precision, optimizer, checkpointing
    seed: int = 0
    resume_from: str | None = None  # a checkpoint folder to continue from
    callbacks: list = field(default_factory=list)
    report_to: list[str] = field(default_factory=list)   # experiment trackers; empty: none
    run_name: str | None = None                           # the tracker's name for this stage
    save_dir: Path | None = None                          # where the model is saved (default: model_dir)
    trl_args: dict[str, Any] | None = None                # TRL's config arguments, merged when the run compiled

    def loaded(self) -> Data | Stream:
        """The stage's checked data; a context compiled without reading it (a plan's view) cannot train."""
        if self.data is None:
            raise ConfigError(Problem(f"stage {self.settings.kind!r}", "was compiled without reading its data",
                                      "compile with load=True (run() and validate() do)"))
        return self.data

    def in_memory(self) -> Data:
        """The stage's checked rows, held in memory (every method but pre-training refuses a stream up front)."""
        from posttrain.data import Data

        data = self.loaded()
        if not isinstance(data, Data):
            raise ConfigError(Problem(f"stage {self.settings.kind!r}", "got streamed data",
                                      "load the rows whole (without streaming=True); only pretrain streams"))
        return data

    def settings_as(self, kind: type[S]) -> S:
        """The stage's settings as its method's settings class (`posttrain.config.settings_as`)."""
        return settings_as(self.settings, kind)

    @property
    def model_dir(self) -> Path:
        """Where the stage's finished model lives."""
        return self.output_dir / "model"

    @property
    def save_to(self) -> Path:
        return self.save_dir or self.model_dir

    @property
    def checkpoints_dir(self) -> Path:
        return self.output_dir / "checkpoints"
