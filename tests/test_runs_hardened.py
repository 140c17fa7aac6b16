"""Settings checked by TRL before training, trackers, one run per folder, numerical faults, and a
new stage kind (KTO) that trains."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

from posttrain import ConfigError, Trainer

ROWS = [{"prompt": f"Say the number {i}.", "completion": f"{i}"} for i in range(8)]
PAIRS = [{"prompt": f"Who are you? ({i})", "chosen": "I am Ava.", "rejected": "I am a bot."} for i in range(8)]
LABELLED = [{"prompt": f"Who are you? ({i})", "completion": "I am Ava." if i % 2 == 0 else "I am a bot.",
             "label": i % 2 == 0} for i in range(16)]


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
    from posttrain.record import StageRecord

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


# -- one run per output folder ---------------------------------------------------------------------------------

def test_a_second_run_on_the_same_folder_is_refused(tmp_path):
    from posttrain.runner import run_lock

    with run_lock(tmp_path, main=True):
        assert "pid" in (tmp_path / ".lock").read_text()
        with pytest.raises(ConfigError, match="is in use by a running chain"):
            with run_lock(tmp_path, main=True):
                pass
    with run_lock(tmp_path, main=True):        # released on exit
        pass


def test_a_killed_process_does_not_leave_the_lock_stuck(tmp_path):
    from posttrain.runner import run_lock

    code = ("import sys, time; from pathlib import Path; from posttrain.runner import run_lock\n"
            f"with run_lock(Path({str(tmp_path)!r}), main=True):\n    print('held', flush=True); time.sleep(600)")
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(ConfigError, match="in use"):
            with run_lock(tmp_path, main=True):
                pass
    finally:
        holder.kill()
        holder.wait()
    with run_lock(tmp_path, main=True):
        pass


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


# -- a stage kind added through the registry trains ------------------------------------------------------------

def test_kto_raises_desirable_answers_over_undesirable_ones(tiny_dir, tmp_path):
    run = (Trainer(tiny_dir, output_dir=tmp_path).kto(LABELLED, max_steps=6, batch_size=4, learning_rate=1e-3)
           .run(progress=False))
    logged = [e for e in run.stages[0].history if "rewards/margins" in e]
    losses = [e["loss"] for e in logged]
    assert losses[-1] < losses[0]
    assert logged[-1]["rewards/margins"] > logged[0]["rewards/margins"] + 0.1
    assert (Path(run.model_dir) / "model.safetensors").exists()


def test_kto_rows_need_a_true_or_false_label(tiny_dir, tmp_path):
    rows = [dict(LABELLED[0], label="yes"), *LABELLED[1:]]
    message = _problems(Trainer(tiny_dir, output_dir=tmp_path).kto(rows))
    assert "row 1, field 'label'" in message and "true or false" in message


# -- hostile pipelines -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("reward", ["os.system", "builtins.exec", "subprocess.Popen", "os.path", "__import__",
                                    "posttrain.rewards.RewardFn", "os.system; rm -rf /"])
def test_a_yaml_pipeline_can_name_only_python_reward_functions(tiny_dir, tmp_path, reward):
    spec = {"model": str(tiny_dir), "output_dir": str(tmp_path / "run"),
            "stages": [{"kind": "grpo", "data": [{"prompt": "2+2?", "answer": "4"}], "rewards": [reward]}]}
    message = _problems(Trainer.from_dict(spec))
    assert "rewards[0]" in message
    assert not (tmp_path / "run").exists()


def test_a_run_writes_only_inside_its_output_folder(tiny_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "rows.jsonl").write_text("".join(f'{{"prompt": "Say {i}.", "completion": "{i}"}}\n' for i in range(8)))
    before = {p for p in tmp_path.rglob("*")}
    spec = {"model": str(tiny_dir), "output_dir": "out", "report_to": "tensorboard",
            "stages": [{"kind": "sft", "data": "rows.jsonl", "max_steps": 2, "batch_size": 4}]}
    Trainer.from_dict(spec, base_dir=tmp_path).run(progress=False)
    new = {p for p in tmp_path.rglob("*")} - before
    assert new and all(p == tmp_path / "out" or (tmp_path / "out") in p.parents for p in new), \
        sorted(str(p) for p in new if (tmp_path / "out") not in p.parents)
