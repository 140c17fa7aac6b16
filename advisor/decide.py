"""`advise(task, datasets=None)`: apply the rules to a task (and the data and model at hand)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from advisor.alternatives import runner_up
from advisor.benchmarks import suggest_evals
from advisor.compute import ComputePlan, estimate_compute
from advisor.crosscheck import compare_suggestion
from advisor.hardware import detect_hardware, parse_hardware
from advisor.model_info import ModelInfo, describe_model
from advisor.recommendation import Reason, Recommendation
from advisor.rules import decide, fired, training_names
from advisor.spec import TaskSpec

if TYPE_CHECKING:
    from advisor.inspection import DatasetInfo
    from posttrain.data import Data


def advise(task: TaskSpec | dict | str | Path | None = None, datasets: Any = None) -> Recommendation:
    """Recommend prompting, retrieval, continued pre-training or post-training, which stages, and the
    runner-up with why it is not first.

    Args:
        task: a `TaskSpec`, a dict of its fields, or a path to a YAML/JSON file of them.
        datasets: rows, a path, a `datasets.Dataset`, or a list of them. Each is inspected (format,
            rows, tokens with the default tokenizer) and its counts replace the spec's. The loaded data
            stays on the recommendation (`data`) for `route()`.

    Example:
        >>> rec = advise({"target_skills": ["math"], "labeled_examples": 2000, "rl_prompts": 5000,
        ...               "verifiable_reward": True})
        >>> rec.stages
        ['sft', 'grpo']
    """
    spec = TaskSpec.load(task if task is not None else {})
    found: list[tuple[DatasetInfo, Data]] = []
    notes: list[str] = []
    if datasets is not None:
        from advisor.inspection import fill_spec, inspect_datasets

        found = inspect_datasets(datasets)
        spec, notes = fill_spec(spec, [info for info, _ in found])
    spec, model_info = fill_model(spec)
    rules = fired(spec)
    approach, stages = decide(rules)
    evals = suggest_evals(spec)
    alternative = runner_up(spec, approach)
    return Recommendation(
        approach=approach, stages=stages, spec=spec, runner_up=alternative, model_info=model_info,
        compute=plan_compute(spec, stages), compare=compare_suggestion(spec, stages, alternative),
        reasons=[Reason(rule=r.id, message=r.explain(spec), source=r.source) for r in rules if r.message],
        warnings=notes + [f"{r.warn(spec)} [{r.id}]" for r in rules if r.warning],
        suggested_evals=list(dict.fromkeys(name for names in evals.values() for name in names)),
        evals_by_topic=evals, datasets_info=[info for info, _ in found], data=[data for _, data in found])


def fill_model(spec: TaskSpec) -> tuple[TaskSpec, ModelInfo | None]:
    """The spec with the starting model's kind and size filled from what can be read locally (what the
    spec states wins), and what was found; no model named, nothing to read."""
    if not spec.model:
        return spec, None
    info = describe_model(spec.model, kind=spec.model_kind, params=spec.model_params)
    return spec.model_copy(update={"model_kind": info.kind, "model_params": info.params}), info


def plan_compute(spec: TaskSpec, stages: list[str]) -> ComputePlan | None:
    """The compute estimate of the plan's training stages on the stated hardware (else this machine's);
    None when the plan does not train."""
    training = [stage for stage in stages if stage in training_names()]
    if not training:
        return None
    hardware = parse_hardware(spec.hardware) if spec.hardware else detect_hardware()
    return estimate_compute(spec, training, hardware)
