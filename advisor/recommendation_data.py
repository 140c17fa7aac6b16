"""What `advise()` found, as data: the approach, ordered stages, reasons citing their rules, the runner-up and
why it is not first, warnings, evals, and the data and model it looked at. `Recommendation`
(`advisor.recommendation`) adds `route()`, which turns it into something that runs (`advisor.routing` reads
this type)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from advisor.compute import ComputePlan
from advisor.crosscheck import CompareSuggestion
from advisor.inspection import DatasetInfo
from advisor.model_info import ModelInfo
from advisor.spec import TaskSpec

Approach = Literal["prompt_engineering", "rag", "continued_pretraining", "post_training"]


def _known_stage(name: str) -> str:
    """A stage name the advice can hold: a baseline or a registered training method's advisor name."""
    from advisor.rules import stage_order

    if name not in stage_order():
        raise ValueError(f"unknown stage {name!r}; fix: use one of {', '.join(stage_order())}")
    return name


StageName = Annotated[str, AfterValidator(_known_stage)]


class Reason(BaseModel):
    """Why a recommendation was made: the rule, its message (citing the spec's values) and source."""

    rule: str
    message: str
    source: str

    def __str__(self) -> str:
        return f"[{self.rule}] {self.message}"


class Alternative(BaseModel):
    """The runner-up: another reasonable approach, its stages, and why it is not the first answer."""

    rule: str
    approach: Approach
    stages: list[StageName]
    why_not: str
    source: str

    def __str__(self) -> str:
        return f"{self.approach} ({' -> '.join(self.stages)}): not first because {self.why_not} [{self.rule}]"


class RecommendationData(BaseModel):
    """The advice for one task, as data (`Recommendation` adds `route()`, which turns it into something that
    runs; its docstring has the example)."""

    model_config = ConfigDict(frozen=True)

    approach: Approach
    stages: list[StageName]
    reasons: list[Reason]
    warnings: list[str] = Field(default_factory=list)
    suggested_evals: list[str] = Field(default_factory=list)
    evals_by_topic: dict[str, list[str]] = Field(default_factory=dict)
    datasets_info: list[DatasetInfo] = Field(default_factory=list)
    spec: TaskSpec
    runner_up: Alternative | None = None
    model_info: ModelInfo | None = None
    compute: ComputePlan | None = Field(None, description=(
        "Memory for full, LoRA and QLoRA per training stage on the stated (or this) hardware, the method "
        "that fits, tokens to process, and the arithmetic."))
    compare: CompareSuggestion | None = Field(None, description=(
        "When retrieval and training are both plausible: the arms to score with rag_baseline.compare()."))
    data: list[Any] = Field(default_factory=list, exclude=True, repr=False, description=(
        "The datasets given to advise(), loaded and checked (`posttrain.data.Data`), one per "
        "`datasets_info` entry; route() binds stages to them without reading the files again."))

    @property
    def training_stages(self) -> list[str]:
        from advisor.rules import training_names

        return [stage for stage in self.stages if stage in training_names()]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (the CLI's `--json`)."""
        return self.model_dump(mode="json")

    def __str__(self) -> str:
        lines = [f"Approach: {self.approach}", f"Stages:   {' -> '.join(self.stages)}", "", "Why:"]
        lines += [f"  - {reason}" for reason in self.reasons]
        if self.runner_up:
            lines += ["", f"Runner-up: {self.runner_up}"]
        if self.model_info:
            lines += ["", f"Model: {self.model_info.describe()}"]
        if self.compute:
            lines += ["", "Compute:"] + [f"  {line}" for line in self.compute.describe().splitlines()]
            lines += [f"  ! {warning}" for warning in self.compute.warnings]
        if self.compare:
            lines += ["", f"Compare: {self.compare}"]
        if self.warnings:
            lines += ["", "Warnings:"] + [f"  ! {warning}" for warning in self.warnings]
        if self.evals_by_topic:
            lines += ["", "Evals to run:"]
            lines += [f"  {topic}: {', '.join(names)}" for topic, names in self.evals_by_topic.items()]
        if self.datasets_info:
            lines += ["", "Data inspected:"]
            lines += [f"  {d.source}: {d.format}, {d.rows:,} rows, {d.tokens:,} tokens -> {d.stage}"
                      for d in self.datasets_info]
        return "\n".join(lines)

    def __rich__(self) -> Any:
        from rich.console import Group
        from rich.markup import escape
        from rich.panel import Panel
        from rich.table import Table

        # Messages quote the user's words, paths and data ("[...]" in them is text, not markup).
        head = f"[bold]{self.approach}[/bold]   stages: [cyan]{' -> '.join(self.stages)}[/cyan]"
        why = Table("rule", "why", title="Reasons", show_lines=True)
        for reason in self.reasons:
            why.add_row(reason.rule, f"{escape(reason.message)}\n[dim]{escape(reason.source)}[/dim]")
        parts: list[Any] = [head, why]
        if self.runner_up:
            alt = self.runner_up
            parts.append(Panel(f"[bold]{alt.approach}[/bold] ({' -> '.join(alt.stages)}): not first because "
                               f"{escape(alt.why_not)}\n[dim]{alt.rule}: {escape(alt.source)}[/dim]", title="Runner-up"))
        if self.model_info:
            parts.append(f"model: {escape(self.model_info.describe())}")
        if self.compute:
            parts.append(Panel(escape("\n".join([self.compute.describe(), *(f"! {w}" for w in self.compute.warnings)])),
                               title="Compute"))
        if self.compare:
            parts.append(Panel(escape(str(self.compare)), title="Compare retrieval and training"))
        if self.warnings:
            parts.append(Panel(escape("\n".join(f"! {w}" for w in self.warnings)), title="Warnings", style="yellow"))
        if self.evals_by_topic:
            evals = Table("topic", "evals", title="Evals to run")
            for topic, names in self.evals_by_topic.items():
                evals.add_row(escape(topic), escape(", ".join(names)))
            parts.append(evals)
        if self.datasets_info:
            data = Table("source", "format", "rows", "tokens", "stage", title="Data inspected")
            for d in self.datasets_info:
                data.add_row(escape(d.source), d.format, f"{d.rows:,}", f"{d.tokens:,}", d.stage)
            parts.append(data)
        return Panel(Group(*parts), title="Recommendation")
