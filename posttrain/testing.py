"""Helpers for testing code that uses posttrain: a tiny random model with the real tokenizer.

Not for training anything real: the weights are random. Tests and docstring examples use it because it
loads in a fraction of a second and runs the same code paths as the real model.

>>> from posttrain.testing import tiny_model
>>> model, tokenizer = tiny_model()
>>> model.config.num_hidden_layers
2
"""

from __future__ import annotations

from typing import Any

from posttrain.models import DEFAULT_MODEL, fix_tokenizer, load_tokenizer


def tiny_model(num_layers: int = 2, hidden_size: int = 64, seed: int = 0, tokenizer: Any = None):
    """A randomly initialised Llama-style model with the default model's real tokenizer and chat
    template: fast enough for unit tests, same code paths as the real thing."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = tokenizer or load_tokenizer(DEFAULT_MODEL)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=hidden_size, num_hidden_layers=num_layers,
                         num_attention_heads=4, num_key_value_heads=2, intermediate_size=hidden_size * 2,
                         max_position_embeddings=1024, tie_word_embeddings=True,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    fix_tokenizer(model, tokenizer)
    return model.eval(), tokenizer
