"""QLoRA as a LoRA option (posttrain.qlora): `lora={"quantize": "nf4"}` plans with 4-bit weights, is refused
before anything is written where it cannot run (a CPU, no bitsandbytes), is what the advisor's route gives a
stage its compute estimate chose QLoRA for, and, on a CUDA GPU, trains and leaves a full-precision model."""

from __future__ import annotations

import importlib.util
import json

import pytest
import torch

from posttrain import Trainer
from posttrain.errors import ConfigError

ROWS = [{"prompt": f"Say the number {i}.", "completion": f"{i}"} for i in range(8)]
CAN_RUN = torch.cuda.is_available() and importlib.util.find_spec("bitsandbytes") is not None


@pytest.mark.skipif(CAN_RUN, reason="this machine can train QLoRA")
@pytest.mark.parametrize("where", ["trainer", "stage"])
def test_a_cpu_refuses_qlora_before_anything_runs_with_the_place_problem_and_fix(tiny_dir, tmp_path, where):
    qlora = {"r": 8, "quantize": "nf4"}
    trainer = (Trainer(tiny_dir, output_dir=tmp_path / "run", lora=qlora).sft(ROWS, max_steps=1) if where == "trainer"
               else Trainer(tiny_dir, output_dir=tmp_path / "run").sft(ROWS, max_steps=1, lora=qlora))
    for attempt in (trainer.validate, lambda: trainer.run(progress=False)):
        with pytest.raises(ConfigError) as err:
            attempt()
        message = " ".join(str(err.value).split())
        assert "stage 1 (sft), setting 'lora'" in message                                  # the place
        assert "quantize='nf4' (QLoRA) needs a CUDA GPU and bitsandbytes" in message        # the problem
        assert "Fix: on this CPU use lora=True" in message                                  # the fix
    assert not (tmp_path / "run").exists()


def test_the_plan_shows_a_4_bit_base_and_why(tiny_dir, tmp_path):
    plan = Trainer(tiny_dir, output_dir=tmp_path / "run").sft(ROWS, lora={"quantize": "nf4"}).dpo(
        [{"prompt": "a", "chosen": "b", "rejected": "c"}], lora=True).plan()
    assert [s.choices.weights for s in plan.stages] == ["nf4", plan.stages[1].choices.weights]
    assert plan.stages[1].choices.weights != "nf4"
    assert "trains with: weights nf4" in str(plan)
    assert "QLoRA holds the frozen base in 4-bit NF4" in plan.reasons()


def test_only_nf4_is_a_quantization():
    with pytest.raises(ConfigError, match="quantize"):
        Trainer("default", lora={"quantize": "int8"})


def _stage_lora(trainer):
    """Each stage's own `lora` setting as written (None: the Trainer's)."""
    return [getattr(s.settings.lora, "model_dump", lambda **_: s.settings.lora)(exclude_defaults=True)
            for s in trainer.stages]


def test_the_advisor_routes_a_qlora_choice_to_a_4_bit_stage(tmp_path):
    from advisor import advise

    # 8B on 16 GB: the bf16 base with LoRA does not fit, a 4-bit base does (tests/advisor/test_compute.py)
    rec = advise({"target_skills": ["sql"], "labeled_examples": 5000, "model_params": "8B", "hardware": "16GB"})
    assert [s.choice for s in rec.compute.stages] == ["qlora"]
    assert not any("posttrain does not" in w for w in rec.compute.warnings)
    trainer = rec.route(output_dir=tmp_path / "run", data={"sft": ROWS})
    assert _stage_lora(trainer) == [{"quantize": "nf4"}]
    plan = trainer.plan()
    assert plan.stages[0].lora and plan.stages[0].choices.weights == "nf4"


@pytest.mark.parametrize(("hardware", "choice", "lora"), [
    ("H100", "full", None),           # full fine-tuning: the stage keeps the Trainer's setting
    ("8GB", "lora", True),            # 1B on 8 GB: LoRA
])
def test_the_advisor_passes_lora_only_where_its_estimate_chose_it(tmp_path, hardware, choice, lora):
    from advisor import advise

    rec = advise({"target_skills": ["sql"], "labeled_examples": 5000, "model_params": "1B", "hardware": hardware})
    assert [s.choice for s in rec.compute.stages] == [choice]
    assert _stage_lora(rec.route(output_dir=tmp_path / "run", data={"sft": ROWS})) == [lora]
    assert _stage_lora(rec.route(output_dir=tmp_path / "run", data={"sft": ROWS}, lora={"r": 4})) == [None]


@pytest.mark.skipif(not CAN_RUN, reason="QLoRA trains on a CUDA GPU with bitsandbytes")
def test_qlora_trains_the_adapter_and_leaves_a_full_precision_model(tiny_dir, tmp_path):
    from safetensors.torch import load_file

    run = Trainer(tiny_dir, output_dir=tmp_path / "run", lora={"r": 8, "quantize": "nf4"}).sft(
        ROWS, max_steps=4, batch_size=4, learning_rate=1e-2).run(progress=False)
    config = json.loads((run.model_dir / "config.json").read_text())
    assert "quantization_config" not in config
    before, after = load_file(tiny_dir / "model.safetensors"), load_file(run.model_dir / "model.safetensors")
    assert set(after) <= set(before) | {"lm_head.weight"}
    assert all(after[name].dtype == before[name].dtype and after[name].shape == before[name].shape for name in after)
    moved = [name for name in after if "proj" in name and not torch.equal(after[name], before[name])]
    assert moved, "the merged adapter changed no projection"
    assert all(torch.equal(after[name], before[name]) for name in after if "norm" in name)
    assert run.stages[0].metrics["train_loss"] > 0


def test_a_model_loaded_beside_the_4_bit_base_is_held_in_bf16():
    from posttrain.device import torch_dtype

    assert torch_dtype("nf4") == torch.bfloat16          # QLoRA's compute dtype, e.g. a distillation teacher
