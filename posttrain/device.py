"""Device- and size-aware training choices, made in one place and shown in `plan()`.

Given the device (CPU or GPU, native bf16 or not, memory) and the model's size, `choose()` decides
the weight dtype, mixed precision, the optimizer and activation checkpointing, and says why:

- CPU: fp32 weights (the CPU bench measured them best), bf16 autocast only where the CPU multiplies
  bf16 natively (AMX or AVX512-BF16), PyTorch's fused AdamW, no activation checkpointing.
- GPU with bf16: bf16 weights, as hub checkpoints are stored. Full fine-tuning uses AdamW with Kahan
  summation (torch-optimi): each update's rounding error is carried to the next step, so small
  updates are not lost to bf16's resolution and training tracks an fp32-master-weight run, at 10
  bytes a parameter instead of 16. LoRA keeps its adapters in fp32 over the frozen bf16 base.
  Activation checkpointing is turned on when the estimated peak would not fit in 85% of the card.

Every choice can be overridden per stage: `weights="fp32"|"bf16"`, `precision=...`,
`gradient_checkpointing=True|False`, or TRL's own `trl_args={"optim": ...}`.

>>> from posttrain.device import DeviceProfile, choose
>>> choose(DeviceProfile("cuda", "H100", 80.0, True), 1_070_000_000, lora=False).weights
'bf16'
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

FIT_SHARE = 0.85            # of the card's memory the estimate may use before checkpointing turns on
OPTIMIZER_STATE_BYTES = {"adamw_kahan": 6, "adamw_8bit_sr": 2.03}   # bf16 moments + Kahan buffer; 8-bit moments + scales
BYTES = {"fp32": 4, "bf16": 2, "nf4": 0.5625}   # nf4: 4-bit weights plus an fp32 scale per 64 (QLoRA)
OPTIMIZER_NAMES = {"adamw_kahan": "AdamW with Kahan summation",
                   "adamw_8bit_sr": "8-bit AdamW with bf16 stochastic rounding", "adamw_torch_fused": "AdamW (fused)"}
# Activations per token per layer, in units of hidden x the weight's width (2 B in bf16, 4 B in fp32),
# fitted to measured peaks: on CPU (fp32 weights, bf16 autocast) 17 and 13 more for LoRA's dropped
# input copies; on an H200 (bf16 weights, SDPA) 26 and 4 more for LoRA.
ACTIVATION_UNITS = {"cpu": 17, "cuda": 26}
LORA_UNITS = {"cpu": 13, "cuda": 4}
# With the CPU's lean norm and MLP layers (`posttrain.lean`), full fine-tuning keeps 11 units (a LoRA run's
# adapters wrap the layers: measured 29 units against 30 without); a CPU step's memory that does not grow
# with its tokens (allocator pools, the optimizer's step buffers): 0.2 GiB full, 0.4 GiB with LoRA.
LEAN_UNITS_CPU = 11
CPU_STEP_GIB = {"full": 0.2, "lora": 0.4}
# The fused LM head's vocabulary tile on CPU: TRL's 32,768 is sized for a GPU; at 8,192 the default model's head
# (350 labelled tokens, forward and backward) took 1.3 s instead of 2.1 s at one thread and the training peak
# fell 0.14 GiB, with the same loss and gradients to 1e-6 (the tile's elementwise work stays in cache).
CPU_HEAD_TILE = 8192
# Caches of compiled CPU kernels, one entry per operation shape: oneDNN's primitive cache and PyTorch's ideep
# cache each keep up to 1,024 by default. A padding-free batch is a new sequence length, so each step brings new
# shapes: on the bench's SFT rows (40-520 tokens, batch 4) ~37 a step (12 for the linear layers, ~7 per row
# length in attention), and the heap in use grew ~20 MB a step. Bounded, the caches keep the newest shapes only;
# 256 leaves room for one pass of ~30 rows of distinct lengths (a pass that used more shapes than the bound
# would rebuild kernels within the pass: each is looked up ~18,000 times a step).
CPU_KERNEL_CACHE = 256
KERNEL_CACHE_ENV = ("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "LRU_CACHE_CAPACITY")   # oneDNN's, ideep's
LOGIT_COPIES = 4            # fp32 logits, their log-softmax, their gradient, the metrics' softmax


@dataclass(frozen=True)
class DeviceProfile:
    """What the choices depend on: the device kind, its name, its memory and native bf16."""

    kind: str                      # "cpu" or "cuda"
    name: str
    memory_gib: float | None       # GPU memory; None on CPU
    bf16: bool                     # bf16 matrix products in hardware
    threads: int = 1               # torch threads a stage trains with (`thread_count()` when detected)

    @classmethod
    def detect(cls) -> DeviceProfile:
        """This machine's first GPU, else its CPU. `POSTTRAIN_GPU_MEMORY_GIB` caps the GPU memory the
        choices may plan for (when the card is shared)."""
        import torch

        if default_device() == "cuda":
            props = torch.cuda.get_device_properties(0)
            memory = props.total_memory / 2**30
            if os.environ.get("POSTTRAIN_GPU_MEMORY_GIB"):     # a share of the card (another job holds the rest)
                memory = min(memory, float(os.environ["POSTTRAIN_GPU_MEMORY_GIB"]))
            return cls("cuda", props.name, memory, torch.cuda.is_bf16_supported(), thread_count())
        return cls("cpu", f"CPU, {usable_cores()} cores", None, cpu_has_native_bf16(), thread_count())

    def describe(self) -> str:
        if self.kind == "cpu":
            return f"{self.name}, {'native' if self.bf16 else 'no native'} bf16"
        return f"{self.name} ({self.memory_gib:.0f} GiB{', bf16' if self.bf16 else ''})"


@dataclass(frozen=True)
class Choices:
    """What a stage will train with, and why: every device decision of a stage, made once by `choose()`.
    Stages, sampling and model loading read it; none of them asks the device again."""

    weights: str                   # "fp32", "bf16", or "nf4" (QLoRA's 4-bit base): how the model is loaded and trained
    autocast_bf16: bool            # bf16 autocast of the forward/backward (TrainingArguments.bf16)
    optimizer: str                 # "adamw_torch_fused", "adamw_kahan" or "adamw_8bit_sr"
    activation_checkpointing: bool
    estimated_gib: float | None
    reasons: tuple[str, ...]
    device: str = "cpu"            # "cpu" or "cuda": where the stage trains
    sample_bf16: bool = False      # online RL samples with a bf16 copy of fp32 weights (CPUs with native bf16)
    micro_batch: int | None = None  # sequences per forward/backward pass of a sampling stage (None: the batch)
    threads: int = 1               # torch threads

    @property
    def trl_optim(self) -> str:
        """TRL's `optim` name: the optimizer itself when TRL builds it, else AdamW (fused) as a placeholder
        for the one `posttrain.stages.common.stage_optimizers` hands the trainer."""
        return self.optimizer if self.optimizer not in OPTIMIZER_STATE_BYTES else "adamw_torch_fused"
    padding_free: bool = False     # a batch's rows packed into one sequence, attention kept per row (SFT-type stages)
    head_tile: int | None = None   # vocabulary width of the fused LM head's tiles (None: TRL's own)
    lean_layers: bool = False      # RMSNorm and SwiGLU keep fewer tensors for backward (`posttrain.lean`)
    kernel_cache: dict[str, int] | None = None   # CPU kernel caches' capacities, by environment variable (None: GPU)

    def describe(self) -> str:
        parts = [f"weights {self.weights}", "bf16 autocast" if self.autocast_bf16 else "no autocast",
                 OPTIMIZER_NAMES.get(self.optimizer, "AdamW (fused)"),
                 "activation checkpointing" if self.activation_checkpointing else "no activation checkpointing"]
        if self.padding_free:
            parts.append("padding-free batches")
        if self.head_tile:
            parts.append(f"LM head in {self.head_tile:,}-token vocabulary tiles")
        if self.lean_layers:
            parts.append("lean norm and MLP activations")
        if self.kernel_cache:
            sizes = sorted(set(self.kernel_cache.values()))
            parts.append(f"CPU kernel caches of {' / '.join(f'{n:,}' for n in sizes)} shapes")
        if self.estimated_gib is not None:
            parts.append(f"~{self.estimated_gib:.1f} GiB estimated")
        return ", ".join(parts)


def cpu_has_native_bf16() -> bool:
    """Whether this CPU multiplies bf16 in hardware (Intel AMX or AVX512-BF16).

    `POSTTRAIN_CPU_BF16=0` (or `=1`) overrides the detection, e.g. to see what a CPU without it does."""
    forced = os.environ.get("POSTTRAIN_CPU_BF16")
    if forced in ("0", "1"):
        return forced == "1"
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def default_device() -> str:
    """"cuda" when this machine has a GPU torch can use, else "cpu"."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def usable_cores() -> int:
    """The CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def thread_count() -> int:
    """Threads for torch: every core this process may use, unless the user set OMP_NUM_THREADS."""
    if os.environ.get("OMP_NUM_THREADS"):
        return int(os.environ["OMP_NUM_THREADS"])
    return usable_cores()


def kernel_cache_sizes() -> dict[str, int]:
    """Capacity of each CPU kernel cache (KERNEL_CACHE_ENV) a run sets: CPU_KERNEL_CACHE, or the number the
    environment already gives (the user's override; e.g. 1024 for the libraries' own default)."""
    from posttrain.errors import ConfigError, Problem, short

    sizes = {}
    for name in KERNEL_CACHE_ENV:
        value = os.environ.get(name, "").strip()
        if value and not value.isdigit():
            # the library would ignore it and keep its own default, while the plan showed ours
            raise ConfigError(Problem(f"environment variable {name}", f"is {short(value)}, not a whole number",
                                      f"set it to a number of kernels (e.g. {CPU_KERNEL_CACHE}, or 1024, the "
                                      "library's own default), or unset it"), title="invalid environment")
        sizes[name] = int(value) if value else CPU_KERNEL_CACHE
    return sizes


def bound_kernel_caches(sizes: dict[str, int] | None) -> None:
    """Put the chosen kernel-cache capacities in the environment, where oneDNN and ideep read them when
    they first build a kernel in this process (so before any CPU matrix product of the run; a variable the
    environment already has is kept). None: nothing to set (a GPU run)."""
    for name, size in (sizes or {}).items():
        os.environ.setdefault(name, str(size))


def sample_in_bf16(precision: str, device_kind: str, native_bf16: bool) -> bool:
    """Whether fp32 weights are swapped for a bf16 copy while sampling: on CPUs that multiply bf16 in hardware
    (1.6x faster decoding of the default model), unless fp32 was asked for. GPUs keep their own dtype."""
    return precision in ("auto", "bf16") and device_kind == "cpu" and native_bf16


def default_micro_batch(total: int, asked: int | None, device_kind: str) -> int:
    """Sequences per forward/backward pass when a step's `total` are sampled together: the one asked for,
    else 4 on CPU (a 4.1 GB peak instead of 8.1 GB for 32 completions of the default model, and no slower;
    the largest divisor of `total` up to 4) and the whole step's batch on GPU."""
    if asked is not None:
        return asked
    if device_kind == "cuda":
        return total
    return max(d for d in range(1, min(total, 4) + 1) if total % d == 0)


def choose(device: DeviceProfile, params: int | None, *, lora: bool, precision: str = "auto",
           weights: str = "auto", checkpointing: bool | None = None, tokens_per_step: int = 2048,
           shape: dict[str, int] | None = None, optimizer: str = "auto", fused_head: bool = False,
           reference_copy: bool = False, micro_batch: int | None = None, packable: bool = False,
           padding_free: bool | None = None, lean_layers: bool | None = None) -> Choices:
    """The training choices for a model of `params` parameters on `device` (see the module doc).
    `reference_copy`: a frozen second copy of the weights stays in memory (DPO or KTO without LoRA or
    precomputed reference log-probs). `micro_batch`: a sampling stage's sequences per pass (its method's
    `Cost.micro_batch`), recorded for the stage to read. `packable`: the stage can train padding-free batches
    (SFT-type stages); `padding_free` (None: this device's default) says whether it does. `lean_layers` (None:
    this device's default) says whether the norm and MLP layers keep fewer activations (`posttrain.lean`)."""
    reasons = []
    autocast = precision == "bf16" or (precision == "auto" and device.bf16)
    if precision == "auto":
        reasons.append(f"bf16 autocast {'on' if autocast else 'off'}: the {device.kind.upper()} "
                       f"{'computes' if device.bf16 else 'does not compute'} bf16 natively")
    if weights == "auto":
        weights = "bf16" if device.kind == "cuda" and device.bf16 and precision in ("auto", "bf16") else "fp32"
        reasons.append("weights bf16 on a bf16 GPU (half the memory and bandwidth of fp32)" if weights == "bf16"
                       else "weights fp32 (what this device trains fastest and exactly in)")
    if weights == "nf4":
        reasons.append("weights nf4: QLoRA holds the frozen base in 4-bit NF4 (bitsandbytes), computes in bf16 "
                       "and trains the LoRA adapter")
    if optimizer != "auto":
        reasons.append(f"optimizer {optimizer}: set in the stage's settings")
    elif weights == "bf16" and not lora:
        optimizer = "adamw_kahan"
    else:
        optimizer = "adamw_torch_fused"
    if optimizer == "adamw_kahan" and not any(r.startswith("optimizer ") for r in reasons):
        reasons.append("full fine-tuning of bf16 weights: AdamW with Kahan summation keeps updates smaller "
                       "than bf16's resolution (fp32-quality training at 10 instead of 16 bytes a parameter)")
    head_tile = CPU_HEAD_TILE if device.kind == "cpu" else None
    lean = device.kind == "cpu" and weights == "fp32" if lean_layers is None else lean_layers
    tile, lean_cpu = (head_tile if fused_head else None), lean and device.kind == "cpu"
    estimate = estimate_gib(params, shape, weights=weights, lora=lora, optimizer=optimizer,
                            tokens=tokens_per_step, checkpointing=False, device_kind=device.kind, fused_head=fused_head,
                            reference_copy=reference_copy, head_tile=tile, lean=lean_cpu)
    if checkpointing is None:
        budget = device.memory_gib * FIT_SHARE if device.memory_gib else None
        checkpointing = bool(budget and estimate and estimate > budget)
        if device.kind == "cuda":
            reasons.append(f"activation checkpointing {'on' if checkpointing else 'off'}: estimated "
                           f"{estimate or 0:.1f} GiB against {budget or 0:.1f} GiB ({FIT_SHARE:.0%} of the card)")
    if checkpointing:
        estimate = estimate_gib(params, shape, weights=weights, lora=lora, optimizer=optimizer,
                                tokens=tokens_per_step, checkpointing=True, device_kind=device.kind,
                                fused_head=fused_head, reference_copy=reference_copy, head_tile=tile, lean=lean_cpu)
    if packable and padding_free is None:
        padding_free = device.kind == "cpu"
        reasons.append("padding-free batches (rows packed, attention per row) on CPU: no compute spent on padding "
                       "and rows in the sampler's own order" if padding_free else
                       "padded, length-grouped batches on a GPU (padding-free batches are not yet measured there)")
    if fused_head and head_tile:
        reasons.append(f"the LM head scores labelled positions only, in {head_tile:,}-token vocabulary tiles on CPU "
                       "(TRL's are sized for a GPU)")
    if lean and lean_layers is None:
        reasons.append("RMSNorm and SwiGLU keep fewer activations for the backward pass on CPU (posttrain.lean: "
                       "30 % fewer bytes saved by the decoder layers, the same computation)")
    elif lean_layers is not None:
        reasons.append(f"lean norm and MLP activations {'on' if lean else 'off'}, as the stage's lean_layers says"
                       + (" (they take effect on CPU only)" if lean and device.kind != "cpu" else ""))
    kernel_cache = kernel_cache_sizes() if device.kind == "cpu" else None
    if kernel_cache:
        given = [f"{name}={size}" for name, size in kernel_cache.items() if size != CPU_KERNEL_CACHE]
        reasons.append(f"CPU kernel caches (oneDNN's, ideep's) bounded to {CPU_KERNEL_CACHE} shapes each: every new "
                       "batch length (padding-free batches) is a new shape, and the libraries' own 1,024 kept ~20 MB more a step"
                       + (f" (the environment sets {', '.join(given)})" if given else ""))
    sample_bf16 = weights == "fp32" and sample_in_bf16(precision, device.kind, device.bf16)
    return Choices(weights, autocast, optimizer, checkpointing, estimate, tuple(reasons), device=device.kind,
                   sample_bf16=sample_bf16, micro_batch=micro_batch, threads=device.threads,
                   padding_free=bool(packable and padding_free), head_tile=head_tile,
                   lean_layers=lean, kernel_cache=kernel_cache)


def estimate_gib(params: int | None, shape: dict[str, int] | None, *, weights: str, lora: bool, optimizer: str,
                 tokens: int, checkpointing: bool, device_kind: str = "cpu", fused_head: bool = False,
                 reference_copy: bool = False, head_tile: int | None = None, lean: bool = False) -> float | None:
    """Peak training memory, by arithmetic. Per parameter: weights and gradients in the weight dtype
    and the optimizer's state (OPTIMIZER_STATE_BYTES), or for LoRA the frozen base plus ~1% trainable
    fp32 adapters with their gradients and moments (`weights="nf4"`: a 4-bit base, QLoRA, with the
    embeddings in bf16). Activations per token per layer, in units of hidden x the weight's width
    (ACTIVATION_UNITS, plus LORA_UNITS for the adapters' dropped copies of their inputs), or only
    each layer's input plus one layer's worth with checkpointing. Logits: 4 fp32 copies per token
    (vocab_size in `shape`), none on a GPU when TRL's fused LM head chunks them (`fused_head`: SFT
    and pre-training), one tile's worth on a CPU (`head_tile` vocabulary entries a tile); on a CPU without
    the fused head, one copy (DPO's measured peaks keep no more). `lean`: the CPU's lean norm and MLP
    layers (`posttrain.lean`), fewer activation units for full fine-tuning (a LoRA run's are measured
    unchanged). On a CPU a step also holds memory that does not grow with its tokens (CPU_STEP_GIB).
    `reference_copy`: one more copy of the weights, frozen. Fitted to measured peaks
    (docs/decision-guide.md). A guide, not a promise."""
    if not params:
        return None
    width = BYTES[weights]
    hidden, layers = (shape or {}).get("hidden_size", 0), (shape or {}).get("num_hidden_layers", 0)
    if lora:
        state = params * width + 0.01 * params * 16
        if weights == "nf4":            # embeddings and the LM head stay bf16 in a 4-bit model
            state += (shape or {}).get("vocab_size", 0) * hidden * (BYTES["bf16"] - width)
    else:       # weights and gradients, then the optimizer's state per parameter
        state = params * width * 2 + params * OPTIMIZER_STATE_BYTES.get(optimizer, 2 * width)
    if reference_copy:
        state += params * width
    kind = "cuda" if device_kind == "cuda" else "cpu"
    units = ACTIVATION_UNITS[kind] + (LORA_UNITS[kind] if lora else 0)
    if kind == "cpu" and lean and not lora:
        units = LEAN_UNITS_CPU
    per_layer = units * (4 if weights == "fp32" else 2) * hidden * tokens
    activations = per_layer + 2 * hidden * tokens * layers if checkpointing else per_layer * layers
    vocab = (shape or {}).get("vocab_size", 0)
    if fused_head:
        logits = 0 if kind == "cuda" else LOGIT_COPIES * 4 * min(vocab, head_tile or vocab) * tokens
    else:
        logits = (LOGIT_COPIES if kind == "cuda" else 1) * 4 * vocab * tokens
    fixed = CPU_STEP_GIB["lora" if lora else "full"] * 2**30 if kind == "cpu" and tokens else 0
    return (state + activations + logits + fixed) / 2**30


def model_size(path: str | Path) -> tuple[int | None, dict[str, int]]:
    """(parameters, shape) of a saved model, from its safetensors headers and config.json; no weights
    are read. (None, {}) when the folder is not local (a hub id)."""
    folder = Path(path)
    shape: dict[str, int] = {}
    config = folder / "config.json"
    if config.is_file():
        data = json.loads(config.read_text(encoding="utf-8"))
        data = data.get("text_config", data)
        shape = {k: int(data[k]) for k in ("hidden_size", "num_hidden_layers", "vocab_size") if k in data}
    total = sum(safetensors_params(file) for file in sorted(folder.glob("*.safetensors")))
    return (total or None), shape


def safetensors_params(path: str | Path) -> int:
    """Elements of every tensor in a safetensors file, read from its JSON header only (no weights)."""
    with Path(path).open("rb") as handle:
        (length,) = struct.unpack("<Q", handle.read(8))
        header = json.loads(handle.read(length))
    total = 0
    for name, entry in header.items():
        if name != "__metadata__":
            count = 1
            for dim in entry["shape"]:
                count *= dim
            total += count
    return total


def torch_dtype(weights: str) -> torch.dtype:
    """The torch dtype of a `weights` choice. "nf4" (QLoRA) computes in bf16, so a model loaded beside the
    4-bit one (a distillation teacher) is held in bf16."""
    import torch

    return {"fp32": torch.float32, "bf16": torch.bfloat16, "nf4": torch.bfloat16}[weights]
