"""`python -m bench run --gpu [--quick]`: posttrain vs plain TRL where post-training really runs.

Random-init models of real shapes, built from the default model's config and tokenizer (nothing is
downloaded) and saved in bf16 as hub checkpoints are: the default model's shape (135M), a Llama
shape of 1.07B and an 8B Llama shape. Speed and memory do not depend on the weights. Each case runs
both sides back to back in fresh processes and reports tokens/s (or s/step), end-to-end time, peak
GPU memory and the loss after the same steps. `--quick` builds tiny versions of the same shapes and
runs every case in this process, on any device, in seconds (the test suite runs it).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.measure import run_in_subprocess
from bench.report import compare, print_report

SHAPES: dict[str, dict[str, int]] = {
    "135m": {},                                                   # the default model's own config
    "1b": {"hidden_size": 2048, "num_hidden_layers": 16, "num_attention_heads": 32, "num_key_value_heads": 8,
           "intermediate_size": 8192},
    "8b": {"hidden_size": 4096, "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
           "intermediate_size": 14336},
}
TINY = {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
        "intermediate_size": 128}
# Each case runs plain TRL once and posttrain once per variant (bench.cases.VARIANTS; "" is the
# defaults), most telling first: a run cut short keeps what it measured.
CASES = ("sft_full@1b", "sft_full@1b+kahan_ckpt", "sft_full@1b+sr8_ckpt", "sft_full@135m", "sft_full@135m+ckpt",
         "dpo_lora@135m", "grpo_lora@135m", "sft_lora@8b", "dpo_lora@8b", "grpo_lora@8b",
         "dpo_lora@135m+ckpt", "sft_full@1b+sr8_ckpt")
# Floors asked of posttrain's defaults, as ratios to plain TRL (speed: higher is better; memory: lower is better).
FLOORS = {"sft_full@1b": {"speed": 1.3, "memory": 1.0}, "sft_full@135m": {"speed": 1.5, "memory": 1.5},
          "dpo_lora@135m": {"end_to_end": 1.3, "memory": 1.5},
          "grpo_lora@135m": {"generation": 5.0, "speed": 3.0, "memory": 1.5},
          "sft_lora@8b": {"memory": 1.0}, "dpo_lora@8b": {"memory": 1.0}, "grpo_lora@8b": {"memory": 1.0}}
MEMORY_8B_GIB = "78"      # the 8B cases run as on an 80 GB card (78 GiB usable, as on an H100)


def variant_available(case: str) -> bool:
    """Whether this machine can run the case's variant (8-bit AdamW needs the optional torchao)."""
    import importlib.util

    return "sr8" not in case or importlib.util.find_spec("torchao") is not None


def build_shape(name: str, folder: Path, quick: bool) -> str:
    """A random-init model of shape `name` (tiny when `quick`), saved in bf16 with the default tokenizer."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from posttrain.models import resolve

    target = folder / (name + ("-tiny" if quick else ""))
    if (target / "config.json").exists():
        return str(target)
    source = os.environ.get("BENCH_SHAPE_SOURCE") or resolve("default")
    config = AutoConfig.from_pretrained(source)
    for key, value in {**SHAPES[name], **(TINY if quick else {})}.items():
        setattr(config, key, value)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(0)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    model.save_pretrained(target)
    AutoTokenizer.from_pretrained(source).save_pretrained(target)
    del model
    return str(target)


def export_source(folder: str | Path) -> Path:
    """The default model's config and tokenizer (a few MB, no weights) in `folder`: what `build_shape`
    needs on a machine without the embedded model (set BENCH_SHAPE_SOURCE to it there)."""
    from transformers import AutoConfig, AutoTokenizer

    from posttrain.models import resolve

    target = Path(folder)
    AutoConfig.from_pretrained(resolve("default")).save_pretrained(target)
    AutoTokenizer.from_pretrained(resolve("default")).save_pretrained(target)
    return target


def run_gpu_suite(quick: bool, out: str) -> int:
    """Every case on both sides; the table, the floors and the JSON (rewritten after each case)."""
    started, work = time.time(), Path(tempfile.mkdtemp(prefix="bench-gpu-"))
    machine = _machine()
    cases: dict[str, Any] = {}
    selected = [c for c in CASES if not os.environ.get("BENCH_GPU_CASES")
                or c.split("+")[0] in os.environ["BENCH_GPU_CASES"].split(",")]
    if quick:
        selected = list(dict.fromkeys(selected))
    skipped = [c for c in selected if not variant_available(c)]
    if skipped:
        print(f"skipped (torchao is not installed; pip install 'posttrain[gpu]'): {', '.join(skipped)}")
    selected = [c for c in selected if variant_available(c)]
    trl_runs: dict[str, dict[str, Any]] = {}
    try:
        for number, case in enumerate(selected):
            if case in cases:       # a variant listed twice: the second run meets warm compile caches
                case = case + " (again)"
            base, shape = case.split("+")[0].split(" ")[0], case.split("@")[1].split("+")[0].split(" ")[0]
            model_dir = build_shape(shape, work, quick)
            os.environ.pop("BENCH_GPU_MEMORY_GIB", None)
            if shape == "8b" and not quick:
                os.environ["BENCH_GPU_MEMORY_GIB"] = MEMORY_8B_GIB
            name = case.split(" ")[0]
            if base not in trl_runs:
                order = ("trl", "posttrain") if number % 2 == 0 else ("posttrain", "trl")
                runs = {impl: _run(name, impl, model_dir, quick) for impl in order}
                trl_runs[base] = runs["trl"]
            else:
                runs = {"trl": trl_runs[base], "posttrain": _run(name, "posttrain", model_dir, quick)}
            result = compare(base, runs["trl"], runs["posttrain"], {**machine, "parameters": _params(model_dir)})
            result["floors"] = _floors(base, result)     # asked of the defaults; shown for each variant
            cases[case] = result
            _write(out, {"quick": quick, "machine": machine, "cases": cases, "partial": True})
            print(f"{case}: {json.dumps(result.get('ratios') or result.get('error'))}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report = {"quick": quick, "machine": machine, "floors": FLOORS, "cases": cases,
              "seconds": round(time.time() - started, 1)}
    print_report(report, title=f"posttrain vs plain TRL on {machine['device']}{' (quick: tiny shapes)' if quick else ''}")
    _write(out, report)
    print(f"written: {out}")
    return 1 if any("error" in r for r in cases.values()) else 0


def _run(case: str, impl: str, model_dir: str, quick: bool) -> dict[str, Any]:
    if not quick:
        timeout = float(os.environ.get("BENCH_CASE_TIMEOUT_S", "1800"))
        return run_in_subprocess(case, impl, model_dir, quick=False, timeout_s=timeout, profile="gpu")
    import torch

    from bench.cases import run_case
    from bench.measure import peak_memory

    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    try:
        return {**run_case(case, impl, model_dir, quick=True, profile="gpu"), **peak_memory()}
    except Exception as err:  # noqa: BLE001 - one case failing must not lose the others' figures
        return {"case": case, "impl": impl, "error": f"{type(err).__name__}: {err}"}


def _floors(case: str, result: dict[str, Any]) -> dict[str, Any]:
    """Each floor of the case with the measured ratio and whether it holds."""
    ratios = result.get("ratios") or {}
    out = {}
    for key, floor in FLOORS.get(case, {}).items():
        value = ratios.get(key)
        holds = None if value is None else (value <= floor if key == "memory" else value >= floor)
        out[key] = {"floor": floor, "measured": value, "holds": holds}
    return out


def _params(model_dir: str) -> int:
    from posttrain.device import model_size

    return model_size(model_dir)[0] or 0


def _machine() -> dict[str, Any]:
    import torch

    from posttrain.device import DeviceProfile
    from posttrain.stages.common import thread_count

    device = DeviceProfile.detect()
    return {"device": device.describe(), "kind": device.kind, "threads": thread_count(),
            "torch": torch.__version__, "cuda": torch.version.cuda}


def _write(out: str, report: dict[str, Any]) -> None:
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    import sys

    print(export_source(sys.argv[1] if len(sys.argv) > 1 else ".bench-shape"))
