"""Distillation, sequence-level: a stronger teacher answers the stage's prompts once, and the student learns
those answers with SFT (Kim & Rush, 2016, 'Sequence-Level Knowledge Distillation'; DeepSeek-AI, 2025,
'DeepSeek-R1', distillation section: small models gain more from a stronger model's answers than from RL).

The teacher's answers are generated in batches by `posttrain.generation.generate` (greedy by default, sampled
with `temperature > 0`) and cached in the stage folder (`teacher_answers.jsonl`, keyed by the teacher, the
prompts and the generation settings), so a stage resumed or re-run with the same teacher does not generate
them again. Training is SFT's own (`posttrain.stages.sft`): the same tokenisation, masks and TRL trainer.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path
from typing import Literal

from pydantic import Field

from posttrain.data import Data, DataFormat, fingerprint
from posttrain.errors import PosttrainError, Problem
from posttrain.stages.common import StageContext
from posttrain.stages.sft import SFTSettings, build_dataset, train_tokenized
from posttrain.stages.sft import check as sft_check
from posttrain.stages.sft import trl_args as sft_trl_args
from posttrain.stages.spec import Advice, Cost, StageOutcome, StageSpec

CACHE = "teacher_answers.jsonl"
DISTILL_SOURCE = ("Kim & Rush, 2016, 'Sequence-Level Knowledge Distillation'; DeepSeek-AI, 2025, 'DeepSeek-R1', "
                  "distillation section")


class DistillSettings(SFTSettings):
    """Sequence-level distillation: the teacher answers each prompt once, the student learns the answers by SFT."""

    kind: Literal["distill"] = "distill"  # type: ignore[assignment]  # a subclass names its own kind
    teacher: str = Field(..., min_length=1, description="The teacher: 'default', a local model folder or a hub "
                         "id (read from the local cache only when offline).")
    max_new_tokens: int = Field(256, gt=0, description="Longest teacher answer, in tokens.")
    temperature: float = Field(0.0, ge=0, description="0: greedy answers; > 0: sampled at this temperature.")
    top_p: float = Field(1.0, gt=0, le=1, description="Nucleus sampling when temperature > 0.")
    generation_batch_size: int = Field(16, gt=0, description="Prompts the teacher answers at once.")


def teacher_answers(ctx: StageContext) -> tuple[list[dict], bool]:
    """The stage's prompts with the teacher's answers as `completion` (prompt/completion rows), and whether they
    came from the stage folder's cache. The cache is used only when its key (teacher, prompts, generation
    settings) matches; otherwise the teacher generates and the cache is rewritten."""
    s = ctx.settings_as(DistillSettings)
    prompts = [row["prompt"] for row in ctx.in_memory().rows]
    key = cache_key(s, prompts, ctx.seed)
    path = ctx.output_dir / CACHE
    cached = read_cache(path, key)
    if cached is not None and len(cached) == len(prompts):
        return [{"prompt": p, "completion": a} for p, a in zip(prompts, cached)], True
    answers = generate_answers(s, prompts, ctx.seed)
    write_cache(path, key, answers)
    return [{"prompt": p, "completion": a} for p, a in zip(prompts, answers)], False


def generate_answers(s: DistillSettings, prompts: list[str | list[dict]], seed: int) -> list[str]:
    """The teacher's answers, one per prompt, in batches; the teacher is loaded for this and let go after."""
    import gc

    from posttrain.generation import generate
    from posttrain.models import load_model

    model, tokenizer = load_model(s.teacher)
    precision = {"fp32": "fp32", "bf16": "bf16"}.get(s.precision, "auto")
    try:
        return generate(model, tokenizer, prompts, max_new_tokens=s.max_new_tokens, temperature=s.temperature,
                        top_p=s.top_p, batch_size=s.generation_batch_size, system=s.system,
                        seed=seed if s.temperature > 0 else None, precision=precision)  # type: ignore[arg-type]
    finally:
        del model
        gc.collect()


def cache_key(s: DistillSettings, prompts: list[str | list[dict]], seed: int) -> str:
    """What the teacher's answers depend on: the teacher, the prompts, the generation settings (and the seed
    when sampling)."""
    facts = {"teacher": str(s.teacher), "prompts": fingerprint([{"p": p} for p in prompts]),
             "max_new_tokens": s.max_new_tokens, "temperature": s.temperature, "top_p": s.top_p,
             "system": s.system, "precision": s.precision, "seed": seed if s.temperature > 0 else None}
    return hashlib.sha256(json.dumps(facts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def read_cache(path: Path, key: str) -> list[str] | None:
    """The cached answers when the file holds them under `key`, else None."""
    if not path.exists():
        return None
    lines = path.read_text(encoding="utf-8").splitlines()
    try:
        if not lines or json.loads(lines[0]).get("key") != key:
            return None
        return [json.loads(line)["completion"] for line in lines[1:]]
    except (ValueError, KeyError, AttributeError):
        return None


def write_cache(path: Path, key: str, answers: list[str]) -> None:
    """The answers, one JSON line each, after a header line with their key (written whole, then renamed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    lines = [json.dumps({"key": key})] + [json.dumps({"completion": answer}, ensure_ascii=False) for answer in answers]
    partial.write_text("\n".join(lines) + "\n", encoding="utf-8")
    partial.replace(path)


def run(ctx: StageContext) -> StageOutcome:
    """Generate (or read) the teacher's answers, then train the student on them with SFT and save it."""
    rows, from_cache = teacher_answers(ctx)
    data = Data(rows=rows, format=DataFormat.PROMPT_COMPLETION, source=f"{ctx.in_memory().source} + teacher answers",
                conversational=ctx.in_memory().conversational, fingerprint=fingerprint(rows))
    outcome = train_tokenized(replace(ctx, data=data), build_dataset, SPEC)
    answered = [row["completion"] for row in rows]
    outcome["metrics"].update({"teacher_answers": len(rows), "teacher_answers_cached": from_cache,
                               "teacher_answer_chars_mean": sum(map(len, answered)) / max(1, len(answered)),
                               "teacher_answers_empty": sum(1 for a in answered if not a.strip())})
    return outcome


def check(settings: DistillSettings, data: object, where: str) -> list[Problem]:
    """SFT's checks, and the teacher can be found (a folder with a model, or a hub id in the local cache)."""
    from posttrain.models import load_tokenizer

    problems = sft_check(settings, data, where)
    try:
        load_tokenizer(settings.teacher)
    except (OSError, ValueError, PosttrainError) as err:
        problems.append(Problem(f"{where}, setting 'teacher'", f"cannot be loaded ({type(err).__name__}: "
                                f"{str(err).splitlines()[0] if str(err) else ''})",
                                "give a local model folder, 'default', or a hub id already downloaded"))
    return problems


SPEC = StageSpec(
    kind="distill", summary="distillation: a teacher answers the prompts once, the student learns its answers (SFT)",
    settings=DistillSettings, formats=(DataFormat.PROMPT_ONLY,), trl_config="SFTConfig", default_lr=(2e-5, 2e-4),
    trl_args=sft_trl_args, run=run, check=check, cost=Cost(fused_head=True, packs=True),
    advice=Advice(
        count="rl_prompts", order=12,
        wants=lambda task: bool(getattr(task, "teacher_model", None)) and task.rows_for("distill") > 0,
        rule="distill-from-teacher", when="training, teacher_model named and rl_prompts > 0",
        message="{rl_prompts:,} prompts and a teacher ({teacher_model}): distillation trains the model on the "
                "teacher's answers (SFT on them), which on small models beats RL",
        why="A small model gains more from imitating a stronger model's answers than from its own rewarded "
            "samples; the teacher's answers are generated once and learnt by SFT.", source=DISTILL_SOURCE,
        scale="~1,000 prompts or more", call='.distill("prompts.jsonl", teacher="path/to/teacher")',
        noun="prompts for the teacher"),
    report_metrics=("loss",),
    data_hint="prompt rows like {'prompt': 'Explain recursion.'} (the teacher writes the answers)")
