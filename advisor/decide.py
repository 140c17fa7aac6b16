"""`advise(task, datasets=None)`: apply the rules to a task (and the data at hand)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from advisor.benchmarks import suggest_evals
from advisor.recommendation import Reason, Recommendation
from advisor.rules import decide, fired
from advisor.spec import TaskSpec


def advise(task: TaskSpec | dict | str | Path | None = None, datasets: Any = None) -> Recommendation:
    """Recommend prompting, retrieval, continued pre-training or post-training, and which stages.

    Args:
        task: a `TaskSpec`, a dict of its fields, or a path to a YAML/JSON file of them.
        datasets: rows, a path, a `datasets.Dataset`, or a list of them. Each is inspected (format,
            rows, tokens with the default tokenizer) and its counts replace the spec's.

    Example:
        >>> rec = advise({"target_skills": ["math"], "labeled_examples": 2000, "rl_prompts": 5000,
        ...               "verifiable_reward": True})
        >>> rec.stages
        ['sft', 'grpo']
    """
    spec = TaskSpec.load(task if task is not None else {})
    found, notes = [], []
    if datasets is not None:
        from advisor.inspection import fill_spec, inspect_datasets

        found = inspect_datasets(datasets)
        spec, notes = fill_spec(spec, [info for info, _ in found])
    rules = fired(spec)
    approach, stages = decide(rules)
    evals = suggest_evals(spec)
    recommendation = Recommendation(
        approach=approach, stages=stages, spec=spec,
        reasons=[Reason(rule=r.id, message=r.explain(spec), source=r.source) for r in rules if r.message],
        warnings=notes + [f"{r.warn(spec)} [{r.id}]" for r in rules if r.warning],
        suggested_evals=list(dict.fromkeys(name for names in evals.values() for name in names)),
        evals_by_topic=evals, datasets_info=[info for info, _ in found])
    recommendation._sources = [source for _, source in found]
    return recommendation
