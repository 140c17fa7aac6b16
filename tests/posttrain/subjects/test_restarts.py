"""A stage that cannot resume says why it starts over: its last checkpoint was incomplete, or its
settings or data changed since the last run."""

from __future__ import annotations

import shutil

import pytest

from posttrain import Trainer

ROWS = [{"prompt": f"Say the number {i}.", "completion": f"{i}"} for i in range(4)]


def _interrupted_while_saving(stage):
    """As a run killed while writing its first checkpoint leaves the stage: no record, no model, a
    checkpoint folder without trainer_state.json."""
    (stage / "stage.json").unlink()
    shutil.rmtree(stage / "model")
    (stage / "checkpoints" / "checkpoint-1").mkdir(parents=True)
    (stage / "checkpoints" / "checkpoint-1" / "model.safetensors").write_bytes(b"")


@pytest.mark.parametrize("change, said", [
    (_interrupted_while_saving, "[1/1] sft: starting over: its last checkpoint was incomplete (interrupted while saving)"),
    (None, "[1/1] sft: starting over: its settings or data (or an earlier stage's) changed since the last run"),
])
def test_a_stage_that_cannot_resume_says_why_it_starts_over(tiny_dir, tmp_path, capsys, change, said):
    first = Trainer(tiny_dir, output_dir=tmp_path / "run").sft(ROWS, max_steps=1, batch_size=2)
    first.run()
    assert "starting over" not in capsys.readouterr().err
    stage = tmp_path / "run" / "01-sft"
    if change is not None:
        change(stage)
        again = first
    else:
        again = Trainer(tiny_dir, output_dir=tmp_path / "run").sft(ROWS, max_steps=2, batch_size=2)
    again.run()
    err = capsys.readouterr().err
    assert said in err and err.count("starting over") == 1
    assert (stage / "stage.json").exists()
