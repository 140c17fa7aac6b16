"""Leaner activations on CPU (`posttrain.lean`): the swapped RMSNorm and SwiGLU give the model's own
loss and gradients, in fp32 and under bf16 autocast, and keep fewer tensors for the backward pass."""

from __future__ import annotations

import copy

import pytest

torch = pytest.importorskip("torch")


def _loss_and_grads(model, ids, autocast):
    model.zero_grad(set_to_none=True)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        loss = model(input_ids=ids, labels=ids).loss
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}


def _saved_bytes(model, ids):
    total = [0]

    def pack(tensor):
        total[0] += tensor.numel() * tensor.element_size()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), torch.autocast("cpu", dtype=torch.bfloat16):
        model.model(input_ids=ids).last_hidden_state.sum()        # the decoder layers, not the LM head
    return total[0]


@pytest.mark.parametrize("autocast", [False, True])
def test_lean_layers_give_the_models_loss_and_gradients(tiny, autocast):
    from posttrain.lean import lean_layers

    model, _ = tiny
    plain = copy.deepcopy(model).float().train()
    lean = copy.deepcopy(plain)
    layers = plain.config.num_hidden_layers
    assert lean_layers(lean) == 2 * layers + 1 + layers          # two norms a layer, the final norm, one MLP a layer
    ids = torch.randint(5, plain.config.vocab_size, (2, 40), generator=torch.Generator().manual_seed(0))
    loss, grads = _loss_and_grads(plain, ids, autocast)
    lean_loss, lean_grads = _loss_and_grads(lean, ids, autocast)
    tolerance = 1e-5 if not autocast else 2e-3
    assert torch.allclose(loss, lean_loss, rtol=tolerance)
    for name, grad in grads.items():
        scale = grad.abs().max().clamp(min=1e-12)
        assert ((grad - lean_grads[name]).abs().max() / scale) < (1e-4 if not autocast else 2e-2), name
    assert _saved_bytes(lean, ids) < 0.85 * _saved_bytes(plain, ids)


def test_lean_layers_and_narrow_head_tiles_are_cpu_defaults_shown_in_the_plan():
    from posttrain.device import CPU_HEAD_TILE, DeviceProfile, choose

    cpu, gpu = DeviceProfile("cpu", "CPU", None, True), DeviceProfile("cuda", "H100", 80.0, True)
    on_cpu = choose(cpu, 135_000_000, lora=False, fused_head=True)
    assert on_cpu.lean_layers and on_cpu.head_tile == CPU_HEAD_TILE
    assert "lean norm and MLP activations" in on_cpu.describe() and "vocabulary tiles" in on_cpu.describe()
    on_gpu = choose(gpu, 135_000_000, lora=False, fused_head=True)
    assert not on_gpu.lean_layers and on_gpu.head_tile is None           # bf16 weights; TRL's tiles


def test_lean_layers_are_a_cpu_default_shown_in_the_plan_and_a_stage_setting_turns_them_off():
    from posttrain import Trainer
    from posttrain.device import DeviceProfile, choose

    cpu, gpu = DeviceProfile("cpu", "CPU", None, True), DeviceProfile("cuda", "H100", 80.0, True)
    assert choose(cpu, 135_000_000, lora=False).lean_layers
    assert not choose(cpu, 135_000_000, lora=False, weights="bf16").lean_layers    # fp32 weights only
    assert not choose(gpu, 135_000_000, lora=False).lean_layers
    off = choose(cpu, 135_000_000, lora=False, lean_layers=False)
    assert not off.lean_layers and "lean norm and MLP activations off" in " ".join(off.reasons)
    rows = [{"prompt": "Say hi.", "completion": "Hi."}] * 4
    assert "lean norm and MLP activations" in str(Trainer("default").sft(rows, max_steps=1).plan())
    plan = str(Trainer("default").sft(rows, max_steps=1, lean_layers=False).plan())
    assert "lean norm and MLP activations" not in plan        # on by default on this CPU (above), off as asked
