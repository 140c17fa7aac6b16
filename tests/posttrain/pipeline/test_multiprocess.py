"""Multi-process runs on this machine's CPUs: an SFT -> DPO chain launched with the FSDP config on two
processes, and the launcher's DeepSpeed (ZeRO) configs checked by `validate()`.

What runs here, and why (docs/scaling.md, "What is tested where"): accelerate 1.16 takes its FSDP path only
on GPUs and other accelerators (`AcceleratorState` sets `distributed_type` FSDP for MULTI_GPU, MULTI_XPU, ...,
never for MULTI_CPU), so `accelerate launch --config_file examples/accelerate/fsdp.yaml` on CPUs runs two
data-parallel processes over gloo (DDP), with the launcher's FSDP variables set. The test launches exactly that
and checks what the library owns in any multi-process run: both ranks end with the same weights, only the main
process writes (each stage's folder, `stage.json` and model once), the barrier between stages (stage 2 reads the
model stage 1 published), DPO's reference log-probs line up with the rows each rank trains on, and resume skips
a completed stage. It asserts `distributed_type` MULTI_CPU, so the day accelerate shards on CPUs this test
says so. Parameter sharding itself (FSDP2, its full-state-dict save) and ZeRO run only on GPUs: untested here.
"""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
CONFIGS = ROOT / "examples" / "accelerate"
SFT_ROWS = [{"prompt": f"Say the number {i}.", "completion": f"{i}"} for i in range(8)]
DPO_ROWS = [{"prompt": f"Say the number {i}.", "chosen": f"{i}", "rejected": f"{i + 1}"} for i in range(8)]
STAGE_FILES = {".key", "stage.json", "metrics.jsonl", "model"}

# Loaded by every Python process of the launch (PYTHONPATH): each rank logs the writes, renames and removals it
# makes under the run folder, through Python's audit hooks, to <audit dir>/rank<RANK>.log.
AUDIT_HOOK = '''
import os, sys
_dir, _root, _rank = os.environ.get("AUDIT_DIR"), os.environ.get("AUDIT_ROOT", "/nowhere"), os.environ.get("RANK")
if _dir and _rank is not None:
    _log = open(os.path.join(_dir, f"rank{_rank}.log"), "a", buffering=1)
    _WRITE = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC

    def _hook(event, args):
        if event == "open":
            path, mode, flags = args
            writes = any(c in mode for c in "wax+") if isinstance(mode, str) else bool((flags or 0) & _WRITE)
        elif event in ("os.rename", "os.remove", "shutil.rmtree"):
            path, writes = args[0], True
        else:
            return
        if writes and isinstance(path, (str, bytes, os.PathLike)):
            where = os.path.abspath(os.fsdecode(os.fspath(path)))
            if where.startswith(_root):
                target = os.path.abspath(os.fsdecode(args[1])) if event == "os.rename" else ""
                _log.write(f"{event}\\t{where}\\t{target}\\n")

    sys.addaudithook(_hook)
'''


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _pipeline(tmp_path: Path, model: Path, lora: bool, beta: float) -> Path:
    spec = {"model": str(model), "output_dir": str(tmp_path / "run"), "seed": 0, "stages": [
        {"kind": "sft", "data": SFT_ROWS, "max_steps": 2, "batch_size": 2},
        {"kind": "dpo", "data": DPO_ROWS, "max_steps": 2, "batch_size": 2, "beta": beta}]}
    if lora:
        spec["lora"] = {"r": 4}
    path = tmp_path / f"pipeline-{beta}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def _launch(tmp_path: Path, pipeline: Path, audit: Path) -> subprocess.CompletedProcess:
    """`accelerate launch` with the FSDP example config on two CPU processes (its 8 processes and bf16 are
    GPU settings; fp32 without autocast keeps the numbers the same on every CPU)."""
    hook = tmp_path / "hook"
    hook.mkdir(exist_ok=True)
    (hook / "sitecustomize.py").write_text(AUDIT_HOOK)
    audit.mkdir()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "POSTTRAIN_CPU_BF16": "0",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(hook), os.environ.get("PYTHONPATH")])),
           "AUDIT_DIR": str(audit), "AUDIT_ROOT": str(tmp_path / "run")}
    command = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(CONFIGS / "fsdp.yaml"),
               "--num_processes", "2", "--mixed_precision", "no", "--main_process_port", str(_free_port()),
               "-m", "posttrain", "train", str(pipeline)]
    result = subprocess.run(command, check=False, env=env, capture_output=True, text=True, timeout=400)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    return result


def _writes(audit: Path, rank: int) -> list[tuple[str, str, str]]:
    log = audit / f"rank{rank}.log"
    lines = log.read_text().splitlines() if log.exists() else []
    return [(event, path, target) for event, path, target in (line.split("\t") for line in lines)]


def _checksum(folder: Path) -> float:
    """The saved weights' checksum, computed as `posttrain.stages.common.rank_checksums` does."""
    from safetensors.torch import load_file

    return round(sum(float(t.double().abs().sum()) for t in load_file(folder / "model.safetensors").values()), 6)


def _check_written_once(run: Path, audit: Path, stages: list[str]) -> None:
    """Rank 1 wrote none of the run's outputs; rank 0 wrote each stage's record and published its model once.

    The one thing rank 1 writes is `datasets`' cache of its own transforms of the rows (TRL tokenizing them),
    beside the shared copy of the rows in the stage's checkpoints folder, removed when the stage completes."""
    rank1 = [w for w in _writes(audit, 1) if f"{os.sep}checkpoints{os.sep}dataset" not in w[1]]
    assert rank1 == [], f"rank 1 wrote in the run folder: {rank1[:5]}"
    rank0 = _writes(audit, 0)
    for stage in stages:
        folder = run / stage
        published = [w for w in rank0 if w[0] == "os.rename" and w[2] == str(folder / "model")]
        records = [w for w in rank0 if w[0] == "os.rename" and w[2] == str(folder / "stage.json")]
        assert len(published) == 1 and published[0][1] == str(folder / ".model.partial"), published
        assert len(records) == 1, records
        assert {p.name for p in folder.iterdir()} == STAGE_FILES          # no checkpoints, no half model
        model = {p.name for p in (folder / "model").iterdir()}
        assert {"config.json", "model.safetensors", "tokenizer.json"} <= model and "adapter_config.json" not in model


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("lora", [False, True], ids=["full", "lora"])
def test_sft_then_dpo_on_two_processes_under_the_fsdp_config(tiny_dir, tmp_path, lora):
    run = tmp_path / "run"
    _launch(tmp_path, _pipeline(tmp_path, tiny_dir, lora, beta=0.1), tmp_path / "audit-1")
    _check_written_once(run, tmp_path / "audit-1", ["01-sft", "02-dpo"])
    _check_stages(run, lora)
    sft_done = (run / "01-sft" / "stage.json").stat().st_mtime_ns

    # Launched again with another DPO beta: the completed SFT stage is skipped (resume), DPO trains again from it.
    second = _launch(tmp_path, _pipeline(tmp_path, tiny_dir, lora, beta=0.2), tmp_path / "audit-2")
    assert second.stderr.count("[1/2] sft: done before, skipped") == 1, second.stderr[-2000:]  # main process only
    assert (run / "01-sft" / "stage.json").stat().st_mtime_ns == sft_done
    rewritten = [w for w in _writes(tmp_path / "audit-2", 0) if w[1].startswith(str(run / "01-sft"))
                 and w[0] != "shutil.rmtree"]           # (its leftover checkpoints folder is removed, if any)
    assert rewritten == [], rewritten
    _check_written_once(run, tmp_path / "audit-2", ["02-dpo"])
    _check_stages(run, lora)
    assert json.loads((run / "02-dpo" / "stage.json").read_text())["settings"]["beta"] == 0.2


def _check_stages(run: Path, lora: bool) -> None:
    """Both ranks trained the same weights in each stage, which are the ones saved; DPO started from the SFT
    stage's published model (the barrier between stages) with its reference log-probs in line with the rows."""
    records = {s: json.loads((run / s / "stage.json").read_text()) for s in ("01-sft", "02-dpo")}
    for stage, record in records.items():
        metrics = record["metrics"]
        checksums = metrics["rank_checksums"]
        assert len(checksums) == 2 and checksums[0] == checksums[1], (stage, checksums)
        assert metrics["distributed_type"] == "MULTI_CPU", "accelerate now runs FSDP on CPUs: update docs/scaling.md"
        if not lora:                       # the saved model is the weights both ranks trained
            assert _checksum(run / stage / "model") == pytest.approx(checksums[0], rel=1e-9)
    assert records["02-dpo"]["input_model"] == str(run / "01-sft" / "model")
    assert _checksum(run / "02-dpo" / "model") != _checksum(run / "01-sft" / "model")
    # DPO's reference: each rank precomputes the log-probs of its share of the rows (from the model it loaded),
    # gathered to every rank. At the first step the policy is the reference on every row, so the margin is 0 and
    # the loss ln 2; a reference misaligned with the rows, or from other weights on either rank, would move both.
    history = [json.loads(line) for line in (run / "02-dpo" / "metrics.jsonl").read_text().splitlines()]
    first_step = next(e for e in history if "loss" in e)
    assert first_step["rewards/margins"] == pytest.approx(0.0, abs=1e-6)
    assert first_step["loss"] == pytest.approx(math.log(2), abs=1e-5)
    manifest = json.loads((run / "run.json").read_text())
    assert [s["kind"] for s in manifest["stages"]] == ["sft", "dpo"]


def _launcher_env(monkeypatch, config: Path) -> dict:
    """The variables `accelerate launch --config_file <config>` hands every process for a DeepSpeed config."""
    spec = yaml.safe_load(config.read_text())
    assert spec["distributed_type"] == "DEEPSPEED"
    ds = spec["deepspeed_config"]
    env = {"ACCELERATE_USE_DEEPSPEED": "true", "ACCELERATE_DEEPSPEED_ZERO_STAGE": str(ds["zero_stage"]),
           "ACCELERATE_DEEPSPEED_OFFLOAD_OPTIMIZER_DEVICE": ds["offload_optimizer_device"],
           "ACCELERATE_DEEPSPEED_OFFLOAD_PARAM_DEVICE": ds["offload_param_device"],
           "ACCELERATE_DEEPSPEED_ZERO3_INIT": str(ds["zero3_init_flag"]).lower()}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return spec


@pytest.mark.parametrize("config", ["deepspeed_zero2.yaml", "deepspeed_zero3.yaml"])
def test_validate_checks_the_zero_configs_before_anything_trains(tiny_dir, tmp_path, monkeypatch, config):
    import importlib.util

    import torch

    from posttrain import Trainer
    from posttrain.errors import ConfigError

    spec = _launcher_env(monkeypatch, CONFIGS / config)
    trainer = Trainer.from_yaml(_pipeline(tmp_path, tiny_dir, lora=False, beta=0.1))
    installed, gpu = importlib.util.find_spec("deepspeed") is not None, torch.cuda.is_available()
    if installed and gpu:
        trainer.validate()                              # accelerate's DeepSpeed plugin built from the same variables
        return
    with pytest.raises(ConfigError) as caught:
        trainer.validate()
    text = str(caught.value)
    assert f"ZeRO stage {spec['deepspeed_config']['zero_stage']}" in text and "distributed_type DEEPSPEED" in text
    assert ("needs DeepSpeed, which is not installed" in text and "pip install deepspeed" in text) is not installed
    assert ("runs on GPUs only" in text) is not gpu
    assert not (tmp_path / "run").exists()              # refused before anything was written


def test_launcher_problems_name_each_missing_piece(monkeypatch, tmp_path):
    import importlib.util

    from posttrain.device import DeviceProfile
    from posttrain.distributed import launcher_problems

    gpu, cpu = DeviceProfile("cuda", "H100", 80.0, True), DeviceProfile("cpu", "CPU, 2 cores", None, False)
    assert launcher_problems(cpu) == []                 # no DeepSpeed asked for: nothing to check
    monkeypatch.setenv("ACCELERATE_USE_DEEPSPEED", "true")
    monkeypatch.setenv("ACCELERATE_DEEPSPEED_CONFIG_FILE", str(tmp_path / "ds.json"))
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object() if name == "deepspeed" else
                        real_find_spec(name, *a))
    assert [p.message for p in launcher_problems(gpu)] == [
        f"names the DeepSpeed config file {str(tmp_path / 'ds.json')!r}, which does not exist"]
    (tmp_path / "ds.json").write_text("{}")
    assert launcher_problems(gpu) == []                 # installed, on GPUs, its file there: accelerate checks the rest
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "deepspeed" else
                        real_find_spec(name, *a))
    assert ["pip install deepspeed" in p.fix for p in launcher_problems(cpu)] == [True, False]


@pytest.mark.parametrize(("version", "state_dict", "refused"), [
    ("2", None, True), ("2", "SHARDED_STATE_DICT", True), ("2", "FULL_STATE_DICT", False), ("1", None, False)])
def test_fsdp_on_gpus_must_save_full_state_dicts(monkeypatch, version, state_dict, refused):
    from posttrain.device import DeviceProfile
    from posttrain.distributed import launcher_problems

    monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")
    monkeypatch.setenv("FSDP_VERSION", version)
    if state_dict is None:                              # FSDP2's default: sharded
        monkeypatch.delenv("FSDP_STATE_DICT_TYPE", raising=False)
    else:
        monkeypatch.setenv("FSDP_STATE_DICT_TYPE", state_dict)
    problems = launcher_problems(DeviceProfile("cuda", "H100", 80.0, True))
    assert bool(problems) is refused
    assert all("fsdp_state_dict_type: FULL_STATE_DICT" in p.fix for p in problems)
    assert launcher_problems(DeviceProfile("cpu", "CPU, 2 cores", None, False)) == []   # runs as DDP on CPUs


def test_the_fsdp_example_config_saves_full_state_dicts():
    spec = yaml.safe_load((CONFIGS / "fsdp.yaml").read_text())
    assert spec["fsdp_config"]["fsdp_state_dict_type"] == "FULL_STATE_DICT"
