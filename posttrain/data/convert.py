"""Rows as people have them, turned into the library's canonical rows before any check runs.

- ShareGPT (`conversations` of `{"from", "value"}`, LLaMA-Factory's `system`/`tools` columns and its
  `function_call`/`observation` turns, its preference rows with `chosen`/`rejected` single turns);
- OpenAI chat fine-tuning exports (`content: null` next to `tool_calls`, `arguments` as JSON text,
  content given as parts, legacy `function_call`/`functions`, per-message `weight`) and OpenAI's
  preference export (`input`, `preferred_output`, `non_preferred_output`);
- tool definitions (`tools`, a list or its JSON text; bare `{"name", "parameters"}` or OpenAI's
  `{"type": "function", "function": {...}}`);
- preference pairs with an implicit prompt: `chosen`/`rejected` whole conversations sharing their
  opening turns, which become the `prompt`.

Every converter acts only on the exact shape it knows and leaves anything else untouched, so the
row checks that follow report what is wrong with it (a conversion never raises).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, overload

if TYPE_CHECKING:
    from posttrain.types import JSONValue

# ShareGPT speaker names (LLaMA-Factory, Axolotl, FastChat) onto chat roles.
SHAREGPT_ROLES = {
    "human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "chatgpt": "assistant",
    "bing": "assistant", "bard": "assistant", "model": "assistant", "system": "system",
    "observation": "tool", "tool": "tool", "ipython": "tool", "function_response": "tool",
    "function_call": "assistant",
}
MESSAGE_FIELDS = ("messages", "prompt", "completion", "chosen", "rejected")


def convert_row(row: dict) -> dict:
    """The row with every known foreign shape turned canonical (aliases are applied afterwards)."""
    out = _openai_preference(row)
    out = _sharegpt(out)
    if "tools" not in out and isinstance(out.get("functions"), (list, str)):
        out["tools"] = out.pop("functions")
    if "tools" in out:
        out["tools"] = tools_list(out["tools"])
    for field in MESSAGE_FIELDS:
        if isinstance(out.get(field), list):
            out[field] = [normalise_message(m) for m in out[field]]
    return out


# --- ShareGPT ----------------------------------------------------------------------------------------------

def _is_sharegpt(value: object) -> bool:
    return (isinstance(value, list) and bool(value)
            and all(isinstance(m, dict) and "from" in m and "value" in m and "role" not in m for m in value))


def _sharegpt(row: dict) -> dict:
    field = next((f for f in ("conversations", "messages", "conversation") if _is_sharegpt(row.get(f))), None)
    if field is None:
        return row
    out = dict(row)
    messages = [sharegpt_message(m) for m in out.pop(field)]
    system = out.get("system")
    if isinstance(system, str) and system.strip() and not (messages and messages[0].get("role") == "system"):
        out.pop("system")
        messages = [{"role": "system", "content": system}, *messages]
    chosen, rejected = out.get("chosen"), out.get("rejected")
    if isinstance(chosen, dict) and isinstance(rejected, dict):          # LLaMA-Factory preference rows
        out["prompt"] = messages
        out["chosen"], out["rejected"] = [sharegpt_message(chosen)], [sharegpt_message(rejected)]
    else:
        out["messages"] = messages
    return out


@overload
def sharegpt_message(message: dict) -> dict: ...
@overload
def sharegpt_message(message: object) -> object: ...
def sharegpt_message(message: object) -> object:
    """One `{"from", "value"}` turn as `{"role", "content"}`; a `function_call` turn (JSON of
    `{"name", "arguments"}`) becomes an assistant tool call. Unknown speakers are kept for the checks."""
    if not isinstance(message, dict) or "from" not in message:
        return message
    speaker, value = message.get("from"), message.get("value")
    role = SHAREGPT_ROLES.get(speaker.lower(), speaker) if isinstance(speaker, str) else speaker
    if speaker == "function_call" and isinstance(value, str):
        calls = _parse_json(value)
        calls = calls if isinstance(calls, list) else [calls]
        if calls and all(isinstance(c, dict) and isinstance(c.get("name"), str) for c in calls):
            return {"role": "assistant", "content": "", "tool_calls": [_tool_call(c) for c in calls]}
    rest = {k: v for k, v in message.items() if k not in ("from", "value")}
    return {"role": role, "content": value, **rest}


# --- OpenAI exports ----------------------------------------------------------------------------------------

def _openai_preference(row: dict) -> dict:
    """OpenAI's preference fine-tuning rows: `{"input": {"messages", "tools"?}, "preferred_output": [...],
    "non_preferred_output": [...]}`."""
    source = row.get("input")
    if not (isinstance(source, dict) and "preferred_output" in row and "non_preferred_output" in row):
        return row
    out = {k: v for k, v in row.items() if k not in ("input", "preferred_output", "non_preferred_output")}
    out["prompt"] = source.get("messages")
    if "tools" in source:
        out["tools"] = source["tools"]
    out["chosen"], out["rejected"] = row["preferred_output"], row["non_preferred_output"]
    return out


@overload
def normalise_message(message: dict) -> dict: ...
@overload
def normalise_message(message: object) -> object: ...
def normalise_message(message: object) -> object:
    """A chat message in the form chat templates take: text content, `tool_calls` with `arguments`
    as objects, legacy `function_call`/`function` role as tool calls and tool results."""
    if not isinstance(message, dict):
        return message
    out = dict(message)
    if out.get("role") == "function":                       # OpenAI's legacy function result
        out["role"] = "tool"
    if isinstance(out.get("function_call"), dict) and "tool_calls" not in out:
        out["tool_calls"] = [out.pop("function_call")]
    if isinstance(out.get("tool_calls"), list):
        out["tool_calls"] = [_tool_call(call) for call in out["tool_calls"]]
        if out.get("content") is None:                      # OpenAI writes null content beside tool calls
            out["content"] = ""
        if not out["tool_calls"]:
            del out["tool_calls"]
    elif "tool_calls" in out and out["tool_calls"] is None:   # a column filled with nulls by Arrow
        del out["tool_calls"]
    if _is_text_parts(out.get("content")):
        out["content"] = "".join(part["text"] for part in out["content"])
    return out


def _is_text_parts(content: object) -> bool:
    return (isinstance(content, list) and bool(content)
            and all(isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str)
                    for p in content))


def _tool_call(call: object) -> object:
    """`{"type": "function", "function": {"name", "arguments": {...}}}` from OpenAI's form (arguments
    as JSON text) or a bare `{"name", "arguments"}`; other shapes are kept for the checks."""
    if not isinstance(call, dict):
        return call
    out = dict(call)
    if "function" not in out and "name" in out:
        inner = {"name": out.pop("name"), "arguments": out.pop("arguments", {})}
        out = {"type": "function", "function": inner, **out}
    function = out.get("function")
    if isinstance(function, dict):
        function = dict(function)
        arguments = function.get("arguments")
        if isinstance(arguments, str):
            parsed = _parse_json(arguments) if arguments.strip() else {}
            if isinstance(parsed, dict):
                function["arguments"] = parsed
        elif arguments is None and "arguments" in function:
            function["arguments"] = {}
        out["function"] = function
        out.setdefault("type", "function")
        if out.get("id") is None:
            out.pop("id", None)
    return out


def tools_list(value: object) -> object:
    """A `tools` column as a list of `{"type": "function", "function": {...}}`: JSON text is parsed
    and bare function schemas wrapped; empty or null means no tools. Other shapes are kept."""
    if isinstance(value, str):
        if not value.strip():
            return []
        parsed = _parse_json(value)
        if isinstance(parsed, dict):
            parsed = [parsed]
        if not isinstance(parsed, list):
            return value
        value = parsed
    if value is None:
        return []
    if not isinstance(value, list):
        return value
    out = []
    for tool in value:
        if isinstance(tool, dict) and "function" not in tool and isinstance(tool.get("name"), str):
            tool = {"type": "function", "function": {k: v for k, v in tool.items() if k != "type"}}
        if isinstance(tool, dict) and isinstance(tool.get("function"), dict):
            tool = {**tool, "function": _schema(tool["function"])}
        out.append(tool)
    return out


def _schema(function: dict) -> dict:
    out = dict(function)
    if isinstance(out.get("parameters"), str):
        parsed = _parse_json(out["parameters"])
        if isinstance(parsed, dict):
            out["parameters"] = parsed
    return out


def _parse_json(text: str) -> JSONValue:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


# --- implicit prompts --------------------------------------------------------------------------------------

def shared_opening(chosen: list, rejected: list) -> int:
    """How many opening messages `chosen` and `rejected` share."""
    count = 0
    for a, b in zip(chosen, rejected):
        if a != b:
            break
        count += 1
    return count


def split_implicit_prompt(row: dict) -> dict:
    """A preference row without `prompt` whose `chosen`/`rejected` are whole conversations: the
    shared opening becomes the prompt and the rest the two answers. Left unchanged unless the split
    gives a prompt ending on a user or tool turn and two non-empty answers; the row check then says why."""
    chosen, rejected = row.get("chosen"), row.get("rejected")
    if "prompt" in row or not (isinstance(chosen, list) and isinstance(rejected, list)):
        return row
    if not all(isinstance(m, dict) for m in chosen + rejected):
        return row
    cut = shared_opening(chosen, rejected)
    if cut == 0 or cut == len(chosen) or cut == len(rejected) or chosen[cut - 1].get("role") == "assistant":
        return row
    return {"prompt": chosen[:cut], **{k: v for k, v in row.items() if k not in ("chosen", "rejected")},
            "chosen": chosen[cut:], "rejected": rejected[cut:]}
