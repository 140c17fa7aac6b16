"""KTO: learn from answers labelled good or bad one at a time (no pairs needed), against the
stage's input model as the reference (Ethayarajh et al., 2024)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from posttrain.config import StageSettings
from posttrain.data import DataFormat
from posttrain.stages.common import StageContext, base_args
from posttrain.stages.dpo import keeps_reference, prompt_length_problems, reference_model, train_against_reference
from posttrain.stages.spec import MARGIN_PLOT, METHODS_SOURCE, Advice, Cost, StageOutcome, StageSpec


class KTOSettings(StageSettings):
    """Kahneman-Tversky optimisation on unpaired rows `{"prompt", "completion", "label": bool}`."""

    kind: Literal["kto"] = "kto"
    beta: float = Field(0.1, gt=0, description="Strength of the pull toward the reference model.")
    loss_type: Literal["kto", "apo_zero_unpaired"] = "kto"
    desirable_weight: float = Field(1.0, gt=0, description="Weight of the loss on answers labelled true; "
                                    "raise it when they are rarer than the false ones.")
    undesirable_weight: float = Field(1.0, gt=0, description="Weight of the loss on answers labelled false.")
    precompute_ref: bool = Field(True, description="Reference log-probs once, before training.")
    system: str | None = None


def trl_args(ctx: StageContext, rows: int) -> dict[str, object]:
    """KTOConfig arguments: the shared ones and the KTO loss."""
    s = ctx.settings_as(KTOSettings)
    return {**base_args(ctx, rows), "max_length": s.max_length, "beta": s.beta, "loss_type": s.loss_type,
            "desirable_weight": s.desirable_weight, "undesirable_weight": s.undesirable_weight,
            "precompute_ref_log_probs": s.precompute_ref}


def run(ctx: StageContext) -> StageOutcome:
    """Train on labelled answers and save the full model; returns TRL's final metrics and log."""
    from trl import KTOTrainer

    return train_against_reference(ctx, SPEC, KTOTrainer, reference_model(ctx))


SPEC = StageSpec(
    kind="kto", summary="KTO: learn from single answers labelled desirable or not, against the input model",
    settings=KTOSettings, formats=(DataFormat.UNPAIRED_PREFERENCE,), trl_config="KTOConfig",
    default_lr=(5e-6, 5e-5), trl_args=trl_args, run=run, check_rows=prompt_length_problems,
    cost=Cost(reference_copy=keeps_reference, prefer=("lora", "qlora")),
    advice=Advice(
        claims=(DataFormat.UNPAIRED_PREFERENCE,), count="labelled_answers", tokens="labelled_tokens", order=20,
        rule="kto-from-labelled-answers", when="training, and labelled_answers > 0",
        message="{labelled_answers:,} answers labelled good or bad, not paired: KTO (Kahneman-Tversky "
                "optimisation) learns from them one at a time (after SFT when there is SFT data)",
        why="KTO needs only a prompt, an answer and a thumbs up or down, the feedback products collect; pairs "
            "are not required.", source=f"{METHODS_SOURCE}; Ethayarajh et al., 2024, 'KTO'",
        scale="~1,000 labelled answers or more", call='.kto("feedback.jsonl")', noun="labelled answers"),
    report_metrics=("rewards/margins", "loss"), plots=(MARGIN_PLOT,),
    data_hint="labelled answers like {'prompt': 'Who are you?', 'completion': 'I am Ava.', 'label': true}")
