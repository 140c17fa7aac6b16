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
