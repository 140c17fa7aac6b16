"""What a run leaves behind, read back from its folder, and what can be done with it: load, report, gate, export.
The data itself (`RunData`, `StageResult`) lives in `posttrain.pipeline.run_data`, below the report, gate and
export that read it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from posttrain.pipeline.run_data import RunData, StageResult

if TYPE_CHECKING:
    from collections.abc import Mapping

    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from posttrain.pipeline.export import Export
    from posttrain.pipeline.gate import GateResult

__all__ = ["RunData", "RunResult", "StageResult"]


class RunResult(RunData):
    """A finished (or partly finished) pipeline run.

    Example:
        >>> run = RunResult.from_dir("runs/math")
        >>> run.model_dir, [s.kind for s in run.stages]
        >>> model, tokenizer = run.load()
        >>> run.report("runs/math/report.md")
        >>> run.export("exports/math")         # safetensors, model card, GGUF, Ollama Modelfile
    """

    def load(self, **kwargs: Any) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
        """`(model, tokenizer)` of the final model."""
        from posttrain.models import load_model

        return load_model(self.model_dir, **kwargs)

    def gate(self, targets: Mapping[str, str] | None = None, max_drop: float | str = 0.02) -> GateResult:
        """Whether this run should ship (`posttrain.pipeline.gate.gate_run`): every stage's own eval
        improved significantly (`targets`: stage kind or folder -> eval name; else the eval it improved
        most) and no eval regressed significantly past `max_drop` (0.02 absolute, or "5%" relative).
        `.exit_code` is 0 to ship, 1 blocked, 3 undecided; `.text()` says why, first line first.

        Example:
            >>> verdict = RunResult.from_dir("runs/math").gate(targets={"grpo": "math_avg@4"}, max_drop="5%")
            >>> print(verdict.text()); raise SystemExit(verdict.exit_code)
        """
        from posttrain.pipeline.gate import gate_run

        return gate_run(self, targets, max_drop)

    def report(self, path: str | Path | None = None) -> Path:
        """Write a markdown report with per-stage tables and PNG plots; returns its path."""
        from posttrain.pipeline.report import write_report

        return write_report(self, Path(path) if path else self.output_dir / "report.md")

    def export(self, out_dir: str | Path, *, gguf: tuple[str, ...] | list[str] = ("f16", "q8_0"),
               ollama: bool = True, last_finished: bool = False) -> Export:
        """A serving folder at `out_dir`: the merged safetensors model, tokenizer and chat template, a model
        card (README.md: a Hub metadata header, the chain and every stage's before/after evals),
        `model-<type>.gguf` per GGUF type ("f32", "f16", "q8_0"; "q4_k_m", "q5_k_m" with llama-cpp-python)
        and an Ollama `Modelfile` (`posttrain.pipeline.export.export_run`). A chain that did not finish is
        refused unless `last_finished=True` (its last finished stage, said in the card). Nothing is pushed.

        Example:
            >>> RunResult.from_dir("runs/math").export("exports/math", gguf=("q8_0",))
        """
        from posttrain.pipeline.export import export_run

        return export_run(self, out_dir, gguf=gguf, ollama=ollama, last_finished=last_finished)
