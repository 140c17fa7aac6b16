"""`python -m bench gpu-run [--quick] [--budget-s 480]`: every GPU case of the speed work, in one short run.

Made for a lent GPU with little time on it: each case runs in fresh processes with a time limit, the
JSON is rewritten after each case (a run cut short keeps what it measured), and a case that would
start after the budget is spent is recorded as skipped. Cases, most telling first:

1. `quality@1b`: the fair SFT bench (`bench/quality.py`, variable-length rows, 16 rows a step) on a
   random-init 1.07B Llama shape: time to plain TRL's final held-out loss (floor >= 1.5x) at <= 1.0x
   TRL's peak GPU memory, held-out loss at equal steps.
2. `quality@1b+padding_free`: the same with padding-free batches (off by default on a GPU until this
   case shows they pay).
3. `sampling@135m`: GRPO's sampling, TRL's `model.generate` against posttrain's decoder (floor >= 5x
   tokens/s), beside the card's bandwidth bound.
4. `qlora@8b`: the 8B QLoRA peak: 4 SFT steps of 4 rows x 512 tokens over a 4-bit NF4 base
   (bitsandbytes), peak GPU memory against `plan()`'s estimate (checks the 0.5625 bytes a weight
   arithmetic of posttrain.device).

`--quick` runs every case on tiny shapes on this machine's device, CPU included (the suite runs it);
the QLoRA case needs CUDA and bitsandbytes and is recorded as skipped without them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CASES = ("quality@1b", "quality@1b+padding_free", "sampling@135m", "qlora@8b")
FLOORS = {"quality@1b": {"time_to_quality_ratio": 1.5, "memory_ratio": 1.0},
          "sampling@135m": {"tokens_per_s_ratio": 5.0}}
CASE_LIMIT_S = {"quality@1b": 200, "quality@1b+padding_free": 120, "sampling@135m": 90, "qlora@8b": 150}


def holds(key: str, measured: Any, floor: float) -> bool | None:
    """Whether a measured figure holds its floor (memory: at most the floor; the rest: at least); None: not measured."""
    if measured is None:
        return None
    return bool(measured <= floor if key == "memory_ratio" else measured >= floor)


def run_gpu_cases(quick: bool, out: str, budget_s: float) -> int:
    import torch

    from bench.gpu import build_shape

    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="bench-gpu-run-"))
    cuda = torch.cuda.is_available()
    report: dict[str, Any] = {"quick": quick, "device": torch.cuda.get_device_name(0) if cuda else "cpu",
                              "budget_s": budget_s, "cases": {}}
    failed = False
    for case in CASES:
        elapsed = time.perf_counter() - started
        limit = 300 if quick else CASE_LIMIT_S[case]
        if not quick and elapsed + limit > budget_s:
            report["cases"][case] = {"skipped": f"budget: {elapsed:.0f} s spent of {budget_s:.0f} s"}
            _write(out, report)
            continue
        begin = time.perf_counter()
        try:
            result = _case(case, quick, work, limit, cuda, build_shape)
        except Exception as err:  # noqa: BLE001 - one case failing must not lose the others' figures
            result = {"error": f"{type(err).__name__}: {err}"}
        result["seconds"] = round(time.perf_counter() - begin, 1)
        failed |= "error" in result
        report["cases"][case] = result
        report["seconds"] = round(time.perf_counter() - started, 1)
        _write(out, report)
        print(f"{case}: {json.dumps({k: v for k, v in result.items() if k not in ('report',)})[:600]}", flush=True)
    print(f"written: {out}")
    return 1 if failed else 0


def _case(case: str, quick: bool, work: Path, limit: float, cuda: bool, build_shape: Any) -> dict[str, Any]:
    name, _, variant = case.partition("+")
    kind, shape = name.split("@")
    if kind == "qlora" and (not cuda or not _has("bitsandbytes")):
        return {"skipped": "needs a CUDA GPU and bitsandbytes"}
    model_dir = build_shape(shape, work, quick)
    path = work / f"{case}.json"
    if kind == "quality":
        posttrain = {"padding_free": True} if variant == "padding_free" else {}
        command = ["quality", "--cases", "variable", "--repeats", "1", "--model", model_dir, "--profile",
                   "gpu", "--posttrain", json.dumps(posttrain)]
    elif kind == "sampling":
        command = ["sampling", "--repeats", "2", "--model", model_dir]
    else:
        command = ["qlora-peak", "--model", model_dir]
    command += ["--quick"] if quick else []
    done = _bench(command + ["--out", str(path)], limit)
    if done.get("error"):
        return done
    measured = json.loads(path.read_text())
    return {**_headline(kind, case, measured), "report": measured}


def _headline(kind: str, case: str, measured: dict[str, Any]) -> dict[str, Any]:
    if kind == "quality":
        medians = measured["cases"]["variable"].get("medians", {})
        figures = {key: (medians.get(key) or {}).get("median") for key in
                   ("time_to_quality_ratio", "memory_ratio", "steady_tokens_per_s_ratio", "trl_heldout_at_steps",
                    "posttrain_heldout_at_steps")}
    elif kind == "sampling":
        figures = {"tokens_per_s_ratio": measured["tokens_per_s_ratio"]["median"],
                   "step_over_bound": measured["step_over_bound"]}
    else:
        figures = {key: measured.get(key) for key in ("peak_gpu_gib", "estimated_gib", "peak_over_estimate")}
    floors = FLOORS.get(case.split("+")[0] if "padding_free" not in case else "", {})
    figures["floors"] = {key: {"floor": floor, "measured": figures.get(key), "holds": holds(key, figures.get(key), floor)}
                         for key, floor in floors.items()}
    return figures


def _bench(arguments: list[str], limit: float) -> dict[str, Any]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    try:
        done = subprocess.run([sys.executable, "-m", "bench", *arguments], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=limit)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {limit:.0f} s"}
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["failed"])[-1], "log_tail": done.stderr[-2000:]}
    return {}


def qlora_peak(model_dir: str, out: str, quick: bool) -> int:
    """4 SFT steps of QLoRA over `model_dir`: peak GPU memory beside plan()'s estimate."""
    import torch

    from bench.data import chat_rows
    from posttrain import Trainer
    from posttrain.models import load_tokenizer

    rows = chat_rows(16, load_tokenizer(model_dir), min_tokens=480, max_tokens=512)
    with tempfile.TemporaryDirectory(prefix="bench-qlora-") as folder:
        trainer = Trainer(model_dir, output_dir=folder, lora={"r": 16, "quantize": "nf4"}, seed=0).sft(
            rows, max_steps=2 if quick else 4, batch_size=4, max_length=512, learning_rate=2e-4)
        plan = trainer.plan()
        estimated = next((s.choices.estimated_gib for s in plan.stages if s.choices), None)
        torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        trainer.run(progress=False)
        seconds = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated() / 2**30
    report = {"peak_gpu_gib": round(peak, 3), "estimated_gib": estimated, "seconds": round(seconds, 1),
              "peak_over_estimate": round(peak / estimated, 3) if estimated else None}
    Path(out).write_text(json.dumps(report, indent=1))
    print(json.dumps(report))
    return 0


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _write(out: str, report: dict[str, Any]) -> None:
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(report, indent=1))
