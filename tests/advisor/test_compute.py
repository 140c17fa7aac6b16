"""Compute-aware advice: hardware read from what a user writes, memory per method from the library's one
memory model (posttrain.device.estimate_gib), the method that fits, tokens to process, and the pointer
to rag_baseline.compare() when retrieval and training are both plausible."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from advisor import TaskSpec, advise
from advisor.compute import estimate_compute, model_shape
from advisor.crosscheck import compare_suggestion
from advisor.hardware import parse_hardware
from posttrain.device import FIT_SHARE, estimate_gib
from posttrain.errors import ConfigError


@pytest.mark.parametrize("text, expected", [
    ("H100", ("cuda", 80.0, True)),
    ("NVIDIA A100 40GB", ("cuda", 40.0, True)),
    ("rtx-4090", ("cuda", 24.0, True)),
    ("Tesla T4", ("cuda", 16.0, False)),
    ("48 GiB", ("cuda", 48.0, True)),
    ("cpu 64GB", ("cpu", 64.0, None)),
])
def test_hardware_is_read_from_what_a_user_writes(text, expected):
    got = parse_hardware(text)
    assert (got.kind, got.memory_gib) == expected[:2] and got.source == "stated"
    if expected[2] is not None:
        assert got.bf16 is expected[2]


def test_unreadable_hardware_is_an_error_naming_field_value_and_forms():
    with pytest.raises(ConfigError) as err:
        TaskSpec.load({"hardware": "a big one"})
    assert "hardware" in str(err.value) and "a big one" in str(err.value) and "24GB" in str(err.value)


@settings(max_examples=200, derandomize=True, deadline=None)
@given(text=st.text(max_size=30) | st.sampled_from(["0GB", "cpu 0gb", "", "  ", "GPU", "99999GB", "h100 h200"]))
def test_any_hardware_text_is_read_or_refused_with_the_forms(text):
    try:
        got = parse_hardware(text)
    except ValueError as err:
        assert repr(text) in str(err) and "24GB" in str(err)
    else:
        assert got.kind in ("cpu", "cuda") and (got.memory_gib is None or got.memory_gib > 0)


def _plan(params: str, hardware: str, stage: str, **fields):
    spec = TaskSpec(model_params=params, labeled_examples=5000, preference_pairs=5000, rl_prompts=5000,
                    verifiable_reward=True, domain_corpus_tokens=2_000_000_000, **fields)
    return estimate_compute(spec, [stage], parse_hardware(hardware)).stages[0]


@pytest.mark.parametrize("params, hardware, stage, choice", [
    ("1B", "H100", "sft", "full"),          # full fits: SFT learns the most with every weight free
    ("1B", "H100", "cpt", "full"),
    ("1B", "H100", "dpo", "lora"),          # preference learning and RL: LoRA matches full
    ("1B", "H100", "grpo", "lora"),
    ("8B", "H100", "sft", "lora"),          # full needs 10 B a parameter (~75 GiB): over 85 % of 80
    ("8B", "48GB", "sft", "lora"),          # bf16 base 15 GiB + adapters + activations + logits
    ("8B", "24GB", "sft", "lora"),          # LoRA with checkpointing ~17 GiB (no full logits: the fused LM head)
    ("8B", "16GB", "sft", "qlora"),         # ... over 85 % of 16: a 4-bit base
    ("14B", "24GB", "sft", "qlora"),        # a bf16 base alone is 26 GiB: only a 4-bit base fits
    ("70B", "H100", "sft", "qlora"),
    ("70B", "24GB", "sft", None),           # nothing fits one card
    ("8B", "cpu 32GB", "sft", None),        # no 4-bit training on a CPU; fp32 LoRA needs ~33 GiB
    ("1B", "cpu 32GB", "sft", "full"),
])
def test_the_method_that_fits_the_hardware(params, hardware, stage, choice):
    got = _plan(params, hardware, stage)
    assert got.choice == choice, got.why
    if choice:
        chosen = next(m for m in got.methods if m.method == choice)
        assert chosen.fits and chosen.gib <= parse_hardware(hardware).memory_gib * FIT_SHARE


def test_a_stage_that_would_train_for_months_on_the_hardware_is_warned_of():
    spec = TaskSpec(new_domain=True, domain_corpus_tokens=3_000_000_000)
    cpu = parse_hardware("cpu 24GB").model_copy(update={"cores": 2})
    plan = estimate_compute(spec, ["cpt"], cpu)
    cpt = plan.stages[0]
    assert plan.rate == 2 * 5e10                                       # FLOP/s a core x 2 cores
    assert cpt.flops == 6 * 134_515_008 * 3_000_000_000 or cpt.choice != "full"
    assert cpt.seconds == pytest.approx(cpt.flops / 1e11)             # ~2.4e18 / 1e11: ~280 days
    assert cpt.seconds > 200 * 86400
    warning = next(w for w in plan.warnings if w.startswith("CPT would take"))
    assert "days on CPU, 2 cores" in warning and "cannot finish there" in warning and "on one H100" in warning
    assert "~280 days at ~1e+11 FLOP/s" in plan.describe()
    gpu = estimate_compute(spec, ["cpt"], parse_hardware("H100"))
    assert gpu.rate == pytest.approx(0.35 * 989e12)                    # 35% of the H100's bf16 peak
    assert not any("would take" in w for w in gpu.warnings)
    small = estimate_compute(TaskSpec(labeled_examples=1000), ["sft"], cpu)
    assert not any("would take" in w for w in small.warnings)          # 1,000 rows x 512 tokens: minutes


def test_advise_warns_that_continued_pretraining_cannot_finish_on_a_small_cpu():
    rec = advise({"new_domain": True, "domain_corpus_tokens": 3_000_000_000, "hardware": "cpu 24GB"})
    assert rec.approach == "continued_pretraining"
    assert any("cannot finish there" in w for w in rec.compute.warnings)


def test_more_memory_never_moves_to_a_smaller_method():
    rank = {None: 0, "qlora": 1, "lora": 2, "full": 3}
    for params in ("0.5B", "3B", "8B", "14B", "34B", "70B"):
        for stage in ("sft", "dpo"):
            ranks = [rank[_plan(params, f"{gib}GB", stage).choice] for gib in (8, 16, 24, 48, 80, 141, 192)]
            assert ranks == sorted(ranks), (params, stage, ranks)


def test_estimates_are_the_trainers_memory_model_with_the_arithmetic_shown():
    got = _plan("1B", "H100", "sft")
    params, shape, _ = model_shape(TaskSpec(model_params="1B"))
    by_name = {m.method: m for m in got.methods}
    full = estimate_gib(params, shape, weights="bf16", lora=False, optimizer="adamw_kahan", tokens=4 * 512,
                        checkpointing=False, device_kind="cuda", fused_head=True)
    assert by_name["full"].gib == pytest.approx(full, abs=0.01)
    assert "1,000M x 10.00 B" in by_name["full"].arithmetic and "2,048 tokens" in by_name["full"].arithmetic
    # 4-bit base: 0.5625 B a weight, embeddings at 2 B, plus 1 % fp32 adapters with gradients and moments;
    # on a GPU, 16-bit activations of 60 B x hidden per token per layer with LoRA, and no full logits
    # (SFT goes through TRL's fused LM head)
    qlora = (params * 0.5625 + shape["vocab_size"] * shape["hidden_size"] * (2 - 0.5625) + 0.01 * params * 16)
    activations = 60 * shape["hidden_size"] * 2048 * shape["num_hidden_layers"]
    assert by_name["qlora"].gib == pytest.approx((qlora + activations) / 2**30, abs=0.006)     # shown to 0.01
    # DPO scores full logits: 4 fp32 copies per token come back
    dpo = {m.method: m for m in _plan("1B", "H100", "dpo").methods}["qlora"]
    logits = 4 * 4 * shape["vocab_size"] * 4096
    assert dpo.gib == pytest.approx((qlora + 60 * shape["hidden_size"] * 4096 * shape["num_hidden_layers"]
                                     + logits) / 2**30, abs=0.006)


def test_tokens_to_process_per_stage():
    spec = TaskSpec(labeled_examples=1000, sft_tokens=300_000, preference_pairs=1000, rl_prompts=1000,
                    verifiable_reward=True, max_length=256)
    stages = {s.stage: s for s in estimate_compute(spec, ["sft", "dpo", "grpo"], parse_hardware("H100")).stages}
    assert stages["sft"].tokens == 300_000                     # counted tokens win
    assert stages["dpo"].tokens == 1000 * 2 * 256              # chosen and rejected, up to max_length each
    assert stages["grpo"].tokens == 1000 * 4 * 256             # 4 samples a prompt
    assert stages["dpo"].tokens_per_step == 4 * 256 * 2 and stages["grpo"].tokens_per_step == 4 * 256 * 4
    # one pass: DPO's pair together; on a GPU a GRPO step's 16 completions at once, on a CPU 4 at a time
    assert stages["dpo"].tokens_per_pass == 4 * 256 * 2 and stages["grpo"].tokens_per_pass == 4 * 256 * 4
    on_cpu = {s.stage: s for s in estimate_compute(spec, ["grpo"], parse_hardware("cpu")).stages}["grpo"]
    assert on_cpu.tokens_per_step == 4 * 256 * 4 and on_cpu.tokens_per_pass == 4 * 256
    assert stages["sft"].flops == 6 * stages["sft"].tokens * model_shape(spec)[0]     # full: 6 N T


def test_advise_estimates_training_plans_only_and_warns_about_qlora():
    assert advise({"num_instructions": 3, "hardware": "H100"}).compute is None
    rec = advise({"target_skills": ["sql"], "labeled_examples": 5000, "model_params": "14B", "hardware": "RTX 4090"})
    assert rec.compute.stages[0].choice == "qlora"
    assert any("bitsandbytes" in w for w in rec.compute.warnings)
    assert "Compute:" in str(rec) and "qlora" in str(rec)


def test_a_stated_model_folder_gives_its_shape(tiny_dir):
    params, shape, source = model_shape(TaskSpec(model=str(tiny_dir)))
    assert source == "config.json" and shape["num_hidden_layers"] == 2 and params > 0


def test_advise_with_compute_does_not_import_torch():
    code = ("import sys; from advisor import advise; "
            "r = advise({'target_skills': ['math'], 'labeled_examples': 2000}); "
            "assert r.compute is not None; print('torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


@pytest.mark.parametrize("fields, arms", [
    ({"needs_private_knowledge": True, "labeled_examples": 3000, "target_skills": ["tone"]},
     {"base", "rag", "sft", "sft+rag"}),                              # the plan retrieves and trains
    ({"needs_private_knowledge": True}, {"base", "rag", "sft", "sft+rag"}),     # runner-up trains
    ({"new_domain": True, "domain_corpus_tokens": 5_000_000}, {"base", "rag", "cpt+sft", "cpt+sft+rag"}),
    ({"needs_live_data": True, "target_skills": ["sql"], "labeled_examples": 5000},
     {"base", "rag", "sft", "sft+rag"}),
    ({"num_instructions": 3}, None),                                   # neither retrieves
    ({"needs_live_data": True}, None),                                 # no training is plausible
    ({"target_skills": ["math"], "labeled_examples": 2000}, None),     # no retrieval is plausible
])
def test_compare_is_suggested_when_retrieval_and_training_are_both_plausible(fields, arms):
    rec = advise(fields)
    if arms is None:
        assert rec.compare is None
        return
    assert set(rec.compare.arms) == arms and "compare(" in rec.compare.code
    compile(rec.compare.code, "<suggestion>", "exec")
    assert compare_suggestion(rec.spec, rec.stages, rec.runner_up) == rec.compare


def test_lora_at_8b_is_chosen_where_its_fitted_estimate_fits():
    tight = estimate_compute(TaskSpec(model_params="8B", labeled_examples=5000), ["sft"], parse_hardware("A100 40GB"))
    roomy = estimate_compute(TaskSpec(model_params="8B", labeled_examples=5000), ["sft"], parse_hardware("H100"))
    assert tight.stages[0].choice == roomy.stages[0].choice == "lora"
    lora = {m.method: m for m in tight.stages[0].methods}["lora"]
    assert lora.gib <= tight.budget_gib and not tight.warnings

def _header_only_model(folder, params: int, shape: dict[str, int]):
    """A model folder whose config and safetensors header describe `params` parameters of `shape` (no weights:
    both memory estimates read headers and config only)."""
    import json
    import struct

    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "llama", **shape}))
    header = json.dumps({"w": {"dtype": "BF16", "shape": [params], "data_offsets": [0, 2 * params]}}).encode()
    (folder / "model.safetensors").write_bytes(struct.pack("<Q", len(header)) + header)
    return folder


@pytest.mark.parametrize("hardware", ["H100", "cpu 64GB"])
def test_advise_and_plan_give_the_same_memory_for_every_registered_method(tmp_path, hardware):
    from posttrain.device import DeviceProfile
    from posttrain.stages import stage_choices
    from posttrain.stages import get_stage, kinds

    folder = _header_only_model(tmp_path / "m", 1_000_000_000,
                                {"hidden_size": 2048, "num_hidden_layers": 16, "vocab_size": 128256})
    parsed = parse_hardware(hardware)
    device = DeviceProfile(parsed.kind, parsed.name, parsed.memory_gib if parsed.kind == "cuda" else None, parsed.bf16)
    spec = TaskSpec(model=str(folder), labeled_examples=100, preference_pairs=100, rl_prompts=100)
    referenced = set()
    for kind in kinds():
        advised = {m.method: m.gib for m in estimate_compute(spec, [kind], parsed).stages[0].methods}
        settings = get_stage(kind).settings.model_construct(max_length=spec.max_length or 512)
        for way in ("full", "lora"):
            planned = stage_choices(str(folder), settings, lora=way == "lora", device=device).estimated_gib
            assert advised[way] == pytest.approx(planned, abs=0.006), (kind, way)
            if get_stage(kind).cost.reference_copy(settings, way == "lora"):
                referenced.add(kind)
    assert {"gkd", "rloo"} <= referenced           # the teacher and the KL reference the advisor once left out
