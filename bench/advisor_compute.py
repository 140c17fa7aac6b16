"""The advisor's memory estimate against measured peaks of the library's own runs.

Each case trains the default model (SmolLM2-135M-Instruct) with `Trainer(...).sft(...)` (or `.dpo(...)`
for the dpo- cases, whose pairs put a chosen and a rejected answer in each pass) for two steps
(the second step holds the optimizer state and the activations at once) in a fresh process, on rows
long enough to fill `max_length`. Measured: peak RSS (`ru_maxrss`) minus the process's RSS after
torch, transformers, TRL and PEFT are imported and before the model loads. Estimated: the trainer
plan's own figure for the stage on this machine (`posttrain.pipeline.compile.stage_choices(...).estimated_gib`, the
arithmetic `advise()` shows too), for the tokens of one pass (`tokens_per_pass`: a DPO pair counts twice).

    .venv/bin/python -m bench.advisor_compute                  # all cases, ~20 min on 2 busy cores
    .venv/bin/python -m bench.advisor_compute --only full-2x256 --out bench/results/advisor_compute.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

CASES = {"full-2x256": (False, 2, 256), "full-4x256": (False, 4, 256), "full-1x1024": (False, 1, 1024),
         "full-4x512": (False, 4, 512), "lora-2x256": (True, 2, 256), "lora-2x512": (True, 2, 512),
         "dpo-full-2x256": (False, 2, 256), "dpo-lora-2x256": (True, 2, 256)}
STEPS = 2
WORDS = "apple river stone cloud paper window garden silver engine market planet yellow".split()


def rss_gib() -> float:
    """This process's resident memory now."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 2**20
    raise RuntimeError("no VmRSS in /proc/self/status")


def run_case(name: str) -> dict:
    """Inside the case's process: train, and return the measured and estimated peaks."""
    import torch  # noqa: F401  (imported before the baseline is read)
    import transformers  # noqa: F401
    import trl  # noqa: F401
    import peft  # noqa: F401

    from bench.measure import peak_rss_gib
    from posttrain import Trainer
    from posttrain.pipeline.compile import stage_choices, tokens_per_pass
    from posttrain.stages import make_settings

    lora, batch, length = CASES[name]

    def words(i: int) -> str:
        return " ".join(WORDS[(i + j) % len(WORDS)] for j in range(length))

    kind = "dpo" if name.startswith("dpo-") else "sft"
    if kind == "dpo":
        rows = [{"prompt": "Repeat the words.", "chosen": words(i), "rejected": words(i + 5)}
                for i in range(batch * STEPS)]
    else:
        rows = [{"prompt": "Repeat the words.", "completion": words(i)} for i in range(batch * STEPS)]
    settings = make_settings(kind, name, batch_size=batch, max_length=length, max_steps=STEPS)
    estimate, tokens = stage_choices("default", settings, lora=lora), tokens_per_pass(settings, cuda=False)
    baseline = rss_gib()
    with tempfile.TemporaryDirectory() as folder:
        trainer = Trainer("default", output_dir=folder, lora=lora)
        getattr(trainer, kind)(rows, batch_size=batch, max_length=length, max_steps=STEPS).run()
    measured = peak_rss_gib() - baseline
    estimated = estimate.estimated_gib or 0.0
    return {"case": name, "tokens_per_step": tokens, "estimated_gib": round(estimated, 3),
            "measured_gib": round(measured, 3), "baseline_gib": round(baseline, 3),
            "error": round(estimated / measured - 1, 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(CASES), help="comma-separated case names")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case)))
        return
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    results = []
    print("| case | tokens/step | estimated | measured | error |\n| --- | --- | --- | --- | --- |")
    for name in args.only.split(","):
        done = subprocess.run([sys.executable, "-m", "bench.advisor_compute", "--case", name], env=env,
                              capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parent.parent)
        result = json.loads(done.stdout.strip().splitlines()[-1])
        results.append(result)
        print(f"| {name} | {result['tokens_per_step']:,} | {result['estimated_gib']:.2f} GiB | "
              f"{result['measured_gib']:.2f} GiB | {result['error']:+.0%} |", flush=True)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
