"""Device- and size-aware choices: the documented ones for each device and size, overridable, shown
in the plan; and bf16 weights with the chosen optimizer track an fp32 run where plain bf16 does not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from posttrain.device import CPU_KERNEL_CACHE, KERNEL_CACHE_ENV, Choices, DeviceProfile, choose, estimate_gib

CPU_NO_BF16 = DeviceProfile("cpu", "CPU, 2 cores", None, False)
CPU_BF16 = DeviceProfile("cpu", "CPU, 2 cores", None, True)
H100 = DeviceProfile("cuda", "NVIDIA H100", 80.0, True)
T4 = DeviceProfile("cuda", "Tesla T4", 15.0, False)
SHAPES = {135e6: {"hidden_size": 576, "num_hidden_layers": 30}, 1.07e9: {"hidden_size": 2048, "num_hidden_layers": 16},
          8.03e9: {"hidden_size": 4096, "num_hidden_layers": 32}}


@pytest.mark.parametrize("device, params, lora, expected", [
    # CPU keeps what its bench measured best: fp32 weights, autocast only with native bf16, fused AdamW
    (CPU_NO_BF16, 135e6, False, ("fp32", False, "adamw_torch_fused", False)),
    (CPU_BF16, 135e6, False, ("fp32", True, "adamw_torch_fused", False)),
    (CPU_BF16, 135e6, True, ("fp32", True, "adamw_torch_fused", False)),
    # a bf16 GPU: bf16 weights; full fine-tuning with Kahan-summed AdamW; LoRA adapters with fused AdamW
    (H100, 135e6, False, ("bf16", True, "adamw_kahan", False)),
    (H100, 1.07e9, False, ("bf16", True, "adamw_kahan", False)),
    # LoRA at 8B, 16 x 512 tokens: measured 73.9 GiB without checkpointing on an H200 capped at 78 GiB
    (H100, 8.03e9, True, ("bf16", True, "adamw_torch_fused", True)),
    (H100, 8.03e9, False, ("bf16", True, "adamw_kahan", True)),        # would not fit: checkpointing on
    # a GPU without bf16 trains fp32 weights (and at 16 x 512 tokens, 16 GB needs checkpointing)
    (T4, 135e6, False, ("fp32", False, "adamw_torch_fused", True)),
])
def test_choices_for_each_device_and_size(device, params, lora, expected):
    got = choose(device, int(params), lora=lora, tokens_per_step=16 * 512, shape=SHAPES[params])
    assert (got.weights, got.autocast_bf16, got.optimizer, got.activation_checkpointing) == expected
    assert got.reasons and all(isinstance(r, str) for r in got.reasons)


def test_every_choice_can_be_overridden():
    got = choose(H100, int(8.03e9), lora=False, weights="fp32", precision="fp32", checkpointing=False,
                 shape=SHAPES[8.03e9])
    assert (got.weights, got.autocast_bf16, got.optimizer, got.activation_checkpointing) == \
        ("fp32", False, "adamw_torch_fused", False)
    assert choose(CPU_NO_BF16, 1000, lora=False, weights="bf16").optimizer == "adamw_kahan"


def test_memory_estimate_by_hand():
    # 1e9 parameters, full fine-tuning, no activations: fp32 + AdamW = 16 B, bf16 + Kahan AdamW = 10 B
    fp32 = estimate_gib(10**9, {}, weights="fp32", lora=False, optimizer="adamw_torch_fused", tokens=0,
                        checkpointing=False)
    kahan = estimate_gib(10**9, {}, weights="bf16", lora=False, optimizer="adamw_kahan", tokens=0,
                         checkpointing=False)
    assert fp32 == pytest.approx(16e9 / 2**30) and kahan == pytest.approx(10e9 / 2**30)
    # activations per token per layer, x hidden, in 16 bits: on CPU 34 B and 26 B more for LoRA's dropped
    # input copies, 22 B for full fine-tuning with lean layers, and a step's 0.2 GiB (0.4 GiB with LoRA)
    # that does not grow with tokens; on a GPU 52 B and 8 B more. Checkpointing keeps one layer plus each
    # layer's input.
    shape = {"hidden_size": 100, "num_hidden_layers": 10}
    full = estimate_gib(1, shape, weights="bf16", lora=True, optimizer="x", tokens=1000, checkpointing=False)
    ckpt = estimate_gib(1, shape, weights="bf16", lora=True, optimizer="x", tokens=1000, checkpointing=True)
    assert full * 2**30 == pytest.approx(2.16 + 60 * 100 * 1000 * 10 + 0.4 * 2**30)
    assert ckpt * 2**30 == pytest.approx(2.16 + 60 * 100 * 1000 + 2 * 100 * 1000 * 10 + 0.4 * 2**30)
    lean = estimate_gib(1, shape, weights="fp32", lora=False, optimizer="x", tokens=1000, checkpointing=False, lean=True)
    plain = estimate_gib(1, shape, weights="fp32", lora=False, optimizer="x", tokens=1000, checkpointing=False)
    assert (plain - lean) * 2**30 == pytest.approx((17 - 11) * 4 * 100 * 1000 * 10)
    # logits: a CPU's fused head holds 4 fp32 copies of one vocabulary tile, another method one full copy
    vocab = {**shape, "vocab_size": 50_000}
    tiled = estimate_gib(1, vocab, weights="fp32", lora=False, optimizer="x", tokens=1000, checkpointing=False,
                         fused_head=True, head_tile=8192)
    unfused = estimate_gib(1, vocab, weights="fp32", lora=False, optimizer="x", tokens=1000, checkpointing=False)
    assert (tiled - plain) * 2**30 == pytest.approx(4 * 4 * 8192 * 1000)
    assert (unfused - plain) * 2**30 == pytest.approx(4 * 50_000 * 1000)
    gpu = estimate_gib(1, shape, weights="bf16", lora=False, optimizer="adamw_kahan", tokens=1000,
                       checkpointing=False, device_kind="cuda")
    gpu_lora = estimate_gib(1, shape, weights="bf16", lora=True, optimizer="x", tokens=1000, checkpointing=False,
                            device_kind="cuda")
    assert gpu * 2**30 == pytest.approx(10 + 52 * 100 * 1000 * 10)
    assert gpu_lora * 2**30 == pytest.approx(2.16 + 60 * 100 * 1000 * 10)


def test_the_plan_shows_the_device_and_what_each_stage_trains_with(tiny_dir, tmp_path):
    from posttrain import Trainer

    plan = Trainer(tiny_dir, output_dir=tmp_path).sft([{"prompt": "a", "completion": "b"}], weights="bf16").plan()
    text = str(plan)
    assert "device: CPU" in text and "trains with: weights bf16" in text and "Kahan" in text
    assert isinstance(plan.stages[0].choices, Choices)
    assert "weights" in plan.reasons() or "autocast" in plan.reasons()


def test_a_grpo_estimate_counts_one_micro_batch_of_completions_not_the_whole_step(tiny_dir):
    """On CPU a GRPO step trains its completions 4 at a time (gradients accumulated): its memory is that of
    4 sequences, however many completions the step samples; on a GPU all of them go in one pass."""
    from posttrain.stages.grpo import GRPOSettings
    from posttrain.stages import stage_choices

    def gib(device, **settings):
        return stage_choices(tiny_dir, GRPOSettings(rewards=["posttrain.rewards.math_accuracy"], **settings), lora=False,
                             device=device).estimated_gib

    step_16, step_32 = dict(batch_size=4, num_generations=4), dict(batch_size=4, num_generations=8)
    assert gib(CPU_NO_BF16, **step_16) == gib(CPU_NO_BF16, **step_32)
    assert gib(CPU_NO_BF16, **step_32) < gib(CPU_NO_BF16, **step_32, micro_batch_size=8)
    assert gib(H100, **step_16) < gib(H100, **step_32)


def test_a_dpo_estimate_counts_the_chosen_and_the_rejected_answer(tiny_dir):
    """DPO runs each pair's two answers in one batch: a pass holds twice an SFT batch's tokens."""
    from posttrain.stages.dpo import DPOSettings
    from posttrain.stages.sft import SFTSettings
    from posttrain.stages import stage_choices, tokens_per_pass

    sft, dpo = SFTSettings(batch_size=4, max_length=256), DPOSettings(batch_size=4, max_length=256)
    assert tokens_per_pass(dpo, cuda=False) == 2 * tokens_per_pass(sft, cuda=False) == 2 * 4 * 256
    assert (stage_choices(tiny_dir, DPOSettings(batch_size=4, max_length=256), lora=False, device=H100).estimated_gib
            > stage_choices(tiny_dir, DPOSettings(batch_size=2, max_length=256), lora=False, device=H100).estimated_gib)


def test_an_sft_estimate_is_sized_by_the_datas_longest_rows_once_they_are_tokenised(tiny_dir):
    """validate()/run() tokenise SFT rows before training: the estimate then counts the batch of the longest
    rows (packed on CPU), not batch_size x max_length, and says so; plan() reads no data and keeps the bound."""
    from posttrain import Trainer
    from posttrain.stages import stage_choices
    from posttrain.stages.sft import SFTSettings
    from posttrain.stages.spec import pass_tokens

    rows = [{"prompt": "Say hi.", "completion": "hi " * n} for n in (3, 40, 5, 12, 7, 9)]
    trainer = Trainer(tiny_dir, output_dir=str(tiny_dir.parent / "sized")).sft(rows, batch_size=4, max_length=512)
    sized, bound = trainer.compile().jobs[0].context.choices, stage_choices(tiny_dir, SFTSettings(batch_size=4,
                                                                                                   max_length=512),
                                                                            lora=False)
    assert sized.estimated_gib < bound.estimated_gib
    assert trainer.plan().stages[0].choices.estimated_gib == bound.estimated_gib
    assert any("memory sized by the data" in reason and "would be 2,048" in reason for reason in sized.reasons)
    assert pass_tokens([10, 50, 30, 20], 2, packed=True) == 80 and pass_tokens([10, 50, 30, 20], 2, packed=False) == 100


def test_data_sized_tokens_can_spare_a_gpu_run_its_activation_checkpointing(tiny_dir):
    """On a GPU checkpointing turns on when the estimate would not fit: rows far shorter than max_length
    keep it off."""
    from posttrain.stages import get_stage
    from posttrain.stages.sft import SFTSettings

    spec, settings = get_stage("sft"), SFTSettings(batch_size=16, max_length=8192)
    params, shape = 1_070_000_000, SHAPES[1.07e9]
    small = DeviceProfile("cuda", "a 24 GB GPU", 24.0, True)
    assert spec.choose(settings, small, params, shape, lora=True).activation_checkpointing
    assert not spec.choose(settings, small, params, shape, lora=True, lengths=[300] * 64).activation_checkpointing


def test_only_a_stage_that_keeps_a_reference_copy_is_charged_for_one(tiny_dir):
    from posttrain.stages.dpo import DPOSettings
    from posttrain.stages.grpo import GRPOSettings
    from posttrain.device import model_size
    from posttrain.stages import stage_choices
    from posttrain.stages import holds_reference_copy

    grpo = GRPOSettings(rewards=["posttrain.rewards.math_accuracy"])
    assert not holds_reference_copy(DPOSettings(), lora=False)                 # precomputed log-probs
    assert holds_reference_copy(DPOSettings(precompute_ref=False), lora=False)
    assert not holds_reference_copy(DPOSettings(precompute_ref=False), lora=True)   # the adapter switched off
    assert not holds_reference_copy(grpo, lora=False) and holds_reference_copy(grpo.model_copy(update={"beta": 0.04}),
                                                                               lora=False)
    params, _ = model_size(tiny_dir)
    kept, precomputed = (stage_choices(tiny_dir, DPOSettings(precompute_ref=flag), lora=False, device=CPU_NO_BF16)
                         for flag in (False, True))
    assert kept.estimated_gib - precomputed.estimated_gib == pytest.approx(params * 4 / 2**30)   # fp32 weights


def test_the_cpu_bf16_switch_overrides_detection(monkeypatch):
    from posttrain.device import cpu_has_native_bf16

    monkeypatch.setenv("POSTTRAIN_CPU_BF16", "0")
    assert cpu_has_native_bf16() is False
    monkeypatch.setenv("POSTTRAIN_CPU_BF16", "1")
    assert cpu_has_native_bf16() is True
    monkeypatch.setenv("POSTTRAIN_CPU_BF16", "0")
    assert DeviceProfile.detect().bf16 is False or torch.cuda.is_available()


# -- fp32-quality updates with bf16 weights ------------------------------------------------------------------

def _train(tiny, dtype, optimizer: str, steps: int = 30, lr: float = 1e-5):
    """`steps` AdamW steps on fixed random batches; returns the final weights as fp32."""
    from optimi import AdamW as KahanAdamW

    model, _ = tiny
    model = type(model)(model.config)
    model.load_state_dict(tiny[0].state_dict())
    model = model.to(dtype).train()
    params = list(model.parameters())
    if optimizer == "kahan":
        opt = KahanAdamW(params, lr=lr, weight_decay=0.0, kahan_sum=True)
    elif optimizer == "sr8":
        from torchao.optim import AdamW8bit

        opt = AdamW8bit(params, lr=lr, weight_decay=0.0, bf16_stochastic_round=True)
    else:
        opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    generator = torch.Generator().manual_seed(0)
    for _ in range(steps):
        ids = torch.randint(0, 1000, (4, 24), generator=generator)
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    return {k: v.float() for k, v in model.state_dict().items()}


def _loss(tiny, weights) -> float:
    """Mean loss in fp32 over the training batches, for the given weights."""
    model = type(tiny[0])(tiny[0].config)
    model.load_state_dict(weights)
    generator, total = torch.Generator().manual_seed(0), 0.0
    with torch.no_grad():
        for _ in range(30):
            ids = torch.randint(0, 1000, (4, 24), generator=generator)
            total += float(model(input_ids=ids, labels=ids).loss)
    return total / 30


def test_bf16_weights_with_kahan_adamw_track_fp32_where_plain_bf16_does_not(tiny):
    # At lr 1e-5 Adam's updates (about lr per weight) are far below bf16's resolution at these weights
    # (about 1e-4): plain bf16 rounds most of them away; Kahan summation carries them to the next step.
    start = _loss(tiny, {k: v.float() for k, v in tiny[0].state_dict().items()})
    fp32 = start - _loss(tiny, _train(tiny, torch.float32, "adamw"))
    kahan = start - _loss(tiny, _train(tiny, torch.bfloat16, "kahan"))
    plain = start - _loss(tiny, _train(tiny, torch.bfloat16, "adamw"))
    assert fp32 > 0
    assert kahan == pytest.approx(fp32, rel=0.25), (fp32, kahan)      # measured here: 90% of fp32's progress
    assert plain < 0.3 * fp32, (fp32, plain)                           # measured here: 8%


@pytest.mark.slow
def test_bf16_weights_with_8bit_adamw_and_stochastic_rounding_track_fp32(tiny):
    # Stochastic rounding keeps each small update in expectation; 8-bit moments cost little. Runs where
    # the optional torchao is installed (pip install "posttrain[gpu]"); measured here: within 30 % of fp32.
    pytest.importorskip("torchao")
    start = _loss(tiny, {k: v.float() for k, v in tiny[0].state_dict().items()})
    fp32 = start - _loss(tiny, _train(tiny, torch.float32, "adamw"))
    sr8 = start - _loss(tiny, _train(tiny, torch.bfloat16, "sr8"))
    assert sr8 == pytest.approx(fp32, rel=0.3), (fp32, sr8)


def test_validate_names_a_missing_torchao_for_the_8bit_optimizer(tiny_dir, monkeypatch):
    import importlib.util

    from posttrain import Trainer
    from posttrain.errors import ConfigError

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torchao" else real(name, *a))
    with pytest.raises(ConfigError, match=r"setting 'optimizer'.*adamw_8bit_sr.*torchao.*pip install torchao"):
        Trainer(tiny_dir).sft([{"prompt": "a", "completion": "b"}], optimizer="adamw_8bit_sr").validate()


def test_a_stage_trains_bf16_weights_with_kahan_adamw_end_to_end(tiny_dir, tmp_path):
    from posttrain import Trainer
    from posttrain.models import load_model
    from posttrain.pipeline.records import StageRecord

    rows = [{"prompt": f"Say {i}.", "completion": f"{i} {i} {i}"} for i in range(8)]
    run = Trainer(tiny_dir, output_dir=tmp_path).sft(rows, weights="bf16", max_steps=6, batch_size=4,
                                                     learning_rate=1e-3).run(progress=False)
    record = StageRecord.read(tmp_path / "01-sft")
    assert record.choices["weights"] == "bf16" and record.choices["optimizer"] == "adamw_kahan"
    losses = [e["loss"] for e in run.stages[0].history if "loss" in e]
    assert losses[-1] < losses[0]
    assert next(load_model(run.model_dir, dtype="auto")[0].parameters()).dtype == torch.bfloat16


def test_memory_estimate_for_a_4bit_base_fp32_activations_and_logits_by_hand():
    shape = {"hidden_size": 100, "num_hidden_layers": 10, "vocab_size": 1000}
    # QLoRA: 4-bit weights with an fp32 scale per 64 (0.5625 B), embeddings kept at 2 B, 1 % fp32 adapters
    nf4 = estimate_gib(10**6, shape, weights="nf4", lora=True, optimizer="x", tokens=0, checkpointing=False)
    assert nf4 * 2**30 == pytest.approx(0.5625e6 + 1000 * 100 * (2 - 0.5625) + 0.01e6 * 16)
    # per token (CPU, LoRA): 60 B x hidden x layers in 16 bits (twice with fp32 weights) + one fp32 copy of
    # the logits, and the step's 0.4 GiB; on a GPU, TRL's fused LM head (SFT, pre-training) keeps no full logits
    bf16 = estimate_gib(1, shape, weights="bf16", lora=True, optimizer="x", tokens=10, checkpointing=False)
    fp32 = estimate_gib(1, shape, weights="fp32", lora=True, optimizer="x", tokens=10, checkpointing=False)
    assert bf16 * 2**30 == pytest.approx(2.16 + 60 * 100 * 10 * 10 + 4 * 1000 * 10 + 0.4 * 2**30)
    assert fp32 * 2**30 == pytest.approx(4.16 + 120 * 100 * 10 * 10 + 4 * 1000 * 10 + 0.4 * 2**30)
    fused = estimate_gib(1, shape, weights="bf16", lora=True, optimizer="x", tokens=10, checkpointing=False,
                         device_kind="cuda", fused_head=True)
    unfused = estimate_gib(1, shape, weights="bf16", lora=True, optimizer="x", tokens=10, checkpointing=False,
                           device_kind="cuda", fused_head=False)
    assert unfused - fused == pytest.approx(4 * 4 * 1000 * 10 / 2**30)


def test_memory_estimate_matches_the_peaks_measured_on_an_h200():
    """Every SFT peak of the GPU bench (bench/measured/h200.json), estimated from the model's shape and
    the run's choices: the fitted memory model stays within 10 % of what was measured."""
    measured = json.loads((Path(__file__).resolve().parents[2] / "bench/measured/h200.json").read_text())
    shapes = {"135m": (134_515_008, {"hidden_size": 576, "num_hidden_layers": 30, "vocab_size": 49152}),
              "1b": (1_073_809_408, {"hidden_size": 2048, "num_hidden_layers": 16, "vocab_size": 49152}),
              "8b": (7_180_914_688, {"hidden_size": 4096, "num_hidden_layers": 32, "vocab_size": 49152})}
    checked = 0
    for case, result in measured["cases"].items():
        if not case.startswith("sft") or "peak_gpu_gib" not in result["posttrain"]:
            continue
        variant = case.partition("+")[2]
        params, shape = shapes[case.split("@")[1].split("+")[0]]
        lora = "lora" in case
        optimizer = "x" if lora else "adamw_8bit_sr" if "sr8" in variant else "adamw_kahan"
        estimate = estimate_gib(params, shape, weights="bf16", lora=lora, optimizer=optimizer, tokens=16 * 512,
                                checkpointing="ckpt" in variant, device_kind="cuda", fused_head=True)
        peak = result["posttrain"]["peak_gpu_gib"]
        assert estimate == pytest.approx(peak, rel=0.10), (case, estimate, peak)
        checked += 1
    assert checked == 6


KERNEL_PROBE = """
import ctypes, json
import torch
from posttrain.device import CPU_KERNEL_CACHE, bound_kernel_caches, kernel_cache_sizes

bound_kernel_caches(kernel_cache_sizes())
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]
libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = Info
torch.set_num_threads(1)
weight = torch.randn(64, 64, dtype=torch.bfloat16)
def new_shapes(start, count):
    for rows in range(start, start + count):
        torch.nn.functional.linear(torch.randn(rows, 64, dtype=torch.bfloat16), weight)
    return libc.mallinfo2().uordblks
base = libc.mallinfo2().uordblks
first = new_shapes(1, CPU_KERNEL_CACHE + 50)        # the caches fill
second = new_shapes(CPU_KERNEL_CACHE + 51, 100)
print(json.dumps({"first": first - base, "second": second - first}))
"""


def _heap_growth_over_new_shapes(env: dict[str, str]) -> dict[str, int]:
    """Bytes of glibc's heap in use added by CPU_KERNEL_CACHE + 50 bf16 products of new shapes, then by 100
    more, in a fresh process (the caches read their capacity once per process)."""
    import os
    import subprocess
    import sys

    environment = {k: v for k, v in os.environ.items() if k not in KERNEL_CACHE_ENV}
    environment.update(env, OMP_NUM_THREADS="1", PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    done = subprocess.run([sys.executable, "-c", KERNEL_PROBE], env=environment, capture_output=True, text=True,
                          timeout=120)
    if done.returncode != 0 and "mallinfo2" in done.stderr:
        pytest.skip("this C library has no mallinfo2")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_cpu_kernel_caches_stop_growing_once_full_where_the_libraries_own_keep_every_shape():
    bounded = _heap_growth_over_new_shapes({})
    unbounded = _heap_growth_over_new_shapes({name: "1024" for name in KERNEL_CACHE_ENV})
    if unbounded["second"] < 2**20:
        pytest.skip("bf16 products on this CPU do not go through oneDNN's cached kernels")
    # the libraries' defaults keep adding kernels for new shapes; once the bounded caches are full, the next 100
    # shapes add none
    assert unbounded["second"] > 0.2 * unbounded["first"]
    assert bounded["second"] < 0.1 * unbounded["second"]


def test_a_cpu_run_bounds_the_kernel_caches_before_it_trains_unless_the_environment_says_otherwise(
        tiny_dir, tmp_path, monkeypatch):
    import os

    from transformers import TrainerCallback

    from posttrain import Trainer

    seen: list[dict[str, str | None]] = []

    class Look(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            seen.append({name: os.environ.get(name) for name in KERNEL_CACHE_ENV})

    for name in KERNEL_CACHE_ENV:
        monkeypatch.delenv(name, raising=False)
    rows = [{"prompt": "Say the colour of the sky.", "completion": "Blue."}] * 4
    trainer = Trainer(str(tiny_dir), output_dir=tmp_path / "a", callbacks=[Look()]).sft(rows, max_steps=1, batch_size=4)
    assert f"CPU kernel caches of {CPU_KERNEL_CACHE} shapes" in str(trainer.plan())
    trainer.run(progress=False)
    assert seen == [{name: str(CPU_KERNEL_CACHE) for name in KERNEL_CACHE_ENV}]

    monkeypatch.setenv("LRU_CACHE_CAPACITY", "1024")             # the user's own setting wins, and the plan says so
    trainer = Trainer(str(tiny_dir), output_dir=tmp_path / "b", callbacks=[Look()]).sft(rows, max_steps=1, batch_size=4)
    assert "LRU_CACHE_CAPACITY=1024" in trainer.plan().reasons()
    trainer.run(progress=False)
    assert seen[-1] == {"ONEDNN_PRIMITIVE_CACHE_CAPACITY": str(CPU_KERNEL_CACHE), "LRU_CACHE_CAPACITY": "1024"}
    assert choose(H100, 135_000_000, lora=False).kernel_cache is None


def test_a_kernel_cache_size_in_the_environment_that_is_not_a_number_is_refused_naming_the_variable(
        tiny_dir, tmp_path, monkeypatch):
    from posttrain import Trainer
    from posttrain.errors import ConfigError

    monkeypatch.setenv("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "lots")
    rows = [{"prompt": "Say the colour of the sky.", "completion": "Blue."}] * 4
    trainer = Trainer(str(tiny_dir), output_dir=tmp_path / "run").sft(rows, max_steps=1, batch_size=4)
    with pytest.raises(ConfigError, match=r"ONEDNN_PRIMITIVE_CACHE_CAPACITY.*'lots', not a whole number.*Fix: set it"):
        trainer.run(progress=False)
    assert not (tmp_path / "run").exists()                   # refused before anything was written
