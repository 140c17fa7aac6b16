"""The measured workloads, each written twice: once against plain TRL with TRL's defaults (as a
user would leave them), once through posttrain. Both sides see the same rows, batch size, learning
rate and LoRA shape; only what each library does by default differs.

Each case returns a plain dict: timings, the work done (tokens), and the loss or reward curve.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from typing import Any

from bench.data import chat_rows, preference_rows, prompt_rows, reversal_reward, row_tokens

LORA = {"r": 16, "alpha": 32, "dropout": 0.05, "target_modules": "all-linear"}
LR = {"sft_full": 2e-5, "sft_lora": 2e-4, "dpo_lora": 5e-5, "grpo_lora": 1e-5}


@dataclass(frozen=True)
class Size:
    """How much work a case does: optimizer steps and examples per step."""

    steps: int
    batch: int
    completion_tokens: int = 64     # GRPO only
    generations: int = 4            # GRPO only


FULL = {"sft_full": Size(3, 8), "sft_lora": Size(3, 8), "dpo_lora": Size(3, 4), "grpo_lora": Size(2, 8)}
# One GPU: 40 SFT steps x 16 chat rows, 30 DPO steps x 8 pairs, 3 GRPO steps x 4 prompts x 8 samples of 128 tokens.
GPU = {"sft_full": Size(40, 16), "sft_lora": Size(40, 16), "dpo_lora": Size(30, 8),
       "grpo_lora": Size(3, 32, completion_tokens=128, generations=8)}
QUICK = {"sft_full": Size(2, 4), "sft_lora": Size(2, 4), "dpo_lora": Size(2, 2),
         "grpo_lora": Size(2, 4, completion_tokens=16, generations=2)}
# 8B shape: the same batches, fewer steps (its cases check that it runs and what it peaks at).
GPU_8B = {"sft_lora": Size(8, 16), "dpo_lora": Size(6, 8),
          "grpo_lora": Size(2, 32, completion_tokens=128, generations=8)}
CASES = tuple(FULL)
# posttrain's stage settings for a named variant of a case ("sft_full@1b+ckpt"): the defaults
# against alternatives, each measured against the same plain TRL run.
VARIANTS: dict[str, dict[str, Any]] = {
    "": {},
    "ckpt": {"gradient_checkpointing": True},
    "nockpt": {"gradient_checkpointing": False},
    "kahan": {"optimizer": "adamw_kahan"},
    "sr8": {"optimizer": "adamw_8bit_sr"},
    "kahan_ckpt": {"optimizer": "adamw_kahan", "gradient_checkpointing": True},
    "sr8_ckpt": {"optimizer": "adamw_8bit_sr", "gradient_checkpointing": True},
}


def parse_case(case: str) -> tuple[str, str, str]:
    """"sft_full@1b+ckpt" -> ("sft_full", "1b", "ckpt")."""
    name, _, variant = case.partition("+")
    method, _, shape = name.partition("@")
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r} in case {case!r}; known: {sorted(VARIANTS)}")
    return method, shape, variant


WARM_STEPS = 3     # steps left out of the steady-state time (one-time compiles, allocator warm-up)


def step_timer(times: list[float]) -> Any:
    """A TrainerCallback appending the wall time of each optimizer step (synchronised on a GPU)."""
    import torch
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            self.start = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            times.append(time.perf_counter() - self.start)

    return StepTimer()


class Timers:
    """Wall time spent inside TRL's generation and reference passes (through posttrain's guarded
    hook, so the same timer sees the plain and the posttrain run), and the tokens generated."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.generated_tokens = 0

    def record(self, label: str, seconds: float, result: Any) -> None:
        self.seconds[label] = self.seconds.get(label, 0.0) + seconds
        if label == "generation":
            self.generated_tokens += sum(len(ids) for ids in result[1])


def run_case(case: str, impl: str, model_dir: str, quick: bool, profile: str = "cpu") -> dict[str, Any]:
    """Run one case with one implementation ("trl" or "posttrain") and return its measurements.

    `case` is a method name (sft_full, sft_lora, dpo_lora, grpo_lora), optionally with a model size
    after "@" (GPU cases: "sft_full@1b"); `profile` "gpu" takes the GPU sizes."""
    from posttrain.stages.trl_hooks import timed_methods

    case, shape, variant = parse_case(case)
    size = (QUICK if quick else (GPU_8B if shape == "8b" else GPU) if profile == "gpu" else FULL)[case]
    cap_gpu_memory()
    timers = Timers()
    kind = case.split("_")[0]
    data = _data(kind, size, model_dir)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"bench-{case}-{impl}-") as out, timed_methods(timers.record):
        steps: list[float] = []
        if impl == "trl":
            metrics, history = _run_trl(case, size, data, model_dir, out, step_timer(steps))
        else:
            metrics, history = _run_posttrain(case, size, data, model_dir, out, VARIANTS[variant], step_timer(steps))
    total = time.perf_counter() - start
    result = {"case": case, "impl": impl, "steps": size.steps, "batch": size.batch,
              "train_seconds": metrics["train_runtime"], "total_seconds": total,
              "seconds_per_step": metrics["train_runtime"] / size.steps,
              "train_loss": metrics.get("train_loss"), **{f"{k}_seconds": v for k, v in timers.seconds.items()}}
    result.update(_curves(history))
    result["step_seconds"] = [round(t, 4) for t in steps]
    if len(steps) > WARM_STEPS:     # after one-time costs: what a long run sees
        result["steady_seconds_per_step"] = sum(steps[WARM_STEPS:]) / len(steps[WARM_STEPS:])
    if kind == "sft":
        result["tokens"] = data["tokens"]
        result["tokens_per_s"] = data["tokens"] / metrics["train_runtime"]
    if kind == "grpo":
        result["generated_tokens"] = timers.generated_tokens
        result["generation_tokens_per_s"] = timers.generated_tokens / timers.seconds["generation"]
        result["update_seconds"] = metrics["train_runtime"] - timers.seconds["generation"]
    return result


def cap_gpu_memory() -> None:
    """`BENCH_GPU_MEMORY_GIB=80`: both sides may allocate only that much of the card (an 80 GB GPU
    on a larger one), and posttrain plans for it."""
    import os

    import torch

    gib = os.environ.get("BENCH_GPU_MEMORY_GIB")
    if gib and torch.cuda.is_available():
        total = torch.cuda.get_device_properties(0).total_memory / 2**30
        torch.cuda.set_per_process_memory_fraction(min(1.0, float(gib) / total))
        os.environ["POSTTRAIN_GPU_MEMORY_GIB"] = gib


def _data(kind: str, size: Size, model_dir: str) -> dict[str, Any]:
    from transformers import AutoTokenizer

    if kind == "sft":
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        rows = chat_rows(size.steps * size.batch, tokenizer)
        return {"rows": rows, "tokens": sum(row_tokens(rows, tokenizer))}
    if kind == "dpo":
        return {"rows": preference_rows(size.steps * size.batch)}
    return {"rows": prompt_rows(64)}


def _curves(history: list[dict]) -> dict[str, list[float]]:
    curves: dict[str, list[float]] = {}
    for key in ("loss", "reward", "rewards/margins"):
        values = [float(entry[key]) for entry in history if isinstance(entry.get(key), (int, float))]
        if values:
            curves[f"curve_{key.replace('/', '_')}"] = values
    return curves


# -- plain TRL, as a user writes it --------------------------------------------------------------

def _run_trl(case: str, size: Size, data: dict, model_dir: str, out: str, timer: Any = None) -> tuple[dict, list]:
    import datasets
    import torch
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(model_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    dataset = datasets.Dataset.from_list(data["rows"])
    lora = LoraConfig(r=LORA["r"], lora_alpha=LORA["alpha"], lora_dropout=LORA["dropout"],
                      target_modules=LORA["target_modules"], task_type="CAUSAL_LM") if "lora" in case else None
    from posttrain.device import cpu_has_native_bf16

    cuda = torch.cuda.is_available()
    # TRL's default is bf16; an informed user turns it off on a CPU that only emulates bf16.
    common = dict(output_dir=out, learning_rate=LR[case], per_device_train_batch_size=size.batch,
                  logging_steps=1, save_strategy="no", report_to="none", seed=0, disable_tqdm=True,
                  use_cpu=not cuda, bf16=cuda and torch.cuda.is_bf16_supported() or (not cuda and cpu_has_native_bf16()))
    trainer = _trl_trainer(case, size, common, model, tokenizer, dataset, lora)
    if timer is not None:
        trainer.add_callback(timer)
    output = trainer.train()
    trainer.save_model(out + "/model")
    return dict(output.metrics), trainer.state.log_history


def _trl_trainer(case, size, common, model, tokenizer, dataset, lora):
    from trl import DPOConfig, DPOTrainer, GRPOConfig, GRPOTrainer, SFTConfig, SFTTrainer

    if case.startswith("sft"):
        args = SFTConfig(**common, num_train_epochs=1, max_length=512)
        return SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer,
                          peft_config=lora)
    if case.startswith("dpo"):
        args = DPOConfig(**common, num_train_epochs=1, max_length=512)
        return DPOTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer,
                          peft_config=lora)
    args = GRPOConfig(**common, max_steps=size.steps, num_generations=size.generations,
                      max_completion_length=size.completion_tokens, log_completions=False)
    return GRPOTrainer(model=model, reward_funcs=[reversal_reward], args=args, train_dataset=dataset,
                       processing_class=tokenizer, peft_config=lora)


# -- posttrain ------------------------------------------------------------------------------------

def _run_posttrain(case: str, size: Size, data: dict, model_dir: str, out: str,
                   variant: dict[str, Any] | None = None, timer: Any = None) -> tuple[dict, list]:
    from posttrain import Trainer

    trainer = Trainer(model_dir, output_dir=out, lora=LORA if "lora" in case else None, seed=0,
                      callbacks=[timer] if timer is not None else [])
    common = dict(learning_rate=LR[case], logging_steps=1, **(variant or {}))
    if case.startswith("sft"):
        trainer = trainer.sft(data["rows"], epochs=1, batch_size=size.batch, max_length=512, **common)
    elif case.startswith("dpo"):
        trainer = trainer.dpo(data["rows"], epochs=1, batch_size=size.batch, max_length=512, **common)
    else:
        trainer = trainer.grpo(data["rows"], rewards=[reversal_reward], max_steps=size.steps,
                               batch_size=size.batch // size.generations, num_generations=size.generations,
                               max_completion_length=size.completion_tokens,
                               allow_no_learning=True, **common)    # timed, not judged: a tie is no failure
    stage = trainer.run(progress=False).stages[0]
    return stage.metrics, stage.history
