"""Evals before and after the faster path, on the same held-out items, back to back, default model.

    python -m bench.evals                 # 16 math, 12 identity, 24 multiple-choice items (a few minutes)
    python -m bench.evals --full          # the demo's mix: 40 math, 30 identity, 60 multiple-choice
    python -m bench.evals --threads 2     # all cores (on a busy 2-core machine one thread is steadier)

"old" is the code before the change, kept below as it was: `model.generate` in batches of 16 that run
until their longest answer ends, fp32, and multiple choice scored as one full sequence per option, 8
per forward pass, with the vocabulary projected at every position. "new" is `Eval.run` today, once in fp32 and once with
`precision="auto"` (bf16 weights where the CPU multiplies bf16 natively; the same as fp32 elsewhere,
or with POSTTRAIN_CPU_BF16=0). It reports seconds per item and how the scores agree: the same score,
the same verdict per item, and (fp32) every new answer equal to the old one or the start of it (an
answer stops once its verdict is known).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from posttrain.generation import Precision

SIZES = {"quick": {"math": 16, "identity": 12, "multiple_choice": 24},
         "full": {"math": 40, "identity": 30, "multiple_choice": 60}}


# --- the items -----------------------------------------------------------------------------------------------------

DATA = Path(__file__).resolve().parent.parent / "examples" / "data"


def example_rows(name: str, limit: int | None = None) -> list[dict]:
    lines = (DATA / name).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()][:limit]


def build_evals(sizes: dict[str, int], precision: Precision) -> dict[str, Any]:
    """The demo's evals on its held-out files (math 64 new tokens, identity 40: Ava by Northwind Labs),
    and multiple choice built from the QA files: each answer against three other questions' answers."""
    from posttrain.evals import Identity, MathAccuracy, MultipleChoice

    return {"math": MathAccuracy(example_rows("math_heldout.jsonl", sizes["math"]), max_new_tokens=64,
                                 precision=precision),
            "identity": Identity(example_rows("identity_heldout.jsonl", sizes["identity"]), name="Ava",
                                 maker="Northwind Labs", max_new_tokens=40, precision=precision),
            "multiple_choice": MultipleChoice(choice_rows(sizes["multiple_choice"]), precision=precision)}


def choice_rows(count: int) -> list[dict]:
    qa = example_rows("fictional_facts/qa.jsonl") + example_rows("general_qa.jsonl")
    answers = [r["answer"][0] if isinstance(r["answer"], list) else str(r["answer"]) for r in qa]
    rows = []
    for i, row in enumerate(qa[:count]):
        options = [answers[i]]
        for step in range(1, len(answers)):
            other = answers[(i + step * 7) % len(answers)]
            if other not in options:
                options.append(other)
            if len(options) == 4:
                break
        correct = options[0]
        options = options[i % 4:] + options[:i % 4]              # the right answer in every position
        rows.append({"question": row["question"], "options": options, "answer": correct})
    return rows


# --- the old path, as it was -----------------------------------------------------------------------------------

def old_generate(model: Any, tokenizer: Any, prompts: list, max_new_tokens: int, batch_size: int,
                 system: str | None) -> list[str]:
    import torch

    from posttrain.generation import _left_padding, render_prompt
    from posttrain.models import stop_token_ids

    texts = [render_prompt(tokenizer, p, system) for p in prompts]
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
    outputs = [""] * len(texts)
    with torch.inference_mode(), _left_padding(tokenizer):
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            batch = tokenizer([texts[i] for i in chunk], return_tensors="pt", padding=True,
                              add_special_tokens=False).to(model.device)
            tokens = model.generate(**batch, max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id,
                                    use_cache=True, do_sample=False, temperature=None, top_p=None, top_k=None,
                                    eos_token_id=stop_token_ids(tokenizer))
            new = tokens[:, batch["input_ids"].shape[1]:]
            for index, text in zip(chunk, tokenizer.batch_decode(new, skip_special_tokens=True)):
                outputs[index] = text.strip()
    return outputs


def old_continuation_logprobs(model: Any, tokenizer: Any, pairs: list, batch_size: int) -> list[list[float]]:
    import torch

    order = sorted(range(len(pairs)), key=lambda i: -len(pairs[i][0]) - len(pairs[i][1]))
    results: list[list[float]] = [[] for _ in pairs]
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            sequences = [pairs[i][0] + pairs[i][1] for i in chunk]
            width = max(len(s) for s in sequences)
            ids = torch.full((len(chunk), width), pad, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for row, sequence in enumerate(sequences):
                ids[row, :len(sequence)] = torch.tensor(sequence)
                mask[row, :len(sequence)] = 1
            logits = model(input_ids=ids.to(model.device), attention_mask=mask.to(model.device)).logits
            for row, index in enumerate(chunk):
                context, continuation = pairs[index]
                positions = torch.arange(len(context) - 1, len(context) + len(continuation) - 1)
                logprobs = logits[row, positions].float().log_softmax(-1)
                targets = torch.tensor(continuation, device=logprobs.device)
                results[index] = logprobs.gather(-1, targets[:, None])[:, 0].tolist()
    return results


OLD_BATCH_SIZE = {"generate": 16, "multiple_choice": 8}       # the defaults before


def old_run(ev: Any, model: Any, tokenizer: Any) -> Any:
    """What `ev.run` did before, with the defaults of before."""
    from posttrain.evals import MultipleChoice
    from posttrain.evals.base import accuracy_result, prompt_of
    from posttrain.evals.multiple_choice import _answer_index, option_pairs

    if not isinstance(ev, MultipleChoice):
        return ev.score(old_generate(model, tokenizer, ev.prompts(), ev.max_new_tokens, OLD_BATCH_SIZE["generate"],
                                     ev.system))
    pairs: list[Any] = []
    spans: list[tuple[int, int]] = []
    for row in ev.items:
        row_pairs = option_pairs(tokenizer, prompt_of(row), row["options"], ev.system)
        spans.append((len(pairs), len(pairs) + len(row_pairs)))
        pairs += row_pairs
    logprobs = old_continuation_logprobs(model, tokenizer, pairs, OLD_BATCH_SIZE["multiple_choice"])
    details, correct = [], []
    for row, (start, end) in zip(ev.items, spans):
        means = [sum(lp) / max(1, len(lp)) for lp in logprobs[start:end]]
        picked = means.index(max(means))
        correct.append(picked == _answer_index(row))
        details.append({"output": "", "normalized": means, "correct": correct[-1]})
    return accuracy_result(ev.name, correct, details)


# --- measuring -------------------------------------------------------------------------------------------------

def timed(fn: Any) -> tuple[Any, float, float]:
    """The result, wall seconds and CPU seconds of this process (what a shared machine's other work
    does not inflate much, with one thread)."""
    start, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - start, time.process_time() - cpu


def agreement(old: Any, new: Any) -> dict[str, Any]:
    same_verdicts = sum(a["correct"] == b["correct"] for a, b in zip(old.details, new.details))
    prefixes = sum(a.get("output", "").startswith(b.get("output", "")) for a, b in zip(old.details, new.details))
    return {"score": round(new.score, 4), "same_score": new.score == old.score,
            "same_verdicts": f"{same_verdicts}/{len(old.details)}",
            "answers_equal_or_prefix": f"{prefixes}/{len(old.details)}"}


def measure(sizes: dict[str, int], threads: int) -> dict[str, Any]:
    import torch

    from posttrain import load_model
    from posttrain.generation import bf16_inference

    torch.set_num_threads(threads)
    model, tokenizer = load_model("default")
    model.eval()
    bf16 = bf16_inference(model, "auto")
    old_evals, fp32_evals = build_evals(sizes, "fp32"), build_evals(sizes, "fp32")
    auto_evals = build_evals(sizes, "auto")
    report: dict[str, Any] = {"evals": {}}
    for number, name in enumerate(old_evals):
        runs = [("old", lambda: old_run(old_evals[name], model, tokenizer)),
                ("new_fp32", lambda: fp32_evals[name].run(model, tokenizer))]
        runs = runs if number % 2 == 0 else runs[::-1]                     # alternate who goes first
        if bf16:
            runs.append(("new_bf16", lambda: auto_evals[name].run(model, tokenizer)))
        results = {}
        for label, run in runs:
            results[label] = timed(run)
            result, wall, cpu = results[label]
            print(f"{name:16s} {label:9s} {wall:7.1f} s wall {cpu:7.1f} s cpu  score {result.score:.3f}", flush=True)
        old, old_wall, old_cpu = results["old"]
        entry = {"items": len(old.details),
                 "old": {"seconds": round(old_wall, 1), "cpu_seconds": round(old_cpu, 1), "score": round(old.score, 4)}}
        for label in ("new_fp32", "new_bf16"):
            if label in results:
                new, wall, cpu = results[label]
                entry[label] = {"seconds": round(wall, 1), "cpu_seconds": round(cpu, 1),
                                "speed_up": round(old_wall / wall, 2), "cpu_speed_up": round(old_cpu / cpu, 2),
                                **agreement(old, new)}
        report["evals"][name] = entry
    return report | totals(report["evals"])


def totals(evals: dict[str, Any]) -> dict[str, Any]:
    """Seconds per item over all evals, and the speed-ups, by wall and by CPU time."""
    items = sum(e["items"] for e in evals.values())
    labels = [label for label in ("old", "new_fp32", "new_bf16") if all(label in e for e in evals.values())]
    out: dict[str, Any] = {"items": items}
    for key in ("seconds", "cpu_seconds"):
        total = {label: sum(e[label][key] for e in evals.values()) for label in labels}
        out[f"per_item_{key}"] = {label: round(value / items, 3) for label, value in total.items()}
        out[f"speed_up_{key}"] = {label: round(total["old"] / value, 2) for label, value in total.items()
                                  if label != "old"}
    return out


def machine(threads: int) -> dict[str, Any]:
    from posttrain.device import cpu_has_native_bf16

    return {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), "torch_threads": threads,
            "native_bf16": cpu_has_native_bf16(), "load_average": os.getloadavg()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.evals", description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="the demo's 40 math, 30 identity, 60 choice items")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--out", default="bench/results/evals.json")
    args = parser.parse_args(argv)
    before = machine(args.threads)
    report = measure(SIZES["full" if args.full else "quick"], args.threads)
    report["machine"] = before | {"load_average_after": os.getloadavg()}
    print(json.dumps(report, indent=2))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
