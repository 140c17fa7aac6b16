"""`ComparisonReport`: per-arm scores with confidence intervals, as markdown, JSON and a bar chart."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from posttrain.evals import EvalResult
    from rag_baseline.costs import ArmCost
    from rag_baseline.recommend import Recommendation

ALL = "all"


class SweepReport(Protocol):
    """A `rag_baseline.sweeps.SweepReport` (which imports this module), as `write` adds it."""

    def write(self, directory: str | os.PathLike) -> dict[str, Path]: ...

    def to_markdown(self, plot: str | None = None) -> str: ...


@dataclass
class ComparisonReport:
    """What `compare()` found.

    `scores`: arm -> `EvalResult` over every question (open and multiple choice pooled);
    `results`: arm -> eval name -> `EvalResult`; `arms`: arm -> what it is; `settings`: how it ran;
    `costs`: arm -> `ArmCost` (build and serving costs, measured). The markdown ends with the
    recommendation (`recommendation()`): which arm to deploy.

    >>> print(report.to_markdown())
    >>> report.write("runs/compare")        # report.md, report.json, report.png
    """

    scores: dict[str, EvalResult]
    results: dict[str, dict[str, EvalResult]]
    arms: dict[str, str] = field(default_factory=dict)
    settings: dict = field(default_factory=dict)
    costs: dict[str, ArmCost] = field(default_factory=dict)

    @classmethod
    def from_results(cls, results: dict[str, dict[str, EvalResult]], arms: dict[str, str], settings: dict,
                     costs: dict[str, ArmCost] | None = None) -> ComparisonReport:
        """A report whose `scores` pool each arm's eval results into one accuracy."""
        return cls({name: pooled(by_eval) for name, by_eval in results.items()}, results, arms, settings,
                   costs or {})

    @property
    def evals(self) -> list[str]:
        """Eval names in the order they ran."""
        return list(next(iter(self.results.values()), {}))

    def best(self) -> str:
        """The arm with the highest overall score."""
        return max(self.scores, key=lambda name: _number(self.scores[name].score))

    def recommendation(self, *, answers: int | None = None, alpha: float | None = None) -> Recommendation:
        """Which arm to deploy: the best one unless a cheaper arm is not significantly worse
        (`rag_baseline.recommend`). `answers`: the serving volume build costs are spread over."""
        from rag_baseline.recommend import ALPHA, ANSWERS, recommend

        return recommend(self, answers=answers or ANSWERS, alpha=alpha or ALPHA)

    def to_markdown(self) -> str:
        """A table: one row per arm, overall accuracy with its 95% interval, then each eval."""
        columns = [ALL] + self.evals if len(self.evals) > 1 else self.evals
        lines = ["| arm | setup | " + " | ".join(columns) + " |", "|---|---|" + "---|" * len(columns)]
        for name, result in self.scores.items():
            cells = [_cell(result if column == ALL else self.results[name][column]) for column in columns]
            lines.append(f"| {name} | {self.arms.get(name, '')} | " + " | ".join(cells) + " |")
        rows = self.settings.get("rows", {})
        note = ", ".join(f"{count} {name}" for name, count in rows.items())
        lines.append("")
        lines.append(f"Accuracy with 95% Wilson intervals; {note} questions; RAG arms retrieve "
                     f"k={self.settings.get('k')} chunks.")
        reading = self.reading()
        if reading:
            lines += ["", "Finding and reading apart (questions that name their evidence): retrieval recall is the "
                      "share whose evidence was among the retrieved chunks; reader accuracy is the share of those "
                      "answered right.", "", "| arm | retrieval recall | reader accuracy |", "|---|---|---|"]
            lines += [f"| {name} | {r['retrieved']:.0f} / {r['with_evidence']:.0f} = {r['retrieval_recall']:.3f} | "
                      f"{r['read_right']:.0f} / {r['retrieved']:.0f} = {_ratio(r['reader_accuracy'])} |"
                      for name, r in reading.items()]
        judged = self.open_answers()
        if judged:
            lines += ["", "Open answers judged three ways: the reference appears in the reply (the score above, "
                      f"match={self.settings.get('match', 'contains')!r}); SQuAD's exact match (the reply's answer, "
                      "before any cited passage, equals the reference once lowercased, without punctuation, "
                      "articles or extra spaces); SQuAD's token F1. A reply that lists every candidate gets "
                      "no exact match and little F1.", "", "| arm | appears in reply | exact match | token F1 |", "|---|---|---|---|"]
            lines += [f"| {name} | {j['appears']:.3f} | {j['exact_match']:.3f} | {j['f1']:.3f} |"
                      for name, j in judged.items()]
        if self.costs:
            from rag_baseline.costs import cost_table

            lines += ["", "Costs (measured in this run):", "", cost_table(self.costs)]
        if len(self.scores) > 1:
            lines += ["", self.recommendation().to_markdown()]
        return "\n".join(lines) + "\n"

    def reading(self) -> dict[str, dict[str, float]]:
        """Per RAG arm, over all its evals: `retrieval_recall` and `reader_accuracy` (see
        `rag_baseline.comparison.with_retrieval`), with the counts behind them."""
        found = {}
        for name, by_eval in self.results.items():
            details = [d for result in by_eval.values() for d in result.details]
            metrics = reading_metrics(details)
            if metrics:
                found[name] = metrics
        return found

    def open_answers(self) -> dict[str, dict[str, float]]:
        """Per arm, its open questions judged three ways: `appears` (the report's `match`), `exact_match`
        and `f1` (SQuAD's; `posttrain.evals.qa.exact_match`, `token_f1`). Empty without open questions."""
        found = {}
        for name, by_eval in self.results.items():
            result = by_eval.get("qa_accuracy")
            if result is not None and "exact_match" in result.metrics:
                found[name] = {"appears": _number(result.score), "exact_match": result.metrics["exact_match"],
                               "f1": result.metrics["f1"]}
        return found

    def to_dict(self) -> dict:
        return {"scores": {name: result.to_dict() for name, result in self.scores.items()},
                "results": {name: {ev: r.to_dict() for ev, r in by_eval.items()} for name, by_eval in self.results.items()},
                "arms": self.arms, "settings": self.settings,
                "costs": {name: cost.to_dict() for name, cost in self.costs.items()}}

    def to_json(self, indent: int = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: dict) -> ComparisonReport:
        from posttrain.evals import EvalResult
        from rag_baseline.costs import ArmCost

        return cls({name: EvalResult.from_dict(r) for name, r in data["scores"].items()},
                   {name: {ev: EvalResult.from_dict(r) for ev, r in by_eval.items()}
                    for name, by_eval in data["results"].items()}, data.get("arms", {}), data.get("settings", {}),
                   {name: ArmCost.from_dict(c) for name, c in data.get("costs", {}).items()})

    def save(self, path: str | os.PathLike) -> Path:
        """Write the JSON form to `path`."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(self.to_json(), encoding="utf-8")
        return target

    def plot(self, path: str | os.PathLike) -> Path:
        """A bar chart PNG: accuracy per arm (grouped by eval when there are several), 95% CI bars."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        columns = [ALL] + self.evals if len(self.evals) > 1 else self.evals
        names = list(self.scores)
        width = 0.8 / len(columns)
        figure, axes = plt.subplots(figsize=(max(5.0, 1.4 * len(names) * max(1, len(columns) / 2)), 3.8))
        for offset, column in enumerate(columns):
            results = [self.scores[n] if column == ALL else self.results[n][column] for n in names]
            values = [_number(r.score) for r in results]
            errors = [[max(0.0, v - _number(r.ci[0])) for v, r in zip(values, results)],
                      [max(0.0, _number(r.ci[1]) - v) for v, r in zip(values, results)]]
            positions = [i + (offset - (len(columns) - 1) / 2) * width for i in range(len(names))]
            axes.bar(positions, values, width, yerr=errors, capsize=3, label=column)
        axes.set_xticks(range(len(names)), names)
        axes.set_ylim(0, 1.05)
        axes.set_ylabel("accuracy (95% CI)")
        axes.set_title("Retrieval vs fine-tuning")
        if len(columns) > 1:
            axes.legend(fontsize="small")
        return save_figure(figure, path)

    def write(self, directory: str | os.PathLike, sweeps: Sequence[SweepReport] = ()) -> dict[str, Path]:
        """Write report.md, report.json and report.png into `directory`; returns their paths.
        Each `SweepReport` in `sweeps` is written beside them and its table and plot end report.md."""
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        sections = [self.to_markdown(), "![accuracy per arm](report.png)\n"]
        for sweep in sweeps:
            written = sweep.write(folder)
            sections.append(sweep.to_markdown(written["plot"].name))
        (folder / "report.md").write_text("\n".join(sections), encoding="utf-8")
        return {"markdown": folder / "report.md", "json": self.save(folder / "report.json"),
                "plot": self.plot(folder / "report.png")}


def pooled(by_eval: dict[str, EvalResult]) -> EvalResult:
    """One result over every question of several evals (each question counts once)."""
    from posttrain.evals import EvalResult
    from posttrain.evals.base import wilson_interval

    results = list(by_eval.values())
    if len(results) == 1:
        return results[0]
    n = sum(r.n for r in results)
    hits = sum(round(_number(r.score) * r.n) for r in results)
    return EvalResult(ALL, hits / n if n else math.nan, n, wilson_interval(hits, n),
                      metrics={name: r.score for name, r in by_eval.items()})


def _cell(result: EvalResult) -> str:
    if result.skipped:
        return f"skipped ({result.skipped})"
    low, high = result.ci
    return f"{result.score:.3f} [{low:.2f}, {high:.2f}] (n={result.n})"


def reading_metrics(details: list[dict]) -> dict[str, float]:
    """`retrieval_recall`, `reader_accuracy` and their counts over details that carry `retrieved`."""
    known = [d for d in details if d.get("retrieved") is not None]
    if not known:
        return {}
    hits = [d for d in known if d["retrieved"]]
    read = sum(bool(d["correct"]) for d in hits)
    return {"retrieval_recall": len(hits) / len(known), "reader_accuracy": read / len(hits) if hits else float("nan"),
            "retrieved": float(len(hits)), "with_evidence": float(len(known)), "read_right": float(read)}


def _ratio(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:.3f}"


def _number(value: float | None) -> float:
    return 0.0 if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def save_figure(figure: Figure, path: str | os.PathLike) -> Path:
    """Lay out, save (creating the folder) and close a matplotlib figure; returns its path."""
    import matplotlib.pyplot as plt

    figure.tight_layout()
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(target, dpi=120)
    plt.close(figure)
    return target
