"""Sweeps as one call: accuracy against retrieval depth k (`sweep_k`) and against the number of
paraphrases per document the fine-tuned arm trains on (`sweep_paraphrases`; Ovadia et al., 2023,
found it rises with them), each a `SweepReport`: a table and a plot with 95% intervals.

>>> from rag_baseline import sweep_k
>>> sweep = sweep_k("examples/data/fictional_facts/qa.jsonl", {"rag": rag}, ks=[1, 2, 3, 5])   # doctest: +SKIP
>>> sweep.write("runs/sweeps")          # sweep_k.md, sweep_k.json, sweep_k.png             # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

from posttrain.errors import ConfigError, Problem, short

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from posttrain.evals.base import Rows
    from rag_baseline.answer import Trained
    from rag_baseline.knowledge import Documents
    from rag_baseline.recommend import Paired
    from rag_baseline.report import ComparisonReport
    from rag_baseline.store import RAGBaseline

KS = (1, 2, 3, 5, 8)
PARAPHRASES = (0, 1, 2, 4, 8)


class CompareOptions(TypedDict, total=False):
    """`compare()` options a sweep passes on to every comparison."""

    match: str
    max_new_tokens: int
    batch_size: int
    latency_samples: int


class ParaphraseCompareOptions(CompareOptions, total=False):
    k: int


@dataclass
class SweepReport:
    """One `ComparisonReport` per value of `parameter` ("k" or "paraphrases"), in `values` order."""

    parameter: str
    values: list[int]
    reports: list[ComparisonReport]

    @property
    def arms(self) -> list[str]:
        return list(self.reports[0].scores) if self.reports else []

    def scores(self, arm: str) -> list[tuple[float, float, float]]:
        """(accuracy, 95% low, 95% high) of `arm` at each value."""
        return [(r.scores[arm].score, *r.scores[arm].ci) for r in self.reports]

    def trend(self, arm: str) -> Paired:
        """The paired sign test of `arm` at the last value against the first, on the same questions."""
        from rag_baseline.recommend import Paired, correctness, sign_test

        first, last = correctness(self.reports[0], arm), correctness(self.reports[-1], arm)
        wins = sum(1 for a, b in zip(first, last) if b and not a)
        losses = sum(1 for a, b in zip(first, last) if a and not b)
        return Paired(f"{arm} at {self.parameter}={self.values[-1]}", f"{self.parameter}={self.values[0]}",
                      wins, losses, sign_test(wins, losses))

    def to_markdown(self, plot: str | None = None) -> str:
        """A table (one row per value, one column per arm: accuracy [95% CI]) and the trend of each arm."""
        lines = [f"### Accuracy against {self.parameter}", "",
                 f"| {self.parameter} | " + " | ".join(self.arms) + " |", "|---|" + "---|" * len(self.arms)]
        for value, report in zip(self.values, self.reports):
            cells = [f"{s.score:.3f} [{s.ci[0]:.2f}, {s.ci[1]:.2f}]" for s in (report.scores[a] for a in self.arms)]
            lines.append(f"| {value} | " + " | ".join(cells) + " |")
        n = self.reports[0].scores[self.arms[0]].n if self.reports else 0
        lines += ["", f"{n} questions; 95% Wilson intervals. From {self.parameter}={self.values[0]} to "
                  f"{self.values[-1]} (questions gained / lost, paired sign test): "
                  + "; ".join(f"{arm} {self.trend(arm)}" for arm in self.arms) + "."]
        if plot:
            lines += ["", f"![accuracy against {self.parameter}]({plot})"]
        return "\n".join(lines) + "\n"

    def plot(self, path: str | os.PathLike) -> Path:
        """A line per arm with its 95% interval shaded, PNG."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        figure, axes = plt.subplots(figsize=(5.5, 3.8))
        for arm in self.arms:
            points = self.scores(arm)
            axes.plot(self.values, [p[0] for p in points], marker="o", label=arm)
            axes.fill_between(self.values, [p[1] for p in points], [p[2] for p in points], alpha=0.15)
        axes.set_xlabel(self.parameter)
        axes.set_xticks(self.values)
        axes.set_ylim(0, 1.05)
        axes.set_ylabel("accuracy (95% CI)")
        axes.set_title(f"Accuracy against {self.parameter}")
        axes.legend(fontsize="small")
        from rag_baseline.report import save_figure

        return save_figure(figure, path)

    def to_dict(self) -> dict:
        return {"parameter": self.parameter, "values": self.values, "reports": [r.to_dict() for r in self.reports]}

    @classmethod
    def from_dict(cls, data: dict) -> SweepReport:
        from rag_baseline.report import ComparisonReport

        return cls(data["parameter"], list(data["values"]), [ComparisonReport.from_dict(r) for r in data["reports"]])

    def write(self, directory: str | os.PathLike) -> dict[str, Path]:
        """Write sweep_<parameter>.md, .json and .png into `directory`; returns their paths."""
        folder, stem = Path(directory), f"sweep_{self.parameter}"
        folder.mkdir(parents=True, exist_ok=True)
        plot = self.plot(folder / f"{stem}.png")
        (folder / f"{stem}.md").write_text(self.to_markdown(plot.name), encoding="utf-8")
        (folder / f"{stem}.json").write_text(json.dumps(self.to_dict(), indent=2), encoding="utf-8")
        return {"markdown": folder / f"{stem}.md", "json": folder / f"{stem}.json", "plot": plot}


def sweep_k(eval_rows: Rows, arms: Mapping[str, object], ks: Sequence[int] = KS,
            **compare_options: Unpack[CompareOptions]) -> SweepReport:
    """`compare(eval_rows, arms, k=k)` for every k: accuracy against retrieval depth.

    Arms without retrieval score the same at every k (a flat reference line); the generators load once.

    Example:
        >>> sweep_k(rows, {"rag": rag, "raft": rag.with_model(run)}, ks=[1, 3, 5]).write("runs/sweeps")  # doctest: +SKIP
    """
    from rag_baseline.comparison import compare

    values = _values("ks", ks, minimum=1)
    compare_options.setdefault("latency_samples", 0)
    return SweepReport("k", values, [compare(eval_rows, arms, k=k, **compare_options) for k in values])


def sweep_paraphrases(documents: Documents, eval_rows: Rows, counts: Sequence[int] = PARAPHRASES, *,
                      qa_rows: Rows | None = None, rag: RAGBaseline | None = None,
                      output_dir: str | os.PathLike = "runs/sweep_paraphrases",
                      model: str | os.PathLike[str] | Trained = "default", pretrain: dict | None = None,
                      sft: dict | None = None, **compare_options: Unpack[ParaphraseCompareOptions]) -> SweepReport:
    """Fine-tune one model per paraphrase count (`knowledge_pipeline`, the same settings and seed
    each time) and score each on `eval_rows`: the "fine-tuned" arm, and "fine-tuned+rag" when `rag`
    is given. Runs already finished in `output_dir` are reused.

    Example:
        >>> sweep = sweep_paraphrases("docs/", "qa.jsonl", counts=[0, 2, 4], pretrain={"epochs": 2})  # doctest: +SKIP
    """
    from rag_baseline.comparison import compare
    from rag_baseline.knowledge import knowledge_pipeline

    values = _values("counts", counts, minimum=0)
    compare_options.setdefault("latency_samples", 0)
    reports = []
    for count in values:
        run = knowledge_pipeline(documents, qa_rows, paraphrases=count, model=model, pretrain=pretrain, sft=sft,
                                 output_dir=Path(output_dir) / f"paraphrases-{count}").run()
        arms = {"fine-tuned": run, **({"fine-tuned+rag": rag.with_model(run)} if rag is not None else {})}
        reports.append(compare(eval_rows, arms, **compare_options))
    return SweepReport("paraphrases", values, reports)


def _values(name: str, values: Sequence[int], minimum: int) -> list[int]:
    items: list[object] = list(values) if not isinstance(values, (str, bytes)) else [values]
    if not items or any(not isinstance(v, int) or isinstance(v, bool) or v < minimum for v in items) \
            or len(set(items)) != len(items):
        raise ConfigError(Problem(name, f"got {short(values)}", f"give distinct whole numbers >= {minimum}, "
                                  f"e.g. {list(KS if name == 'ks' else PARAPHRASES)}"))
    return sorted(v for v in items if isinstance(v, int))       # all of them, as just checked
