"""GRPO's and RLOO's sampling on CPU through posttrain's decoder (`sample_token_ids`): answers leave the
batch when they end, and the tokens are drawn as TRL's `model.generate` draws them (temperature, top-p,
stop tokens kept, length cap)."""

from __future__ import annotations

import contextlib

import pytest

torch = pytest.importorskip("torch")


def _prompts(tokenizer, texts, copies):
    from posttrain.generation import render_prompt

    ids = [tokenizer(render_prompt(tokenizer, t), add_special_tokens=False)["input_ids"] for t in texts]
    return [row for row in ids for _ in range(copies)]


def test_the_nucleus_distribution_is_transformers_temperature_and_top_p():
    from transformers.generation.logits_process import TemperatureLogitsWarper, TopPLogitsWarper

    from posttrain.generation import nucleus_probs

    logits = torch.randn(6, 500, generator=torch.Generator().manual_seed(0)) * 3
    for temperature, top_p in ((1.0, 1.0), (0.7, 0.9), (1.3, 0.5), (0.5, 0.05)):
        theirs = TopPLogitsWarper(top_p)(None, TemperatureLogitsWarper(temperature)(None, logits.clone()))
        expected = torch.softmax(theirs, -1)
        ours = nucleus_probs(logits, temperature, top_p)
        torch.testing.assert_close(ours / ours.sum(-1, keepdim=True), expected, rtol=1e-5, atol=1e-6)


def test_sampled_ids_keep_the_stop_token_respect_the_cap_and_repeat_with_the_seed(tiny):
    from posttrain.generation import sample_token_ids
    from posttrain.models import stop_token_ids

    model, tokenizer = tiny
    prompts = _prompts(tokenizer, ["Hi", "Tell me a story about a cat."], copies=3)
    stops = stop_token_ids(tokenizer)
    # the tiny model's greedy continuation of "Hi" hits no stop token quickly; make one likely instead
    def run(seed, cap=6):
        return sample_token_ids(model, prompts, max_new_tokens=cap, temperature=1.0, top_p=1.0, stops=stops,
                                pad_token_id=tokenizer.pad_token_id, generator=torch.Generator().manual_seed(seed),
                                copies=3)
    first = run(0)
    assert len(first) == 6 and all(1 <= len(ids) <= 6 for ids in first)
    assert run(0) == first and run(1) != first
    for ids in first:       # a stop token ends an answer and is kept; none before the end
        assert not any(t in stops for t in ids[:-1])
    forced = sample_token_ids(model, prompts, max_new_tokens=5, temperature=1.0, top_p=1.0,
                              stops=list(range(len(tokenizer))), pad_token_id=tokenizer.pad_token_id,
                              generator=torch.Generator().manual_seed(0), copies=3)
    assert all(len(ids) == 1 for ids in forced)      # every token stops: each answer is its stop token alone


def test_a_tiny_top_p_samples_the_greedy_tokens_of_model_generate(tiny):
    from posttrain.generation import sample_token_ids

    model, tokenizer = tiny
    prompts = _prompts(tokenizer, ["What is 2 + 2?", "Hi"], copies=2)
    width = max(len(p) for p in prompts)
    padded = torch.tensor([[tokenizer.pad_token_id] * (width - len(p)) + p for p in prompts])
    mask = (torch.arange(width)[None] >= torch.tensor([width - len(p) for p in prompts])[:, None]).long()
    greedy = model.generate(input_ids=padded, attention_mask=mask, max_new_tokens=8, do_sample=False,
                            pad_token_id=tokenizer.pad_token_id, eos_token_id=[tokenizer.eos_token_id])[:, width:]
    ours = sample_token_ids(model, prompts, max_new_tokens=8, temperature=1.0, top_p=1e-9,
                            stops=[tokenizer.eos_token_id], pad_token_id=tokenizer.pad_token_id,
                            generator=torch.Generator().manual_seed(0), copies=2)
    for row, ids in zip(greedy.tolist(), ours):
        assert ids == row[:len(ids)] and (len(ids) == 8 or ids[-1] == tokenizer.eos_token_id)


def test_finished_answers_leave_the_batch(tiny, monkeypatch):
    import posttrain.generation as generation

    model, tokenizer = tiny
    prompts = _prompts(tokenizer, ["Hi", "What is 2 + 2?"], copies=2)
    rows, real = [], generation.forward
    monkeypatch.setattr(generation, "forward", lambda m, ids, *a, **kw: rows.append(ids.shape[0]) or
                        real(m, ids, *a, **kw))
    # a stop set that ends about half the answers at each step
    stops = list(range(0, len(tokenizer), 2))
    out = generation.sample_token_ids(model, prompts, max_new_tokens=12, temperature=1.0, top_p=1.0, stops=stops,
                                      pad_token_id=tokenizer.pad_token_id,
                                      generator=torch.Generator().manual_seed(3), copies=2)
    assert min(len(ids) for ids in out) < max(len(ids) for ids in out)
    decoding = rows[2:]                                 # after the prefix and the prompts' pass
    assert decoding == sorted(decoding, reverse=True) and decoding[-1] < len(prompts)


def test_grpo_samples_through_the_decoder_on_cpu_only_for_plain_sampling():
    from transformers import GenerationConfig

    from posttrain.stages.grpo import plain_sampling

    plain = GenerationConfig(max_new_tokens=8, do_sample=True, temperature=0.9, top_p=0.95, top_k=0, pad_token_id=0,
                             eos_token_id=[2])
    assert plain_sampling(plain)
    assert not plain_sampling(GenerationConfig(max_new_tokens=8, do_sample=True, top_k=50))
    assert not plain_sampling(GenerationConfig(max_new_tokens=8, do_sample=True, repetition_penalty=1.2, top_k=0))
    assert not plain_sampling(GenerationConfig(max_new_tokens=8, do_sample=True, top_k=0, no_repeat_ngram_size=3))


def test_packed_bf16_linears_decode_the_tokens_of_the_plain_ones(tiny, monkeypatch):
    """With bf16 weights on the CPU the decoder multiplies through weights packed once for oneDNN
    (`packed_linears`): the same tokens as `F.linear` gives, greedy and sampled with the same seed (the
    logits are the same to the bit), with rows leaving the batch at different steps; the layers are
    put back afterwards."""
    import contextlib

    import posttrain.generation as generation

    from posttrain.device import cpu_has_native_bf16

    if generation._bf16_packer() is None:       # where the CPU multiplies bf16 natively the packing must work
        assert not cpu_has_native_bf16(), "torch's oneDNN linear ops are gone or no longer give F.linear's bits"
        pytest.skip("this CPU does not multiply bf16 natively")
    model, tokenizer = tiny
    prompts = _prompts(tokenizer, ["Hi", "What is 2 + 2?", "Tell me a story about a cat."], copies=3)
    stops = list(range(0, len(tokenizer), 5))              # about a fifth of the answers end at each step
    packed = []
    real = generation.packed_linears

    @contextlib.contextmanager
    def spy(m, rows):
        with real(m, rows):
            packed.append(sum("forward" in vars(layer) for layer in m.modules()))
            yield

    def run(top_p):
        with generation.bf16_weights(model):
            return generation.sample_token_ids(model, prompts, max_new_tokens=12, temperature=1.0, top_p=top_p,
                                               stops=stops, pad_token_id=tokenizer.pad_token_id,
                                               generator=torch.Generator().manual_seed(7), copies=3)

    monkeypatch.setattr(generation, "packed_linears", spy)
    ours = [run(1e-9), run(1.0)]
    linears = sum(type(layer) is torch.nn.Linear for layer in model.modules())
    assert packed == [linears, linears] and not any("forward" in vars(layer) for layer in model.modules())
    monkeypatch.setattr(generation, "packed_linears", lambda m, rows: contextlib.nullcontext())
    assert [run(1e-9), run(1.0)] == ours
    assert len({len(ids) for ids in ours[1]}) > 1                  # rows left the batch at different steps
    with generation.packed_linears(model, 4):                      # fp32 layers are not packed
        assert not any("forward" in vars(layer) for layer in model.modules())
    with torch.inference_mode(), generation.bf16_weights(model):     # the logits themselves, to the bit
        ids = torch.tensor(prompts[:3])
        plain = model(input_ids=ids).logits
        with generation.packed_linears(model, 3):
            assert torch.equal(model(input_ids=ids).logits, plain)


def test_a_sampled_eval_packs_its_weights_once_for_all_its_batches(tiny, monkeypatch):
    """`generate_samples` over several batches packs each bf16 weight once (packing reads every weight),
    and its answers are those of a call whose batches each packed for themselves."""
    import posttrain.generation as generation

    if generation._bf16_packer() is None:
        pytest.skip("torch's oneDNN linear ops are missing or do not give F.linear's bits here")
    model, tokenizer = tiny
    pack, linear = generation._bf16_packer()
    packs: list[int] = []

    def counting(weight, rows):
        packs.append(weight.data_ptr())
        return pack(weight, rows)

    monkeypatch.setattr(generation, "_bf16_packer", lambda: (counting, linear))
    prompts = ["Hi", "What is 2 + 2?", "Name a colour.", "Tell me a story about a cat.", "Count to three."]
    once = generation.generate_samples(model, tokenizer, prompts, 2, max_new_tokens=6, batch_size=2,
                                       precision="bf16", seed=3)
    weights = len({id(layer.weight) for layer in model.modules() if type(layer) is torch.nn.Linear})
    assert len(packs) == weights == len(set(packs))                  # 5 batches (one prompt x 2 each), one packing
    packs.clear()
    real = generation.packed_linears
    monkeypatch.setattr(generation, "packed_linears", lambda m, rows: contextlib.nullcontext())
    monkeypatch.setattr(generation, "_decode", lambda *a, _d=generation._decode, **k: _per_batch(real, _d, *a, **k))
    assert generation.generate_samples(model, tokenizer, prompts, 2, max_new_tokens=6, batch_size=2,
                                       precision="bf16", seed=3) == once
    assert len(packs) == len(prompts) * weights                      # packed again for each batch


def _per_batch(real, decode, model, *args, **kwargs):
    with real(model, 2):
        return decode(model, *args, **kwargs)
