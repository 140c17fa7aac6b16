"""QLoRA: LoRA over a 4-bit NF4 base (`lora={"r": 16, "quantize": "nf4"}`), on a CUDA GPU with bitsandbytes.

Everything about the option sits here: the check `validate()` runs (a CPU, or no bitsandbytes, is refused
before anything is written), loading the stage's input model in 4-bit for training, and the merge at the
end, which reloads the input model unquantized and merges the adapter into it, so the next stage (and an
export) gets a full-precision model, never a dequantized 4-bit one. The device choices and the memory
estimate read weights "nf4" (`posttrain.device.BYTES`), so `plan()` shows it.
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING

from posttrain.errors import Problem

if TYPE_CHECKING:
    from peft import PeftModel
    from transformers import BitsAndBytesConfig, PreTrainedModel
    from posttrain.config import LoraSettings
    from posttrain.device import DeviceProfile

FIX = ("on this CPU use lora=True (LoRA on the full-precision model); for QLoRA, train on a CUDA GPU with "
       "`pip install bitsandbytes`")


def quantized(lora: LoraSettings | None) -> bool:
    """Whether a stage trains QLoRA."""
    return lora is not None and lora.quantize is not None


def problems(lora: LoraSettings | None, device: DeviceProfile, where: str) -> list[Problem]:
    """Why QLoRA cannot run here: it needs a CUDA GPU and bitsandbytes (empty when it can, or is off)."""
    quantize = lora.quantize if lora is not None else None
    if quantize is None:
        return []
    missing = [need for need, ok in (("a CUDA GPU", device.kind == "cuda"),
                                     ("bitsandbytes", importlib.util.find_spec("bitsandbytes") is not None)) if not ok]
    if not missing:
        return []
    return [Problem(f"{where}, setting 'lora'", f"quantize={quantize!r} (QLoRA) needs a CUDA GPU and "
                    f"bitsandbytes; this machine lacks {' and '.join(missing)} (device: {device.describe()})", FIX)]


def bnb_config() -> BitsAndBytesConfig:
    """transformers' BitsAndBytesConfig for QLoRA: NF4 weights, double-quantized scales, bf16 compute."""
    import torch
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.bfloat16,
                              bnb_4bit_use_double_quant=True)


def load_4bit(input_model: str, checkpointing: bool) -> tuple[object, object]:
    """A stage's input model in 4-bit on the GPU, made ready for k-bit training (norms in fp32, input
    gradients on for `checkpointing`), and its tokenizer; in training mode."""
    import torch
    from peft import prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM

    from posttrain.models import fix_tokenizer, load_tokenizer

    tokenizer = load_tokenizer(input_model)
    model = AutoModelForCausalLM.from_pretrained(input_model, quantization_config=bnb_config(),
                                                 dtype=torch.bfloat16, device_map={"": torch.cuda.current_device()})
    fix_tokenizer(model, tokenizer)
    model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=checkpointing)
    model.config.use_cache = False
    return model.train(), tokenizer


def merge_full_precision(peft_model: PeftModel, input_model: str) -> PreTrainedModel:
    """The trained adapter merged into `input_model` reloaded unquantized (in the dtype it is saved in, on
    the CPU): the full model the next stage starts from."""
    from peft import (
        get_peft_model,
        get_peft_model_state_dict,
        set_peft_model_state_dict,
    )
    from transformers import AutoModelForCausalLM

    from posttrain.models import fix_tokenizer, load_tokenizer

    adapter = {name: tensor.detach().cpu() for name, tensor in get_peft_model_state_dict(peft_model).items()}
    config = peft_model.peft_config["default"]
    base = AutoModelForCausalLM.from_pretrained(input_model, dtype="auto")
    fix_tokenizer(base, load_tokenizer(input_model))
    full = get_peft_model(base, config)
    set_peft_model_state_dict(full, {name: tensor.to(base.dtype) for name, tensor in adapter.items()})
    merged = full.merge_and_unload()
    merged.config.use_cache = True
    return merged
