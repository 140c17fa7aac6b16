"""When retrieval and training are both plausible for a task, measure them on the user's own questions
before committing: `rag_baseline.compare()` scores a retrieval arm, a trained arm and both together.

>>> from advisor import advise
>>> hint = advise({"needs_private_knowledge": True, "labeled_examples": 3000, "target_skills": ["tone"]}).compare
>>> sorted(hint.arms)
['base', 'rag', 'sft', 'sft+rag']
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from advisor.rules import training_names
from advisor.spec import TaskSpec

SOURCE = ("Public guidance: retrieval outperformed unsupervised fine-tuning for new knowledge (Ovadia et al., "
          "2023, 'Fine-Tuning or Retrieval?'); trained with retrieved passages, the two combine (Zhang et al., "
          "2024, 'RAFT')")


class CompareSuggestion(BaseModel):
    """The arms to score with `rag_baseline.compare()`, why, and the code that does it."""

    why: str
    arms: dict[str, str]
    code: str
    source: str = SOURCE

    def __str__(self) -> str:
        arms = "; ".join(f"{name}: {what}" for name, what in self.arms.items())
        return f"{self.why}\n  arms: {arms}\n" + "\n".join(f"    {line}" for line in self.code.splitlines())


def compare_suggestion(spec: TaskSpec, stages: list[str], runner_up: Any) -> CompareSuggestion | None:
    """A suggestion to run `compare()` when the plan or its runner-up (an `Alternative`, or None)
    retrieves and the other trains (or the plan does both); None otherwise."""
    from posttrain.stages import get_stage

    training = training_names()
    other = runner_up.stages if runner_up else []
    retrieves = "rag" in stages or "rag" in other
    trained = [s for s in stages if s in training] or [s for s in other if s in training]
    if not (retrieves and trained):
        return None
    model = spec.model or "default"
    name = "+".join(trained)
    arms = {"base": f"{model} with a prompt only", "rag": f"retrieval over your documents, answered by {model}",
            name: f"{model} after {' -> '.join(trained)}", f"{name}+rag": "the trained model answering from retrieval"}
    plan = "retrieval" if "rag" in stages and not any(s in training for s in stages) else \
        "training" if "rag" not in stages else "retrieval and training together"
    why = (f"retrieval and training are both plausible here (the plan: {plan}; "
           f"{'runner-up: ' + runner_up.approach if runner_up else 'both in the plan'}): score them on your own "
           "questions with rag_baseline.compare() before committing to either")
    chain = "".join(get_stage(stage).advice.call or f'.{get_stage(stage).kind}("{stage}.jsonl")'
                    for stage in trained)
    code = (f'from posttrain import Trainer\nfrom rag_baseline import RAGBaseline, compare\n'
            f'rag = RAGBaseline.from_files(["docs/"], model="{model}")\n'
            f'run = Trainer("{model}", output_dir="runs/trained"){chain}.run()\n'
            f'report = compare("questions.jsonl", arms={{"base": "{model}", "rag": rag, "{name}": run.model_dir,\n'
            f'                                          "{name}+rag": (rag, run.model_dir)}})\n'
            f'print(report.to_markdown())')
    return CompareSuggestion(why=why, arms=arms, code=code)
