"""DPO: raise the likelihood of preferred answers relative to dispreferred ones, against the
stage's input model as the reference."""

from __future__ import annotations

from typing import Any

from posttrain.config import DPOSettings
from posttrain.data import DataFormat
from posttrain.stages.common import (StageContext, base_args, holds_reference_copy, load_input, peft_config,
                                     save_model, stage_optimizers, train)
from posttrain.stages.spec import StageSpec, build_trl_config


def reference_model(ctx: StageContext):
    """The frozen reference: a second copy of the input model where the stage keeps one
    (`holds_reference_copy`), else None (TRL then disables the LoRA adapter, or scores every row with
    the input model before the first update)."""
    if not holds_reference_copy(ctx.settings, lora=ctx.lora is not None):
        return None
    from posttrain.device import torch_dtype
    from posttrain.models import load_model

    ref, _ = load_model(ctx.input_model, dtype=torch_dtype(ctx.choices.weights))
    return ref.eval().requires_grad_(False)


def trl_args(ctx: StageContext, rows: int) -> dict[str, Any]:
    """DPOConfig arguments: the shared ones and the DPO loss."""
    s: DPOSettings = ctx.settings
    return {**base_args(ctx, rows), "max_length": s.max_length, "beta": s.beta, "loss_type": s.losses,
            "loss_weights": s.loss_weights, "precompute_ref_log_probs": s.precompute_ref}


def run(ctx: StageContext) -> dict[str, Any]:
    """Train on preference pairs and save the full model; returns TRL's final metrics and log.
    The reference is the input model (see `reference_model`)."""
    from trl import DPOTrainer

    return train_against_reference(ctx, SPEC, DPOTrainer, reference_model(ctx))


def train_against_reference(ctx: StageContext, spec: StageSpec, trainer_class: type, reference: Any) -> dict[str, Any]:
    """TRL's preference trainer (DPO, KTO) over the stage's rows, against `reference` (None: TRL's own
    choice, the adapter disabled under LoRA or precomputed log-probs); saves the full model."""
    model, tokenizer = load_input(ctx)
    dataset = ctx.data.to_dataset(conversational=bool(tokenizer.chat_template), system=ctx.settings.system)
    args = build_trl_config(spec, ctx, len(dataset))
    trainer = trainer_class(model=model, ref_model=reference, args=args, train_dataset=dataset,
                            processing_class=tokenizer, peft_config=peft_config(ctx.lora), callbacks=ctx.callbacks,
                            optimizers=stage_optimizers(ctx, model))
    metrics = train(trainer, ctx)
    save_model(trainer, tokenizer, ctx)
    return {"metrics": metrics, "history": trainer.state.log_history}


SPEC = StageSpec(
    kind="dpo", summary="direct preference optimisation: prefer chosen over rejected answers, against the input model",
    settings=DPOSettings, formats=(DataFormat.PREFERENCE,), trl_config="DPOConfig", default_lr=(5e-6, 5e-5),
    trl_args=trl_args, run=run,
    data_hint="preference rows like {'prompt': ..., 'chosen': ..., 'rejected': ...}")
