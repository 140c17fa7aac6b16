"""trl_args: checked by TRL's own config class in validate(), merged on purpose."""

from __future__ import annotations


import pytest

from posttrain import ConfigError, Trainer

ROWS = [{"prompt": f"Say the number {i}.", "completion": f"{i}"} for i in range(8)]
PAIRS = [{"prompt": f"Who are you? ({i})", "chosen": "I am Ava.", "rejected": "I am a bot."} for i in range(8)]


def _problems(trainer: Trainer) -> str:
    with pytest.raises(ConfigError) as err:
        trainer.validate()
    return str(err.value)


# -- trl_args: checked by TRL's own config class in validate(), merged on purpose --------------------------------

@pytest.mark.parametrize("trl_args, named", [
    ({"learning_rate": -1}, "trl_args key 'learning_rate'"),
    ({"max_steps": 0}, "trl_args key 'max_steps'"),
    ({"per_device_train_batch_size": 0}, "trl_args key 'per_device_train_batch_size'"),
    ({"lr_scheduler_type": "sideways"}, "trl.SFTConfig refuses them"),
    ({"max_stepz": 3}, "did you mean 'max_steps'"),
])
def test_bad_trl_args_are_refused_in_validate_with_the_key(tiny_dir, tmp_path, trl_args, named):
    message = _problems(Trainer(tiny_dir, output_dir=tmp_path).sft(ROWS, trl_args=trl_args))
    assert named in message
    assert not (tmp_path / "01-sft").exists()


def test_a_key_the_library_sets_is_replaced_by_the_users_and_shown_in_the_plan(tiny_dir, tmp_path):
    trainer = Trainer(tiny_dir, output_dir=tmp_path).sft(ROWS, batch_size=4, trl_args={"max_steps": 2})
    assert "max_steps=2 (was -1)" in str(trainer.plan())
    run = trainer.run(progress=False)
    assert max(e["step"] for e in run.stages[0].history) == 2
    from posttrain.pipeline.records import StageRecord

    assert StageRecord.read(tmp_path / "01-sft").trl_overrides == {"max_steps": [-1, 2]}


@pytest.mark.parametrize("stage", ["dpo", "grpo"])
def test_report_to_in_trl_args_no_longer_clashes(tiny_dir, tmp_path, stage):
    trainer = Trainer(tiny_dir, output_dir=tmp_path)
    if stage == "dpo":
        trainer = trainer.dpo(PAIRS, trl_args={"report_to": "none"})
    else:
        trainer = trainer.grpo([{"prompt": r["prompt"]} for r in ROWS], rewards=[_length],
                               trl_args={"report_to": "none"})
    assert len(trainer.validate()) == 1


def _length(completions, **_):
    return [float(len(c)) for c in completions]
