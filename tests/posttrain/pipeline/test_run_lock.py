"""One run per output folder: a second is refused, a killed one leaves no stuck lock."""

from __future__ import annotations

import subprocess
import sys

import pytest

from posttrain import ConfigError


# -- one run per output folder ---------------------------------------------------------------------------------

def test_a_second_run_on_the_same_folder_is_refused(tmp_path):
    from posttrain.pipeline.execute import run_lock

    with run_lock(tmp_path, main=True):
        assert "pid" in (tmp_path / ".lock").read_text()
        with pytest.raises(ConfigError, match="is in use by a running chain"):
            with run_lock(tmp_path, main=True):
                pass
    with run_lock(tmp_path, main=True):        # released on exit
        pass


def test_a_killed_process_does_not_leave_the_lock_stuck(tmp_path):
    from posttrain.pipeline.execute import run_lock

    code = ("import sys, time; from pathlib import Path; from posttrain.pipeline.execute import run_lock\n"
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


def test_no_lock_file_is_left_after_a_run_ends_in_any_way(tmp_path):
    from posttrain.pipeline.execute import run_lock

    with run_lock(tmp_path, main=True):
        pass
    assert not (tmp_path / ".lock").exists()
    for error in (RuntimeError("a stage failed"), KeyboardInterrupt()):
        with pytest.raises(type(error)):
            with run_lock(tmp_path, main=True):
                assert (tmp_path / ".lock").exists()
                raise error
        assert not (tmp_path / ".lock").exists()


def test_a_failed_run_leaves_no_lock(tiny_dir, tmp_path):
    from posttrain import Trainer
    from posttrain.errors import StageFailed

    def constant(completions, **_):
        return [0.0 for _ in completions]

    trainer = Trainer(tiny_dir, output_dir=tmp_path / "run").grpo(
        [{"prompt": "Say a word."}] * 2, rewards=[constant], num_generations=2, batch_size=2, max_steps=1,
        max_completion_length=4, precision="fp32")
    with pytest.raises(StageFailed):
        trainer.run(progress=False)
    assert not (tmp_path / "run" / ".lock").exists()
