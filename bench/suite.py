"""The whole benchmark: measure the machine, run every case for both sides back to back, compare."""

from __future__ import annotations

import importlib.util
import json
import platform
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.cases import CASES
from bench.measure import matmul_gflops, parameter_count, run_in_subprocess
from bench.report import compare, print_report

# Requested floors, as ratios to plain TRL (higher is better; memory: posttrain / TRL, lower is better).
TARGETS = {"speed": 1.5, "dpo_step": 1.5, "grpo_step": 2.0, "generation": 4.0, "memory": 1.0}


def run_suite(quick: bool, only: set[str], out: str, model: str = "default", reverse: bool = False) -> int:
    """Run the selected parts, print the table, write the JSON; 0 when every case ran. `reverse` swaps
    which side of each case runs first (a run with and one without it alternate ABAB)."""
    started = time.time()
    work = Path(tempfile.mkdtemp(prefix="bench-"))
    try:
        model_dir = _tiny_model(work) if quick else _resolve(model)
        machine = _machine(model_dir)
        cases: dict[str, Any] = {}
        for number, case in enumerate(c for c in CASES if c.split("_")[0] in only):
            order = ("trl", "posttrain") if (number % 2 == 0) != reverse else ("posttrain", "trl")   # cancels drift
            runs = {impl: run_in_subprocess(case, impl, model_dir, quick, 300 if quick else 1200)
                    for impl in order}
            cases[case] = compare(case, runs["trl"], runs["posttrain"], machine)
            _write(out, {"quick": quick, "machine": machine, "cases": cases, "partial": True})
        rag = _rag(quick) if "rag" in only else None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report = {"quick": quick, "reverse": reverse, "machine": machine, "targets": TARGETS, "cases": cases, "rag": rag,
              "seconds": round(time.time() - started, 1)}
    print_report(report)
    _write(out, report)
    print(f"written: {out}")
    failed = [c for c, r in cases.items() if "error" in r]
    return 1 if failed or (rag or {}).get("error") else 0


def _write(out: str, report: dict[str, Any]) -> None:
    """The JSON so far (rewritten after every case, so a stopped run keeps what it measured)."""
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(report, indent=2))


def _resolve(model: str) -> str:
    from posttrain.models import resolve

    return resolve(model)


def _tiny_model(folder: Path) -> str:
    """A 2-layer model with the real tokenizer, saved where the case processes can load it."""
    from posttrain.testing import tiny_model

    model, tokenizer = tiny_model(num_layers=2, hidden_size=64)
    target = folder / "tiny"
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)
    return str(target)


def _machine(model_dir: str) -> dict[str, Any]:
    from posttrain.stages.common import thread_count

    return {"cpu": platform.processor() or platform.machine(), "threads": thread_count(),
            "gflops_fp32": round(matmul_gflops("float32"), 1), "gflops_bf16": round(matmul_gflops("bfloat16"), 1),
            "model": model_dir, "parameters": parameter_count(model_dir),
            "jemalloc": "jemalloc" in (Path("/proc/self/maps").read_text() if Path("/proc/self/maps").exists() else "")}


def _rag(quick: bool) -> dict[str, Any] | None:
    """The RAG part lives in bench/rag.py (`run(quick) -> dict`); skipped when it is not there."""
    if importlib.util.find_spec("bench.rag") is None:
        return {"skipped": "bench/rag.py not present"}
    try:
        from bench import rag

        return rag.run(quick)
    except Exception as err:  # noqa: BLE001 - one part failing must not lose the others' figures
        return {"error": f"{type(err).__name__}: {err}"}
