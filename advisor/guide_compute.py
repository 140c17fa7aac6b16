"""The decision guide's compute and compare sections, rendered from `advisor.compute`, the library's
memory model (`posttrain.device`) and the measured peaks below, so the figures cannot drift.

>>> compute_section().startswith("## Compute")
True
"""

from __future__ import annotations

from advisor.compute import LORA_RL, QLORA, TOO_LONG_DAYS, estimate_compute, orders
from advisor.crosscheck import SOURCE as COMPARE_SOURCE
from advisor.hardware import CPU_FLOPS_PER_CORE, GPU_UTILISATION, UNKNOWN_GPU_TFLOPS, parse_hardware
from advisor.spec import TaskSpec

# Peak RSS minus the process's baseline, SFT (dpo-: DPO) on the default model for 2 steps (`python -m bench.advisor_compute`),
# measured on 2 shared x86-64 cores with AVX512-BF16 and no AMX, 24 GiB, with the CPU's defaults (the LM head in
# vocabulary tiles, lean norm and MLP layers): case -> (lora, batch, length, GiB).
MEASURED = {"full-2x256": (False, 2, 256, 2.66), "full-4x256": (False, 4, 256, 2.97),
            "full-1x1024": (False, 1, 1024, 3.04), "full-4x512": (False, 4, 512, 3.89),
            "lora-2x256": (True, 2, 256, 2.03), "lora-2x512": (True, 2, 512, 3.04),
            "dpo-full-2x256": (False, 2, 256, 2.97), "dpo-lora-2x256": (True, 2, 256, 2.51)}
EXAMPLES = (("0.135B (the default model)", None, "cpu 24GB"), ("1B", "1B", "RTX 4090"), ("8B", "8B", "RTX 4090"),
            ("8B", "8B", "A100 40GB"), ("8B", "8B", "H100"), ("70B", "70B", "H100"))


def compute_section() -> str:
    """How the compute estimate is made, worked examples, and the check against measured peaks."""
    from posttrain.device import (ACTIVATION_UNITS, BYTES, CPU_HEAD_TILE, CPU_STEP_GIB, FIT_SHARE, LEAN_UNITS_CPU,
                                  LOGIT_COPIES, LORA_UNITS)

    order = "; ".join(f"{stage.upper()}: {' > '.join(methods)}" for stage, methods in orders().items())
    return "\n\n".join([f"""## Compute: memory, tokens, and full vs LoRA vs QLoRA

For a plan that trains, `rec.compute` estimates each training stage on the hardware stated in the spec
(`hardware: "RTX 4090"`, `"A100 40GB"`, `"24GB"`, `"cpu 64GB"`), else on this machine (its GPU, read
by `nvidia-smi` or by torch when torch is already loaded; else its CPU and RAM). The memory model is
the trainer's own (`posttrain.device.estimate_gib`, which also decides activation checkpointing), with
the weights, optimizer and checkpointing `posttrain.device.choose` would pick on that hardware:

- **State per parameter.** Full fine-tuning: fp32 weights, gradients and AdamW's two moments (16 B),
  or on a bf16 GPU bf16 weights, gradients, moments and a Kahan buffer (10 B). LoRA: the frozen base
  ({BYTES['bf16']} B in bf16, {BYTES['fp32']} B in fp32) plus ~1 % trainable fp32 adapters with gradients
  and moments (16 B each). QLoRA: a 4-bit NF4 base ({BYTES['nf4']} B with its fp32 scale per 64 weights),
  embeddings kept at 2 B, and the same adapters.
- **Activations.** Per token per layer, x hidden, in 16 bits (twice with fp32 weights): on a GPU
  {2 * ACTIVATION_UNITS['cuda']} B, and {2 * LORA_UNITS['cuda']} B more with LoRA (the adapters' dropped copies of their inputs); on a
  CPU {2 * ACTIVATION_UNITS['cpu']} B and {2 * LORA_UNITS['cpu']} B more with LoRA, {2 * LEAN_UNITS_CPU} B for full fine-tuning with the CPU's
  lean norm and MLP layers (its default with fp32 weights); a CPU step also keeps {CPU_STEP_GIB['full']} GiB ({CPU_STEP_GIB['lora']} GiB
  with LoRA) that does not grow with its tokens. Fitted to measured peaks (below). For
  the tokens of one forward/backward pass: `batch x max_length` (x2 for DPO's chosen and rejected), or for
  SFT, once `validate()` or `run()` has tokenised the rows, the batch of the longest rows; GRPO's
  step of batch x {4} samples trains 4 completions a pass on a CPU and all of them at once on a GPU. With
  activation checkpointing, only each layer's input plus one layer's worth; it is turned on (as the
  trainer does) when the estimate would pass {FIT_SHARE:.0%} of a GPU.
- **Logits.** On a GPU, {LOGIT_COPIES} fp32 copies of vocabulary-sized logits per token (the logits, their
  log-softmax, their gradient, the metrics' softmax); at a 128K vocabulary this rivals the layers. SFT and
  pre-training go through TRL's fused LM head, which computes the loss in chunks and keeps no full
  logits: none are counted on a GPU, and on a CPU {LOGIT_COPIES} copies of one {CPU_HEAD_TILE:,}-entry tile. Other
  methods on a CPU: one copy (DPO's measured peaks keep no more).
- **The method.** The first that fits {FIT_SHARE:.0%} of the device's memory, in this order ({order}).
  Full fine-tuning learns the most from SFT and pre-training data when it fits; {LORA_RL}.
  QLoRA is {QLORA}: the answer when only a 4-bit base fits. posttrain trains all three: `route()` gives a
  QLoRA stage `lora={{"quantize": "nf4"}}` (a CUDA GPU with bitsandbytes; never on a CPU), and the adapter is
  merged into the unquantized model after the stage.
- **Tokens and FLOPs.** Tokens to process per epoch: counted tokens when data was inspected, else rows
  x `max_length` (an upper bound; x2 for DPO, x4 samples for GRPO); FLOPs ~ 6 x parameters x tokens
  for full fine-tuning, 4 x for LoRA (no weight gradients). Time, for one epoch: FLOPs over the rate
  training sustains on the device: ~{CPU_FLOPS_PER_CORE:.0e} FLOP/s a CPU core (~1e11-1e12 a machine); on a GPU,
  {GPU_UTILISATION:.0%} of its peak bf16 rate ({UNKNOWN_GPU_TFLOPS} TFLOP/s peak assumed for a GPU known only by its
  memory). A stage over {TOO_LONG_DAYS} days gets a warning that it cannot finish there.
- **The shape.** Hidden size, layers and vocabulary come from the model's `config.json` when it is on
  this machine; else from the parameter count (12 x layers x hidden^2 with hidden = 128 x layers, a
  128K vocabulary).""", _examples_table(), _measured_table()])


def _examples_table() -> str:
    lines = ["### Worked examples (SFT, batch 4 x 512 tokens)", "",
             "| Model | Hardware | usable | full | LoRA | QLoRA | chosen |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for label, params, hardware in EXAMPLES:
        plan = estimate_compute(TaskSpec(model_params=params, labeled_examples=5000), ["sft"], parse_hardware(hardware))
        stage = plan.stages[0]
        cells = [f"{m.gib:.1f} GiB{' (ckpt)' if m.checkpointing else ''}" for m in stage.methods]
        lines.append(f"| {label} | {hardware} | {plan.budget_gib:.1f} GiB | {' | '.join(cells)} | "
                     f"{stage.choice or 'none fits'} |")
    return "\n".join(lines)


def _measured_table() -> str:
    from posttrain.device import DeviceProfile
    from posttrain.stages import get_stage, tokens_per_pass

    params, shape = 134_515_008, {"hidden_size": 576, "num_hidden_layers": 30, "vocab_size": 49152}
    cpu = DeviceProfile("cpu", "CPU", None, True)
    lines = ["### Checked against measured peaks", "",
             "SFT of the default model (134.5M parameters) through `Trainer(...).sft(...)` (dpo- cases: "
             "`.dpo(...)`, a chosen and a rejected answer a row, reference log-probs precomputed), 2 steps, rows "
             "that fill `max_length`, each case in a fresh process (`python -m bench.advisor_compute`). Measured: peak RSS "
             "minus the process's RSS after torch, transformers, TRL and PEFT are imported. Machine: 2 shared "
             "x86-64 cores with AVX512-BF16 (native bf16) and no AMX, 24 GiB; fp32 weights with bf16 autocast.",
             "", "| case | tokens a step | estimated | measured | error |", "| --- | --- | --- | --- | --- |"]
    for name, (lora, batch, length, measured) in MEASURED.items():
        if measured is None:
            continue
        spec = get_stage("dpo" if name.startswith("dpo-") else "sft")
        settings = spec.settings.model_construct(batch_size=batch, max_length=length)
        tokens = tokens_per_pass(settings, cuda=False)
        estimate = spec.choose(settings, cpu, params, shape, lora=lora).estimated_gib or 0.0
        lines.append(f"| {name} | {tokens:,} | {estimate:.2f} GiB | {measured:.2f} GiB | "
                     f"{estimate / measured - 1:+.0%} |")
    return "\n".join(lines) + """

The activation units were fitted to these cases (CPU) and to the GPU peaks below: LoRA's extra units
are the adapter path, where with dropout (the library's default, 0.05) each adapted layer's input is
kept again. The DPO cases are estimated on the high side (LoRA's by about a fifth): their logits are
counted as one full copy, which the measured peaks do not seem to hold at once.

""" + _gpu_table()


def _gpu_table() -> str:
    """The GPU bench's SFT peaks (bench/measured/h200.json) against the estimate for the same run."""
    import json
    from pathlib import Path

    from posttrain.device import estimate_gib

    measured = json.loads((Path(__file__).resolve().parent.parent / "bench/measured/h200.json").read_text())
    shapes = {"135m": (134_515_008, 576, 30), "1b": (1_073_809_408, 2048, 16), "8b": (7_180_914_688, 4096, 32)}
    lines = ["SFT on one NVIDIA H200 (`python -m bench run --gpu`; bench/measured/h200.json): random-init models "
             "of real shapes in bf16, 16 chat rows of 40-520 tokens a step (up to 16 x 512 tokens), "
             "`torch.cuda.max_memory_allocated`; the 8B case capped at 78 GiB as on an 80 GB card.", "",
             "| case | weights, optimizer, checkpointing | estimated | measured | error |",
             "| --- | --- | --- | --- | --- |"]
    for case, result in measured["cases"].items():
        peak = result.get("posttrain", {}).get("peak_gpu_gib")
        if not case.startswith("sft") or peak is None:
            continue
        variant = case.partition("+")[2]
        params, hidden, layers = shapes[case.split("@")[1].split("+")[0]]
        lora = "lora" in case
        optimizer = "x" if lora else "adamw_8bit_sr" if "sr8" in variant else "adamw_kahan"
        checkpointing = "ckpt" in variant
        estimate = estimate_gib(params, {"hidden_size": hidden, "num_hidden_layers": layers, "vocab_size": 49152},
                                weights="bf16", lora=lora, optimizer=optimizer, tokens=16 * 512,
                                checkpointing=checkpointing, device_kind="cuda", fused_head=True) or 0.0
        words = ("bf16 base, LoRA" if lora else
                 "bf16, 8-bit AdamW with stochastic rounding" if "sr8" in variant else "bf16, Kahan AdamW")
        lines.append(f"| {case} | {words}, {'checkpointing' if checkpointing else 'no checkpointing'} | "
                     f"{estimate:.2f} GiB | {peak:.2f} GiB | {estimate / peak - 1:+.0%} |")
    return "\n".join(lines)


def compare_section() -> str:
    return f"""## Retrieval and training, measured on your questions

When the plan retrieves and its runner-up trains, the plan trains and its runner-up retrieves, or the
plan does both, `rec.compare` suggests scoring them with `rag_baseline.compare()` on your own
questions before committing: arms `base` (the model with a prompt), `rag`, the trained model (named
after its stages) and the trained model answering from retrieval, with the code to run. Source:
{COMPARE_SOURCE}."""
