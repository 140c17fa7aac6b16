"""Tokenisation with exact loss masks: SFT trains on assistant tokens only (end-of-turn included),
continued pre-training on every token."""

from __future__ import annotations

from typing import Any

from posttrain.data.formats import with_system
from posttrain.errors import ConfigError, Problem

IGNORE = -100


def chat_segments(messages: list[dict], tokenizer: Any) -> list[tuple[str, bool]]:
    """Split a rendered conversation into (text, trained) pieces.

    Each assistant reply is rendered as the chat template would, and the text it adds after the
    generation prompt is trained, up to and including the end-of-turn marker; everything else
    (system, user, tool turns, role headers) is masked. Works for any template that renders a
    conversation as a prefix of its continuation (ChatML, Llama 3, Gemma, ...).
    """
    pieces: list[tuple[str, bool]] = []
    done = ""
    for index, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        prefix = tokenizer.apply_chat_template(messages[:index], tokenize=False, add_generation_prompt=True)
        full = tokenizer.apply_chat_template(messages[: index + 1], tokenize=False)
        if not (prefix.startswith(done) and full.startswith(prefix)):
            raise ConfigError(Problem("chat template", "does not render a conversation as a prefix of its "
                                      "continuation, so assistant turns cannot be masked exactly",
                                      "use prompt/completion rows, or a model with a ChatML-like template"))
        reply = full[len(prefix):]
        trained = reply.rstrip()       # the newline after end-of-turn is layout, not part of the answer
        pieces += [(prefix[len(done):], False), (trained, True)]
        done = prefix + trained
    return pieces


def tokenize_chat(messages: list[dict], tokenizer: Any, max_length: int) -> dict[str, list[int]]:
    """`input_ids` and `labels` (-100 on masked tokens) for one conversation, cut to max_length."""
    if getattr(tokenizer, "chat_template", None):
        pieces = chat_segments(messages, tokenizer)
    else:
        pieces = _plain_segments(messages, tokenizer)
    input_ids: list[int] = []
    labels: list[int] = []
    for text, trained in pieces:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"] if text else []
        input_ids += ids
        labels += ids if trained else [IGNORE] * len(ids)
    return {"input_ids": input_ids[:max_length], "labels": labels[:max_length]}


def _plain_segments(messages: list[dict], tokenizer: Any) -> list[tuple[str, bool]]:
    """Models without a chat template: prompt text then answer text closed by eos."""
    pieces = []
    for message in messages:
        if message["role"] == "assistant":
            pieces.append((message["content"] + (tokenizer.eos_token or ""), True))
        else:
            pieces.append((message["content"] + "\n", False))
    return pieces


def row_messages(row: dict, system: str | None = None) -> list[dict]:
    """One SFT row (messages, or prompt/completion in string or message form) as a conversation."""
    if "messages" in row:
        messages = list(row["messages"])
    else:
        prompt = row["prompt"] if isinstance(row["prompt"], list) else [{"role": "user", "content": row["prompt"]}]
        completion = row["completion"]
        if not isinstance(completion, list):
            completion = [{"role": "assistant", "content": completion}]
        messages = list(prompt) + list(completion)
    return with_system(messages, system)


def tokenize_text(text: str, tokenizer: Any, max_length: int) -> list[dict[str, list[int]]]:
    """Raw text closed by eos, split into blocks of at most max_length tokens (nothing dropped)."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    if tokenizer.eos_token_id is not None:
        ids.append(tokenizer.eos_token_id)
    blocks = [ids[start:start + max_length] for start in range(0, len(ids), max_length)]
    return [{"input_ids": block, "labels": list(block)} for block in blocks if len(block) > 1]
