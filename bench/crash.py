"""Crash safety, measured: SIGKILL a 3-stage run at random moments, resume it, check what is left.

`python -m bench.crash [--trials 20] [--seed 0] [--out bench/results/crash.json]`

Each trial starts the run (tiny model: SFT -> DPO -> SFT, checkpoints every 2 steps) in a child
process, kills it with SIGKILL at a moment drawn uniformly over an uninterrupted run's duration,
inspects the folder, then runs the same pipeline to the end. A trial counts as recovered when:
every model folder present at the kill was complete; the resumed run finished all three stages;
no stage finished before the kill was run again (its stage.json untouched); the manifest lists all
stages; and the final weights load and give finite logits.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

ROWS = [{"prompt": f"Say the number {i}.", "completion": f"{i}"} for i in range(16)]
PAIRS = [{"prompt": f"Who are you? ({i})", "chosen": "I am Ava.", "rejected": "I am a bot."} for i in range(16)]
MODEL_FILES = ("config.json", "model.safetensors", "tokenizer.json")


def write_pipeline(folder: Path, model_dir: Path) -> Path:
    """The 3-stage pipeline every trial runs."""
    spec = {"model": str(model_dir), "output_dir": str(folder / "run"), "seed": 0, "stages": [
        {"kind": "sft", "data": ROWS, "max_steps": 6, "batch_size": 4, "save_steps": 2},
        {"kind": "dpo", "data": PAIRS, "max_steps": 4, "batch_size": 4, "save_steps": 2},
        {"kind": "sft", "data": ROWS, "max_steps": 6, "batch_size": 4, "save_steps": 2, "learning_rate": 1e-4}]}
    path = folder / "pipeline.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


def _child(pipeline: Path) -> subprocess.Popen:
    code = f"from posttrain import Trainer; Trainer.from_yaml({str(pipeline)!r}).run(progress=False)"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    return subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def run_to_end(pipeline: Path) -> float:
    """Run the pipeline in a child process to completion; returns its wall time."""
    start = time.time()
    child = _child(pipeline)
    _, err = child.communicate()
    if child.returncode != 0:
        raise RuntimeError(f"the run failed:\n{err[-3000:]}")
    return time.time() - start


def _snapshot(out: Path) -> dict[str, Any]:
    """Finished stages (with their record's mtime) and any incomplete model folder."""
    done = {p.parent.name: p.stat().st_mtime_ns for p in out.glob("[0-9][0-9]-*/stage.json")}
    half = [str(m) for m in out.glob("[0-9][0-9]-*/model") if not all((m / f).exists() for f in MODEL_FILES)]
    return {"done": done, "half_written_models": half}


def trial(folder: Path, model_dir: Path, kill: float | Callable[[Path], bool]) -> dict[str, Any]:
    """One kill-and-resume trial in `folder`: SIGKILL after `kill` seconds, or as soon as
    `kill(output_dir)` is true; returns what was seen and whether it recovered."""
    pipeline = write_pipeline(folder, model_dir)
    out = folder / "run"
    start = time.time()
    child = _child(pipeline)
    while child.poll() is None and (time.time() - start < kill if isinstance(kill, (int, float)) else not kill(out)):
        time.sleep(0.02)
    kill_after_s = time.time() - start
    finished_before_kill = child.poll() is not None
    child.kill()
    child.wait()
    at_kill = _snapshot(out)
    run_to_end(pipeline)
    after = _snapshot(out)
    rerun = [name for name, mtime in at_kill["done"].items() if after["done"].get(name) != mtime]
    problems = []
    if at_kill["half_written_models"]:
        problems.append(f"half-written model folders at the kill: {at_kill['half_written_models']}")
    if sorted(after["done"]) != ["01-sft", "02-dpo", "03-sft"]:
        problems.append(f"stages done after resuming: {sorted(after['done'])}")
    if rerun:
        problems.append(f"finished stages run again: {rerun}")
    problems += _check_final(out)
    return {"kill_after_s": round(kill_after_s, 2), "finished_before_kill": finished_before_kill,
            "stages_done_at_kill": sorted(at_kill["done"]), "recovered": not problems, "problems": problems}


def _check_final(out: Path) -> list[str]:
    import torch

    from posttrain import RunResult
    from posttrain.models import load_model

    manifest = json.loads((out / "run.json").read_text())
    if [s["kind"] for s in manifest["stages"]] != ["sft", "dpo", "sft"]:
        return [f"manifest lists {[s['kind'] for s in manifest['stages']]}"]
    model, tokenizer = load_model(RunResult.from_dir(out).model_dir)
    with torch.no_grad():
        logits = model(**tokenizer("Say the number 3.", return_tensors="pt")).logits
    return [] if torch.isfinite(logits).all() else ["the final model gives non-finite logits"]


def tiny_model_dir(folder: Path) -> Path:
    """The 2-layer test model with the real tokenizer, saved once."""
    from posttrain.testing import tiny_model

    target = folder / "tiny-model"
    if not (target / "config.json").exists():
        model, tokenizer = tiny_model()
        model.save_pretrained(target)
        tokenizer.save_pretrained(target)
    return target


def run_trials(trials: int, seed: int, workdir: Path) -> dict[str, Any]:
    """A reference run for the duration, then `trials` kill-and-resume trials."""
    model_dir = tiny_model_dir(workdir)
    (workdir / "reference").mkdir(parents=True, exist_ok=True)
    reference = run_to_end(write_pipeline(workdir / "reference", model_dir))
    rng = random.Random(seed)
    results = []
    for index in range(trials):
        folder = workdir / f"trial-{index:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        results.append(trial(folder, model_dir, rng.uniform(0.5, 0.9 * reference)))
        print(json.dumps(results[-1]), flush=True)
    return {"reference_run_s": round(reference, 1), "trials": len(results),
            "recovered": sum(r["recovered"] for r in results),
            "killed_mid_run": sum(not r["finished_before_kill"] for r in results), "results": results}


def main(argv: list[str] | None = None) -> int:
    import tempfile

    parser = argparse.ArgumentParser(prog="python -m bench.crash", description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="bench/results/crash.json")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        report = run_trials(args.trials, args.seed, Path(tmp))
    report["machine"] = {"cores": os.cpu_count(), "python": sys.version.split()[0]}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2), encoding="utf-8")
    print(f"{report['recovered']}/{report['trials']} trials recovered "
          f"({report['killed_mid_run']} killed mid-run); reference run {report['reference_run_s']} s")
    return 0 if report["recovered"] == report["trials"] else 1


if __name__ == "__main__":
    sys.exit(main())
