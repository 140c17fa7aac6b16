"""Sequence-level distillation (posttrain.stages.distill): a teacher trained on a trivial skill answers the
prompts once, a fresh student learns the skill from those answers; the answers are cached in the stage folder;
a teacher that cannot be loaded is a problem before anything trains."""

from __future__ import annotations

import json
import math

import pytest

from posttrain import Trainer
from posttrain.errors import ConfigError

WORDS = ["apple", "river", "stone", "cloud", "green", "seven", "north", "quiet", "table", "light", "sound", "paper"]
HELD_OUT = ["horse", "music", "winter", "bread"]
TRAIN = {"max_steps": 15, "batch_size": 4, "learning_rate": 5e-3, "precision": "fp32"}


@pytest.fixture(scope="module")
def teacher(tiny_dir, tmp_path_factory):
    """The tiny model taught one trivial skill: whatever it is asked, it answers 'banana'."""
    rows = [{"prompt": f"Tell me about {word}.", "completion": "banana"} for word in WORDS]
    # 30 steps: after 15 the teacher's answer to an unseen prompt depended on the order its batches came in
    # ("banana" or "bananaana"), and a student cannot match a teacher that has not learnt to stop
    run = Trainer(tiny_dir, output_dir=tmp_path_factory.mktemp("teacher")).sft(rows, **{**TRAIN, "max_steps": 30}).run(
        progress=False)
    return run.model_dir


def match_rate(model_dir, reference_dir) -> float:
    """How often the model gives the reference model's answer to a held-out prompt (greedy)."""
    from posttrain.generation import generate
    from posttrain.models import load_model

    prompts = [f"Describe {word}." for word in HELD_OUT]
    ours, theirs = (generate(*load_model(folder), prompts, max_new_tokens=6) for folder in (model_dir, reference_dir))
    return sum(a == b and bool(b) for a, b in zip(ours, theirs)) / len(prompts)


def banana_loss(model_dir) -> float:
    """The model's mean loss on answering 'banana' to the held-out prompts (lower: closer to the teacher)."""
    import torch

    from posttrain.models import load_model
    from posttrain.stages.tokens import tokenize_chat

    model, tokenizer = load_model(model_dir)
    losses = []
    for word in HELD_OUT:
        row = tokenize_chat([{"role": "user", "content": f"Describe {word}."},
                             {"role": "assistant", "content": "banana"}], tokenizer, 64)
        with torch.no_grad():
            out = model(input_ids=torch.tensor([row["input_ids"]]), labels=torch.tensor([row["labels"]]))
        losses.append(float(out.loss))
    return sum(losses) / len(losses)


def test_a_fresh_student_learns_the_teachers_skill_from_python_and_yaml(teacher, tiny_dir, tmp_path):
    prompts = [{"prompt": f"What is {word}?"} for word in WORDS]
    settings = {"teacher": str(teacher), "max_new_tokens": 6, **TRAIN}
    chained = Trainer(tiny_dir, output_dir=tmp_path / "run").distill(prompts, **settings)
    assert chained == Trainer.from_dict({"model": str(tiny_dir), "output_dir": str(tmp_path / "run"),
                                         "stages": [{"kind": "distill", "data": prompts, **settings}]})
    assert "distill" in str(chained.plan()) and "kind: distill" in chained.to_yaml()

    before = match_rate(tiny_dir, teacher)
    run = chained.run(progress=False)
    after = match_rate(run.model_dir, teacher)
    assert before == 0 and after >= 0.75, (before, after)

    [stage] = run.stages
    assert stage.metrics["teacher_answers"] == len(prompts) and stage.metrics["teacher_answers_cached"] is False
    lines = (stage.output_dir / "teacher_answers.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["completion"] for line in lines[1:]] == ["banana"] * len(prompts)


def test_the_teachers_answers_are_generated_once_and_regenerated_when_what_they_depend_on_changes(tiny_dir, tmp_path,
                                                                                                   monkeypatch):
    from dataclasses import replace

    from posttrain.data import load_data
    from posttrain.pipeline.compile import compile_run
    from posttrain.stages import distill

    calls = []

    def answers(settings, prompts, seed):
        calls.append(settings.max_new_tokens)
        return [f"answer {i}" for i, _ in enumerate(prompts)]

    monkeypatch.setattr(distill, "generate_answers", answers)
    data = load_data([{"prompt": "Hi?"}, {"prompt": "Bye?"}])

    def ctx(**settings):
        trainer = Trainer(tiny_dir, output_dir=tmp_path).distill(data.rows, teacher="t", **settings)
        [job] = compile_run(trainer, load=False).jobs                  # the stage as compiled, data not read
        return replace(job.context, data=data)

    rows, cached = distill.teacher_answers(ctx(max_new_tokens=8))
    assert rows == [{"prompt": "Hi?", "completion": "answer 0"}, {"prompt": "Bye?", "completion": "answer 1"}]
    assert not cached
    assert distill.teacher_answers(ctx(max_new_tokens=8)) == (rows, True)
    assert distill.teacher_answers(ctx(max_new_tokens=9))[1] is False          # another length: generated again
    assert calls == [8, 9]


def test_a_teacher_that_cannot_be_loaded_is_refused_before_training(tiny_dir, tmp_path):
    with pytest.raises(ConfigError) as err:
        Trainer(tiny_dir, output_dir=tmp_path / "run").distill([{"prompt": "Hi?"}], teacher=str(tmp_path / "nope")
                                                               ).validate()
    assert "stage 1 (distill), setting 'teacher'" in str(err.value)
    assert not (tmp_path / "run").exists()
    with pytest.raises(ConfigError) as err:
        Trainer(tiny_dir).distill([{"prompt": "Hi?"}])                      # no teacher named
    assert "setting 'teacher'" in str(err.value)


def test_the_advisor_routes_its_distillation_advice_to_the_stage_when_a_teacher_is_named():
    from advisor import advise

    small = {"target_skills": ["reasoning"], "model_params": 135_000_000, "rl_prompts": 5000}
    rec = advise({**small, "teacher_model": "big-teacher"})
    assert rec.stages == ["distill"]
    assert any(reason.rule == "distill-from-teacher" and "big-teacher" in reason.message for reason in rec.reasons)
    assert any("a `distill` stage from big-teacher is in the plan" in warning for warning in rec.warnings)
    without = advise(small)
    assert "distill" not in without.stages
    assert any("name a teacher_model" in warning for warning in without.warnings)


def test_on_policy_distillation_moves_the_student_toward_the_teacher(teacher, tiny_dir, tmp_path):
    prompts = [{"prompt": f"What is {word}?"} for word in WORDS[:8]]
    settings = {"teacher": str(teacher), "max_completion_length": 6, "max_steps": 3, "batch_size": 4,
                "learning_rate": 5e-3, "precision": "fp32"}
    chained = Trainer(tiny_dir, output_dir=tmp_path / "run").gkd(prompts, **settings)
    assert chained == Trainer.from_dict({"model": str(tiny_dir), "output_dir": str(tmp_path / "run"),
                                         "stages": [{"kind": "gkd", "data": prompts, **settings}]})
    [job] = chained.compile().check().jobs
    assert job.context.trl_args["beta"] == 1.0 and job.context.trl_args["max_completion_length"] == 6
    run = chained.run(progress=False)
    losses = [entry["loss"] for entry in run.stages[0].history if "loss" in entry]
    assert losses and all(math.isfinite(loss) and loss >= 0 for loss in losses)
    before, after = banana_loss(tiny_dir), banana_loss(run.model_dir)
    assert after < before - 0.3, (before, after)            # the teacher's answer became likelier on new prompts


def test_on_policy_distillation_refuses_a_teacher_with_another_tokenizer(tiny, tmp_path):
    from posttrain.testing import tiny_model

    model, tokenizer = tiny
    student = tmp_path / "student"
    model.save_pretrained(student)
    tokenizer.save_pretrained(student)
    other_tokenizer = type(tokenizer).from_pretrained(student)
    other_tokenizer.add_tokens(["<only-the-teacher-has-this>"])
    other, _ = tiny_model(tokenizer=other_tokenizer)
    other.save_pretrained(tmp_path / "other")
    other_tokenizer.save_pretrained(tmp_path / "other")
    with pytest.raises(ConfigError) as err:
        Trainer(student, output_dir=tmp_path / "run").gkd([{"prompt": "Hi?"}], teacher=str(tmp_path / "other")
                                                          ).validate()
    assert "stage 1 (gkd), setting 'teacher': has another tokenizer than the student" in str(err.value)
    assert ".distill(prompts, teacher=...)" in str(err.value)
    Trainer(student, output_dir=tmp_path / "run").gkd([{"prompt": "Hi?"}], teacher=str(student)).validate()
