"""What `advise()` returns: the approach, ordered stages, reasons citing their rules, the runner-up and why
it is not first, warnings, evals, and the data and model it looked at."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from advisor.compute import ComputePlan
from advisor.crosscheck import CompareSuggestion
from advisor.inspection import DatasetInfo
from advisor.model_info import ModelInfo
from advisor.spec import TaskSpec
from posttrain.errors import ConfigError, Problem

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


class Recommendation(BaseModel):
    """The advice for one task. `route()` turns it into something that runs.

    Example:
        >>> from advisor import advise
        >>> rec = advise({"num_instructions": 25, "labeled_examples": 8000})
        >>> rec.approach, rec.stages
        ('post_training', ['sft'])
    """

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

    def route(self, model: str = "default", output_dir: str | Path = "runs/advised", *,
              documents: Any = None, data: dict[str, Any] | None = None, rewards: Any = None,
              system: str | None = None, lora: Any = None, seed: int = 0, replay: Any = None,
              replay_share: float = 0.25, stage_settings: dict[str, Any] | None = None,
              reader: str = "auto", **deprecated: Any) -> Any:
        """Turn the advice into something that runs.

        - `prompt_engineering` -> a `PromptBaseline` (system prompt from the spec, or `system=`);
        - `rag` -> a `RAGBaseline` over `documents=` (texts or file paths) or the text data given to advise(),
          answering with a reader (rule `rag-reader`): with the default model, `reader="auto"` serves it with
          the shipped reader adapter (`rag_baseline.reader`, trained to answer from retrieved passages on a
          corpus that shares nothing with yours); `reader="train"` trains one for another model with the same
          recipe (into `output_dir/reader`); `reader="none"` keeps the model as it is;
        - training -> a `posttrain.Trainer` with the stages in order, each bound to its data in
          `data={"sft": rows, "dpo": "pairs.jsonl", ...}` (any registered method, by its name or the advisor's:
          "cpt" or "pretrain") or to the dataset of the matching format given to advise(). The older
          `sft_data=`, `dpo_data=`, `grpo_data=` and `cpt_data=` still work, with a FutureWarning
          (docs/api.md, migration table). Missing data is a ConfigError
          naming every stage's need. SFT rows with tools or tool calls that the model's own chat
          template drops are trained with the built-in `chat_template="chatml-tools"`. A stage the compute
          estimate trains with LoRA gets `lora=True`, with QLoRA `lora={"quantize": "nf4"}` (a CUDA GPU
          with bitsandbytes); `lora=` given here applies to every stage instead.
        - skills must hold (the spec's `keep_skills: true`, or `replay=` given): each stage replays
          `replay_share` of its rows (0.25 unless told) from the earlier stages' data of its format and from
          `replay=` (general data the model must keep, a path or rows) where its format fits; `plan()`
          shows the rows from each source.
        - `stage_settings` (e.g. `{"max_steps": 50}` or `{"epochs": 1}`) go to every training stage.

        Example:
            >>> from advisor import advise
            >>> trainer = advise({"num_instructions": 25}).route(data={"sft": "policy.jsonl"})  # doctest: +SKIP
            >>> [stage.kind for stage in trainer.plan().stages]                           # doctest: +SKIP
            ['sft']
        """
        from advisor.routing import route

        from advisor.rules import training_names
        from posttrain.stages import find_stage

        if isinstance(replay_share, bool) or not isinstance(replay_share, (int, float)) or not 0 < replay_share < 1:
            raise ConfigError(Problem("route(replay_share=...)", f"is {replay_share!r}",
                                      "give the share of each stage's rows to replay, between 0 and 1 (e.g. 0.25)"))
        given: dict[str, Any] = _deprecated_data(deprecated, data or {})
        for name, value in (data or {}).items():
            method = find_stage(str(name))
            if method is None:
                raise ConfigError(Problem(f"route(data={{{name!r}: ...}})", "names no registered training method",
                                          f"use one of {', '.join(training_names())}"))
            given[method.advisor_name] = value
        return route(self, model, Path(output_dir), given=given, documents=documents, rewards=rewards,
                             system=system, lora=lora, seed=seed, replay=replay, replay_share=replay_share,
                     stage_settings=stage_settings, reader=reader)

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


# route()'s keywords before `data={kind: ...}` took every method: the method each stood for.
DEPRECATED_DATA = {"sft_data": "sft", "dpo_data": "dpo", "grpo_data": "grpo", "cpt_data": "cpt"}


def _deprecated_data(keywords: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """`{method: data}` from route()'s older `*_data=` keywords, each with a FutureWarning naming its `data=`
    form; any other keyword, or one method given both ways, is a ConfigError."""
    import warnings

    from posttrain.stages import find_stage

    given: dict[str, Any] = {}
    for keyword, value in keywords.items():
        method = DEPRECATED_DATA.get(keyword)
        if method is None:
            raise ConfigError(Problem(f"route({keyword}=...)", "is not an argument of route()",
                                      "give each method's data as data={'sft': ..., 'dpo': ...}"))
        if value is None:
            continue
        spec = find_stage(method)
        if any(find_stage(str(name)) is spec for name in data):
            raise ConfigError(Problem(f"route({keyword}=...)", f"gives {method}'s data a second time, beside data=",
                                      f"give it once, as data={{'{method}': ...}}"))
        warnings.warn(f"route({keyword}=...) is deprecated; use route(data={{'{method}': ...}})", FutureWarning,
                      stacklevel=3)
        given[method] = value
    return given
