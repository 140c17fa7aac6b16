"""The whole chain at a glance, for the top of a report: every eval's score with its 95% interval on the
base model and after each stage, as one picture (a panel per eval) and the same numbers as a table; the
stage that targets an eval (`targets`: stage kind -> eval name) is marked in both.

    lines = chain_section(run, Path("runs/x/report_plots"), Path("runs/x"), targets={"grpo": "math_avg@4"})
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from posttrain.pipeline.run_data import RunData


@dataclass(frozen=True)
class ChainPoint:
    """One model along the chain: its label ("base model", "after 01-sft"), the stage that made it (its kind;
    "" for the base model) and its eval results as saved (name -> result dict)."""

    label: str
    kind: str
    results: Mapping[str, Mapping]


def chain_points(run: RunData) -> list[ChainPoint]:
    """The base model (the first stage's "before" evals) and the model after each stage."""
    if not run.stages:
        return []
    points = [ChainPoint("base model", "", _results(run.stages[0].evals.get("before")))]
    return points + [ChainPoint(f"after {s.output_dir.name}", s.kind, _results(s.evals.get("after")))
                     for s in run.stages]


def _results(suite: Mapping | None) -> Mapping[str, Mapping]:
    return (suite or {}).get("results") or {}


def chain_section(run: RunData, plots_dir: Path, root: Path, targets: Mapping[str, str] | None = None) -> list[str]:
    """Markdown lines: the chain picture (written to `plots_dir/chain.png`, linked relative to `root`) and
    the table of scores with intervals; a stage's own eval in bold (table) and marked (picture). Empty
    when the run has no evals."""
    points = chain_points(run)
    names = _eval_names(points)
    if not names:
        return []
    targets = dict(targets or {})
    image = chain_plot(points, names, targets, plots_dir / "chain.png")
    header = "| eval | " + " | ".join(p.label for p in points) + " |"
    link = image.relative_to(root).as_posix()
    lines = [f"![every eval on the base model and after each stage, 95% intervals]({link})", "", header,
             "|---|" + "---|" * len(points)]
    for name in names:
        cells = [_cell(p.results.get(name), own=targets.get(p.kind) == name) for p in points]
        lines.append(f"| {name} {_arrow(points, name)} | " + " | ".join(cells) + " |")
    own = ", ".join(f"{kind} → {name}" for kind, name in targets.items() if name in names)
    note = f" Each stage's own eval is in bold ({own})." if own else ""
    return lines + ["", f"Scores with 95% intervals, on held-out items.{note}", ""]


def chain_plot(points: Sequence[ChainPoint], names: Sequence[str], targets: Mapping[str, str], path: Path) -> Path:
    """One panel per eval: its score (with the 95% interval) along the chain; the point of the stage that
    targets the eval drawn large and orange, its column shaded, the panel titled with that stage."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    columns = min(len(names), 4)
    rows = math.ceil(len(names) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.3 * columns, 2.9 * rows), squeeze=False)
    x = list(range(len(points)))
    for ax, name in zip(axes.flat, names):
        scores = [_score(p.results.get(name)) for p in points]
        low = [s - _ci(p.results.get(name))[0] for s, p in zip(scores, points)]
        high = [_ci(p.results.get(name))[1] - s for s, p in zip(scores, points)]
        ax.errorbar(x, scores, yerr=[low, high], marker="o", color="#4c72b0", capsize=3)
        own = [i for i, p in enumerate(points) if p.kind and targets.get(p.kind) == name]
        for i in own:
            ax.axvspan(i - 0.4, i + 0.4, color="#dd8452", alpha=0.15)
            ax.plot([i], [scores[i]], marker="o", markersize=10, color="#dd8452", zorder=3)
        trained_by = f"\n(own eval of {points[own[0]].label.removeprefix('after ')})" if own else ""
        ax.set_title(f"{name} {_arrow(points, name)}{trained_by}", fontsize=9)
        ax.set_xticks(x, [p.label.removeprefix("after ").replace("base model", "base") for p in points],
                      fontsize=8, rotation=20)
        bounds = [v for v in scores + [s - d for s, d in zip(scores, low)] + [s + d for s, d in zip(scores, high)]
                  if not math.isnan(v)]
        if bounds and 0 <= min(bounds) and max(bounds) <= 1:
            ax.set_ylim(-0.04, 1.04)            # rates on one scale, so panels compare at a glance
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.suptitle("every eval along the chain (95% intervals; orange: the stage that targets it)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _eval_names(points: Sequence[ChainPoint]) -> list[str]:
    names: list[str] = []
    for point in points:
        names += [name for name in point.results if name not in names]
    return names


def _score(result: Mapping | None) -> float:
    value = (result or {}).get("score")
    return math.nan if value is None else float(value)


def _ci(result: Mapping | None) -> tuple[float, float]:
    low, high = (result or {}).get("ci") or (None, None)
    return (math.nan if low is None else float(low), math.nan if high is None else float(high))


def _arrow(points: Sequence[ChainPoint], name: str) -> str:
    higher = next((r.get("higher_is_better", True) for p in points if (r := p.results.get(name))), True)
    return "↑" if higher else "↓"


def _cell(result: Mapping | None, own: bool) -> str:
    score, (low, high) = _score(result), _ci(result)
    if math.isnan(score):
        return "–"
    text = f"{score:.2f}" + ("" if math.isnan(low) else f" [{low:.2f}, {high:.2f}]")
    return f"**{text}**" if own else text
