"""What a run holds, as data: `StageResult` per finished stage and `RunData` for the run, built by the runner
or read back from the run's folder. The report, the ship gate and the export read these types; behaviour on
top of them (`RunResult`: load, report, gate, export) lives in `posttrain.pipeline.result`."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from typing_extensions import Self

from posttrain.pipeline.records import StageRecord

if TYPE_CHECKING:
    from posttrain.evals import EvalDelta


@dataclass
class StageResult:
    """One completed stage: where its model is, its final metrics, its training log, its evals."""

    index: int
    kind: str
    output_dir: Path
    metrics: dict[str, Any]
    history: list[dict[str, Any]]
    evals: dict[str, Any] = field(default_factory=dict)   # {"before": suite dict, "after": suite dict}
    settings: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    lora: dict[str, Any] | None = None     # the LoRA it trained with (r, alpha, ...); None: full fine-tuning

    @property
    def model_dir(self) -> Path:
        return self.output_dir / "model"

    def series(self, key: str) -> tuple[list[int], list[float]]:
        """(steps, values) of one logged metric, e.g. "loss" or "rewards/margins"."""
        points = [(e.get("step", i), e[key]) for i, e in enumerate(self.history)
                  if isinstance(e.get(key), (int, float))]
        return [p[0] for p in points], [float(p[1]) for p in points]

    def eval_deltas(self) -> list[EvalDelta]:
        """Before/after rows per eval (`posttrain.evals.compare_results`), empty without evals."""
        if not self.evals.get("before") or not self.evals.get("after"):
            return []
        from posttrain.evals import SuiteResult, compare_results

        return compare_results(SuiteResult.from_dict(self.evals["before"]), SuiteResult.from_dict(self.evals["after"]))

    @classmethod
    def from_dir(cls, folder: Path) -> StageResult:
        record = StageRecord.read(folder)
        if record is None:
            raise FileNotFoundError(f"{folder} holds no stage.json: the stage did not finish")
        return cls.from_record(record, Path(folder))

    @classmethod
    def from_record(cls, record: StageRecord, folder: Path, history: list[dict[str, Any]] | None = None) -> StageResult:
        """The stage from its record, with its training log as given (a run in progress holds it), else
        read from `metrics.jsonl`."""
        if history is None:
            log = folder / "metrics.jsonl"
            history = [json.loads(line) for line in log.read_text().splitlines() if line.strip()] if log.exists() else []
        return cls(index=record.index, kind=record.kind, output_dir=folder, metrics=record.metrics,
                   history=history, evals=record.evals or {}, settings=record.settings, data=record.data,
                   seconds=record.seconds, lora=record.lora)


@dataclass
class RunData:
    """What a finished (or partly finished) pipeline run holds: its folder, input model and finished stages.
    The report, the gate and the export read it; `RunResult` adds loading, reporting, gating and exporting."""

    output_dir: Path
    model: str
    stages: list[StageResult]
    planned: list[str] = field(default_factory=list)   # every stage folder the pipeline named, finished or not

    @property
    def model_dir(self) -> Path:
        """The final model's folder (the last stage's), or the input model when no stage ran."""
        from posttrain.models import resolve

        return self.stages[-1].model_dir if self.stages else Path(resolve(self.model))

    def unfinished(self) -> list[str]:
        """The stage folders the pipeline named that hold no finished stage (an interrupted chain)."""
        done = {s.output_dir.name for s in self.stages}
        return [name for name in self.planned if name not in done]

    def regressions(self) -> list[tuple[str, EvalDelta]]:
        """(stage name, delta) for every eval a stage made worse beyond its noise."""
        return [(s.output_dir.name, d) for s in self.stages for d in s.eval_deltas() if d.regressed]

    @classmethod
    def from_dir(cls, output_dir: str | Path) -> Self:
        """The run in `output_dir`, read from its `run.json`; a folder without one (or with one that cannot
        be read) is a ConfigError naming the folder and the fix."""
        from posttrain.errors import ConfigError, Problem

        out = Path(output_dir)
        at, fix = f"run folder {str(out)!r}", ("give the output_dir of a pipeline run (a run writes run.json there "
                                               "when its first stage is done)")
        if not out.is_dir():
            raise ConfigError(Problem(at, "does not exist" if not out.exists() else "is a file, not a folder", fix))
        try:
            manifest = json.loads((out / "run.json").read_text(encoding="utf-8"))
            if not isinstance(manifest, dict) or not {"stages", "model"} <= set(manifest):
                raise ValueError("not a run manifest")
        except FileNotFoundError:
            raise ConfigError(Problem(at, "holds no run.json: no stage of a run finished there", fix)) from None
        except (OSError, ValueError) as err:
            raise ConfigError(Problem(at, f"has a run.json that cannot be read ({type(err).__name__})",
                                      "run the pipeline again to rewrite it")) from None
        stages = [StageResult.from_dir(Path(s["output_dir"])) for s in manifest["stages"]
                  if (Path(s["output_dir"]) / "stage.json").exists()]
        return cls(output_dir=out, model=manifest["model"], stages=stages, planned=_planned(out, manifest))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.output_dir)!r}, stages={[s.output_dir.name for s in self.stages]})"




def _planned(out: Path, manifest: dict[str, Any]) -> list[str]:
    """The stage folders (`NN-kind`) of the pipeline the manifest holds, else the ones on disk."""
    pipeline = manifest.get("pipeline") or {}
    kinds = [s.get("kind") for s in pipeline.get("stages") or [] if isinstance(s, dict)]
    if kinds:
        return [f"{index:02d}-{kind}" for index, kind in enumerate(kinds, start=1)]
    finished = [Path(s["output_dir"]).name for s in manifest.get("stages") or []]
    on_disk = sorted(p.name for p in out.glob("[0-9][0-9]-*") if p.is_dir())
    return sorted({*finished, *on_disk})
