"""Cold start of the default model: the one-time conversion, then later loads in fresh processes.

The first use of "default" converts the embedded GGUF into a safetensors folder (once per machine);
every later process loads that folder. Each trial is a new interpreter, so imports are cold from the
interpreter's side (the OS file cache stays warm, as it does for a user running twice). The tests
check that the conversion happens once and later loads reuse it; the times live here.

    python -m bench.cold_start               # 5 later loads
    python -m bench.cold_start --trials 10 --out bench/results/cold_start.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LOAD = ("import time; t0 = time.perf_counter(); import torch, transformers, transformers.modeling_utils; "
        "from posttrain import load_model; t1 = time.perf_counter(); m, tok = load_model('default'); "
        "print(t1 - t0, time.perf_counter() - t1)")


def _python(code: str, home: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "POSTTRAIN_HOME": home, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True,
                          cwd=Path(__file__).resolve().parent.parent)


def measure(trials: int) -> dict:
    """Seconds for the conversion (one process, imports included) and for `trials` later loads."""
    with tempfile.TemporaryDirectory(prefix="bench-cold-start-") as home:
        start = time.perf_counter()
        _python("from posttrain.models import default_model_dir; default_model_dir()", home)
        conversion = time.perf_counter() - start
        imports, loads = [], []
        for _ in range(trials):
            done = _python(LOAD, home)
            first, second = map(float, done.stdout.strip().splitlines()[-1].split())
            imports.append(first)
            loads.append(second)
    total = [a + b for a, b in zip(imports, loads)]
    return {"conversion_s": round(conversion, 2), "trials": trials,
            "imports_s": _summary(imports), "load_s": _summary(loads), "imports_plus_load_s": _summary(total),
            "cpu_count": os.cpu_count()}


def _summary(values: list[float]) -> dict:
    return {"median": round(statistics.median(values), 2), "min": round(min(values), 2),
            "max": round(max(values), 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cold_start", description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--out", default=None, help="also write the JSON here")
    args = parser.parse_args(argv)
    result = measure(args.trials)
    print(json.dumps(result, indent=2))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
