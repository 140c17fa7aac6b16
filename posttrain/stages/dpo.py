"""DPO: raise the likelihood of preferred answers relative to dispreferred ones, against the
stage's input model as the reference."""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING, Literal

from pydantic import Field, ValidationInfo, field_validator

from posttrain.config import StageSettings
from posttrain.data import DataFormat
from posttrain.errors import Problem
from posttrain.stages.common import (StageContext, base_args, load_input, peft_config, save_model, shared_dataset,
                                     stage_optimizers, train)
from posttrain.stages.spec import (MARGIN_PLOT, METHODS_SOURCE, Advice, Cost, RowsCheck, StageOutcome, StageSpec,
                                   build_trl_config)

if TYPE_CHECKING:
    from transformers import PreTrainedModel

    from posttrain.data import Data
    from posttrain.types import Tokenizer

# The losses TRL's DPOTrainer implements (trl.DPOConfig.loss_type).
DPO_LOSSES = ("sigmoid", "hinge", "ipo", "exo_pair", "nca_pair", "robust", "bco_pair", "sppo_hard", "aot",
              "aot_unpaired", "apo_zero", "apo_down", "discopop", "sft", "sigmoid_norm")


class DPOSettings(StageSettings):
    """Direct preference optimisation against the stage's input model as reference."""

    kind: Literal["dpo"] = "dpo"
    beta: float = Field(0.1, gt=0, description="Strength of the pull toward the reference model.")
    loss_type: str | list[str] = Field("sigmoid", description="TRL's DPO loss (sigmoid, ipo, hinge, ...), or "
                                       "several to combine, e.g. ['sigmoid', 'sft'] (RPO: DPO plus NLL on chosen).")
    loss_weights: list[float] | None = Field(None, description="One weight per loss in `loss_type` (default 1 each).")
    precompute_ref: bool = Field(True, description="Reference log-probs once, before training.")
    system: str | None = None

    @field_validator("loss_type")
    @classmethod
    def _known_losses(cls, value: str | list[str]) -> str | list[str]:
        names = [value] if isinstance(value, str) else value
        if not names:
            raise ValueError("loss_type is an empty list; fix: give at least one loss, e.g. 'sigmoid'")
        for name in names:
            if name not in DPO_LOSSES:
                close = difflib.get_close_matches(name, DPO_LOSSES, n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                raise ValueError(f"unknown DPO loss {name!r}; fix: {hint}use one of {', '.join(DPO_LOSSES)}")
        return value

    @field_validator("loss_weights")
    @classmethod
    def _weights_match(cls, value: list[float] | None, info: ValidationInfo) -> list[float] | None:
        losses = info.data.get("loss_type")
        count = 1 if isinstance(losses, str) else len(losses or [])
        if value is not None and losses is not None and len(value) != count:
            raise ValueError(f"loss_weights has {len(value)} weight(s) for {count} loss(es) in loss_type "
                             f"{losses!r}; fix: give one weight per loss")
        return value

    @property
    def losses(self) -> list[str]:
        """`loss_type` as a list, the form TRL takes."""
        return [self.loss_type] if isinstance(self.loss_type, str) else list(self.loss_type)


def keeps_reference(settings: StageSettings, lora: bool) -> bool:
    """Whether DPO (and KTO) keep a frozen copy of the input model in memory while training: not under
    LoRA (the adapter is switched off instead), nor with precomputed reference log-probs (the default:
    the input model scores every row before the first update). The stage loads the copy by this rule
    and the memory estimate counts it (`Cost.reference_copy`)."""
    return not lora and not getattr(settings, "precompute_ref", True)


def reference_model(ctx: StageContext) -> PreTrainedModel | None:
    """The frozen reference: a second copy of the input model where the stage keeps one
    (`keeps_reference`), else None (TRL then disables the LoRA adapter, or scores every row with
    the input model before the first update)."""
    if not keeps_reference(ctx.settings, lora=ctx.lora is not None):
        return None
    from posttrain.device import torch_dtype
    from posttrain.models import load_model

    ref, _ = load_model(ctx.input_model, dtype=torch_dtype(ctx.choices.weights))
    return ref.eval().requires_grad_(False)


def prompt_length_problems(settings: StageSettings, data: Data | None, tokenizer: Tokenizer,
                           where: str) -> RowsCheck:
    """Before training (`validate()`): rows whose prompt alone fills max_length. TRL cuts each sequence to
    max_length keeping its start, so such a row keeps no answer token and teaches nothing (DPO, KTO)."""
    from posttrain.data.formats import with_system

    if data is None or not hasattr(data, "rows"):
        return RowsCheck([])
    conversational = bool(getattr(tokenizer, "chat_template", None))
    system = getattr(settings, "system", None)
    problems = []
    for number, row in enumerate(data.as_conversational(system) if conversational else data.rows, start=1):
        prompt = row.get("prompt")
        if prompt is None:
            continue
        if conversational:
            text = tokenizer.apply_chat_template(with_system(list(prompt), None), tokenize=False,
                                                 add_generation_prompt=True)
        else:
            text = str(prompt)
        length = len(tokenizer(text, add_special_tokens=False)["input_ids"])
        if length >= settings.max_length:
            problems.append(Problem(f"{data.source}, row {number}", f"has no answer tokens left within max_length="
                                    f"{settings.max_length} (its prompt alone is {length} tokens, and training keeps "
                                    "the start of each sequence)", "raise max_length or shorten the prompt"))
    return RowsCheck(problems)


def trl_args(ctx: StageContext, rows: int) -> dict[str, object]:
    """DPOConfig arguments: the shared ones and the DPO loss."""
    s = ctx.settings_as(DPOSettings)
    return {**base_args(ctx, rows), "max_length": s.max_length, "beta": s.beta, "loss_type": s.losses,
            "loss_weights": s.loss_weights, "precompute_ref_log_probs": s.precompute_ref}


def run(ctx: StageContext) -> StageOutcome:
    """Train on preference pairs and save the full model; returns TRL's final metrics and log.
    The reference is the input model (see `reference_model`)."""
    from trl import DPOTrainer

    return train_against_reference(ctx, SPEC, DPOTrainer, reference_model(ctx))


def train_against_reference(ctx: StageContext, spec: StageSpec, trainer_class: type,
                            reference: PreTrainedModel | None) -> StageOutcome:
    """TRL's preference trainer (DPO, KTO) over the stage's rows, against `reference` (None: TRL's own
    choice, the adapter disabled under LoRA or precomputed log-probs); saves the full model."""
    model, tokenizer = load_input(ctx)
    dataset = ctx.in_memory().to_dataset(conversational=bool(tokenizer.chat_template), system=getattr(ctx.settings, "system", None))
    args = build_trl_config(spec, ctx, len(dataset))
    dataset = shared_dataset(dataset, ctx, args)      # the reference log-probs' cache: one file for every rank
    trainer = trainer_class(model=model, ref_model=reference, args=args, train_dataset=dataset,
                            processing_class=tokenizer, peft_config=peft_config(ctx.lora), callbacks=ctx.callbacks,
                            optimizers=stage_optimizers(ctx, model))
    metrics = train(trainer, ctx)
    save_model(trainer, tokenizer, ctx)
    return {"metrics": metrics, "history": trainer.state.log_history}


SPEC = StageSpec(
    kind="dpo", summary="direct preference optimisation: prefer chosen over rejected answers, against the input model",
    settings=DPOSettings, formats=(DataFormat.PREFERENCE,), trl_config="DPOConfig", default_lr=(5e-6, 5e-5),
    trl_args=trl_args, run=run, check_rows=prompt_length_problems,
    cost=Cost(sequences_per_row=lambda s: 2, tokens_per_pass=lambda s, cuda: 2 * s.batch_size * s.max_length,
              reference_copy=keeps_reference, prefer=("lora", "qlora")),
    advice=Advice(
        claims=(DataFormat.PREFERENCE,), count="preference_pairs", tokens="preference_tokens", order=20,
        rule="dpo-from-preferences", when="training, and preference_pairs > 0",
        message="{preference_pairs:,} preference pairs: direct preference optimisation (DPO) steers the model toward "
                "the chosen answers (after SFT when there is SFT data)",
        why="DPO needs prompts with a preferred and a dispreferred answer; it fits behaviour such as identity and "
            "tone.", source=METHODS_SOURCE, scale="~1,000 pairs or more", call='.dpo("prefs.jsonl")'),
    report_metrics=("rewards/margins", "loss"), plots=(MARGIN_PLOT,),
    data_hint="preference rows like {'prompt': ..., 'chosen': ..., 'rejected': ...}")
