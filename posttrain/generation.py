"""One batched generator for everything that generates: evals, RAG answers, demos.

>>> from posttrain import load_model, generate
>>> model, tokenizer = load_model("default")
>>> generate(model, tokenizer, ["What is the capital of France?"], max_new_tokens=20)
['The capital of France is Paris.']
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

Prompt = str | list[dict]


def render_prompt(tokenizer: Any, prompt: Prompt, system: str | None = None, chat: bool | None = None) -> str:
    """The text the model sees for one prompt: its chat template with the assistant turn opened.

    A string prompt becomes one user message; `system`, when given, is put first unless the
    messages already start with a system message. Without a chat template the text is used raw.
    """
    use_chat = bool(getattr(tokenizer, "chat_template", None)) if chat is None else chat
    if not use_chat:
        if isinstance(prompt, str):
            return prompt
        return "\n".join(message["content"] for message in prompt)
    messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)
    if system and messages[0].get("role") != "system":
        messages.insert(0, {"role": "system", "content": system})
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def generate(model: Any, tokenizer: Any, prompts: Sequence[Prompt] | Prompt, *, max_new_tokens: int = 256,
             temperature: float = 0.0, top_p: float = 1.0, batch_size: int = 16, system: str | None = None,
             chat: bool | None = None, seed: int | None = None) -> list[str]:
    """Generate one answer per prompt; only the new text is returned, end-of-turn stripped.

    Prompts are strings or chat message lists. They are sorted by length and generated in batches
    (left padding, KV cache, `inference_mode`), then returned in the caller's order. Greedy by
    default (`temperature=0`); generation stops at the end of turn.
    """
    import torch

    from posttrain.models import stop_token_ids

    single = isinstance(prompts, str) or (isinstance(prompts, list) and prompts and isinstance(prompts[0], dict))
    items = [prompts] if single else list(prompts)
    texts = [render_prompt(tokenizer, p, system, chat) for p in items]
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
    outputs: list[str] = [""] * len(texts)
    if seed is not None:
        torch.manual_seed(seed)
    options = _sampling_options(temperature, top_p, tokenizer, max_new_tokens)
    with torch.inference_mode(), _left_padding(tokenizer):
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            batch = tokenizer([texts[i] for i in chunk], return_tensors="pt", padding=True,
                              add_special_tokens=False).to(model.device)
            tokens = model.generate(**batch, **options, eos_token_id=stop_token_ids(tokenizer))
            new = tokens[:, batch["input_ids"].shape[1]:]
            for index, text in zip(chunk, tokenizer.batch_decode(new, skip_special_tokens=True)):
                outputs[index] = text.strip()
    return outputs[0:1] if single else outputs


def _sampling_options(temperature: float, top_p: float, tokenizer: Any, max_new_tokens: int) -> dict:
    options: dict = {"max_new_tokens": max_new_tokens, "pad_token_id": tokenizer.pad_token_id,
                     "use_cache": True}
    if temperature > 0:
        options.update(do_sample=True, temperature=temperature, top_p=top_p)
    else:
        options.update(do_sample=False, temperature=None, top_p=None, top_k=None)
    return options


class _left_padding:
    """Pad on the left while generating (the new tokens must follow the prompt directly)."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer, self.side = tokenizer, tokenizer.padding_side

    def __enter__(self) -> None:
        self.tokenizer.padding_side = "left"

    def __exit__(self, *exc: object) -> None:
        self.tokenizer.padding_side = self.side
