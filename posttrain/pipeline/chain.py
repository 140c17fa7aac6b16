"""A pipeline as data: `Stage` (one planned stage) and `Pipeline` (the model, where it writes, and its stages in
order). `Trainer` (`posttrain.pipeline.builder`) is a `Pipeline` that builds itself by chaining; compiling,
running and writing YAML read these types."""

from __future__ import annotations

from collections.abc import Sized
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from posttrain.config import LoraSettings, StageSettings

if TYPE_CHECKING:
    from transformers import TrainerCallback

    from posttrain.evals import EvalSuite


@dataclass(frozen=True)
class Stage:
    """One planned stage: its kind, its data (a path, rows, a Dataset) and its settings."""

    kind: str
    data: object                   # a path, rows, a datasets.Dataset or loaded Data
    settings: StageSettings

    @property
    def data_label(self) -> str:
        if isinstance(self.data, (str, Path)):
            return str(self.data)
        source = getattr(self.data, "source", None)          # posttrain.data.Data: where it was read from
        if isinstance(source, str):
            return source
        count = len(self.data) if isinstance(self.data, Sized) else "?"
        return f"<{count} rows in memory>"


@dataclass(eq=False)
class Pipeline:
    """What a pipeline is: the input model, the output folder, LoRA for every stage, the seed, the evals run
    around each stage, experiment trackers, TrainerCallbacks and the stages in order."""

    model: str
    output_dir: Path
    lora: LoraSettings | None = None
    seed: int = 0
    evals: EvalSuite | None = None
    report_to: tuple[str, ...] = ()
    callbacks: tuple[TrainerCallback | type[TrainerCallback], ...] = ()
    stages: tuple[Stage, ...] = ()
