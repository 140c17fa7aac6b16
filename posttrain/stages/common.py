"""What every stage's run shares: TRL arguments from our settings and choices, LoRA, loading, the optimizer, the
training loop, merge-and-save. The context a run gets is `posttrain.stages.context.StageContext`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from posttrain.config import LoraSettings
from posttrain.device import Choices, cpu_has_native_bf16, thread_count, torch_dtype  # noqa: F401 - re-exported
from posttrain.errors import ConfigError, Problem
from posttrain.stages.context import StageContext  # noqa: F401 - re-exported: the stage modules import it from here
from posttrain.stages.trl_hooks import labelled_positions_only

if TYPE_CHECKING:
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import PreTrainedModel, PreTrainedTokenizerBase, TrainingArguments
    from transformers import Trainer as HFTrainer


def base_args(ctx: StageContext, total_rows: int) -> dict[str, object]:
    """Keyword arguments for TRL's config class shared by all stages (TRL's own names); the device's part
    read from the stage's `Choices`."""
    s = ctx.settings
    steps = s.max_steps or max(1, int(s.epochs * total_rows / (s.batch_size * s.grad_accum) + 0.999))
    cuda = ctx.choices.device == "cuda"
    return dict(
        output_dir=str(ctx.checkpoints_dir), num_train_epochs=s.epochs, max_steps=s.max_steps or -1,
        per_device_train_batch_size=s.batch_size, gradient_accumulation_steps=s.grad_accum,
        learning_rate=ctx.learning_rate, lr_scheduler_type=s.lr_scheduler,
        warmup_steps=s.warmup_ratio,     # transformers 5 reads a warmup_steps under 1 as a share of the steps
        weight_decay=s.weight_decay, logging_steps=s.logging_steps,
        save_strategy="steps", save_steps=s.save_steps or max(25, steps // 4), save_total_limit=1,
        seed=ctx.seed, data_seed=ctx.seed, report_to=list(ctx.report_to) or "none", run_name=ctx.run_name,
        disable_tqdm=True,
        bf16=ctx.choices.autocast_bf16, fp16=s.precision == "fp16",
        use_cpu=not cuda,
        dataloader_num_workers=0, dataloader_pin_memory=cuda,
        optim=ctx.choices.trl_optim,     # fused AdamW; Kahan and 8-bit AdamW come from `stage_optimizers`
        activation_checkpointing=ctx.choices.activation_checkpointing,   # TRL's default is on; ours is chosen
    )


def peft_config(lora: LoraSettings | None, task_type: str = "CAUSAL_LM") -> LoraConfig | None:
    """PEFT's LoraConfig from our settings, or None for full fine-tuning."""
    if lora is None:
        return None
    from peft import LoraConfig

    return LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                      target_modules=lora.target_modules, task_type=task_type)


def load_input(ctx: StageContext) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """The stage's input model and tokenizer, loaded from its folder in the chosen weight dtype, in
    training mode. QLoRA (`lora.quantize`) loads it in 4-bit instead (`posttrain.qlora`)."""
    from posttrain import qlora
    from posttrain.models import load_model

    if qlora.quantized(ctx.lora):
        return qlora.load_4bit(ctx.input_model, bool(ctx.choices and ctx.choices.activation_checkpointing))
    model, tokenizer = load_model(ctx.input_model, dtype=torch_dtype(ctx.choices.weights), device=ctx.choices.device)
    model.config.use_cache = False
    return model.train(), tokenizer


def stage_optimizers(ctx: StageContext, model: torch.nn.Module) -> tuple[torch.optim.Optimizer | None, None]:
    """`optimizers=` for TRL's trainer when the choices name an optimizer TRL does not build itself
    and the user set no `optim` of their own: AdamW with Kahan summation (torch-optimi) or 8-bit AdamW
    with bf16 stochastic rounding (torchao); else (None, None) for TRL's own optimizer. Weight decay
    skips 1-D parameters (norms, biases), as transformers does."""
    optimizer = ctx.choices.optimizer
    if optimizer not in ("adamw_kahan", "adamw_8bit_sr") or "optim" in ctx.settings.trl_args:
        return None, None
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    decay = ctx.settings.weight_decay
    groups = [{"params": [p for _, p in trainable if p.ndim > 1], "weight_decay": decay},
              {"params": [p for _, p in trainable if p.ndim <= 1], "weight_decay": 0.0}]
    settings = {k: ctx.settings.trl_args.get(k, v) for k, v in
                (("adam_beta1", 0.9), ("adam_beta2", 0.999), ("adam_epsilon", 1e-8))}
    common = dict(lr=ctx.learning_rate, betas=(settings["adam_beta1"], settings["adam_beta2"]),
                  eps=settings["adam_epsilon"])
    if optimizer == "adamw_8bit_sr":
        try:
            from torchao.optim import AdamW8bit
        except ImportError as err:
            raise ConfigError([Problem(f"stage {ctx.settings.kind!r}, setting 'optimizer'", "is 'adamw_8bit_sr', "
                                       "which needs torchao", "pip install torchao, or choose another optimizer")]) from err
        return AdamW8bit(groups, bf16_stochastic_round=True, **common), None
    from optimi import AdamW

    return AdamW(groups, kahan_sum=True, **common), None


def train(trainer: HFTrainer, ctx: StageContext) -> dict[str, float]:
    """Run TRL's loop (continuing from a checkpoint if there is one) and return its final metrics."""
    import torch
    from transformers.trainer_callback import PrinterCallback
    from transformers.utils import logging

    torch.set_num_threads(ctx.choices.threads)
    trainer.remove_callback(PrinterCallback)     # our progress bar shows the logs instead
    logging.disable_progress_bar()
    if ctx.choices.lean_layers:
        from posttrain.lean import lean_layers

        lean_layers(trainer.model)
    with labelled_positions_only(ctx.choices.head_tile):
        output = trainer.train(resume_from_checkpoint=ctx.resume_from)
    metrics = dict(output.metrics)
    if trainer.accelerator.num_processes > 1:
        metrics["rank_checksums"] = rank_checksums(trainer)
        # what accelerate ran, which can differ from the launcher's config: FSDP on CPUs runs as DDP (MULTI_CPU)
        metrics["distributed_type"] = str(trainer.accelerator.distributed_type.value)
    return metrics


def rank_checksums(trainer: HFTrainer) -> list[float]:
    """One checksum of the trained weights per process: data-parallel ranks must agree."""
    from accelerate.utils import gather_object

    model = trainer.accelerator.unwrap_model(trainer.model)
    total = sum(float(p.detach().double().abs().sum()) for p in model.parameters())
    checksums: list[float] = gather_object([round(total, 6)])
    return checksums


def shared_dataset(dataset: Dataset, ctx: StageContext, args: TrainingArguments) -> Dataset:
    """The stage's rows as one dataset on disk that every process opens, when several processes train.

    A dataset held only in memory makes each process put `datasets`' cache files in its own temporary
    folder, so a file the main process writes for all (TRL's precomputed reference log-probs in DPO and
    KTO) is missing on the others (FileNotFoundError on rank 1). Saved once by the main process under
    the stage's checkpoints folder (removed with it when the stage completes), the rows' cache files
    sit beside them, where every rank finds the reference log-probs. One process: the dataset as it is."""
    from accelerate import PartialState
    from datasets import load_from_disk

    if args.world_size == 1:                  # reading it also sets up the process group used below
        return dataset
    state, folder = PartialState(), ctx.checkpoints_dir / "dataset"
    if state.is_main_process:
        shutil.rmtree(folder, ignore_errors=True)
        dataset.save_to_disk(str(folder))
    state.wait_for_everyone()
    return load_from_disk(str(folder))


def save_model(trainer: HFTrainer, tokenizer: PreTrainedTokenizerBase, ctx: StageContext) -> None:
    """Save the stage's full model: safetensors, tokenizer and chat template; only the main process
    writes. A LoRA adapter is merged into its base first, so the next stage gets a full model;
    a full model goes through TRL's `save_model`, which gathers ZeRO-3 and FSDP shards. A QLoRA adapter is
    merged into the input model reloaded unquantized (`posttrain.qlora.merge_full_precision`)."""
    from posttrain import qlora

    model = trainer.accelerator.unwrap_model(trainer.model)
    if hasattr(model, "merge_and_unload"):
        model = qlora.merge_full_precision(model, ctx.input_model) if qlora.quantized(ctx.lora) else model.merge_and_unload()
        model.config.use_cache = True
        if trainer.accelerator.is_main_process:
            model.save_pretrained(ctx.save_to, safe_serialization=True)
    else:
        model.config.use_cache = True
        trainer.save_model(str(ctx.save_to))
    if trainer.accelerator.is_main_process:
        tokenizer.save_pretrained(ctx.save_to)
        (ctx.save_to / "training_args.bin").unlink(missing_ok=True)   # a pickle; the settings are in stage.json


def write_history(history: list[dict], path: Path) -> None:
    """The training log, one JSON object per logged step."""
    with path.open("w", encoding="utf-8") as handle:
        for entry in history:
            handle.write(json.dumps(entry) + "\n")
