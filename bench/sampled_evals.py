"""`python -m bench.sampled_evals`: an avg@k eval's time, as it decoded before (fp32) and by default now.

A sampled `MathAccuracy` (k answers per question at temperature 1.0, up to `--max-new-tokens` each) on the
default model, run in one process with its precision given as "fp32" (every eval's default until sampled
evals took "auto") and left at its default (`posttrain.generation.eval_precision`: bf16 weights where the
CPU computes bf16 natively), alternating ABBA... after a warm-up call of each, the same questions and
seeds on both sides. Records each call's wall and process CPU seconds, the tokens sampled and the score;
writes `--out` after every call.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from posttrain.generation import Precision

SIDES: dict[str, Precision | None] = {"fp32": "fp32", "default": None}


def questions(n: int) -> list[dict]:
    """Short word problems (adding, then taking away), written for this bench."""
    rows = []
    for i in range(n):
        a, b, c = 3 + i, 5 + 2 * i, 1 + i % 3
        rows.append({"question": f"Tom has {a} apples and buys {b} more, then gives away {c}. How many apples "
                                 "does he have? Answer with the number.", "answer": str(a + b - c)})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sampled_evals")
    parser.add_argument("--questions", type=int, default=16)
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=2, help="pairs, alternating which side goes first")
    parser.add_argument("--out", type=Path, default=Path("bench/results/sampled-evals.json"))
    args = parser.parse_args(argv)

    import torch

    from posttrain.device import cpu_has_native_bf16
    from posttrain.evals import MathAccuracy
    from posttrain.models import load_model
    from posttrain.progress import quiet_libraries

    quiet_libraries()
    model, tokenizer = load_model()
    rows = questions(args.questions)
    result: dict[str, Any] = {
        "machine": {"cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
                    "native_bf16": cpu_has_native_bf16(), "POSTTRAIN_CPU_BF16": os.environ.get("POSTTRAIN_CPU_BF16")},
        "settings": vars(args) | {"out": str(args.out)}, "calls": []}

    def call(side: str, seed: int, n: int | None = None) -> dict:
        ev = MathAccuracy(rows[:n] if n else rows, samples=args.samples, temperature=1.0, seed=seed,
                          max_new_tokens=args.max_new_tokens if n is None else 8, precision=SIDES[side])
        wall, cpu = time.perf_counter(), time.process_time()
        scored = ev.run(model, tokenizer)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        tokens = sum(len(tokenizer(s["output"], add_special_tokens=False)["input_ids"])
                     for d in scored.details for s in d["samples"])
        return {"side": side, "seed": seed, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "tokens": tokens,
                "tokens_per_s": round(tokens / wall, 1), "score": round(scored.score, 4)}

    for side in SIDES:                                      # warm-up: kernels built, weights read once
        call(side, 0, n=2)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for repeat in range(args.repeats):
        for side in (("fp32", "default") if repeat % 2 == 0 else ("default", "fp32")):
            result["calls"].append(call(side, repeat))
            print(json.dumps(result["calls"][-1]), flush=True)
            args.out.write_text(json.dumps(result, indent=1))
    per_side = {side: [c for c in result["calls"] if c["side"] == side] for side in SIDES}
    ratios = sorted(a["wall_s"] / b["wall_s"] for a, b in zip(per_side["fp32"], per_side["default"]))
    token_ratios = sorted(b["tokens_per_s"] / a["tokens_per_s"] for a, b in zip(per_side["fp32"], per_side["default"]))
    result["summary"] = {"wall_ratio_median": ratios[len(ratios) // 2], "wall_ratios": ratios,
                         "tokens_per_s_ratio_median": token_ratios[len(token_ratios) // 2]}
    args.out.write_text(json.dumps(result, indent=1))
    print(json.dumps(result["summary"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
