"""SIGKILL a 3-stage run at two moments (between stages, and mid-stage with checkpoints written),
then resume: finished stages are not redone, no half-written model folder is ever seen, and the
final weights load. `python -m bench.crash` runs the same trial 20 times at random moments."""

from __future__ import annotations

import pytest

from bench.crash import trial


def _between_stages(out):
    return (out / "01-sft" / "stage.json").exists()


def _mid_stage(out):
    return any((out / "02-dpo" / "checkpoints").glob("checkpoint-*/trainer_state.json"))


@pytest.mark.timeout(900)
@pytest.mark.parametrize("moment", [_between_stages, _mid_stage], ids=["between-stages", "mid-stage"])
def test_a_killed_chain_resumes_to_the_same_stages(tiny_dir, tmp_path, moment):
    result = trial(tmp_path, tiny_dir, moment)
    assert not result["finished_before_kill"], "the run ended before it could be killed"
    assert "01-sft" in result["stages_done_at_kill"] and "03-sft" not in result["stages_done_at_kill"]
    assert result["recovered"], result["problems"]
