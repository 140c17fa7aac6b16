"""What the recommended plan will need: memory for full, LoRA and 4-bit LoRA (QLoRA) per training stage,
the tokens to process, and which of the three fits the hardware, with the arithmetic shown.

Memory comes from `posttrain.device.estimate_gib` (the model the trainer itself uses to turn activation
checkpointing on), with the choices `posttrain.device.choose` would make on that hardware; this module
only picks the method and explains it.

>>> from advisor.compute import estimate_compute
>>> from advisor.hardware import parse_hardware
>>> from advisor.spec import TaskSpec
>>> plan = estimate_compute(TaskSpec(model_params="8B", labeled_examples=5000), ["sft"], parse_hardware("16GB"))
>>> plan.stages[0].choice
'qlora'
"""

from __future__ import annotations

from typing import TypeAlias

from pydantic import BaseModel

from advisor.hardware import Hardware
from advisor.model_info import DEFAULT_PARAMS
from advisor.spec import TaskSpec
from posttrain.config import StageSettings
from posttrain.stages.spec import StageSpec, TrainingWay

Method: TypeAlias = TrainingWay
DEFAULT_SHAPE = {"hidden_size": 576, "num_hidden_layers": 30, "vocab_size": 49152}   # SmolLM2-135M
GUESSED_VOCAB = 128_256                     # Llama 3's; used when only the parameter count is known
TOO_LONG_DAYS = 7                           # a stage that would train longer than this on the hardware is warned of


def order(stage: str) -> tuple[Method, ...]:
    """Which way of training a stage tries first (its method's `Cost.prefer`). Preference learning and RL
    change little per example, and LoRA matches full fine-tuning there; SFT and continued pre-training
    learn the most with every weight free."""
    from posttrain.stages import get_stage

    return get_stage(stage).cost.prefer


def orders() -> dict[str, tuple[Method, ...]]:
    """`order` of every registered training method, by its advisor name."""
    from posttrain.stages import by_order

    return {method.advisor_name: method.cost.prefer for method in by_order()}

LORA_RL = ("LoRA matches full fine-tuning for preference learning and RL, which carry little information "
           "per example (Schulman et al., 2025, 'LoRA Without Regret')")
QLORA = "a 4-bit NF4 base with bf16 LoRA adapters (Dettmers et al., 2023, 'QLoRA')"
# each method as posttrain's `lora` setting: what route() gives a stage the estimate chose it for
LORA_SETTING: dict[str, object] = {"full": None, "lora": True, "qlora": {"quantize": "nf4"}}
QLORA_HOW = ("posttrain trains it with lora={'quantize': 'nf4'} on a CUDA GPU with bitsandbytes, then merges the "
             "adapter into the unquantized model")


class MethodEstimate(BaseModel):
    """Peak memory of one way to train a stage, and how it was worked out."""

    method: Method
    gib: float
    fits: bool
    checkpointing: bool
    arithmetic: str


class StageCompute(BaseModel):
    """One training stage: its work, the three estimates, the method chosen and why."""

    stage: str
    tokens_per_step: int
    tokens_per_pass: int     # what one forward/backward pass holds; the memory estimate counts these
    tokens: int
    flops: float
    seconds: float | None = None   # flops at the hardware's training rate (one epoch)
    methods: list[MethodEstimate]
    choice: Method | None
    why: str


class ComputePlan(BaseModel):
    """The compute estimate of a recommended plan on one device."""

    hardware: Hardware
    budget_gib: float | None
    params: int
    shape: dict[str, int]
    shape_from: str
    batch_size: int
    max_length: int
    stages: list[StageCompute]
    warnings: list[str]
    rate: float = 0.0              # FLOP/s a training run sustains on the hardware
    rate_from: str = ""            # how that rate was reached

    def describe(self) -> str:
        """The estimate as plain text: hardware, model, then per stage the three methods and the choice."""
        budget = f"{self.budget_gib:.1f} GiB usable" if self.budget_gib else "memory unknown"
        lines = [f"Hardware: {self.hardware.describe()}; {budget}",
                 f"Model: {self.params / 1e9:.2f}B parameters, hidden {self.shape['hidden_size']:,} x "
                 f"{self.shape['num_hidden_layers']} layers, vocabulary {self.shape['vocab_size']:,} "
                 f"({self.shape_from}); batch {self.batch_size} x {self.max_length} tokens"]
        for stage in self.stages:
            took = f", ~{duration(stage.seconds)} at ~{self.rate:.0e} FLOP/s" if stage.seconds else ""
            lines.append(f"{stage.stage}: {stage.tokens:,} tokens to process (~{stage.flops:.1e} FLOPs{took}), "
                         f"{stage.tokens_per_step:,} tokens a step"
                         + (f" ({stage.tokens_per_pass:,} a pass)" if stage.tokens_per_pass != stage.tokens_per_step
                            else "") + f" -> {stage.choice or 'does not fit'}: {stage.why}")
            lines += [f"    {m.method:<5} {m.gib:6.1f} GiB {_fit_word(m, self.hardware)}  {m.arithmetic}"
                      for m in stage.methods]
        return "\n".join(lines)


def _fit_word(estimate: MethodEstimate, hardware: Hardware) -> str:
    if estimate.method == "qlora" and hardware.kind == "cpu":
        return "needs a CUDA GPU"
    return "fits" if estimate.fits else "too big"


def estimate_compute(spec: TaskSpec, stages: list[str], hardware: Hardware) -> ComputePlan:
    """The memory, tokens and method of each training stage in `stages` on `hardware`."""
    from posttrain.config import StageSettings
    from posttrain.device import FIT_SHARE
    from posttrain.stages import get_stage

    params, shape, shape_from = model_shape(spec)
    batch = StageSettings.model_fields["batch_size"].default
    length = spec.max_length or StageSettings.model_fields["max_length"].default
    budget = hardware.memory_gib * FIT_SHARE if hardware.memory_gib else None
    rate, rate_from = hardware.training_rate()
    planned = []
    for stage in stages:
        method = get_stage(stage)
        defaults = method.settings.model_construct(max_length=length)    # the stage's default shape
        sequences = method.cost.sequences_per_row(defaults)            # chosen + rejected; a group of samples
        per_step = batch * length * sequences
        per_pass = method.cost.tokens_per_pass(defaults, hardware.kind == "cuda")
        methods = [_estimate(way, params, shape, method, defaults, hardware, budget)
                   for way in ("full", "lora", "qlora")]
        tokens = stage_tokens(spec, stage, length, sequences)
        choice, why = _choose(stage, methods, hardware, budget)
        flops = (6 if choice == "full" else 4) * params * tokens
        planned.append(StageCompute(stage=stage, tokens_per_step=per_step, tokens_per_pass=per_pass, tokens=tokens,
                                    methods=methods, flops=flops, seconds=flops / rate, choice=choice, why=why))
    return ComputePlan(hardware=hardware, budget_gib=budget, params=params, shape=shape, shape_from=shape_from,
                       batch_size=batch, max_length=length, stages=planned, rate=rate, rate_from=rate_from,
                       warnings=_warnings(planned, hardware, budget) + _too_long(planned, hardware))


def model_shape(spec: TaskSpec) -> tuple[int, dict[str, int], str]:
    """Parameters and (hidden, layers, vocabulary) of the starting model: read from its config when it is
    on this machine, the default model's, or guessed from the parameter count."""
    from advisor.model_info import DEFAULT_NAMES, local_folder

    name = spec.model or "default"
    folder = local_folder(name) if spec.model or spec.model_params is None else None
    if folder is not None:
        from posttrain.device import model_size

        counted, shape = model_size(folder)
        if {"hidden_size", "num_hidden_layers", "vocab_size"} <= set(shape):
            return spec.model_params or counted or DEFAULT_PARAMS, shape, "config.json"
    if name.lower() in DEFAULT_NAMES and spec.model_params in (None, DEFAULT_PARAMS):
        return DEFAULT_PARAMS, dict(DEFAULT_SHAPE), "the default model's shape"
    params = spec.model_params or DEFAULT_PARAMS
    hidden = max(128, round((params * 128 / 12) ** (1 / 3) / 128) * 128)
    return params, {"hidden_size": hidden, "num_hidden_layers": max(1, hidden // 128),
                    "vocab_size": GUESSED_VOCAB}, "guessed from the parameter count (12 x layers x hidden^2, " \
                                                  "hidden = 128 x layers)"


def stage_tokens(spec: TaskSpec, stage: str, length: int, sequences: int) -> int:
    """Tokens one epoch of a stage processes: counted when known (the method's `Advice.tokens` field),
    else rows x sequences per row x max_length (an upper bound; GRPO's samples are never counted)."""
    from posttrain.stages import get_stage

    field = get_stage(stage).advice.tokens
    counted = getattr(spec, field) if field else None
    return counted if counted is not None else spec.rows_for(stage) * sequences * length


def _estimate(way: Method, params: int, shape: dict[str, int], stage: StageSpec, settings: StageSettings,
              hardware: Hardware, budget: float | None) -> MethodEstimate:
    """One way of training a stage, by the function `plan()` uses (`StageSpec.choose`), so both count the
    same: a frozen second model in memory (DPO/KTO's reference without LoRA, GRPO/RLOO's KL reference,
    GKD's teacher), the method's tokens per pass and its fused head."""
    from posttrain.device import DeviceProfile, estimate_gib

    # The trainer never turns checkpointing on for a CPU (memory_gib None there), so neither does the estimate.
    device = DeviceProfile(hardware.kind, hardware.name, hardware.memory_gib if hardware.kind == "cuda" else None,
                           hardware.bf16)
    lora = way != "full"
    picked = stage.choose(settings, device, params, shape, lora=lora, quantize="nf4" if way == "qlora" else None)
    tokens = stage.cost.tokens_per_pass(settings, device.kind == "cuda")
    fused_head, reference_copy = stage.cost.fused_head, stage.cost.reference_copy(settings, lora)
    method, kept = way, {k: v for k, v in shape.items() if k != "vocab_size"}

    def gib(layer_shape: dict[str, int], tokens: int, checkpointing: bool) -> float:
        return estimate_gib(params, layer_shape, tokens=tokens, checkpointing=checkpointing, weights=picked.weights,
                            lora=lora, optimizer=picked.optimizer, device_kind=device.kind,
                            fused_head=fused_head, reference_copy=reference_copy) or 0.0

    state = gib(shape, 0, False)
    layers = gib(kept, tokens, picked.activation_checkpointing) - gib(kept, 0, False)
    total = picked.estimated_gib or 0.0
    arithmetic = (f"{params / 1e6:,.0f}M x {state * 2**30 / params:.2f} B "
                  f"({_state_words(method, picked.weights, picked.optimizer)}) = {state:.2f} GiB"
                  f" + activations of {tokens:,} tokens{' (checkpointed)' if picked.activation_checkpointing else ''}"
                  f" = {layers:.2f} GiB + logits = {total - state - layers:.2f} GiB")
    fits = budget is not None and total <= budget and not (method == "qlora" and hardware.kind == "cpu")
    return MethodEstimate(method=method, gib=round(total, 2), fits=fits, arithmetic=arithmetic,
                          checkpointing=picked.activation_checkpointing)


def _state_words(method: Method, weights: str, optimizer: str) -> str:
    if method == "qlora":
        return "4-bit base with its scales, bf16 embeddings, fp32 adapters ~1% with gradients and AdamW"
    if method == "lora":
        return f"frozen {weights} base, fp32 adapters ~1% with gradients and AdamW"
    if optimizer == "adamw_kahan":
        return "bf16 weights, gradients, AdamW's 2 moments and the Kahan buffer"
    return f"{weights} weights, gradients and AdamW's 2 moments"


def _choose(stage: str, methods: list[MethodEstimate], hardware: Hardware,
            budget: float | None) -> tuple[Method | None, str]:
    by_name = {m.method: m for m in methods}
    if budget is None:
        return None, "the device's memory is unknown: state `hardware` (e.g. 'A100 80GB' or '24GB')"
    for method in order(stage):
        if by_name[method].fits:
            return method, _why(stage, method, by_name, budget)
    smallest = by_name["lora" if hardware.kind == "cpu" else "qlora"]
    return None, (f"even {smallest.method} needs {smallest.gib:.1f} GiB, over the {budget:.1f} GiB usable on "
                  f"{hardware.name}: use a larger GPU, several GPUs with FSDP or ZeRO (docs/scaling.md), or a "
                  "smaller model")


def _why(stage: str, method: Method, by_name: dict[Method, MethodEstimate], budget: float) -> str:
    chosen = f"{by_name[method].gib:.1f} GiB of {budget:.1f} usable"
    if method == "full":
        return f"full fine-tuning fits ({chosen}) and learns the most from {stage.upper()} data"
    if method == "lora" and order(stage)[0] == "lora":
        return f"LoRA fits ({chosen}); {LORA_RL}"
    if method == "lora":
        return f"full fine-tuning needs {by_name['full'].gib:.1f} GiB, over budget; LoRA fits ({chosen})"
    return (f"LoRA needs {by_name['lora'].gib:.1f} GiB, over budget; QLoRA, {QLORA}, fits ({chosen}): "
            f"{QLORA_HOW}")


def duration(seconds: float) -> str:
    """A time in the largest unit that keeps it readable: 40 s, 12 min, 5.2 hours, 139 days, 3.1 years."""
    for unit, size in (("years", 365 * 86400), ("days", 86400), ("hours", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.2g} {unit}" if seconds < 10 * size else f"{seconds / size:,.0f} {unit}"
    return f"{seconds:.0f} s"


def _too_long(stages: list[StageCompute], hardware: Hardware) -> list[str]:
    """A warning for each stage that would train beyond reason (over `TOO_LONG_DAYS`) on the hardware."""
    from advisor.hardware import parse_hardware

    rate, how = hardware.training_rate()
    h100 = parse_hardware("H100").training_rate()[0]
    return [f"{s.stage.upper()} would take ~{duration(s.seconds)} on {hardware.name} ({s.flops:.1e} FLOPs at "
            f"~{rate:.0e} FLOP/s, {how}) and cannot finish there in reason: train it on a GPU (~"
            f"{duration(s.flops / h100)} on one H100), on fewer tokens, or a smaller model"
            for s in stages if s.seconds and s.seconds > TOO_LONG_DAYS * 86400]


def _warnings(stages: list[StageCompute], hardware: Hardware, budget: float | None) -> list[str]:
    warnings = [f"{s.stage.upper()} does not fit {hardware.name}: {s.why}" for s in stages if s.choice is None
                and "unknown" not in s.why]
    if any(s.choice == "qlora" for s in stages):
        warnings.append("QLoRA is recommended for a stage: route() gives it lora={'quantize': 'nf4'}, which "
                        "trains only on a CUDA GPU with bitsandbytes installed (`pip install bitsandbytes`); "
                        "validate() refuses it anywhere else")
    return warnings
