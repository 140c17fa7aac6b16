"""Which evaluations fit a task: the public benchmarks named for each skill, and the library's own
offline evals (`posttrain.evals`) that measure the same thing on your data.

>>> from advisor.benchmarks import evals_for
>>> evals_for("math")
['AIME', 'posttrain.evals.MathAccuracy']
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from advisor.rules import needs_retrieval, trains
from advisor.spec import TaskSpec

SOURCE = "Course notes, 'Key Ingredients': appropriate evaluation system"

# Public benchmarks, by what they measure (course notes); SQL adds the two standard text-to-SQL sets.
PUBLIC = {
    "instruction_following": ("IFEval",),
    "function_calling": ("BFCL", "NexusBench", "TauBench", "ToolSandbox"),
    "math": ("AIME",),
    "code": ("LiveCodeBench",),
    "reasoning": ("GPQA", "MMLU Pro"),
    "knowledge": ("GPQA", "MMLU Pro"),
    "chat": ("AlpacaEval", "MT Bench", "Arena Hard"),
    "tone": ("AlpacaEval", "MT Bench", "Arena Hard"),
    "sql": ("Spider", "BIRD"),
    "regression": ("MMLU Pro", "IFEval", "MT Bench"),
}

# The library's offline evals that measure the same thing on the user's own rows.
OFFLINE = {
    "instruction_following": ("InstructionFollowing",),
    "math": ("MathAccuracy",),
    "reasoning": ("MultipleChoice",),
    "knowledge": ("QAAccuracy",),
    "identity": ("Identity",),
    "domain": ("Perplexity",),
}


def evals_for(topic: str) -> list[str]:
    """Public benchmark names, then `posttrain.evals.<Name>` for the offline evals, for one topic."""
    return list(PUBLIC.get(topic, ())) + [f"posttrain.evals.{name}" for name in OFFLINE.get(topic, ())]


def topics(spec: TaskSpec) -> list[str]:
    """What to evaluate: each target skill, plus instructions, knowledge, domain and regressions."""
    found = list(spec.target_skills)
    if spec.num_instructions:
        found.append("instruction_following")
    if needs_retrieval(spec):
        found.append("knowledge")
    if spec.new_domain:
        found.append("domain")
    if trains(spec):
        found.append("regression")
    return list(dict.fromkeys(found))


def suggest_evals(spec: TaskSpec) -> dict[str, list[str]]:
    """Evals per topic for `spec`; topics with nothing to suggest are left out."""
    return {topic: names for topic in topics(spec) if (names := evals_for(topic))}


def advised_suite(names: list[str], files: list[Path]) -> tuple[Any, list[str]]:
    """The library's evals among `names` (a recommendation's `suggested_evals`) as one `EvalSuite`, each on
    the first of `files` (held-out rows) it can read; None when none can. Also a line for every listed eval
    left out, with why: a public benchmark, or no file with rows it can use."""
    from posttrain.errors import PosttrainError
    from posttrain.evals.suite import KINDS, EvalSuite

    by_class = {cls.__name__: kind for kind, cls in KINDS.items()}
    entries: list[dict[str, str]] = []
    left_out: list[str] = []
    for name in names:
        kind = by_class.get(name.rpartition(".")[2]) if name.startswith("posttrain.evals.") else None
        if kind is None:
            left_out.append(f"{name}: a public benchmark; run it with lm-eval (an lm_eval entry of an eval suite) "
                            "where the benchmark is installed")
            continue
        field = "texts" if kind == "perplexity" else "rows"
        for file in files:
            try:
                EvalSuite.from_config([{"kind": kind, field: str(file)}])
            except (PosttrainError, OSError, TypeError, ValueError):
                continue
            entries.append({"kind": kind, field: str(file)})
            break
        else:
            left_out.append(f"{name}: no --eval-data file has rows it can read; give held-out rows for it "
                            f"(see help(posttrain.evals.{name.rpartition('.')[2]}))")
    return (EvalSuite.from_config(entries) if entries else None), left_out
