"""Experiment trackers, and the watch for numerical faults."""

from __future__ import annotations

import math

import pytest

from posttrain import ConfigError, Trainer

ROWS = [{"prompt": f"Say the number {i}.", "completion": f"{i}"} for i in range(8)]


def _problems(trainer: Trainer) -> str:
    with pytest.raises(ConfigError) as err:
        trainer.validate()
    return str(err.value)


# -- experiment trackers ---------------------------------------------------------------------------------------

def test_tensorboard_gets_one_run_per_stage_with_real_event_files(tiny_dir, tmp_path):
    pytest.importorskip("tensorboardX")
    out = tmp_path / "chain"
    run = (Trainer(tiny_dir, output_dir=out, report_to="tensorboard")
           .sft(ROWS, max_steps=2, batch_size=4).sft(ROWS, max_steps=2, batch_size=4).run(progress=False))
    assert len(run.stages) == 2
    for stage in ("01-sft", "02-sft"):
        events = list((out / "logs" / "tensorboard" / stage).rglob("events.out.tfevents.*"))
        assert events and events[0].stat().st_size > 0, stage
    assert Trainer.from_dict(run_dict := Trainer(tiny_dir, report_to=["tensorboard"]).to_dict()).report_to == \
        ("tensorboard",) and run_dict["report_to"] == ["tensorboard"]


def test_unknown_or_missing_trackers_are_refused_before_training(tiny_dir, tmp_path):
    with pytest.raises(ConfigError, match="unknown tracker 'tensorbored'"):
        Trainer(tiny_dir, report_to="tensorbored")
    if __import__("importlib").util.find_spec("wandb") is None:
        message = _problems(Trainer(tiny_dir, output_dir=tmp_path, report_to="wandb").sft(ROWS))
        assert "report_to 'wandb'" in message and "pip install wandb" in message


# -- numerical faults ------------------------------------------------------------------------------------------

def test_a_nan_loss_stops_the_stage_naming_the_step_and_publishes_no_model(tiny, tmp_path):
    import torch

    from posttrain.tracking import TrainingDiverged

    model, tokenizer = tiny
    broken = tmp_path / "broken"
    state = {k: v.clone() for k, v in model.state_dict().items()}
    state["model.norm.weight"].fill_(float("nan"))
    model_copy = type(model)(model.config)
    model_copy.load_state_dict(state)
    model_copy.save_pretrained(broken)
    tokenizer.save_pretrained(broken)
    with pytest.raises(TrainingDiverged, match=r"(loss|grad_norm)=nan.* at step 1;"):
        Trainer(broken, output_dir=tmp_path / "run").sft(ROWS, max_steps=3, batch_size=4).run(progress=False)
    stage = tmp_path / "run" / "01-sft"
    assert not (stage / "model").exists() and not (stage / "stage.json").exists()
    assert torch.isnan(state["model.norm.weight"]).all()


def test_the_finite_watch_ignores_finite_numbers_and_catches_inf():
    from types import SimpleNamespace

    from posttrain.tracking import TrainingDiverged, finite_loss_callback

    watch, args, state = finite_loss_callback("[1/1] sft"), SimpleNamespace(output_dir="ckpt"), SimpleNamespace(global_step=7)
    watch.on_log(args, state, None, logs={"loss": 1.5, "learning_rate": 0.0, "reward": -2.0})
    with pytest.raises(TrainingDiverged, match="reward=inf at step 7"):
        watch.on_log(args, state, None, logs={"loss": 1.5, "reward": math.inf})


def test_an_unknown_tracker_in_a_stages_trl_args_is_refused_by_validate(tiny_dir, tmp_path):
    trainer = Trainer(tiny_dir, output_dir=tmp_path / "run").grpo(
        [{"prompt": "Say a word.", "answer": "word"}] * 2, rewards=["posttrain.rewards.math_accuracy"],
        trl_args={"report_to": "tensorbord"})
    with pytest.raises(ConfigError, match=r"stage 1 \(grpo\), trl_args key 'report_to': unknown tracker "
                                          r"'tensorbord'. Fix: did you mean 'tensorboard'\?"):
        trainer.validate()


def test_ctrl_c_is_remembered_so_a_stage_stops_at_its_next_step_even_if_a_library_swallowed_it():
    import os
    import signal

    import pytest
    from transformers import TrainerControl, TrainerState, TrainingArguments

    from posttrain.tracking import INTERRUPTED, interrupt_callback, stop_on_ctrl_c

    callback = interrupt_callback()
    args, state, control = TrainingArguments(output_dir="unused", report_to=[]), TrainerState(), TrainerControl()
    before = signal.getsignal(signal.SIGINT)      # Python's default, or SIG_IGN in a job started in the background
    with stop_on_ctrl_c():
        callback.on_step_end(args, state, control)            # no Ctrl-C yet: the step goes on
        try:
            os.kill(os.getpid(), signal.SIGINT)                # raised here, at the next bytecode
        except KeyboardInterrupt:
            pass                                              # a library that swallows it
        assert INTERRUPTED.is_set()
        with pytest.raises(KeyboardInterrupt):
            callback.on_step_end(args, state, control)
    assert not INTERRUPTED.is_set()
    assert signal.getsignal(signal.SIGINT) is before                    # the handler it found is back


def test_resume_skips_a_checkpoint_cut_off_mid_write_and_reads_the_time_its_state_recorded(tmp_path):
    """A kill between a checkpoint's files leaves trainer_state.json missing or cut off: that checkpoint is
    not resumed from; a whole one gives back the seconds recorded with its state (and an older
    checkpoint's separate file still counts)."""
    import json

    from posttrain.pipeline.execute import _checkpoint_to_resume
    from posttrain.tracking import elapsed_before

    (tmp_path / ".key").write_text("k")
    base = tmp_path / "checkpoints"
    state = {"global_step": 10, "stateful_callbacks": {"PosttrainElapsed": {"args": {}, "attributes": {"seconds": 12.5}}}}
    for name, text in [("checkpoint-10", json.dumps(state)), ("checkpoint-20", '{"global_step": 2'),
                       ("checkpoint-30", None)]:
        (base / name).mkdir(parents=True)
        if text is not None:
            (base / name / "trainer_state.json").write_text(text)
    chosen = _checkpoint_to_resume(tmp_path, "k")
    assert chosen is not None and chosen.endswith("checkpoint-10")
    assert elapsed_before(chosen) == 12.5
    assert _checkpoint_to_resume(tmp_path, "another key") is None

    older = base / "checkpoint-5"
    older.mkdir()
    (older / "trainer_state.json").write_text('{"global_step": 5}')
    (older / "posttrain_elapsed.json").write_text('{"seconds": 3.0}')
    assert elapsed_before(str(older)) == 3.0
    assert elapsed_before(str(base / "checkpoint-30")) == 0.0 and elapsed_before(None) == 0.0

