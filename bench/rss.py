"""`python -m bench.rss`: resident memory of padding-free SFT, step by step, on rows of varied or of one length.

Each run trains the default model with posttrain's SFT (padding-free batches on CPU) in a fresh process
and records after every step: the process's resident set (VmRSS), glibc's heap statistics (`mallinfo2`:
bytes the main heap and arenas hold, bytes of them in use, bytes free inside them, bytes in mmapped
chunks), the step's packed length, its wall and CPU time, and the loss. The heap figures tell the causes
apart: memory that live objects hold (a cache per shape, autograd graphs kept alive) shows as bytes in
use; memory freed but kept by the allocator (fragmentation, an mmap threshold raised by glibc) shows as
free bytes inside the heap.

Variants (`--variants`, each in its own process, run in the order given, repeated `--repeats` times):
`default` (posttrain's choices: on CPU, kernel caches bounded, `posttrain.device.CPU_KERNEL_CACHE`);
`unbounded` (the libraries' own 1,024 kernels a cache, set through the environment); `dnnl0`
(ONEDNN_PRIMITIVE_CACHE_CAPACITY=0); `trim` (the default, and glibc's malloc_trim(0) after every step,
called from the bench itself). Rows (`--lengths`): "varied" (the bench's chat rows, 40-520 tokens) or
"one" (every row the same length).
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
VARIANT_ENV = {"dnnl0": {"ONEDNN_PRIMITIVE_CACHE_CAPACITY": "0"},
               "unbounded": {"ONEDNN_PRIMITIVE_CACHE_CAPACITY": "1024", "LRU_CACHE_CAPACITY": "1024"}}


class _Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]


def heap() -> dict[str, float]:
    """glibc's heap figures in GiB (empty where the C library has no mallinfo2)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = _Mallinfo2
        info = libc.mallinfo2()
    except (OSError, AttributeError):
        return {}
    return {"heap_gib": info.arena / 2**30, "in_use_gib": info.uordblks / 2**30,
            "free_in_heap_gib": info.fordblks / 2**30, "mmapped_gib": info.hblkhd / 2**30}


def rss_gib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 2**20
    return 0.0


def one_run(variant: str, lengths: str, steps: int, batch: int, out: str, cap_gib: float) -> None:
    """One run in this process; writes its record as JSON to `out` after every step. A run whose resident
    set passes `cap_gib` stops there (the machine is shared; `stopped_at_cap` says so)."""
    import torch
    import transformers
    from transformers import AutoTokenizer, TrainerCallback

    from bench.data import chat_rows
    from posttrain import Trainer
    from posttrain.models import resolve

    model_dir = resolve("default")
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    low, high = (40, 520) if lengths == "varied" else (280, 280)
    rows = chat_rows(steps * batch, tokenizer, min_tokens=low, max_tokens=high)
    record: dict[str, Any] = {"variant": variant, "lengths": lengths, "steps": [], "threads": torch.get_num_threads(),
                              "start_rss_gib": rss_gib()}
    packed: list[int] = []
    original = transformers.Trainer.training_step

    def training_step(self: Any, model: Any, inputs: dict, *args: Any, **kwargs: Any) -> Any:
        packed.append(int(inputs["input_ids"].numel()))
        return original(self, model, inputs, *args, **kwargs)

    transformers.Trainer.training_step = training_step
    libc = ctypes.CDLL("libc.so.6")

    class Meter(TrainerCallback):
        def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.wall, self.cpu = time.perf_counter(), time.process_time()

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if variant == "trim":
                libc.malloc_trim(0)
            record["steps"].append({"step": state.global_step, "packed": packed[-1] if packed else None,
                                    "wall_s": round(time.perf_counter() - self.wall, 4),
                                    "cpu_s": round(time.process_time() - self.cpu, 4),
                                    "rss_gib": round(rss_gib(), 4),
                                    **{k: round(v, 4) for k, v in heap().items()}})
            Path(out).write_text(json.dumps(record))
            print(json.dumps(record["steps"][-1]), file=sys.stderr, flush=True)
            if record["steps"][-1]["rss_gib"] > cap_gib:
                record["stopped_at_cap"] = cap_gib
                control.should_training_stop = True

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
            if logs and "loss" in logs and record["steps"]:
                record["steps"][-1]["loss"] = float(logs["loss"])

    with tempfile.TemporaryDirectory(prefix="bench-rss-") as folder:
        trainer = Trainer("default", output_dir=folder, seed=0, callbacks=[Meter()])
        trainer = trainer.sft(rows, max_steps=steps, batch_size=batch, learning_rate=2e-5, lr_scheduler="constant",
                              max_length=1024, logging_steps=1)
        record["plan"] = str(trainer.plan())
        start = time.perf_counter()
        trainer.run(progress=False)
        record["train_s"] = round(time.perf_counter() - start, 2)
    record["distinct_packed_lengths"] = len(set(packed))
    Path(out).write_text(json.dumps(record))


def load() -> float | None:
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except OSError:
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.rss")
    parser.add_argument("--variants", default="default", help="comma-separated, run in this order each repeat")
    parser.add_argument("--lengths", default="varied", choices=["varied", "one"])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--cap-gib", type=float, default=4.5, help="a run stops when its RSS passes this")
    parser.add_argument("--out", required=True)
    parser.add_argument("--one", default=None, help="(internal) run this variant in this process")
    parser.add_argument("--result", default=None)
    args = parser.parse_args(argv)
    if args.one:
        one_run(args.one, args.lengths, args.steps, args.batch, args.result, args.cap_gib)
        return 0
    runs: list[dict[str, Any]] = []
    result: dict[str, Any] = {"machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                                          "omp_num_threads": os.environ.get("OMP_NUM_THREADS")},
                              "settings": vars(args), "runs": runs}
    for repeat in range(args.repeats):
        for variant in args.variants.split(","):
            with tempfile.NamedTemporaryFile(suffix=".json") as handle:
                env = {**os.environ, **VARIANT_ENV.get(variant, {}), "PYTHONPATH": str(ROOT)}
                before = load()
                subprocess.run([sys.executable, "-m", "bench.rss", "--one", variant, "--lengths", args.lengths,
                                "--steps", str(args.steps), "--batch", str(args.batch), "--out", args.out,
                                "--cap-gib", str(args.cap_gib),
                                "--result", handle.name], env=env, check=True, cwd=ROOT)
                run = json.loads(Path(handle.name).read_text())
            run.update(repeat=repeat, load_before=before, load_after=load())
            runs.append(run)
            last = run["steps"][-1]
            print(f"{variant} {args.lengths} repeat {repeat}: {run['train_s']} s, rss {run['steps'][0]['rss_gib']:.2f}"
                  f" -> {last['rss_gib']:.2f} GiB (max {max(s['rss_gib'] for s in run['steps']):.2f}), "
                  f"in use {last.get('in_use_gib')}, free in heap {last.get('free_in_heap_gib')}", flush=True)
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            Path(args.out).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
