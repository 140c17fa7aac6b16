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


def tool_caller(folder: Any, replies: list[str], tools: list[Any], prompt: str = "ping", steps: int = 80,
                lr: float = 1e-2,
                seed: int = 1) -> Any:
    """The tiny model taught to answer `prompt` with each of `replies` equally often (tool calls written as
    the `chatml-tools` template writes them), saved with that template in `folder`: a model that calls
    tools in multi-turn tests. Plain next-token training on the replies' tokens, summed so that each reply
    weighs the same whatever its length. Returns `folder`."""
    import torch

    from posttrain.data.templates import CHATML_TOOLS

    model, tokenizer = tiny_model(seed=seed)
    tokenizer.chat_template = CHATML_TOOLS
    text = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tools=tools, tokenize=False,
                                         add_generation_prompt=True)
    prompt_ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    batch = []
    for reply in replies:
        ids = tokenizer(reply + "<|im_end|>", add_special_tokens=False)["input_ids"]
        batch.append((torch.tensor([prompt_ids + ids]), torch.tensor(ids), len(prompt_ids)))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    torch.manual_seed(seed)
    model.train()
    for _ in range(steps):
        loss = torch.stack([torch.nn.functional.cross_entropy(model(input_ids=x).logits[0, start - 1:-1], y,
                                                              reduction="sum") for x, y, start in batch]).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.train(False)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
