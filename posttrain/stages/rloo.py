"""RLOO: REINFORCE Leave-One-Out. Like GRPO, the model samples a group of answers per prompt and rewards
score them, but each answer's baseline is the mean reward of the *other* answers in its group, and the
KL penalty toward the input model is part of the reward (Ahmadian et al., 2024, 'Back to Basics:
Revisiting REINFORCE Style Optimization for Learning from Human Feedback in LLMs')."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from posttrain.data import DataFormat
from posttrain.errors import Problem
from posttrain.stages.common import StageContext
from posttrain.stages.grpo import (SAMPLED_COST, SampledRLSettings, reward_problems, sampling_args, sampling_problems,
                                   train_sampled)
from posttrain.stages.spec import REWARD_PLOT, Advice, StageOutcome, StageSpec


class RLOOSettings(SampledRLSettings):
    """Online RL with a leave-one-out baseline; the group's other answers are each answer's baseline."""

    kind: Literal["rloo"] = "rloo"
    beta: float = Field(0.05, ge=0, description="KL penalty toward the input model, subtracted from the reward "
                        "(TRL's default 0.05 keeps a frozen copy of the input model; 0 loads none).")
    normalize_advantages: bool = Field(False, description="Scale the advantages to unit variance over the batch.")


def trl_args(ctx: StageContext, prompts: int) -> dict[str, object]:
    """RLOOConfig arguments: the sampling ones GRPO shares, and the advantage normalisation."""
    return {**sampling_args(ctx, prompts), "normalize_advantages": ctx.settings_as(RLOOSettings).normalize_advantages}


def check(settings: RLOOSettings, data: object, where: str) -> list[Problem]:
    """The sampling checks GRPO shares; tools and environments are refused: TRL 1.16's RLOOTrainer has no
    tool-calling loop (its episodes would be single replies, the calls never run)."""
    problems = sampling_problems(settings, data, where)
    if settings.uses_tools:
        problems.append(Problem(f"{where}, setting {'tools' if settings.tools else 'environment'!r}",
                                "is given, but TRL's RLOO trainer (1.16) runs no tool calls",
                                "use .grpo(..., tools=[...] or environment=...) for multi-turn episodes "
                                "(GRPO's group baseline; scale_rewards='none' drops its division by the spread)"))
    return problems


def run(ctx: StageContext) -> StageOutcome:
    """Sample, score and update with TRL's RLOOTrainer; save the full model."""
    from trl import RLOOTrainer

    return train_sampled(ctx, SPEC, RLOOTrainer)


SPEC = StageSpec(
    kind="rloo", summary="online RL: sample a group of answers per prompt, baseline each by the others' mean reward",
    settings=RLOOSettings, formats=(DataFormat.PROMPT_ONLY,), trl_config="RLOOConfig", default_lr=(1e-6, 1e-5),
    trl_args=trl_args, run=run, check=check, check_rows=reward_problems,
    cost=SAMPLED_COST,
    advice=Advice(
        order=31, rule="rloo-when-asked", when="training, and rows are counted for rloo",
        message="{rows_rloo:,} prompts for RLOO: online RL with a leave-one-out baseline",
        why="RLOO needs what GRPO needs (prompts and a reward); its baseline is the other answers' mean reward, "
            "without GRPO's division by the group's spread.",
        source="Ahmadian et al., 2024, 'Back to Basics: Revisiting REINFORCE Style Optimization'",
        scale="1,000 to 10M prompts", call='.rloo("prompts.jsonl", rewards=[your_reward])', noun="RL prompts"),
    report_metrics=("reward", "loss"), plots=(REWARD_PLOT,),
    data_hint="prompt rows with a reference answer like {'prompt': 'What is 3*4?', 'answer': '12'}")
