"""What a training method is, as data: `StageSpec` with its `Cost` and `Advice`, and building TRL's
config from a stage's settings.

A method owns itself: every stage module declares one `SPEC` holding its settings class, the data
formats it takes, its TRL config and trainer, its cost model and the facts the advisor needs;
`posttrain.stages` registers them, and the Trainer's methods, YAML, `plan()`, `validate()`, the memory
estimate, the report, the CLI, the docs table and the advisor all read that registry.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Literal, Protocol, TypedDict, TypeVar

from posttrain.config import StageSettings
from posttrain.errors import Problem, short

if TYPE_CHECKING:
    from transformers import TrainingArguments

    from posttrain.data import Data, DataFormat, Stream
    from posttrain.device import Choices, DeviceProfile
    from posttrain.stages.context import StageContext
    from posttrain.types import Tokenizer


class StageOutcome(TypedDict):
    """What a stage's `run` returns: TRL's final metrics and its training log."""

    metrics: dict[str, float]
    history: list[dict[str, object]]


# The ways to train a stage's weights: all of them, a LoRA adapter, or a LoRA adapter on a 4-bit base.
TrainingWay = Literal["full", "lora", "qlora"]


class TaskFacts(Protocol):
    """What the advisor knows of a task, as a method's `Advice` reads it (`advisor.TaskSpec` is one)."""

    def rows_for(self, method: str) -> int: ...


@dataclass(frozen=True)
class RowsCheck:
    """What a stage's `check_rows` found: the problems, and the token count of each sequence a pass trains
    when the check tokenised the rows as training will (`lengths`, each cut to max_length; None when it
    did not count them). The memory estimate is then sized by the data's longest rows, not by max_length."""

    problems: list[Problem]
    lengths: tuple[int, ...] | None = None


def _one_sequence(settings: StageSettings) -> int:
    return 1


def _batch_tokens(settings: StageSettings, cuda: bool) -> int:
    return settings.batch_size * settings.max_length


def _no_reference(settings: StageSettings, lora: bool) -> bool:
    return False


def _whole_batch(settings: StageSettings, cuda: bool) -> int | None:
    return None


@dataclass(frozen=True)
class Cost:
    """What a method costs, for the trainer's memory estimate and the advisor's compute plan.

    `sequences_per_row(settings)`: sequences trained per data row (DPO: chosen and rejected; GRPO: the
    group). `tokens_per_pass(settings, cuda)`: tokens whose activations one forward/backward pass holds.
    `reference_copy(settings, lora)`: whether a frozen copy of the input model stays in memory.
    `fused_head`: the loss runs through the chunked LM-head kernel (no full logits tensor).
    `micro_batch(settings, cuda)`: sequences per forward/backward pass when a step's batch is split
    (sampling methods); None: TRL's batch as it is.
    `packs`: the stage can train padding-free batches (rows packed into one sequence, attention per row).
    `prefer`: full / LoRA / QLoRA in the order the advisor tries them."""

    sequences_per_row: Callable[[StageSettings], int] = _one_sequence
    tokens_per_pass: Callable[[StageSettings, bool], int] = _batch_tokens
    reference_copy: Callable[[StageSettings, bool], bool] = _no_reference
    micro_batch: Callable[[StageSettings, bool], int | None] = _whole_batch
    fused_head: bool = False
    packs: bool = False
    prefer: tuple[TrainingWay, ...] = ("full", "lora", "qlora")


@dataclass(frozen=True)
class Advice:
    """What the advisor needs to know of a method.

    `name`: the advisor's name for it (default: the kind; "cpt" for pretrain). `claims`: data formats
    whose datasets the advisor routes to it (a format claimed twice goes to the method registered last).
    `count`/`tokens`: the `TaskSpec` fields its rows and tokens fill (None: its rows are counted under its
    name in `TaskSpec.method_rows`). `order`: its place in a chain (pre-training 0, imitation 10,
    preferences 20, online RL 30). `wants(task)`: whether the advisor recommends it, given a training
    task (default: it has rows). `rule`, `when`, `message`, `why`, `source`: the rule's id and words
    (`message` is formatted with the task's fields). `scale`: the data it needs, in words; `call`: an example call."""

    name: str | None = None
    claims: tuple[DataFormat, ...] = ()
    count: str | None = None
    tokens: str | None = None
    order: int = 25
    wants: Callable[[TaskFacts], bool] | None = None
    rule: str = ""
    when: str = ""
    message: str = ""
    why: str = ""
    source: str = ""
    scale: str = ""
    call: str = ""
    noun: str = ""                                 # what a row is, in words ("labelled answers")


@dataclass(frozen=True)
class Plot:
    """A curve of a stage's training log in the run's report: drawn when the stage logged any of `keys`.
    `name` and `title` may hold `{kind}` and `{method}` (the kind in capitals): "{method} reward margin"."""

    name: str
    keys: tuple[str, ...]
    title: str

    def for_kind(self, kind: str) -> Plot:
        return Plot(self.name.format(kind=kind, method=kind.upper()), self.keys,
                    self.title.format(kind=kind, method=kind.upper()))


# The curves of the preference methods (DPO, KTO) and of the sampling ones (GRPO, RLOO).
MARGIN_PLOT = Plot("{kind}_margin", ("rewards/margins", "rewards/accuracies"), "{method} reward margin / accuracy")
REWARD_PLOT = Plot("{kind}_reward", ("reward", "reward_std"), "{method} mean reward and spread")


SettingsT = TypeVar("SettingsT", bound=StageSettings)


@dataclass(frozen=True)
class StageSpec(Generic[SettingsT]):
    """One kind of stage, generic in its settings class (the checks take that class).

    `kind` is its one name: the Trainer method, the YAML `kind`, the folder suffix `NN-kind`.
    `trl_args(ctx, rows)` gives the TRL arguments the library sets; `run(ctx)` trains and saves;
    `check(settings, data, where)` returns stage-specific problems found before training;
    `check_model(settings, model, where)` those that need the pipeline's model (its folder or hub id), e.g. a
    teacher whose tokenizer must be the student's; `check_rows(settings, data, tokenizer, where)` those that
    need the rows and the tokenizer the stage trains with (answer tokens left within max_length, rewards
    called with the completions the stage produces), with the rows' token counts where it tokenised them
    (`RowsCheck`). The tokenizer is one for the whole chain, in
    stage order: a check that changes it as its stage will (a chat template set) hands the change on."""

    kind: str
    summary: str
    settings: type[SettingsT]
    formats: tuple[DataFormat, ...]
    trl_config: str                                # name of TRL's config class, e.g. "SFTConfig"
    default_lr: tuple[float, float]                # (full fine-tuning, LoRA)
    data_hint: str                                 # what rows look like, for errors and advice
    trl_args: Callable[[StageContext, int], dict[str, object]]
    run: Callable[[StageContext], StageOutcome]
    check: Callable[[SettingsT, Data | Stream | None, str], list[Problem]] | None = None
    check_model: Callable[[SettingsT, str, str], list[Problem]] | None = None       # model: its folder or hub id
    check_rows: Callable[[SettingsT, Data, Tokenizer, str], RowsCheck] | None = None    # rows held in memory
    aliases: tuple[str, ...] = ()
    cost: Cost = Cost()
    advice: Advice = Advice()
    report_metrics: tuple[str, ...] = ("loss",)    # the training log's main curve, first logged one wins
    plots: tuple[Plot, ...] = ()                    # the report's curves of this method, beside loss and learning rate

    @property
    def advisor_name(self) -> str:
        """The advisor's name for this method ("cpt" for pretrain)."""
        return self.advice.name or self.kind

    def wanted(self, task: TaskFacts) -> bool:
        """Whether the advisor recommends this method for a task that trains."""
        return self.advice.wants(task) if self.advice.wants else task.rows_for(self.kind) > 0

    def config_class(self) -> type:
        """TRL's config class for this stage."""
        config: type = getattr(importlib.import_module("trl"), self.trl_config)
        return config

    def learning_rate(self, settings: StageSettings, lora: bool) -> float:
        """The rate given, else the default for this kind (LoRA trains few parameters from zero,
        so it takes rates about ten times higher)."""
        return settings.learning_rate or self.default_lr[1 if lora else 0]

    def choose(self, settings: StageSettings, device: DeviceProfile, params: int | None, shape: dict[str, int],
               *, lora: bool, quantize: str | None = None, lengths: Sequence[int] | None = None) -> Choices:
        """Every device decision of a stage of this method (`posttrain.device.choose`, fed by this method's
        `Cost`): the one function behind both `Trainer.plan()` and the advisor's memory estimate.
        `quantize` ("nf4", QLoRA): the base is held in 4-bit, whatever `weights` says. `lengths`: the token
        count of every sequence the stage trains (`RowsCheck.lengths`); the estimate (and on a GPU whether
        activation checkpointing is needed) is then sized by the batch of the longest rows, not by
        batch_size x max_length."""
        from posttrain.device import choose

        cuda = device.kind == "cuda"
        bound = self.cost.tokens_per_pass(settings, cuda)

        def chosen(tokens: int) -> Choices:
            return choose(device, params, lora=lora, precision=settings.precision, weights=quantize or settings.weights,
                          checkpointing=settings.gradient_checkpointing, optimizer=settings.optimizer,
                          fused_head=self.cost.fused_head, tokens_per_step=tokens,
                          shape=shape, reference_copy=self.cost.reference_copy(settings, lora),
                          micro_batch=self.cost.micro_batch(settings, cuda), packable=self.cost.packs,
                          padding_free=getattr(settings, "padding_free", None), lean_layers=settings.lean_layers)

        choices = chosen(bound)
        tokens = pass_tokens(lengths, settings.batch_size, choices.padding_free) if lengths else bound
        if tokens >= bound:
            return choices
        how = "packed" if choices.padding_free else "padded to the longest"
        sized = chosen(tokens)
        return dataclasses.replace(sized, reasons=(
            f"memory sized by the data: the {settings.batch_size} longest rows, {how}, are {tokens:,} tokens a "
            f"pass (batch_size x max_length would be {bound:,})", *sized.reasons))


def pass_tokens(lengths: Sequence[int], batch: int, packed: bool) -> int:
    """The most tokens one pass of `batch` rows of these lengths can hold: the `batch` longest rows packed
    into one sequence (padding-free), or `batch` rows padded to the longest."""
    longest = sorted(lengths, reverse=True)[:batch]
    return sum(longest) if packed else batch * longest[0]


# Where the advisor's stage rules come from (the course notes the project follows).
METHODS_SOURCE = ("Course notes, 'Overview of Post-Training Methods' table (data required); Course notes, "
                  "'Key Ingredients': co-design of data and algorithms")


# Bounds TRL's config classes do not check themselves: (test, what is allowed).
RANGES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "learning_rate": (lambda v: v > 0, "> 0"),
    "num_train_epochs": (lambda v: v > 0, "> 0"),
    "max_steps": (lambda v: v == -1 or v >= 1, ">= 1 (or -1 for epochs)"),
    "per_device_train_batch_size": (lambda v: v >= 1, ">= 1"),
    "gradient_accumulation_steps": (lambda v: v >= 1, ">= 1"),
    "warmup_steps": (lambda v: v >= 0, ">= 0"),
    "weight_decay": (lambda v: v >= 0, ">= 0"),
    "max_grad_norm": (lambda v: v >= 0, ">= 0"),
    "logging_steps": (lambda v: v > 0, "> 0"),
    "save_steps": (lambda v: v > 0, "> 0"),
    "max_length": (lambda v: v is None or v >= 1, ">= 1"),
    "max_completion_length": (lambda v: v >= 1, ">= 1"),
    "num_generations": (lambda v: v >= 2, ">= 2 (GRPO compares answers within a group)"),
    "temperature": (lambda v: v > 0, "> 0"),
    "beta": (lambda v: v >= 0, ">= 0"),
}


def check_trl_args(trl_args: Mapping[str, object], config_class: type, where: str) -> list[Problem]:
    """Keys that TRL's config class does not have, values of another type than the field's annotation,
    and values outside the bounds in `RANGES`."""
    from posttrain.stages.trl_types import type_problem

    fields = {f.name: f.type for f in dataclasses.fields(config_class)}
    known = set(fields)
    problems = []
    for key, value in trl_args.items():
        if key not in known:
            close = difflib.get_close_matches(key, sorted(known), n=1)
            fix = f"did you mean '{close[0]}'?" if close else f"see the fields of trl.{config_class.__name__}"
            problems.append(Problem(f"{where}, trl_args key '{key}'",
                                    f"is not a field of trl.{config_class.__name__}", fix))
        elif (wrong := type_problem(f"{where}, trl_args key '{key}'", value, fields[key])) is not None:
            problems.append(wrong)
        elif key in RANGES:
            ok, allowed = RANGES[key]
            try:
                fine = ok(value)
            except TypeError:
                fine = False
            if not fine:
                problems.append(Problem(f"{where}, trl_args key '{key}'", f"got {short(value)}",
                                        f"use a value {allowed}"))
    return problems


def merged_trl_args(spec: StageSpec, ctx: StageContext, rows: int) -> tuple[dict[str, object], dict[str, tuple[object, object]]]:
    """The keyword arguments for TRL's config: the library's, with the user's `trl_args` on top
    (the user's value wins). Returns (arguments, {key: (library value, user value)} overridden)."""
    ours = spec.trl_args(ctx, rows)
    user = ctx.settings.trl_args
    overridden = {k: (ours[k], v) for k, v in user.items() if k in ours and ours[k] != v}
    return {**ours, **user}, overridden


def build_trl_config(spec: StageSpec, ctx: StageContext, rows: int) -> TrainingArguments:
    """TRL's config object for the stage (TRL checks its own fields here): from the arguments compiled
    for it (`ctx.trl_args`), else worked out here for a stage run on its own."""
    arguments = ctx.trl_args if ctx.trl_args is not None else merged_trl_args(spec, ctx, rows)[0]
    return spec.config_class()(**arguments)
