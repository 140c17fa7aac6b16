"""A run killed mid-stage resumes from its checkpoint; two data-parallel processes agree on weights."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

ROWS = [{"prompt": f"Say the number {i}.", "completion": f"{i}"} for i in range(16)]


def _pipeline(tmp_path: Path, model: Path, steps: int, save_steps: int) -> Path:
    spec = {"model": str(model), "output_dir": str(tmp_path / "run"), "seed": 0, "stages": [
        {"kind": "sft", "data": ROWS, "max_steps": 4, "batch_size": 4},
        {"kind": "sft", "data": ROWS, "max_steps": steps, "batch_size": 2, "save_steps": save_steps,
         "learning_rate": 1e-4}]}
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def _env() -> dict:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}


@pytest.mark.timeout(600)
def test_killed_mid_stage_resumes_without_redoing_completed_stages(tiny_dir, tmp_path):
    from posttrain import Trainer

    pipeline = _pipeline(tmp_path, tiny_dir, steps=120, save_steps=10)
    code = f"from posttrain import Trainer; Trainer.from_yaml({str(pipeline)!r}).run(progress=False)"
    proc = subprocess.Popen([sys.executable, "-c", code], env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    checkpoints = tmp_path / "run" / "02-sft" / "checkpoints"
    deadline = time.time() + 300
    while time.time() < deadline and not any(c.name.startswith("checkpoint-") and (c / "trainer_state.json").exists()
                                             for c in (checkpoints.iterdir() if checkpoints.exists() else [])):
        assert proc.poll() is None, "the run ended before it could be interrupted"
        time.sleep(0.05)
    time.sleep(0.5)                         # let the checkpoint finish writing
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    first_stage = tmp_path / "run" / "01-sft" / "stage.json"
    assert first_stage.exists() and not (tmp_path / "run" / "02-sft" / "stage.json").exists()
    done_at = first_stage.stat().st_mtime_ns

    run = Trainer.from_yaml(pipeline).run(resume=True, progress=False)
    assert first_stage.stat().st_mtime_ns == done_at                   # stage 1 not redone
    record = json.loads((tmp_path / "run" / "02-sft" / "stage.json").read_text())
    assert record["resumed_from"] and record["resumed_from"].startswith("checkpoint-")
    assert int(record["resumed_from"].split("-")[1]) >= 10
    assert [s.kind for s in run.stages] == ["sft", "sft"]
    steps = [e["step"] for e in run.stages[1].history if "loss" in e]
    assert steps[-1] == 120


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_two_data_parallel_processes_end_with_the_same_weights(tiny_dir, tmp_path):
    pipeline = _pipeline(tmp_path, tiny_dir, steps=6, save_steps=100)
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
               str(29500 + os.getpid() % 1000), "-m", "posttrain", "train", str(pipeline)]
    result = subprocess.run(command, env=_env(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    for stage in ("01-sft", "02-sft"):
        record = json.loads((tmp_path / "run" / stage / "stage.json").read_text())
        checksums = record["metrics"]["rank_checksums"]
        assert len(checksums) == 2 and checksums[0] == checksums[1]
    manifest = json.loads((tmp_path / "run" / "run.json").read_text())
    assert [s["kind"] for s in manifest["stages"]] == ["sft", "sft"]
