"""On-policy distillation (GKD): the student answers the prompts itself and learns, token by token, the
teacher's next-token distribution over its own answers (Agarwal et al., 2024, 'On-Policy Distillation of
Language Models: Learning from Self-Generated Mistakes'). Through TRL's `DistillationTrainer`.

Unlike sequence-level `distill` (the teacher's answers learnt by SFT), the student is corrected where its
own answers go wrong, and every token carries the teacher's whole distribution; the price is a teacher
forward pass per step, and the teacher must share the student's tokenizer (`validate()` checks it).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from posttrain.config import StageSettings
from posttrain.data import DataFormat
from posttrain.errors import PosttrainError, Problem
from posttrain.stages.common import (StageContext, base_args, load_input, peft_config, save_model, stage_optimizers,
                                     torch_dtype, train)
from posttrain.stages.spec import Advice, Cost, StageOutcome, StageSpec, build_trl_config


class GKDSettings(StageSettings):
    """On-policy distillation: the student samples answers, the teacher's distributions are the targets."""

    kind: Literal["gkd"] = "gkd"
    teacher: str = Field(..., min_length=1, description="The teacher: 'default', a local model folder or a hub "
                         "id; it must use the student's tokenizer.")
    beta: float = Field(1.0, ge=0, le=1, description="The divergence (TRL's generalized JSD): 0 forward KL "
                        "(cover the teacher's modes), 0.5 JSD, 1 reverse KL (TRL's default: the teacher's main mode).")
    max_completion_length: int = Field(128, gt=0, description="Longest answer the student samples, in tokens.")
    temperature: float = Field(1.0, gt=0, description="Sampling temperature, and of the distributions compared.")
    top_p: float = Field(1.0, gt=0, le=1)
    system: str | None = None


def trl_args(ctx: StageContext, rows: int) -> dict[str, object]:
    """DistillationConfig arguments: the shared ones, the divergence and the student's sampling."""
    s = ctx.settings_as(GKDSettings)
    return {**base_args(ctx, rows), "beta": s.beta, "max_completion_length": s.max_completion_length,
            "temperature": s.temperature, "top_p": s.top_p, "log_completions": False}


def run(ctx: StageContext) -> StageOutcome:
    """Distill on the student's own answers and save the full model."""
    from trl import DistillationTrainer

    from posttrain.models import load_model

    s = ctx.settings_as(GKDSettings)
    model, tokenizer = load_input(ctx)
    teacher, _ = load_model(s.teacher, dtype=torch_dtype(ctx.choices.weights) if ctx.choices else None)
    dataset = ctx.in_memory().to_dataset(conversational=bool(tokenizer.chat_template), system=s.system)
    args = build_trl_config(SPEC, ctx, len(dataset))
    trainer = DistillationTrainer(model=model, teacher_model=teacher, args=args, train_dataset=dataset,
                                  processing_class=tokenizer, peft_config=peft_config(ctx.lora),
                                  callbacks=ctx.callbacks, optimizers=stage_optimizers(ctx, model))
    metrics = train(trainer, ctx)
    save_model(trainer, tokenizer, ctx)
    return {"metrics": metrics, "history": trainer.state.log_history}


def check_model(settings: GKDSettings, model: str, where: str) -> list[Problem]:
    """The teacher loads and its tokenizer is the student's (the pipeline model's): the loss compares the two
    models' distributions token id by token id."""
    from posttrain.models import load_tokenizer

    try:
        teacher = load_tokenizer(settings.teacher)
    except (OSError, ValueError, PosttrainError) as err:
        return [Problem(f"{where}, setting 'teacher'", f"cannot be loaded ({type(err).__name__})",
                        "give a local model folder, 'default', or a hub id already downloaded")]
    try:
        student = load_tokenizer(model)
    except (OSError, ValueError, PosttrainError):
        return []                          # the model's own problem is reported where it is resolved
    if teacher.get_vocab() != student.get_vocab():
        return [Problem(f"{where}, setting 'teacher'", f"has another tokenizer than the student ({len(teacher):,} "
                        f"tokens against {len(student):,}, or the same ids for other text)",
                        "use a teacher of the student's family (the same tokenizer), or sequence-level "
                        "distillation, .distill(prompts, teacher=...), which works across tokenizers")]
    return []


SPEC = StageSpec(
    kind="gkd", summary="on-policy distillation: the student answers, the teacher's token distributions teach it",
    settings=GKDSettings, formats=(DataFormat.PROMPT_ONLY,), trl_config="DistillationConfig",
    default_lr=(1e-5, 1e-4), trl_args=trl_args, run=run, check_model=check_model,
    cost=Cost(reference_copy=lambda s, lora: True, prefer=("lora", "qlora")),
    advice=Advice(
        order=13, noun="prompts for on-policy distillation",
        source="Agarwal et al., 2024, 'On-Policy Distillation of Language Models'",
        call='.gkd("prompts.jsonl", teacher="path/to/teacher-of-the-same-family")'),
    report_metrics=("loss",),
    data_hint="prompt rows like {'prompt': 'Explain recursion.'} (the student answers, the teacher scores)")
