"""Detect a dataset's format, check every row, and normalise rows to what TRL takes."""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import Any

from posttrain.data.convert import convert_row, shared_opening, split_implicit_prompt
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
    "question": "prompt", "conversations": "messages", "conversation": "messages",
}

# Columns a format uses itself; any other column is extra (kept for reward functions, ignored by training).
OWN_COLUMNS = {"text", "messages", "prompt", "completion", "chosen", "rejected", "label", "tools"}

EXAMPLES = {
    DataFormat.TEXT: '{"text": "Some document ..."}',
    DataFormat.MESSAGES: '{"messages": [{"role": "user", "content": "Hi"}, '
                         '{"role": "assistant", "content": "Hello!"}]}',
    DataFormat.PROMPT_COMPLETION: '{"prompt": "2+2?", "completion": "4"}',
    DataFormat.PREFERENCE: '{"prompt": "Who are you?", "chosen": "I am Ava.", "rejected": "I am a bot."}',
    DataFormat.PROMPT_ONLY: '{"prompt": "What is 3*4?", "answer": "12"}',
    DataFormat.UNPAIRED_PREFERENCE: '{"prompt": "Who are you?", "completion": "I am Ava.", "label": true}',
}
TOOL_EXAMPLE = ('{"type": "function", "function": {"name": "get_weather", "description": "...", '
                '"parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}')
CALL_EXAMPLE = ('{"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": '
                '{"name": "get_weather", "arguments": {"city": "Paris"}}}]}')


def canonical(row: dict) -> dict:
    """The row in canonical form: ShareGPT and OpenAI exports converted (`posttrain.data.convert`),
    alias columns (instruction/output, question, ...) renamed, and a preference pair's implicit prompt
    (the opening turns its two conversations share) split off as `prompt`.

    Alpaca rows fold their `input` into the prompt. A canonical column always wins over an alias.
    """
    out = convert_row(row)
    if "instruction" in out and "input" in out and not isinstance(out["input"], (dict, list)):
        extra = out.pop("input")
        if isinstance(extra, str) and extra.strip() and isinstance(out["instruction"], str):
            out["instruction"] = f"{out['instruction']}\n\n{extra}"
    for alias, name in ALIASES.items():
        if alias in out and name not in out:
            out[name] = out.pop(alias)
    return split_implicit_prompt(out)


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


# The fields each format needs (a preference row's prompt may be implicit); `row_format` reads them.
FIELDS = {
    DataFormat.TEXT: ("text",), DataFormat.MESSAGES: ("messages",),
    DataFormat.PROMPT_COMPLETION: ("prompt", "completion"), DataFormat.PREFERENCE: ("chosen", "rejected"),
    DataFormat.UNPAIRED_PREFERENCE: ("prompt", "completion", "label"), DataFormat.PROMPT_ONLY: ("prompt",),
}


def odd_row(row: dict, fmt: DataFormat, main: DataFormat, where: str) -> Problem:
    """Why one row reads as `fmt` in a file whose other rows are `main`: the fields of `main` it lacks
    (naming a near-miss column it has instead), or the fields it adds; with the fix.

    >>> print(odd_row({"prompt": "2+2?", "answer": "4"}, DataFormat.PROMPT_ONLY, DataFormat.PROMPT_COMPLETION,
    ...               "train.jsonl, row 3"))  # doctest: +NORMALIZE_WHITESPACE
    train.jsonl, row 3: lacks field 'completion', which the file's other rows (format 'prompt_completion') have,
    so it reads as format 'prompt_only'. Fix: give row 3 'completion' (rows in 'prompt_completion' look like
    {"prompt": "2+2?", "completion": "4"}), or remove the row; a file holds one format, so split rows of another
    format into a separate dataset (one per stage)
    """
    import difflib

    number = where.rsplit("row ", 1)[-1]
    missing = [name for name in FIELDS[main] if name not in row]
    if not missing:
        added = ", ".join(repr(name) for name in FIELDS[fmt] if name not in FIELDS[main])
        return Problem(where, f"has {added}, which the file's other rows (format '{main}') lack, so it reads as "
                       f"format '{fmt}'", f"remove {added} from row {number}, or split the formats into separate "
                       "datasets (one per stage)")
    names = ", ".join(repr(name) for name in missing)
    spare = [key for key in row if isinstance(key, str) and key not in OWN_COLUMNS]
    near = [f"{match[0]!r} to {name!r}" for name in missing
            for match in [difflib.get_close_matches(name, spare, n=1, cutoff=0.6)] if match]
    fix = f"rename {', '.join(near)} in row {number}" if near else f"give row {number} {names}"
    return Problem(where, f"lacks field{'s' if len(missing) > 1 else ''} {names}, which the file's other rows "
                   f"(format '{main}') have, so it reads as format '{fmt}'",
                   f"{fix} (rows in '{main}' look like {EXAMPLES[main]}), or remove the row; a file holds one "
                   "format, so split rows of another format into a separate dataset (one per stage)")


def check_row(row: dict, fmt: DataFormat, where: str) -> list[Problem]:
    """Every problem of one canonical row in format `fmt`; empty when the row is usable."""
    checks = {
        DataFormat.TEXT: lambda: _check_text(row.get("text"), where, "text"),
        DataFormat.MESSAGES: lambda: _check_messages(row.get("messages"), where, "messages",
                                                     need_assistant=True) or _unanswered(row["messages"], where),
        DataFormat.PROMPT_COMPLETION: lambda: _check_pair(row, where, ("completion",)),
        DataFormat.PREFERENCE: lambda: _check_preference(row, where),
        DataFormat.UNPAIRED_PREFERENCE: lambda: _check_unpaired(row, where),
        DataFormat.PROMPT_ONLY: lambda: _check_prompt(row.get("prompt"), where),
    }
    problems = checks[fmt]()
    if "tools" in row and fmt is not DataFormat.TEXT:
        problems += _check_tools(row["tools"], where)
    return problems


def _check_tools(value: object, where: str) -> list[Problem]:
    at = f"{where}, field 'tools'"
    if not isinstance(value, list):
        return [Problem(at, f"must be a list of function schemas (or its JSON text), got {short(value)}",
                        f"e.g. {TOOL_EXAMPLE}")]
    problems = []
    for index, tool in enumerate(value):
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str) or not function["name"]:
            problems.append(Problem(f"{at}[{index}]", f"must be a function schema with a name, got {short(tool)}",
                                    f"e.g. {TOOL_EXAMPLE}"))
        elif not isinstance(function.get("parameters", {}), dict):
            problems.append(Problem(f"{at}[{index}], 'parameters'", f"must be a JSON schema object, got "
                                    f"{short(function['parameters'])}",
                                    'e.g. {"type": "object", "properties": {"city": {"type": "string"}}}'))
    return problems


def _check_text(value: object, where: str, field: str) -> list[Problem]:
    if not isinstance(value, str):
        return [Problem(f"{where}, field '{field}'", f"must be a string, got {type(value).__name__} "
                        f"{short(value)}", f"give '{field}' as text")]
    if not value.strip():
        return [Problem(f"{where}, field '{field}'", "is empty", f"remove the row or fill '{field}'")]
    return []


def _check_messages(value: object, where: str, field: str, need_assistant: bool) -> list[Problem]:
    at = f"{where}, field '{field}'"
    if not isinstance(value, list) or not value:
        return [Problem(at, f"must be a non-empty list of {{'role', 'content'}} messages, got "
                        f"{short(value)}", f"e.g. {EXAMPLES[DataFormat.MESSAGES]}")]
    problems = []
    for index, message in enumerate(value):
        problems += _check_message(message, f"{at}[{index}]")
    if problems:
        return problems
    if need_assistant and not any(_teaches(m) for m in value):
        return [Problem(at, "has no non-empty assistant message, so there is nothing to learn",
                        "add the assistant's answer, or use the prompt-only format for GRPO")]
    return []


def _unanswered(messages: list[dict], where: str) -> list[Problem]:
    """A conversation that ends in a user turn: nothing answers it, so training would drop it unseen."""
    if messages[-1]["role"] != "user":
        return []
    return [Problem(f"{where}, field 'messages'", f"ends with a user turn (message {len(messages) - 1}: "
                    f"{short(messages[-1]['content'], 40)}) that no assistant turn answers, so training would "
                    "drop it", "add the assistant's reply after it, or remove that last turn")]


def _teaches(message: dict) -> bool:
    return (message["role"] == "assistant" and message.get("weight", 1) != 0
            and (bool(message["content"].strip()) or bool(message.get("tool_calls"))))


def _check_message(message: Any, place: str) -> list[Problem]:
    if not isinstance(message, dict) or "role" not in message or "content" not in message:
        return [Problem(place, f"must be a dict with 'role' and 'content', got {short(message)}",
                        'write {"role": "user", "content": "..."}, or for a tool call ' + CALL_EXAMPLE)]
    role = message["role"]
    if not isinstance(role, str) or role not in ROLES:
        return [Problem(place, f"unknown role {role!r}", f"use one of {ROLES}")]
    if not isinstance(message["content"], str):
        return [Problem(place, f"'content' must be a string, got {short(message['content'])}",
                        "give the message text as a string")]
    problems = []
    if "weight" in message and (message["weight"] not in (0, 1) or isinstance(message["weight"], bool)
                                or role != "assistant"):
        problems.append(Problem(f"{place}, 'weight'", f"must be 0 or 1 on an assistant message, got "
                                f"{short(message['weight'])} on a {role} message",
                                "weight 0 keeps an assistant turn out of the loss; remove it elsewhere"))
    if "tool_calls" in message:
        calls = message["tool_calls"]
        if role != "assistant":
            problems.append(Problem(f"{place}, 'tool_calls'", f"is on a {role} message",
                                    "only assistant messages make tool calls; results go in 'tool' messages"))
        elif not isinstance(calls, list):
            problems.append(Problem(f"{place}, 'tool_calls'", f"must be a list, got {short(calls)}",
                                    f"e.g. {CALL_EXAMPLE}"))
        else:
            problems += [p for number, call in enumerate(calls)
                         for p in _check_call(call, f"{place}, 'tool_calls'[{number}]")]
    return problems


def _check_call(call: Any, place: str) -> list[Problem]:
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(function, dict) or not isinstance(function.get("name"), str) or not function["name"].strip():
        return [Problem(place, f"must name the function called, got {short(call)}",
                        'write {"type": "function", "function": {"name": "get_weather", "arguments": '
                        '{"city": "Paris"}}}')]
    if not isinstance(function.get("arguments", {}), dict):
        return [Problem(f"{place}, 'arguments'", f"must be a JSON object (or its text), got "
                        f"{short(function['arguments'])}", 'e.g. {"city": "Paris"}')]
    return []


def _check_prompt(value: object, where: str) -> list[Problem]:
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
        allowed = ("assistant", "tool") if field == "completion" else ("assistant",)
        if not problems and (value[0]["role"] != "assistant" or any(m["role"] not in allowed for m in value)):
            problems.append(Problem(f"{where}, field '{field}'", "holds a non-assistant message",
                                    f"'{field}' holds only the assistant's reply"
                                    + (" (and the tool results it called for)" if field == "completion" else "")))
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
        return _no_prompt(row, where)
    problems = _check_pair(row, where, ("chosen", "rejected"))
    if not problems and row["chosen"] == row["rejected"]:
        problems.append(Problem(f"{where}, field 'rejected'", f"equals 'chosen' ({short(row['chosen'])}), "
                                "so the pair teaches nothing", "give a worse answer as 'rejected'"))
    return problems


def _no_prompt(row: dict, where: str) -> list[Problem]:
    """Why a preference row without `prompt` has no implicit prompt either."""
    chosen, rejected = row.get("chosen"), row.get("rejected")
    fix = (f"add the prompt the two answers reply to, e.g. {EXAMPLES[DataFormat.PREFERENCE]}, or give "
           "'chosen' and 'rejected' as whole conversations that share their opening user turns")
    if not (isinstance(chosen, list) and isinstance(rejected, list)):
        return [Problem(f"{where}, field 'prompt'", "is missing", fix)]
    problems = (_check_messages(chosen, where, "chosen", need_assistant=True)
                + _check_messages(rejected, where, "rejected", need_assistant=True))
    if problems:
        return problems
    cut = shared_opening(chosen, rejected)
    at = f"{where}, fields 'chosen'/'rejected'"
    if cut == 0:
        why = "share no opening message, so there is no implicit prompt"
    elif cut == len(chosen) or cut == len(rejected):
        why = (f"are the same conversation{'s' if len(chosen) != len(rejected) else ''} up to the end of "
               f"{'chosen' if cut == len(chosen) else 'rejected'}, so one answer is empty")
    else:
        why = (f"first differ after an assistant turn (message {cut}), so the prompt they share would end "
               "with the assistant")
    return [Problem(at, why, fix)]


def _check_unpaired(row: dict, where: str) -> list[Problem]:
    problems = _check_pair(row, where, ("completion",))
    if not isinstance(row.get("label"), bool):
        problems.append(Problem(f"{where}, field 'label'", f"must be true or false, got {short(row.get('label'))}",
                                "label each answer true (desirable) or false (undesirable)"))
    return problems


# Which method trains on a format, for errors that point to it. The map is the stage registry's (each method's
# `Advice.claims`); `posttrain.stages` installs its lookup here, as this package sits below the stages.
_method_hint: Callable[[DataFormat], str | None] = lambda fmt: None


def set_method_hint(hint: Callable[[DataFormat], str | None]) -> None:
    """Install the lookup `method_hint` answers with (`posttrain.stages` does, from its registry)."""
    global _method_hint
    _method_hint = hint


def method_hint(fmt: DataFormat) -> str | None:
    """How to train on data of format `fmt`, e.g. ".dpo(data) (YAML kind: dpo): ..."; None when no method claims it."""
    return _method_hint(fmt)


def with_system(messages: list[dict], system: str | None) -> list[dict]:
    """The messages with a system message first, unless there is none to add or one is there already."""
    if not system or (messages and messages[0].get("role") == "system"):
        return list(messages)
    return [{"role": "system", "content": system}, *messages]


def is_conversational(row: dict) -> bool:
    """True when the row's text lives in message lists rather than plain strings."""
    return "messages" in row or isinstance(row.get("prompt"), list)


def has_tool_calls(messages: list[dict]) -> bool:
    """True when an assistant message calls a tool."""
    return any(isinstance(m, dict) and m.get("tool_calls") for m in messages)


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
