"""The prompt-engineering baseline: a system prompt built from the task, over a model, for generation
and evals. Measure it first; train only if it falls short.

>>> from advisor.baseline import PromptBaseline
>>> baseline = PromptBaseline("default", system="Answer in one sentence.")
>>> baseline.generate(["What is the capital of France?"])       # doctest: +SKIP
['The capital of France is Paris.']
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from advisor.spec import TaskSpec

FALLBACK_SYSTEM = "You are a helpful assistant."


def system_prompt(spec: TaskSpec) -> str:
    """A system prompt addressed to the model: its role, the task (the spec's description, given to the model
    as its task rather than pasted in as it was written for the advisor), then the instructions as a numbered
    list.

    >>> print(system_prompt(TaskSpec(description="Answer support tickets.", instructions=["Greet by name."])))
    You are a helpful assistant. Your task: Answer support tickets.
    <BLANKLINE>
    Follow these instructions in every answer:
    1. Greet by name.
    """
    task = spec.description.strip()
    parts = [f"{FALLBACK_SYSTEM} Your task: {task}" if task else FALLBACK_SYSTEM]
    if spec.instructions:
        rules = "\n".join(f"{number}. {text.strip()}" for number, text in enumerate(spec.instructions, start=1))
        parts.append(f"Follow these instructions in every answer:\n{rules}")
    return "\n\n".join(parts)


@dataclass
class PromptBaseline:
    """A model plus a system prompt.

    Args:
        model: "default", a folder, a hub id, or a `(model, tokenizer)` pair; loaded on first use.
        system: the system prompt put before every prompt.
        max_new_tokens: generation length unless an eval asks for another.
    """

    model: Any = "default"
    system: str = FALLBACK_SYSTEM
    max_new_tokens: int = 256
    _loaded: tuple[Any, Any] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_spec(cls, spec: TaskSpec, model: Any = "default", system: str | None = None) -> PromptBaseline:
        return cls(model=model, system=system or system_prompt(spec))

    def load(self) -> tuple[Any, Any]:
        """`(model, tokenizer)`, loaded once."""
        if self._loaded is None:
            if isinstance(self.model, tuple):
                self._loaded = self.model
            else:
                from posttrain.models import load_model

                self._loaded = load_model(self.model)
        return self._loaded

    def render(self, prompt: str | list[dict]) -> str:
        """The exact text the model sees for `prompt` (chat template, system prompt included)."""
        from posttrain.generation import render_prompt

        return render_prompt(self.load()[1], prompt, system=self.system)

    def generate(self, prompts: Sequence[str | list[dict]], **options: Any) -> list[str]:
        """One answer per prompt, with the system prompt; options go to `posttrain.generation.generate`."""
        from posttrain.generation import generate

        model, tokenizer = self.load()
        options.setdefault("max_new_tokens", self.max_new_tokens)
        return generate(model, tokenizer, list(prompts), system=self.system, **options)

    def run_eval(self, evaluation: Any) -> Any:
        """Run a `posttrain.evals` eval on this baseline. Generative evals (with `prompts()` and
        `score()`) are answered under this baseline's system prompt; others run on the bare model."""
        if hasattr(evaluation, "prompts") and hasattr(evaluation, "score"):
            length = getattr(evaluation, "max_new_tokens", None) or self.max_new_tokens
            return evaluation.score(self.generate(evaluation.prompts(), max_new_tokens=length))
        model, tokenizer = self.load()
        return evaluation.run(model, tokenizer)
