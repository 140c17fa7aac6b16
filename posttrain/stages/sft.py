"""SFT: imitate prompt -> response pairs, with loss on the assistant's tokens only."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from posttrain.config import StageSettings, settings_as
from posttrain.data import Data, DataFormat
from posttrain.data.formats import has_tool_calls
from posttrain.data.templates import check_tool_template, resolve_template
from posttrain.errors import ConfigError, DataError, Problem
from posttrain.packing import use_varlen_attention
from posttrain.stages.common import (StageContext, base_args, load_input, peft_config, save_model, stage_optimizers,
                                     train)
from posttrain.stages.spec import (METHODS_SOURCE, Advice, Cost, RowsCheck, StageOutcome, StageSpec,
                                   build_trl_config)
from posttrain.stages.tokens import IGNORE, row_messages, row_tools, tokenize_chat

if TYPE_CHECKING:
    from collections.abc import Callable

    import datasets

    from posttrain.types import Tokenizer


PADDING_FREE_FIELD = Field(
    None, description="Pack each batch's rows into one sequence with attention kept per row (no padding computed; "
    "rows in the sampler's order) instead of padded, length-grouped batches. None: the device's default "
    "(on CPU; shown in plan()).")


class SFTSettings(StageSettings):
    """Supervised fine-tuning: loss on the assistant's tokens only (tool calls included), end-of-turn included."""

    kind: Literal["sft"] = "sft"
    system: str | None = Field(None, description="System prompt added to rows that have none.")
    chat_template: str | None = Field(
        None, description="Chat template to train (and save) the model with: 'chatml-tools' (built in, renders "
        "tools and tool calls), a .jinja file path, or Jinja text. None: the model's own.")
    padding_free: bool | None = PADDING_FREE_FIELD


def build_dataset(data: Data, tokenizer: Tokenizer, settings: SFTSettings) -> datasets.Dataset:
    """Tokenised rows with labels masked outside assistant replies; rows left with nothing to learn
    after truncation to max_length are an error naming them (`tokenized_rows`, which `validate()` runs
    too)."""
    import datasets

    rows, problems = tokenized_rows(data, tokenizer, settings)
    if problems:
        raise DataError(problems)
    return datasets.Dataset.from_list(rows)


def tokenized_rows(data: Data, tokenizer: Tokenizer, settings: SFTSettings,
                   where: str | None = None) -> tuple[list[dict[str, list[int]]], list[Problem]]:
    """The rows tokenised as the stage trains on them, and a problem per row left with no answer token
    within max_length. A `chat_template` setting replaces the tokenizer's template first (and is saved
    with the model); rows with tools or tool calls need a template that renders them (a ConfigError
    names how to pass one otherwise)."""
    template = settings.chat_template
    if template:
        tokenizer.chat_template = resolve_template(template)
    check_tool_template(tokenizer, tools=any(row_tools(r) for r in data.rows),
                        calls=any(has_tool_calls(row_messages(r)) for r in data.rows),
                        model=getattr(tokenizer, "name_or_path", None) or "the model")
    rows, empty = [], []
    for number, row in enumerate(data.rows, start=1):
        tokens = tokenize_chat(row_messages(row, settings.system), tokenizer, settings.max_length, row_tools(row))
        if all(label == IGNORE for label in tokens["labels"]):
            empty.append(number)
        rows.append(tokens)
    return rows, [Problem(f"{where or data.source}, row {n}", f"has no answer tokens left within max_length="
                          f"{settings.max_length}", "raise max_length or shorten the prompt") for n in empty]


def length_problems(settings: SFTSettings, data: Data | None, tokenizer: Tokenizer, where: str) -> RowsCheck:
    """Before training (`validate()`): every row keeps answer tokens within max_length, tokenised with the
    tokenizer and template the stage will use (a `chat_template` setting is applied to it, as the run
    does, so later stages see it too); the rows' token counts size the memory estimate."""
    s = settings_as(settings, SFTSettings)
    if data is None or (s.chat_template and check(s, data, where)):      # a template that does not resolve: `check`
        return RowsCheck([])
    rows, problems = tokenized_rows(data, tokenizer, s, data.source)
    return RowsCheck(problems, tuple(len(row["input_ids"]) for row in rows))


def run(ctx: StageContext) -> StageOutcome:
    """Train on the stage's data and save the full model; returns TRL's final metrics and log."""
    return train_tokenized(ctx, build_dataset, SPEC)


def trl_args(ctx: StageContext, rows: int) -> dict[str, object]:
    """SFTConfig arguments: the shared ones, then padding-free batches (rows already cut to max_length
    when tokenised) or the length cap and length-grouped batches."""
    if packed(ctx):
        return {**base_args(ctx, rows), "max_length": None, "padding_free": True}
    return {**base_args(ctx, rows), "max_length": ctx.settings.max_length, **LENGTH_GROUPED}


def packed(ctx: StageContext) -> bool:
    """Whether the stage trains padding-free batches (the device choices, shown in plan())."""
    return bool(getattr(ctx.choices, "padding_free", False))


def train_tokenized(ctx: StageContext, build: Callable[..., datasets.Dataset | datasets.IterableDataset],
                    spec: StageSpec) -> StageOutcome:
    """TRL's SFTTrainer over a dataset already tokenised with its labels (SFT and pre-training)."""
    from trl import SFTTrainer

    model, tokenizer = load_input(ctx)
    dataset = build(ctx.loaded(), tokenizer, ctx.settings)
    if packed(ctx):
        # Rows attend only to themselves; without this the model's SDPA gets a block-diagonal mask (also exact).
        use_varlen_attention(model)
    else:
        dataset = with_lengths(dataset)
    args = build_trl_config(spec, ctx, len(dataset) if hasattr(dataset, "__len__") else len(ctx.loaded()))
    trainer = SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer,
                         peft_config=peft_config(ctx.lora), callbacks=ctx.callbacks,
                         optimizers=stage_optimizers(ctx, model))
    metrics = train(trainer, ctx)
    save_model(trainer, tokenizer, ctx)
    return {"metrics": metrics, "history": trainer.state.log_history}


# Padded batches (on a GPU by default) are made of rows of similar length: the same rows per epoch, in
# random groups, with little padding. Padding-free batches (`posttrain.packing`) need no grouping.
LENGTH_GROUPED = {"train_sampling_strategy": "group_by_length", "length_column_name": "length"}


def with_lengths(dataset: datasets.Dataset | datasets.IterableDataset) -> datasets.Dataset | datasets.IterableDataset:
    """The dataset with a `length` column, so length-grouped batching does not re-read every row (a
    stream, read in order, is left as it is)."""
    if not hasattr(dataset, "__len__") or "length" in dataset.column_names:
        return dataset
    return dataset.add_column("length", [len(ids) for ids in dataset["input_ids"]])


def check(settings: SFTSettings, data: object, where: str) -> list[Problem]:
    """The chat template setting resolves (a built-in name, a readable file, or Jinja text)."""
    template = settings.chat_template
    if template is None:
        return []
    try:
        resolve_template(template, f"{where}, setting 'chat_template'")
    except ConfigError as err:
        return err.problems
    return []


SPEC = StageSpec(
    kind="sft", summary="supervised fine-tuning: imitate answers, loss on the assistant's tokens only",
    settings=SFTSettings, formats=(DataFormat.PROMPT_COMPLETION, DataFormat.MESSAGES), trl_config="SFTConfig",
    default_lr=(2e-5, 2e-4), trl_args=trl_args, run=run, check=check, check_rows=length_problems,
    cost=Cost(fused_head=True, packs=True),
    advice=Advice(
        claims=(DataFormat.PROMPT_COMPLETION, DataFormat.MESSAGES), count="labeled_examples", tokens="sft_tokens",
        order=10, rule="sft-from-pairs", when="training, and labeled_examples > 0",
        message="{labeled_examples:,} labeled prompt-response examples: supervised fine-tuning (SFT) imitates them",
        why="SFT needs prompt-response pairs and learns P(response | prompt), with the loss on the response "
            "tokens only.", source=METHODS_SOURCE, scale="at least ~1,000 examples", call='.sft("sft.jsonl")'),
    data_hint="prompt-response rows like {'prompt': '2+2?', 'completion': '4'} or chats {'messages': [...]} "
              "(tool calls and a 'tools' column included; ShareGPT and OpenAI exports are converted)")
