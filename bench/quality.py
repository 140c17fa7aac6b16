"""`python -m bench quality`: time to plain TRL's quality, SFT, posttrain against TRL, on one device.

The fair bench. Both sides train the same model on the same rows (one pass, the trainer's seeded
random order), batch, learning rate and constant schedule, and neither saves anything while the
clock runs. Every `eval_every` steps (and before the first) a fixed held-out set is scored by the
same function on both sides (`heldout_loss`, this module), outside the clock. Each pair runs
`repeats` times in alternating order (TRL first, then posttrain first, ...), each run in a fresh
process, and the report gives medians with their spread (min-max).

Headline: the wall time until posttrain's held-out loss first reaches plain TRL's final held-out
loss, against TRL's own time to it. Beside it: held-out loss at equal steps, steady tokens/s (after
the first `warm_steps` steps, reported apart), peak RSS, the share of computed positions that were
padding, and the achieved training FLOP/s (6 x parameters x real tokens / s) beside this machine's
measured bf16 matmul ceiling at the same thread count.

Cases: `variable` (chat rows of 8-160 words, reversed: the issue's setting), `uniform` (every row of
one length: no padding to save). `--quick` runs every case on a tiny model for two steps (the test
suite runs it; no figure of it means anything).
"""

from __future__ import annotations

import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.data import WORDS

ROOT = Path(__file__).resolve().parent.parent
# Held-out rows are written from words the training rows never use (a generator apart from theirs).
HELDOUT_WORDS = ("amber bottle cactus dolphin eagle falcon glacier hammer iceberg jungle kayak lantern meadow "
                 "needle orchid parrot quiver ribbon sunset teapot unicorn velvet walnut yacht zipper acorn "
                 "blanket compass daisy ember fossil goblet helmet igloo jigsaw kitten lobster marble").split()


def case_settings(case: str, quick: bool, profile: str = "cpu") -> dict[str, Any]:
    """Steps, batch, learning rate and row lengths of a case (the same on both sides); `profile` "gpu":
    16 rows a step and 3 warm-up steps (compiles, allocator)."""
    base = {"batch": 4, "lr": 2e-5, "heldout": 16, "eval_every": 4, "warm_steps": 2, "max_length": 512}
    if profile == "gpu" and not quick:
        base.update(batch=16, warm_steps=3)
    if quick:
        return {**base, "case": case, "steps": 2, "extra_steps": 1, "heldout": 2, "eval_every": 1, "warm_steps": 1,
                "words": (8, 40) if case == "variable" else (24, 24)}
    words = (8, 160) if case == "variable" else (80, 80)
    return {**base, "case": case, "steps": 16, "extra_steps": 4, "words": words}


def rows(count: int, words: tuple[int, int], seed: int, vocabulary: list[str]) -> list[dict]:
    """Chat rows whose answer reverses the prompt's words; `words` bounds the prompt's word count."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        picked = [rng.choice(vocabulary) for _ in range(rng.randint(*words))]
        out.append({"prompt": [{"role": "user", "content": "Reverse these words: " + " ".join(picked)}],
                    "completion": [{"role": "assistant", "content": " ".join(reversed(picked))}]})
    return out


def case_rows(settings: dict[str, Any]) -> tuple[list[dict], list[dict]]:
    """(training rows, held-out rows): enough training rows for posttrain's extra steps, one pass."""
    count = (settings["steps"] + settings["extra_steps"]) * settings["batch"]
    return (rows(count, tuple(settings["words"]), 0, WORDS),
            rows(settings["heldout"], tuple(settings["words"]), 1, HELDOUT_WORDS))


def heldout_loss(model: Any, tokenizer: Any, heldout: list[dict]) -> float:
    """Mean loss per answer token (the assistant's reply and its end-of-turn token) over the held-out
    rows, one row at a time, under bf16 autocast where the CPU computes bf16 natively (as both sides
    train); the same code scores both sides."""
    import torch

    from posttrain.device import cpu_has_native_bf16

    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    total, count = 0.0, 0
    autocast = torch.autocast(device.type, dtype=torch.bfloat16,
                              enabled=device.type == "cuda" or cpu_has_native_bf16())
    with torch.no_grad(), autocast:
        for row in heldout:
            prompt = tokenizer.apply_chat_template(row["prompt"], tokenize=False, add_generation_prompt=True)
            full = tokenizer.apply_chat_template(row["prompt"] + row["completion"], tokenize=False).rstrip()
            prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
            ids = tokenizer(full, add_special_tokens=False)["input_ids"]
            input_ids = torch.tensor([ids], device=device)
            logits = model(input_ids=input_ids).logits[0, len(prompt_ids) - 1:-1].float()
            target = input_ids[0, len(prompt_ids):]
            total += torch.nn.functional.cross_entropy(logits, target, reduction="sum").item()
            count += target.numel()
    model.train(was_training)
    return total / count


def clock_callback(record: dict[str, Any], tokenizer: Any, heldout: list[dict], eval_every: int) -> Any:
    """A TrainerCallback keeping the training clock (held-out scoring excluded) and the held-out curve."""
    from transformers import TrainerCallback

    class Clock(TrainerCallback):
        def on_train_begin(self, args, state, control, model=None, **kwargs):
            record["heldout"] = [[0, 0.0, heldout_loss(model, tokenizer, heldout)]]
            self.start, self.paused = time.perf_counter(), 0.0
            self.cpu_start, self.cpu_paused = time.process_time(), 0.0

        def on_log(self, args, state, control, logs=None, **kwargs):
            entry = {k: round(float(v), 5) for k, v in (logs or {}).items() if k in ("loss", "grad_norm")}
            if entry:
                record["log"].append({"step": state.global_step, **entry})

        def on_step_end(self, args, state, control, model=None, **kwargs):
            now, cpu_now = time.perf_counter(), time.process_time()
            clock = now - self.start - self.paused
            record["clock"].append(round(clock, 4))
            record["cpu_clock"].append(round(cpu_now - self.cpu_start - self.cpu_paused, 4))
            if state.global_step % eval_every == 0:
                record["heldout"].append([state.global_step, round(clock, 4),
                                          heldout_loss(model, tokenizer, heldout)])
                self.paused += time.perf_counter() - now
                self.cpu_paused += time.process_time() - cpu_now

    return Clock()


def count_batches(record: dict[str, Any]) -> Any:
    """Wrap transformers' `Trainer.training_step` (both sides go through it) to count, per step, the
    positions computed, the real tokens among them and the labelled tokens."""
    import transformers

    original = transformers.Trainer.training_step

    def training_step(self: Any, model: Any, inputs: dict, *args: Any, **kwargs: Any) -> Any:
        ids = inputs["input_ids"]
        mask = inputs.get("attention_mask")
        real = int(mask.sum()) if mask is not None else int(ids.numel())
        if mask is None and "position_ids" in inputs:       # padding-free: trailing padding has position 0 runs
            real = int(ids.numel())
        record["batches"].append({"positions": int(ids.numel()), "tokens": real,
                                  "labels": int((inputs["labels"] != -100).sum())})
        return original(self, model, inputs, *args, **kwargs)

    transformers.Trainer.training_step = training_step
    return original


def run_side(side: str, settings: dict[str, Any], model_dir: str, posttrain: dict[str, Any]) -> dict[str, Any]:
    """One side's run, in this process: its clock, held-out curve, batches and peak RSS."""
    import torch
    from transformers import AutoTokenizer

    from bench.measure import peak_rss_gib

    train_rows, heldout = case_rows(settings)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    record: dict[str, Any] = {"side": side, "clock": [], "cpu_clock": [], "batches": [], "log": [], "threads": torch.get_num_threads()}
    count_batches(record)
    steps = settings["steps"] + (settings["extra_steps"] if side == "posttrain" else 0)
    callback = clock_callback(record, tokenizer, heldout, settings["eval_every"])
    loaded = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"bench-quality-{side}-") as out:
        if side == "trl":
            _run_trl(settings, steps, train_rows, model_dir, out, callback)
        else:
            _run_posttrain(settings, steps, train_rows, model_dir, out, callback, posttrain)
    record["total_seconds"] = round(time.perf_counter() - loaded, 2)
    record["threads"] = torch.get_num_threads()
    record["peak_rss_gib"] = round(peak_rss_gib(), 3)
    if torch.cuda.is_available():
        record["peak_gpu_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 3)
    return record


def _run_trl(settings: dict[str, Any], steps: int, train_rows: list[dict], model_dir: str, out: str,
             callback: Any) -> None:
    """Plain TRL as a user writes it: TRL's defaults, bf16 only where the CPU computes it natively."""
    import datasets
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    from posttrain.device import cpu_has_native_bf16

    cuda = torch.cuda.is_available()
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    args = SFTConfig(output_dir=out, learning_rate=settings["lr"], lr_scheduler_type="constant",
                     per_device_train_batch_size=settings["batch"], max_steps=steps, max_length=settings["max_length"],
                     logging_steps=1, save_strategy="no", report_to="none", seed=0, disable_tqdm=True,
                     use_cpu=not cuda, bf16=(cuda and torch.cuda.is_bf16_supported()) or (not cuda and cpu_has_native_bf16()))
    trainer = SFTTrainer(model=model, args=args, train_dataset=datasets.Dataset.from_list(train_rows),
                         processing_class=tokenizer, callbacks=[callback])
    trainer.train()


def _run_posttrain(settings: dict[str, Any], steps: int, train_rows: list[dict], model_dir: str, out: str,
                   callback: Any, overrides: dict[str, Any]) -> None:
    from posttrain import Trainer

    trainer = Trainer(model_dir, output_dir=out, seed=0, callbacks=[callback])
    trainer = trainer.sft(train_rows, max_steps=steps, batch_size=settings["batch"], learning_rate=settings["lr"],
                          lr_scheduler="constant", max_length=settings["max_length"], logging_steps=1, **overrides)
    trainer.run(progress=False)


# -- the pairs and the report ----------------------------------------------------------------------------------

def summarise(run: dict[str, Any], settings: dict[str, Any], params: int) -> dict[str, Any]:
    """Figures of one run: warm-up apart, steady tokens/s, padding share, FLOP/s."""
    warm = settings["warm_steps"]
    clock, batches = run["clock"], run["batches"][:len(run["clock"])]
    steady_time = clock[-1] - clock[warm - 1] if len(clock) > warm else None
    steady_tokens = sum(b["tokens"] for b in batches[warm:])
    positions, tokens = sum(b["positions"] for b in batches), sum(b["tokens"] for b in batches)
    return {"warmup_seconds": clock[warm - 1] if len(clock) >= warm else None,
            "steady_tokens_per_s": steady_tokens / steady_time if steady_time else None,
            "steady_flops": 6 * params * steady_tokens / steady_time if steady_time else None,
            "padding_share": 1 - tokens / positions if positions else 0.0,
            "train_seconds_at_steps": clock[settings["steps"] - 1] if len(clock) >= settings["steps"] else None,
            "labels_per_step": [b["labels"] for b in batches]}


def time_to(curve: list[list[float]], target: float | None) -> float | None:
    """Clock time of the first held-out point after step 0 at or under `target` (None: never reached)."""
    if target is None:
        return None
    return next((clock for step, clock, loss in curve if step > 0 and loss <= target + 1e-9), None)


def cpu_time_to(run: dict[str, Any], target: float | None) -> float | None:
    """Process CPU seconds (training only) at the first held-out point after step 0 at or under `target`:
    steadier than wall time on a shared machine, for a run of one thread."""
    step = next((s for s, _, loss in run["heldout"] if s > 0 and target is not None and loss <= target + 1e-9), None)
    cpu = run.get("cpu_clock") or []
    return cpu[step - 1] if step and len(cpu) >= step else None


def loss_at(curve: list[list[float]], step: int) -> float | None:
    return next((loss for s, _, loss in curve if s == step), None)


def spread(values: list[float | None]) -> dict[str, float | None]:
    kept = [v for v in values if v is not None]
    if not kept:
        return {"median": None, "min": None, "max": None, "n": 0}
    return {"median": statistics.median(kept), "min": min(kept), "max": max(kept), "n": len(kept)}


def compare_case(settings: dict[str, Any], runs: list[dict[str, Any]], params: int) -> dict[str, Any]:
    """Pair the runs (the i-th TRL run with the i-th posttrain run) and take medians over pairs."""
    trl = [r for r in runs if r["side"] == "trl"]
    ours = [r for r in runs if r["side"] == "posttrain"]
    steps = settings["steps"]
    pairs = []
    for a, b in zip(trl, ours):
        target = a["heldout"][-1][2] if a["heldout"] else None
        ta, tb = time_to(a["heldout"], target), time_to(b["heldout"], target)
        ca, cb = cpu_time_to(a, target), cpu_time_to(b, target)
        sa, sb = summarise(a, settings, params), summarise(b, settings, params)
        pairs.append({"trl_final_heldout": target, "trl_time_to_target": ta, "posttrain_time_to_target": tb,
                      "time_to_quality_ratio": ta / tb if ta and tb else None,
                      "trl_cpu_time_to_target": ca, "posttrain_cpu_time_to_target": cb,
                      "cpu_time_to_quality_ratio": ca / cb if ca and cb else None,
                      "heldout_at_steps": {"trl": loss_at(a["heldout"], steps), "posttrain": loss_at(b["heldout"], steps)},
                      "steady_tokens_per_s_ratio": (sb["steady_tokens_per_s"] / sa["steady_tokens_per_s"]
                                                    if sa["steady_tokens_per_s"] and sb["steady_tokens_per_s"] else None),
                      "memory_ratio": (b["peak_gpu_gib"] / a["peak_gpu_gib"] if a.get("peak_gpu_gib")
                                       else b["peak_rss_gib"] / a["peak_rss_gib"]),
                      "trl": sa, "posttrain": sb})
    side = {name: {key: spread([p[name][key] for p in pairs]) for key in
                   ("warmup_seconds", "steady_tokens_per_s", "steady_flops", "padding_share", "train_seconds_at_steps")}
            for name in ("trl", "posttrain")}
    for name, group in (("trl", trl), ("posttrain", ours)):
        side[name]["peak_rss_gib"] = spread([r["peak_rss_gib"] for r in group])
        side[name]["heldout_at_steps"] = spread([loss_at(r["heldout"], steps) for r in group])
    return {"settings": settings, "pairs": pairs,
            "medians": {"time_to_quality_ratio": spread([p["time_to_quality_ratio"] for p in pairs]),
                        "cpu_time_to_quality_ratio": spread([p["cpu_time_to_quality_ratio"] for p in pairs]),
                        "steady_tokens_per_s_ratio": spread([p["steady_tokens_per_s_ratio"] for p in pairs]),
                        "memory_ratio": spread([p["memory_ratio"] for p in pairs]),
                        "trl_time_to_target": spread([p["trl_time_to_target"] for p in pairs]),
                        "posttrain_time_to_target": spread([p["posttrain_time_to_target"] for p in pairs]),
                        **{f"{name}_{key}": value for name in side for key, value in side[name].items()}},
            "runs": runs}


def run_quality(cases: list[str], quick: bool, repeats: int, out: str, model: str = "default",
                posttrain: dict[str, Any] | None = None, profile: str = "cpu") -> int:
    """Every case, `repeats` pairs each in alternating order; the JSON rewritten after each run."""
    from bench.measure import matmul_gflops, parameter_count
    from bench.suite import _resolve, _tiny_model

    work = Path(tempfile.mkdtemp(prefix="bench-quality-"))
    model_dir = _tiny_model(work) if quick and model == "default" else _resolve(model)
    params = parameter_count(model_dir)
    load = os.getloadavg()[0]
    report: dict[str, Any] = {
        "quick": quick, "posttrain_settings": posttrain or {},
        "machine": {"cpu": _cpu_name(), "threads": int(os.environ.get("OMP_NUM_THREADS", "0")) or os.cpu_count(),
                    "load_average_at_start": round(load, 2), "gflops_bf16": round(matmul_gflops("bfloat16", seconds=0.5 if quick else 1.5), 1),
                    "gflops_fp32": round(matmul_gflops("float32", seconds=0.5 if quick else 1.5), 1),
                    "model": model_dir, "parameters": params},
        "cases": {}}
    failed = False
    for case in cases:
        settings = case_settings(case, quick, profile)
        runs: list[dict[str, Any]] = []
        for repeat in range(repeats):
            for side in (("trl", "posttrain") if repeat % 2 == 0 else ("posttrain", "trl")):
                result = _subprocess(side, settings, model_dir, posttrain or {}, timeout_s=600 if quick else 1500)
                result["load_average_before"] = round(os.getloadavg()[0], 2)
                runs.append(result)
                failed |= "error" in result
                good = [r for r in runs if "error" not in r]
                report["cases"][case] = compare_case(settings, good, params) if good else {"runs": runs}
                report["cases"][case]["errors"] = [r for r in runs if "error" in r]
                _write(out, report)
    report["load_average_at_end"] = round(os.getloadavg()[0], 2)
    _write(out, report)
    print_quality(report)
    print(f"written: {out}")
    return 1 if failed else 0


def _subprocess(side: str, settings: dict[str, Any], model_dir: str, posttrain: dict[str, Any],
                timeout_s: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-quality-result-") as folder:
        path = Path(folder) / "result.json"
        command = [sys.executable, "-m", "bench", "quality-side", side, "--settings", json.dumps(settings),
                   "--model", model_dir, "--posttrain", json.dumps(posttrain), "--result", str(path)]
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, env=env, cwd=ROOT)
        except subprocess.TimeoutExpired:
            return {"side": side, "error": f"timed out after {timeout_s:.0f} s"}
        if done.returncode != 0 or not path.exists():
            return {"side": side, "error": (done.stderr.strip().splitlines() or ["failed"])[-1],
                    "returncode": done.returncode, "log_tail": done.stderr[-3000:]}
        return json.loads(path.read_text())


def _write(out: str, report: dict[str, Any]) -> None:
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(report, indent=1))


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def print_quality(report: dict[str, Any]) -> None:
    machine = report["machine"]
    print(f"{machine['cpu']}, {machine['threads']} threads, load {machine['load_average_at_start']} at start; "
          f"bf16 matmul {machine['gflops_bf16']} GFLOP/s")
    for case, result in report["cases"].items():
        if "medians" not in result:
            print(f"{case}: no complete pair")
            continue
        m = result["medians"]

        def fmt(entry: dict[str, Any], digits: int = 2) -> str:
            if entry["median"] is None:
                return "n/a"
            return f"{entry['median']:.{digits}f} [{entry['min']:.{digits}f}-{entry['max']:.{digits}f}]"

        print(f"{case}: time to TRL's final held-out loss ratio {fmt(m['time_to_quality_ratio'])} "
              f"(in process CPU time {fmt(m['cpu_time_to_quality_ratio'])}) "
              f"(TRL {fmt(m['trl_time_to_target'], 1)} s, posttrain {fmt(m['posttrain_time_to_target'], 1)} s); "
              f"held-out at {result['settings']['steps']} steps TRL {fmt(m['trl_heldout_at_steps'], 3)} "
              f"posttrain {fmt(m['posttrain_heldout_at_steps'], 3)}; steady tokens/s ratio "
              f"{fmt(m['steady_tokens_per_s_ratio'])}; memory ratio {fmt(m['memory_ratio'])}; padding share "
              f"TRL {fmt(m['trl_padding_share'])} posttrain {fmt(m['posttrain_padding_share'])}")
