"""Which evaluations fit a task: the public benchmarks named for each skill, and the library's own
offline evals (`posttrain.evals`) that measure the same thing on your data.

>>> from advisor.benchmarks import evals_for
>>> evals_for("math")
['AIME', 'posttrain.evals.MathAccuracy']
"""

from __future__ import annotations

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
