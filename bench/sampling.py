"""`python -m bench sampling`: GRPO's sampling, TRL's path against posttrain's, and the memory-bandwidth bound.

Both sides sample the same prompts (the bench's RL prompts in chat form, each repeated `generations`
times in a row as TRL's sampler repeats them) with GRPO's defaults: temperature 1.0, top-p 1.0, up to
`max_new_tokens` tokens, stopping at end of turn. TRL's path is what `GRPOTrainer`'s sampling step
runs without vLLM: `model.generate` on the left-padded batch, in the model's fp32 weights. posttrain's
is what its GRPO stage runs on CPU: `sample_token_ids` (finished answers leave the batch) with bf16
weights where the CPU computes bf16 natively. Calls alternate ABAB, `repeats` times each; tokens/s
counts each answer up to and including its end-of-turn token, as TRL's bench timer does.

The bound: a decoding step must read every weight once, so on this CPU one step takes at least
(weight bytes) / (measured read bandwidth); the report gives posttrain's measured time per decoding
step of a full batch beside it.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path
from typing import Any


def read_bandwidth_gbs(gib: float = 1.0, seconds: float = 2.0, device: str = "cpu") -> float:
    """Measured memory read bandwidth (GB/s) with torch's threads: summing a tensor far larger than cache."""
    import torch

    data = torch.ones(int(gib * 2**30 / 2), dtype=torch.bfloat16, device=device)
    data.sum()
    sync = torch.cuda.synchronize if device != "cpu" else (lambda: None)
    sync()
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        data.sum()
        count += 1
    sync()
    return count * data.numel() * 2 / (time.perf_counter() - start) / 1e9


def run_sampling(quick: bool, repeats: int, out: str, model: str = "default", prompts: int = 2,
                 generations: int = 8, max_new_tokens: int = 64) -> int:
    import torch

    from bench.data import prompt_rows
    from bench.suite import _resolve, _tiny_model
    from posttrain.generation import inference_weights, render_prompt, sample_token_ids
    from posttrain.models import load_model, stop_token_ids

    if quick:
        repeats, max_new_tokens = 1, 8
    if quick and model == "default":
        import tempfile

        model_dir = _tiny_model(Path(tempfile.mkdtemp(prefix="bench-sampling-")))
    else:
        model_dir = _resolve(model)
    cuda = torch.cuda.is_available()
    policy, tokenizer = load_model(model_dir, dtype="auto" if cuda else None)     # a GPU keeps the checkpoint's dtype
    device = policy.device
    rows = prompt_rows(prompts)
    ids = [tokenizer(render_prompt(tokenizer, r["prompt"]), add_special_tokens=False)["input_ids"] for r in rows]
    batch = [row for row in ids for _ in range(generations)]
    stops = stop_token_ids(tokenizer)
    pad = tokenizer.pad_token_id

    def trl_side(seed: int) -> tuple[int, int]:
        torch.manual_seed(seed)
        width = max(len(p) for p in batch)
        input_ids = torch.tensor([[pad] * (width - len(p)) + p for p in batch], device=device)
        mask = (torch.arange(width)[None] >= torch.tensor([width - len(p) for p in batch])[:, None]).long().to(device)
        with torch.no_grad():
            done = policy.generate(input_ids=input_ids, attention_mask=mask, max_new_tokens=max_new_tokens,
                                   do_sample=True, temperature=1.0, top_p=1.0, top_k=0, pad_token_id=pad,
                                   eos_token_id=stops)[:, width:]
        tokens = 0
        for row in done.tolist():
            ends = [i for i, t in enumerate(row) if t in stops]
            tokens += ends[0] + 1 if ends else len(row)
        return tokens, done.shape[1]

    def ours(seed: int) -> tuple[int, int]:
        with inference_weights(policy, "auto"):
            new = sample_token_ids(policy, batch, max_new_tokens=max_new_tokens, temperature=1.0, top_p=1.0,
                                   stops=stops, pad_token_id=pad, generator=torch.Generator(device=device).manual_seed(seed),
                                   copies=generations)
        return sum(len(n) for n in new), max(len(n) for n in new)

    sides = {"trl": trl_side, "posttrain": ours}
    load_start = round(os.getloadavg()[0], 2)
    for fn in sides.values():          # warm-up, reported apart
        fn(1234)
    runs: dict[str, list[dict[str, float]]] = {"trl": [], "posttrain": []}
    for repeat in range(repeats):
        for name in (("trl", "posttrain") if repeat % 2 == 0 else ("posttrain", "trl")):
            start, cpu = time.perf_counter(), time.process_time()
            tokens, steps = sides[name](repeat)
            if cuda:
                torch.cuda.synchronize()
            seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
            runs[name].append({"tokens": tokens, "decoding_steps": steps, "seconds": seconds,
                               "tokens_per_s": tokens / seconds, "cpu_seconds": cpu_seconds,
                               "tokens_per_cpu_s": tokens / cpu_seconds})
    bandwidth = read_bandwidth_gbs(0.25 if quick else 1.0, 0.5 if quick else 2.0, str(device))
    params = sum(p.numel() for p in policy.parameters())
    from posttrain.generation import bf16_inference

    weight_bytes = params * (2 if bf16_inference(policy, "auto") else policy.dtype.itemsize)
    bound_step_s = weight_bytes / (bandwidth * 1e9)
    # posttrain's time per decoding step of a full batch: one call with every answer forced to full length
    with inference_weights(policy, "auto"):
        start, cpu = time.perf_counter(), time.process_time()
        sample_token_ids(policy, batch, max_new_tokens=max_new_tokens, temperature=1.0, top_p=1.0, stops=[],
                         pad_token_id=pad, generator=torch.Generator(device=device).manual_seed(0), copies=generations)
        if cuda:
            torch.cuda.synchronize()
        full_step_s = (time.perf_counter() - start) / max_new_tokens
        full_step_cpu_s = (time.process_time() - cpu) / max_new_tokens
    median = {name: statistics.median(r["tokens_per_s"] for r in group) for name, group in runs.items()}
    ratios = [b["tokens_per_s"] / a["tokens_per_s"] for a, b in zip(runs["trl"], runs["posttrain"])]
    cpu_ratios = [b["tokens_per_cpu_s"] / a["tokens_per_cpu_s"] for a, b in zip(runs["trl"], runs["posttrain"])]
    report = {"quick": quick, "threads": torch.get_num_threads(), "load_average": load_start,
              "model": model_dir, "parameters": params, "prompts": prompts, "generations": generations,
              "max_new_tokens": max_new_tokens, "runs": runs, "median_tokens_per_s": median,
              "tokens_per_s_ratio": {"median": statistics.median(ratios), "min": min(ratios), "max": max(ratios)},
              "tokens_per_cpu_s_ratio": {"median": statistics.median(cpu_ratios), "min": min(cpu_ratios),
                                         "max": max(cpu_ratios)},
              "load_average_end": round(os.getloadavg()[0], 2),
              "read_bandwidth_gbs": round(bandwidth, 2), "weight_bytes_per_step": weight_bytes,
              "bound_step_seconds": bound_step_s, "posttrain_full_batch_step_seconds": full_step_s,
              "step_over_bound": full_step_s / bound_step_s, "posttrain_full_batch_step_cpu_seconds": full_step_cpu_s,
              "bound_tokens_per_s_full_batch": len(batch) / bound_step_s}
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(report, indent=1))
    print(f"sampling, {report['threads']} threads, load {report['load_average']}: TRL {median['trl']:.1f} tokens/s, "
          f"posttrain {median['posttrain']:.1f} tokens/s, ratio {report['tokens_per_s_ratio']['median']:.2f} "
          f"[{report['tokens_per_s_ratio']['min']:.2f}-{report['tokens_per_s_ratio']['max']:.2f}] "
          f"(per CPU second {report['tokens_per_cpu_s_ratio']['median']:.2f}); decoding step "
          f"{full_step_s * 1000:.1f} ms against a bandwidth bound of {bound_step_s * 1000:.1f} ms "
          f"({bandwidth:.1f} GB/s, {weight_bytes / 1e6:.0f} MB of weights): {report['step_over_bound']:.2f}x")
    print(f"written: {out}")
    return 0
