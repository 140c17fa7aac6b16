"""Measuring the machine and running each case in its own process (for a clean peak RSS)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def matmul_gflops(dtype: str = "float32", size: int = 1024, seconds: float = 1.5) -> float:
    """Measured dense matmul throughput of this machine, in GFLOP/s, with all of torch's threads."""
    import torch

    from posttrain.stages.common import thread_count

    torch.set_num_threads(thread_count())
    a = torch.randn(size, size, dtype=getattr(torch, dtype))
    b = torch.randn(size, size, dtype=getattr(torch, dtype))
    a @ b                                             # warm-up
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        count += 1
    return 2 * size**3 * count / (time.perf_counter() - start) / 1e9


def parameter_count(model_dir: str) -> int:
    """Parameters of the model (tied embeddings counted once)."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir)
    return sum(p.numel() for p in model.parameters())


def peak_rss_gib() -> float:
    """This process's peak resident memory so far."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20     # KiB on Linux


def run_in_subprocess(case: str, impl: str, model_dir: str, quick: bool, timeout_s: float,
                      profile: str = "cpu") -> dict[str, Any]:
    """`python -m bench case ...` in a fresh interpreter; its JSON result, or the error it hit."""
    with tempfile.TemporaryDirectory(prefix="bench-result-") as folder:
        path = Path(folder) / "result.json"
        command = [sys.executable, "-m", "bench", "case", case, impl, "--model", model_dir, "--result", str(path),
                   "--profile", profile]
        command += ["--quick"] if quick else []
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, env=env,
                                  cwd=Path(__file__).resolve().parent.parent)
        except subprocess.TimeoutExpired:
            return {"case": case, "impl": impl, "error": f"timed out after {timeout_s:.0f} s"}
        if done.returncode != 0 or not path.exists():
            return {"case": case, "impl": impl, "error": done.stderr.strip().splitlines()[-1:] or ["failed"],
                    "log_tail": done.stderr[-3000:]}
        return json.loads(path.read_text())


def write_case_result(result: dict[str, Any], path: str) -> None:
    """Called inside the case's process: add its peak RSS (and peak GPU memory) and write the JSON."""
    result.update(peak_memory())
    Path(path).write_text(json.dumps(result))


def peak_memory() -> dict[str, float]:
    """Peak resident memory of this process, and torch's peak GPU allocation when there is a GPU."""
    import torch

    peaks = {"peak_rss_gib": peak_rss_gib()}
    if torch.cuda.is_available():
        peaks["peak_gpu_gib"] = torch.cuda.max_memory_allocated() / 2**30
    return peaks
