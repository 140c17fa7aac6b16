"""Tokenisation with exact loss masks: SFT trains on assistant tokens only (end-of-turn included;
tool-call turns are assistant turns), never on system, user or tool-result turns; continued
pre-training on every token."""

from __future__ import annotations

from typing import TYPE_CHECKING

from posttrain.data.formats import has_tool_calls, with_system
from posttrain.data.templates import HOW_TO_PASS
from posttrain.errors import ConfigError, Problem

if TYPE_CHECKING:
    from posttrain.types import Tokenizer

IGNORE = -100


def chat_segments(messages: list[dict], tokenizer: Tokenizer, tools: list[dict] | None = None) -> list[tuple[str, bool]]:
    """Split a rendered conversation into (text, trained) pieces.

    Each assistant reply (its text and its tool calls) is rendered as the chat template would, with
    the row's `tools`, and the text it adds after the generation prompt is trained, up to and
    including the end-of-turn marker; everything else (system, user, tool results, role headers,
    tool definitions) is masked, as is an assistant turn with `weight: 0`. Works for any template
    that renders a conversation as a prefix of its continuation (ChatML, Llama 3, Gemma, ...).
    """
    pieces: list[tuple[str, bool]] = []
    done = ""
    tools = tools or None
    for index, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        prefix = _render(tokenizer, messages[:index], tools, add_generation_prompt=True)
        full = _render(tokenizer, messages[: index + 1], tools)
        if not (prefix.startswith(done) and full.startswith(prefix)):
            raise ConfigError(Problem("chat template", "does not render a conversation as a prefix of its "
                                      "continuation, so assistant turns cannot be masked exactly",
                                      "use prompt/completion rows, or a model with a ChatML-like template"))
        reply = full[len(prefix):]
        trained = reply.rstrip()       # the newline after end-of-turn is layout, not part of the answer
        pieces += [(prefix[len(done):], False), (trained, message.get("weight", 1) != 0)]
        done = prefix + trained
    return pieces


def _render(tokenizer: Tokenizer, messages: list[dict], tools: list[dict] | None,
            add_generation_prompt: bool = False) -> str:
    messages = [{k: v for k, v in m.items() if k != "weight"} for m in messages]
    try:
        return tokenizer.apply_chat_template(messages, tools=tools, tokenize=False,
                                             add_generation_prompt=add_generation_prompt)
    except Exception as err:     # the template's own raise_exception (roles out of order, ...) or a Jinja error
        raise ConfigError(Problem("chat template", f"cannot render a row: {str(err)[:200]}",
                                  "fix the row's turn order, or " + HOW_TO_PASS)) from None


def tokenize_chat(messages: list[dict], tokenizer: Tokenizer, max_length: int,
                  tools: list[dict] | None = None) -> dict[str, list[int]]:
    """`input_ids` and `labels` (-100 on masked tokens) for one conversation, cut to max_length."""
    if getattr(tokenizer, "chat_template", None):
        pieces = chat_segments(messages, tokenizer, tools)
    elif tools or has_tool_calls(messages):
        raise ConfigError(Problem("tokenizer", "has no chat template, so tools and tool calls cannot be rendered",
                                  HOW_TO_PASS))
    else:
        pieces = _plain_segments(messages, tokenizer)
    input_ids: list[int] = []
    labels: list[int] = []
    for text, trained in pieces:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"] if text else []
        input_ids += ids
        labels += ids if trained else [IGNORE] * len(ids)
    return {"input_ids": input_ids[:max_length], "labels": labels[:max_length]}


def _plain_segments(messages: list[dict], tokenizer: Tokenizer) -> list[tuple[str, bool]]:
    """Models without a chat template: prompt text then answer text closed by eos."""
    pieces = []
    for message in messages:
        if message["role"] == "assistant":
            pieces.append((message["content"] + (tokenizer.eos_token or ""), message.get("weight", 1) != 0))
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


def row_tools(row: dict) -> list[dict] | None:
    """The row's tool definitions for the chat template, or None."""
    return row.get("tools") or None


def tokenize_text(text: str, tokenizer: Tokenizer, max_length: int) -> list[dict[str, list[int]]]:
    """Raw text closed by eos, split into blocks of at most max_length tokens (nothing dropped)."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    if tokenizer.eos_token_id is not None:
        ids.append(tokenizer.eos_token_id)
    blocks = [ids[start:start + max_length] for start in range(0, len(ids), max_length)]
    return [{"input_ids": block, "labels": list(block)} for block in blocks if len(block) > 1]
