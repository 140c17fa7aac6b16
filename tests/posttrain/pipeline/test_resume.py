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


def _recorded(checkpoints: Path) -> dict[str, float]:
    """Each whole checkpoint's training seconds, as its trainer_state.json records them."""
    seconds = {}
    for c in checkpoints.iterdir() if checkpoints.exists() else []:
        try:
            state = json.loads((c / "trainer_state.json").read_text())
        except (OSError, ValueError):
            continue                        # not yet written, or cut off mid-write
        entry = state.get("stateful_callbacks", {}).get("PosttrainElapsed")
        if c.name.startswith("checkpoint-") and entry:
            seconds[c.name] = entry["attributes"]["seconds"]
    return seconds


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
    while time.time() < deadline and not _recorded(checkpoints):
        assert proc.poll() is None, "the run ended before it could be interrupted"
        time.sleep(0.05)
    time.sleep(0.5)                         # let the checkpoint finish writing
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    first_stage = tmp_path / "run" / "01-sft" / "stage.json"
    assert first_stage.exists() and not (tmp_path / "run" / "02-sft" / "stage.json").exists()
    done_at = first_stage.stat().st_mtime_ns
    elapsed = _recorded(checkpoints)
    assert elapsed, "no checkpoint recorded the training time before it"

    run = Trainer.from_yaml(pipeline).run(resume=True, progress=False)
    assert first_stage.stat().st_mtime_ns == done_at                   # stage 1 not redone
    record = json.loads((tmp_path / "run" / "02-sft" / "stage.json").read_text())
    assert record["resumed_from"] and record["resumed_from"].startswith("checkpoint-")
    assert int(record["resumed_from"].split("-")[1]) >= 10
    # the stage's time counts the training before the kill, as its checkpoint recorded it
    before = elapsed[record["resumed_from"]]
    assert before > 0 and record["seconds"] >= before + record["metrics"]["train_runtime"], (record, elapsed)
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


def _children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (read from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if entry.name.isdigit() and int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    """Whether `pid` still runs (a zombie, killed and not yet reaped, does not)."""
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _wait_gone(pids: list[int], timeout: float = 30) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline and any(_alive(pid) for pid in pids):
        time.sleep(0.05)
    assert not any(_alive(pid) for pid in pids), pids


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the launcher's ranks through /proc")
def test_two_processes_killed_mid_stage_resume_from_the_checkpoint_and_still_agree(tiny_dir, tmp_path):
    """Both ranks killed at once mid-stage (as a lost node takes a job down), the launch started again: the
    completed stage is skipped, the stage resumes from its last checkpoint on both ranks and they end with the
    same weights."""
    pipeline = _pipeline(tmp_path, tiny_dir, steps=120, save_steps=10)

    def launch(**kwargs):
        command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
                   str(29500 + (os.getpid() + time.time_ns()) % 1000), "-m", "posttrain", "train", str(pipeline)]
        return subprocess.Popen(command, env=_env(), **kwargs)

    proc = launch(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    checkpoints = tmp_path / "run" / "02-sft" / "checkpoints"
    deadline = time.time() + 400
    while time.time() < deadline and not _recorded(checkpoints):
        assert proc.poll() is None, "the run ended before it could be interrupted"
        time.sleep(0.05)
    time.sleep(0.5)                         # let the checkpoint finish writing
    ranks = _children(proc.pid)              # torch's launcher starts each rank in a session of its own
    assert len(ranks) == 2, ranks
    for pid in (*ranks, proc.pid):           # the launcher and both ranks at once
        os.kill(pid, signal.SIGKILL)
    proc.wait()
    _wait_gone(ranks)
    first_stage = tmp_path / "run" / "01-sft" / "stage.json"
    assert first_stage.exists() and not (tmp_path / "run" / "02-sft" / "stage.json").exists()
    done_at = first_stage.stat().st_mtime_ns

    again = launch(stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, stderr = again.communicate(timeout=600)
    assert again.returncode == 0, "\n".join(line for line in stderr.splitlines() if "[rank1]" not in line)[:4000]
    assert first_stage.stat().st_mtime_ns == done_at                   # stage 1 not redone
    record = json.loads((tmp_path / "run" / "02-sft" / "stage.json").read_text())
    assert record["resumed_from"] and int(record["resumed_from"].split("-")[1]) >= 10
    checksums = record["metrics"]["rank_checksums"]
    assert len(checksums) == 2 and checksums[0] == checksums[1]
    history = [json.loads(line) for line in (tmp_path / "run" / "02-sft" / "metrics.jsonl").read_text().splitlines()]
    assert [e["step"] for e in history if "loss" in e][-1] == 120
    assert not checkpoints.exists()


def test_every_rank_reads_the_stage_folder_before_the_main_process_changes_it(tiny_dir, tmp_path, monkeypatch):
    """Each rank decides whether to resume from the folder the last run left; the main process rewrites it
    (key, stale files) only after a barrier, so no rank can read it half-changed and start over while the
    others resume (the ranks would then wait on each other for ever)."""
    from accelerate import PartialState

    from posttrain import Trainer
    from posttrain.pipeline import execute

    events: list[str] = []
    read, prepare, wait = execute._checkpoint_to_resume, execute._prepare_folder, PartialState.wait_for_everyone
    monkeypatch.setattr(execute, "_checkpoint_to_resume", lambda *a: events.append("read") or read(*a))
    monkeypatch.setattr(execute, "_prepare_folder", lambda *a, **k: events.append("prepare") or prepare(*a, **k))
    monkeypatch.setattr(PartialState, "wait_for_everyone", lambda self: events.append("barrier") or wait(self))
    Trainer(str(tiny_dir), output_dir=tmp_path / "run").sft(ROWS[:4], max_steps=1, batch_size=4).run(
        resume=True, progress=False)
    first = events.index("read")
    assert events[first:first + 3] == ["read", "barrier", "prepare"], events
