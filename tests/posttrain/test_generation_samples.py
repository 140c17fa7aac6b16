"""`generate_samples`: k sampled answers per prompt through the batched greedy path (each prompt read
once, its cache copied for its answers), seeded, with temperature and nucleus sampling."""

from __future__ import annotations

import pytest

from posttrain.errors import ConfigError
from posttrain.generation import _sampler, generate, generate_samples

PROMPTS = ["Tell me a story about a cat.", "Hi", "What is 2 + 2?"]


def test_samples_come_k_per_prompt_in_order_and_the_seed_fixes_them(tiny):
    model, tokenizer = tiny
    first = generate_samples(model, tokenizer, PROMPTS, 4, temperature=1.0, max_new_tokens=8, batch_size=5, seed=0)
    assert [len(answers) for answers in first] == [4, 4, 4]
    assert generate_samples(model, tokenizer, PROMPTS, 4, temperature=1.0, max_new_tokens=8, batch_size=5,
                            seed=0) == first
    other = generate_samples(model, tokenizer, PROMPTS, 4, temperature=1.0, max_new_tokens=8, batch_size=5, seed=1)
    assert other != first
    assert len({a for answers in first for a in answers}) > 3          # the k answers differ


def test_near_zero_temperature_samples_are_the_greedy_answers(tiny):
    model, tokenizer = tiny
    greedy = generate(model, tokenizer, PROMPTS, max_new_tokens=10)
    cold = generate_samples(model, tokenizer, PROMPTS, 3, temperature=1e-6, max_new_tokens=10, batch_size=4)
    assert cold == [[answer] * 3 for answer in greedy]


def test_each_prompt_goes_through_the_model_once_for_all_its_samples(tiny, monkeypatch):
    import posttrain.generation as generation

    model, tokenizer = tiny
    shapes, real = [], generation.forward
    monkeypatch.setattr(generation, "forward", lambda m, ids, *a, **kw: shapes.append(tuple(ids.shape)) or
                        real(m, ids, *a, **kw))
    generate_samples(model, tokenizer, PROMPTS, 4, temperature=1.0, max_new_tokens=3, batch_size=12)
    prefill = [s for s in shapes[1:] if s[1] > 1]                 # after the shared prefix: multi-token passes
    assert prefill and all(rows == len(PROMPTS) for rows, _ in prefill)
    assert max(rows for rows, width in shapes if width == 1) == len(PROMPTS) * 4


def test_the_stop_rule_sees_each_answers_prompt_index(tiny):
    model, tokenizer = tiny
    calls: list[int] = []
    generate_samples(model, tokenizer, PROMPTS, 2, temperature=1.0, max_new_tokens=6, batch_size=2,
                     stop=lambda index, text: calls.append(index) or index == 1)
    assert calls.count(1) == 2                      # each of prompt 1's two answers stops after its first token
    assert calls.count(0) == calls.count(2) == 2 * 5           # the others run to max_new_tokens


def test_top_p_keeps_only_the_nucleus():
    import math

    import torch

    logits = torch.tensor([[0.0, math.log(3.0), -1e9]] * 200)        # p = 0.25, 0.75, 0
    generator = torch.Generator().manual_seed(0)
    assert set(_sampler(1.0, 0.5, generator)(logits).tolist()) == {1}
    drawn = _sampler(1.0, 1.0, generator)(logits).tolist()
    assert set(drawn) == {0, 1} and 30 < drawn.count(0) < 70           # about a quarter of 200


def test_the_two_stage_draw_draws_each_token_with_its_probability():
    """A block by its total, then a token within it: the frequencies of 40,000 draws match the probabilities,
    across block edges and a vocabulary that is not a whole number of blocks, as one multinomial's do."""
    import torch

    from posttrain.generation import DRAW_BLOCK, draw

    vocab, picked = 2 * DRAW_BLOCK + 88, [3, DRAW_BLOCK - 1, DRAW_BLOCK, 2 * DRAW_BLOCK - 1, 2 * DRAW_BLOCK + 87]
    probs = torch.zeros(vocab)
    probs[picked] = torch.tensor([0.1, 0.2, 0.3, 0.15, 0.25])
    tokens = draw(probs.expand(40_000, vocab).contiguous(), torch.Generator().manual_seed(0))
    counts = torch.bincount(tokens, minlength=vocab).double()
    assert set(tokens.tolist()) == set(picked)                             # never a token of probability 0
    expected = probs.double() * 40_000
    assert torch.all((counts - expected).abs()[picked] < 4 * (expected[picked] * (1 - probs[picked])).sqrt())
    dense = torch.softmax(torch.randn(vocab, generator=torch.Generator().manual_seed(1)) * 3, -1)
    drawn = torch.bincount(draw(dense.expand(40_000, vocab).contiguous(), torch.Generator().manual_seed(2)),
                           minlength=vocab).double() / 40_000
    assert (drawn - dense.double()).abs().sum() < 0.1                     # total variation within sampling noise


@pytest.mark.parametrize("k, temperature, top_p", [(0, 1.0, 1.0), (2, 0.0, 1.0), (2, 1.0, 0.0)])
def test_bad_sampling_options_are_refused(tiny, k, temperature, top_p):
    model, tokenizer = tiny
    with pytest.raises(ConfigError):
        generate_samples(model, tokenizer, PROMPTS, k, temperature=temperature, top_p=top_p)
