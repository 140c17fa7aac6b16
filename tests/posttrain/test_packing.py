"""Padding-free batches: rows packed into one sequence attend only to themselves, so each row's loss
(and the gradients) are those of the padded batch; the device defaults choose them on CPU."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")


def _rows(lengths, seed=0):
    generator = torch.Generator().manual_seed(seed)
    rows = []
    for n in lengths:
        ids = torch.randint(5, 2000, (n,), generator=generator).tolist()
        rows.append({"input_ids": ids, "labels": [-100] * 3 + ids[3:]})
    return rows


def _row_losses(logits, labels):
    losses = []
    for row_logits, row_labels in zip(logits, labels):
        target, scores = row_labels[1:], torch.log_softmax(row_logits[:-1].float(), -1)
        kept = target != -100
        losses.append(-scores[kept].gather(-1, target[kept][:, None]).sum())
    return losses


def test_a_packed_batch_gives_each_row_the_loss_and_gradients_of_the_padded_batch():
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    from posttrain.packing import ATTENTION, use_varlen_attention
    from posttrain.testing import tiny_model

    model, tokenizer = tiny_model(seed=3)
    rows = _rows((7, 23, 12, 5))
    padded = DataCollatorForLanguageModeling(pad_token_id=tokenizer.pad_token_id)(rows)
    packed = DataCollatorForLanguageModeling(pad_token_id=tokenizer.pad_token_id, padding_free=True)(rows)
    assert packed["input_ids"].shape == (1, sum(len(r["input_ids"]) for r in rows))       # no padding at all

    reference = _row_losses(model(input_ids=padded["input_ids"], attention_mask=padded["attention_mask"]).logits,
                            padded["labels"])
    sum(reference).backward()
    padded_grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()

    assert use_varlen_attention(model) and model.config._attn_implementation == ATTENTION
    logits = model(**{k: v for k, v in packed.items() if k != "labels"}).logits
    edges = packed["cu_seq_lens_q"].tolist()
    losses = [_row_losses(logits[:, a:b], packed["labels"][:, a:b])[0] for a, b in zip(edges[:-1], edges[1:])]
    sum(losses).backward()
    for ours, theirs in zip(losses, reference):
        assert ours.item() == pytest.approx(theirs.item(), rel=1e-5, abs=1e-4)
    for ours, theirs in zip((p.grad for p in model.parameters()), padded_grads):
        torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5)


def test_the_row_by_row_attention_keeps_rows_apart_and_is_causal_within_each():
    from posttrain.packing import varlen_attention

    class Module(torch.nn.Module):
        num_key_value_groups = 2

    generator = torch.Generator().manual_seed(1)
    q = torch.randn(1, 4, 10, 8, generator=generator)
    k, v = torch.randn(1, 2, 10, 8, generator=generator), torch.randn(1, 2, 10, 8, generator=generator)
    bounds = torch.tensor([0, 4, 10], dtype=torch.int32)
    out, _ = varlen_attention(Module(), q, k, v, None, cu_seq_lens_q=bounds)
    for a, b in ((0, 4), (4, 10)):
        alone = torch.nn.functional.scaled_dot_product_attention(q[:, :, a:b], k[:, :, a:b], v[:, :, a:b],
                                                                 is_causal=True, enable_gqa=True)
        torch.testing.assert_close(out[:, a:b], alone.transpose(1, 2))
    whole = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
    assert not torch.allclose(out[:, 4:], whole.transpose(1, 2)[:, 4:], atol=1e-3)     # the second row sees only itself


def test_padding_free_batches_are_a_cpu_default_for_sft_type_stages_and_can_be_turned_off():
    from posttrain.device import DeviceProfile, choose

    cpu, gpu = DeviceProfile("cpu", "CPU", None, True), DeviceProfile("cuda", "H100", 80.0, True)
    assert choose(cpu, 135_000_000, lora=False, packable=True).padding_free
    assert "padding-free batches" in choose(cpu, 135_000_000, lora=False, packable=True).describe()
    assert not choose(cpu, 135_000_000, lora=False).padding_free                      # DPO, GRPO: not packable
    assert not choose(gpu, 135_000_000, lora=False, packable=True).padding_free       # not measured there yet
    assert not choose(cpu, 135_000_000, lora=False, packable=True, padding_free=False).padding_free
    assert choose(gpu, 135_000_000, lora=False, packable=True, padding_free=True).padding_free


def test_an_sft_stage_trains_padding_free_on_cpu_and_says_so_in_its_plan(tiny_dir, tmp_path):
    from posttrain import Trainer

    rows = [{"prompt": "Say the colour of the sky.", "completion": "Blue." * (1 + i % 4)} for i in range(8)]
    trainer = Trainer(str(tiny_dir), output_dir=tmp_path / "packed").sft(rows, max_steps=4, batch_size=4,
                                                                        learning_rate=5e-3)
    assert "padding-free batches" in str(trainer.plan())
    run = trainer.run(progress=False)
    losses = [entry["loss"] for entry in run.stages[0].history if "loss" in entry]
    assert losses[-1] < losses[0]
    padded = Trainer(str(tiny_dir), output_dir=tmp_path / "padded").sft(rows, max_steps=1, batch_size=4,
                                                                        padding_free=False)
    assert "padding-free batches" not in str(padded.plan())


def test_the_fused_head_on_labelled_positions_in_narrow_tiles_gives_the_full_logits_loss_and_gradients(tiny):
    """What SFT trains with on CPU (`labelled_positions_only` with the device's vocabulary tile): TRL's fused
    head scoring only the labelled positions, in tiles narrower than the vocabulary, against the model's own
    full logits and cross entropy."""
    import copy

    from trl.trainer import add_fused_lm_head

    from posttrain.stages.trl_hooks import labelled_positions_only

    model, _ = tiny
    plain, fused = copy.deepcopy(model).float(), copy.deepcopy(model).float()
    add_fused_lm_head(fused, outputs=("log_probs", "entropy", "is_top1"))
    ids = torch.randint(5, plain.config.vocab_size, (2, 24), generator=torch.Generator().manual_seed(0))
    labels = ids.clone()
    labels[0, :10], labels[1, :17] = -100, -100                 # prompts: no loss there
    logits = plain(input_ids=ids).logits[:, :-1]
    target = labels[:, 1:]
    expected = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1))
    expected.backward()
    tile = max(8, plain.config.vocab_size // 5)                # several tiles, the last one narrower
    with labelled_positions_only(tile) as active:
        out = fused(input_ids=ids, labels=labels, fused_lm_head=True)
    assert active
    out.loss.backward()
    assert torch.allclose(out.loss, expected, rtol=1e-5)
    kept = target != -100
    assert torch.equal(out.is_top1[kept].bool(), (logits.argmax(-1) == target)[kept])
    for (name, a), b in zip(plain.named_parameters(), fused.parameters()):
        assert torch.allclose(a.grad, b.grad, rtol=1e-4, atol=1e-6), name
