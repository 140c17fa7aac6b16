"""A run's report: markdown tables per stage, before/after evals with regressions flagged, PNG curves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

# (title, logged keys, y label) per plot; a plot is drawn when a stage logged any of its keys.
PLOTS = [
    ("loss", ("loss",), "training loss"),
    ("dpo_margin", ("rewards/margins", "rewards/accuracies"), "DPO reward margin / accuracy"),
    ("grpo_reward", ("reward", "reward_std"), "GRPO mean reward and spread"),
    ("learning_rate", ("learning_rate",), "learning rate"),
]
SUMMARY = ("train_loss", "train_runtime", "train_samples_per_second")


def write_report(run: Any, path: Path) -> Path:
    """Markdown at `path`, plots beside it in `<stem>_plots/`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    plots_dir = path.parent / f"{path.stem}_plots"
    lines = [f"# Run report: {run.output_dir}", "", f"Model: `{run.model}`; final model: `{run.model_dir}`", ""]
    lines += _stage_table(run)
    for stage in run.stages:
        lines += _stage_section(stage, plots_dir, path.parent)
    regressions = run.regressions()
    if regressions:
        lines += ["## Regressions", ""] + [f"- **{stage}**: {d.name} went from {d.before:.3f} to {d.after:.3f} "
                                           f"({_why(d)})" for stage, d in regressions] + [""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _stage_table(run: Any) -> list[str]:
    lines = ["| stage | data | rows | time (s) | final loss | first → last logged |", "|---|---|---|---|---|---|"]
    for s in run.stages:
        key = _main_metric(s)
        _, values = s.series(key) if key else ([], [])
        change = f"{key}: {values[0]:.4g} → {values[-1]:.4g}" if values else ""
        loss = s.metrics.get("train_loss")
        lines.append(f"| {s.output_dir.name} | `{s.data.get('source', '')}` | {s.data.get('rows', '')} | "
                     f"{s.seconds:.0f} | {loss if loss is None else f'{loss:.4g}'} | {change} |")
    return lines + [""]


def _main_metric(stage: Any) -> str | None:
    for key in {"grpo": ("reward", "loss"), "dpo": ("rewards/margins", "loss")}.get(stage.kind, ("loss",)):
        if stage.series(key)[1]:
            return key
    return None


def _why(delta: Any) -> str:
    return f"items fixed / broken: {delta.paired}" if delta.paired else "beyond its confidence interval"


def _stage_section(stage: Any, plots_dir: Path, root: Path) -> list[str]:
    lines = [f"## {stage.output_dir.name}", ""]
    shown = {k: v for k, v in stage.metrics.items() if k in SUMMARY or k.startswith("reward_failures")}
    if shown:
        lines += ["| metric | value |", "|---|---|"] + [f"| {k} | {_fmt(v)} |" for k, v in shown.items()] + [""]
    deltas = stage.eval_deltas()
    if deltas:
        from posttrain.evals import deltas_table

        lines += [deltas_table(deltas), ""]
    for name, keys, label in PLOTS:
        image = _plot(stage, keys, label, plots_dir / f"{stage.output_dir.name}_{name}.png")
        if image is not None:
            lines += [f"![{label}]({image.relative_to(root)})", ""]
    return lines


def _plot(stage: Any, keys: tuple[str, ...], label: str, path: Path) -> Path | None:
    series = {k: stage.series(k) for k in keys if stage.series(k)[1]}
    if not series:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6, 3.2))
    for key, (steps, values) in series.items():
        ax.plot(steps, values, marker="o" if len(steps) < 30 else None, label=key)
    ax.set_xlabel("step")
    ax.set_title(f"{stage.output_dir.name}: {label}")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
