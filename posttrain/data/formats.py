"""Detect a dataset's format, check every row, and normalise rows to what TRL takes."""

from __future__ import annotations

from enum import Enum
from typing import Any

from posttrain.errors import Problem, short

ROLES = ("system", "user", "assistant", "tool")


class DataFormat(str, Enum):
    """The dataset shapes the library knows; each stage takes some of them."""

    TEXT = "text"                            # {"text": str}: raw text, continued pre-training
    MESSAGES = "messages"                    # {"messages": [{"role", "content"}, ...]}: chats
    PROMPT_COMPLETION = "prompt_completion"  # {"prompt", "completion"}: strings or message lists
    PREFERENCE = "preference"                # {"prompt", "chosen", "rejected"}
    UNPAIRED_PREFERENCE = "unpaired_preference"  # {"prompt", "completion", "label": bool}: KTO
    PROMPT_ONLY = "prompt_only"              # {"prompt", ...extra columns for rewards}

    def __str__(self) -> str:
        return self.value


# Column aliases people commonly use, mapped onto the canonical names.
ALIASES = {
    "instruction": "prompt", "output": "completion", "response": "completion",
    "question": "prompt", "conversations": "messages",
}

EXAMPLES = {
    DataFormat.TEXT: '{"text": "Some document ..."}',
    DataFormat.MESSAGES: '{"messages": [{"role": "user", "content": "Hi"}, '
                         '{"role": "assistant", "content": "Hello!"}]}',
    DataFormat.PROMPT_COMPLETION: '{"prompt": "2+2?", "completion": "4"}',
    DataFormat.PREFERENCE: '{"prompt": "Who are you?", "chosen": "I am Ava.", "rejected": "I am a bot."}',
    DataFormat.PROMPT_ONLY: '{"prompt": "What is 3*4?", "answer": "12"}',
    DataFormat.UNPAIRED_PREFERENCE: '{"prompt": "Who are you?", "completion": "I am Ava.", "label": true}',
}


def canonical(row: dict) -> dict:
    """Rename alias columns (instruction/output, question, ...) to the canonical names.

    Alpaca rows fold their `input` into the prompt. A canonical column always wins over an alias.
    """
    out = dict(row)
    if "instruction" in out and "input" in out:
        extra = out.pop("input")
        if isinstance(extra, str) and extra.strip() and isinstance(out["instruction"], str):
            out["instruction"] = f"{out['instruction']}\n\n{extra}"
    for alias, name in ALIASES.items():
        if alias in out and name not in out:
            out[name] = out.pop(alias)
    return out


def row_format(row: dict) -> DataFormat | None:
    """The format one (canonical) row is in, or None if it matches none."""
    keys = set(row)
    if {"chosen", "rejected"} <= keys:
        return DataFormat.PREFERENCE
    if {"prompt", "completion", "label"} <= keys:
        return DataFormat.UNPAIRED_PREFERENCE
    if {"prompt", "completion"} <= keys:
        return DataFormat.PROMPT_COMPLETION
    if "messages" in keys:
        return DataFormat.MESSAGES
    if "prompt" in keys:
        return DataFormat.PROMPT_ONLY
    if "text" in keys:
        return DataFormat.TEXT
    return None


def check_row(row: dict, fmt: DataFormat, where: str) -> list[Problem]:
    """Every problem of one canonical row in format `fmt`; empty when the row is usable."""
    checks = {
        DataFormat.TEXT: lambda: _check_text(row.get("text"), where, "text"),
        DataFormat.MESSAGES: lambda: _check_messages(row.get("messages"), where, "messages",
                                                     need_assistant=True),
        DataFormat.PROMPT_COMPLETION: lambda: _check_pair(row, where, ("completion",)),
        DataFormat.PREFERENCE: lambda: _check_preference(row, where),
        DataFormat.UNPAIRED_PREFERENCE: lambda: _check_unpaired(row, where),
        DataFormat.PROMPT_ONLY: lambda: _check_prompt(row.get("prompt"), where),
    }
    return checks[fmt]()


def _check_text(value: Any, where: str, field: str) -> list[Problem]:
    if not isinstance(value, str):
        return [Problem(f"{where}, field '{field}'", f"must be a string, got {type(value).__name__} "
                        f"{short(value)}", f"give '{field}' as text")]
    if not value.strip():
        return [Problem(f"{where}, field '{field}'", "is empty", f"remove the row or fill '{field}'")]
    return []


def _check_messages(value: Any, where: str, field: str, need_assistant: bool) -> list[Problem]:
    at = f"{where}, field '{field}'"
    if not isinstance(value, list) or not value:
        return [Problem(at, f"must be a non-empty list of {{'role', 'content'}} messages, got "
                        f"{short(value)}", f"e.g. {EXAMPLES[DataFormat.MESSAGES]}")]
    problems = []
    for index, message in enumerate(value):
        place = f"{at}[{index}]"
        if not isinstance(message, dict) or "role" not in message or "content" not in message:
            problems.append(Problem(place, f"must be a dict with 'role' and 'content', got {short(message)}",
                                    'write {"role": "user", "content": "..."}'))
        elif message["role"] not in ROLES:
            problems.append(Problem(place, f"unknown role {message['role']!r}", f"use one of {ROLES}"))
        elif not isinstance(message["content"], str):
            problems.append(Problem(place, f"'content' must be a string, got {short(message['content'])}",
                                    "give the message text as a string"))
    if problems:
        return problems
    if need_assistant and not any(m["role"] == "assistant" and m["content"].strip() for m in value):
        return [Problem(at, "has no non-empty assistant message, so there is nothing to learn",
                        "add the assistant's answer, or use the prompt-only format for GRPO")]
    return []


def _check_prompt(value: Any, where: str) -> list[Problem]:
    if isinstance(value, list):
        problems = _check_messages(value, where, "prompt", need_assistant=False)
        if not problems and value[-1]["role"] == "assistant":
            problems.append(Problem(f"{where}, field 'prompt'", "ends with an assistant message",
                                    "end the prompt with the user's turn; put answers in 'completion'"))
        return problems
    return _check_text(value, where, "prompt")


def _check_answer(value: Any, where: str, field: str, conversational: bool) -> list[Problem]:
    if conversational:
        problems = _check_messages(value, where, field, need_assistant=True)
        if not problems and any(m["role"] != "assistant" for m in value):
            problems.append(Problem(f"{where}, field '{field}'", "holds a non-assistant message",
                                    f"'{field}' holds only the assistant's reply"))
        return problems
    if isinstance(value, list):
        return [Problem(f"{where}, field '{field}'", f"is a message list but 'prompt' is a string "
                        f"({short(value)})", "use strings for both, or message lists for both")]
    return _check_text(value, where, field)


def _check_pair(row: dict, where: str, fields: tuple[str, ...]) -> list[Problem]:
    problems = _check_prompt(row.get("prompt"), where)
    conversational = isinstance(row.get("prompt"), list)
    for field in fields:
        problems += _check_answer(row.get(field), where, field, conversational)
    return problems


def _check_preference(row: dict, where: str) -> list[Problem]:
    if "prompt" not in row:
        return [Problem(f"{where}, field 'prompt'", "is missing",
                        f"add the prompt the two answers reply to, e.g. {EXAMPLES[DataFormat.PREFERENCE]}")]
    problems = _check_pair(row, where, ("chosen", "rejected"))
    if not problems and row["chosen"] == row["rejected"]:
        problems.append(Problem(f"{where}, field 'rejected'", f"equals 'chosen' ({short(row['chosen'])}), "
                                "so the pair teaches nothing", "give a worse answer as 'rejected'"))
    return problems


def _check_unpaired(row: dict, where: str) -> list[Problem]:
    problems = _check_pair(row, where, ("completion",))
    if not isinstance(row.get("label"), bool):
        problems.append(Problem(f"{where}, field 'label'", f"must be true or false, got {short(row.get('label'))}",
                                "label each answer true (desirable) or false (undesirable)"))
    return problems


def with_system(messages: list[dict], system: str | None) -> list[dict]:
    """The messages with a system message first, unless there is none to add or one is there already."""
    if not system or (messages and messages[0].get("role") == "system"):
        return list(messages)
    return [{"role": "system", "content": system}, *messages]


def is_conversational(row: dict) -> bool:
    """True when the row's text lives in message lists rather than plain strings."""
    return "messages" in row or isinstance(row.get("prompt"), list)


def to_conversational(row: dict, fmt: DataFormat, system: str | None = None) -> dict:
    """Turn a standard (string) row into the conversational form TRL applies chat templates to."""
    if is_conversational(row) or fmt is DataFormat.TEXT:
        return dict(row)
    out = dict(row)
    out["prompt"] = with_system([{"role": "user", "content": row["prompt"]}], system)
    for field in ("completion", "chosen", "rejected"):
        if field in row:
            out[field] = [{"role": "assistant", "content": row[field]}]
    return out
