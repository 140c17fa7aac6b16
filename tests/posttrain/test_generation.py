"""The shared batched generator."""

from __future__ import annotations

from posttrain.generation import generate, render_prompt

PROMPTS = ["What is the capital of France?", "Name a primary colour.", "What is 2+2?",
           [{"role": "system", "content": "Answer in one word."}, {"role": "user", "content": "Opposite of hot?"}]]


def test_default_model_answers_paris(default_model):
    model, tokenizer = default_model
    answer = generate(model, tokenizer, "What is the capital of France?", max_new_tokens=24)[0]
    assert "Paris" in answer
    assert "<|im_end|>" not in answer and "user" not in answer.lower()   # stopped at end of turn


def test_batched_equals_one_by_one_for_greedy(default_model):
    model, tokenizer = default_model
    batched = generate(model, tokenizer, PROMPTS, max_new_tokens=20, batch_size=4)
    single = [generate(model, tokenizer, p, max_new_tokens=20)[0] for p in PROMPTS]
    assert batched == single
    assert tokenizer.padding_side == "right"        # left padding was only for generation


def test_returns_only_new_text_in_caller_order(tiny):
    model, tokenizer = tiny
    prompts = ["a " * 30, "b", "c " * 10]
    outputs = generate(model, tokenizer, prompts, max_new_tokens=5, batch_size=2)
    assert len(outputs) == 3
    for prompt, output in zip(prompts, outputs):
        assert prompt.strip() not in output


def test_chat_template_and_system_prompt(tiny):
    _, tokenizer = tiny
    text = render_prompt(tokenizer, "Hi", system="Be brief.")
    assert text.startswith("<|im_start|>system\nBe brief.<|im_end|>")
    assert text.endswith("<|im_start|>assistant\n")
    assert render_prompt(tokenizer, "Hi", chat=False) == "Hi"


def test_no_repeat_ngram_rules_out_loops_greedy_and_sampled(default_model):
    from posttrain.evals.base import looping

    model, tokenizer = default_model
    prompt = "Write the word cat ten times."
    assert looping(generate(model, tokenizer, prompt, max_new_tokens=30)[0])      # "Cat,\nCat,\nCat,..."
    for temperature in (0.0, 1.0):
        for seed in range(3):
            text = generate(model, tokenizer, prompt, max_new_tokens=30, no_repeat_ngram=2,
                            temperature=temperature, seed=seed)[0]
            assert not looping(text), text


def test_no_repeat_ngram_only_looks_at_the_answer():
    from posttrain.generation import repeat_completions

    assert repeat_completions([1, 2, 3, 1, 2], 3) == {3}
    assert repeat_completions([1, 2, 3], 3) == set()                   # nothing said twice yet
    assert repeat_completions([4, 4], 1) == {4}


def test_no_repeat_ngram_is_checked(tiny):
    import pytest

    from posttrain.errors import ConfigError

    model, tokenizer = tiny
    with pytest.raises(ConfigError, match="no_repeat_ngram"):
        generate(model, tokenizer, "Hi", max_new_tokens=2, no_repeat_ngram=-1)
