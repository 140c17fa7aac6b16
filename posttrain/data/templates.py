"""Chat templates for tool use: checking that a model's template renders tools and tool calls, and a
built-in ChatML template that does (Hermes/Qwen style: tool schemas in the system turn, calls as
`<tool_call>{"name": ..., "arguments": {...}}</tool_call>`, results in `tool` turns).

>>> from posttrain.data.templates import resolve_template
>>> resolve_template("chatml-tools").startswith("{%")
True
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING

from posttrain.errors import ConfigError, Problem, short

if TYPE_CHECKING:
    from posttrain.types import Tokenizer

CHATML_TOOLS = (
    "{%- if messages and messages[0]['role'] == 'system' -%}"
    "{%- set system = messages[0]['content'] -%}{%- set turns = messages[1:] -%}"
    "{%- else -%}{%- set system = none -%}{%- set turns = messages -%}{%- endif -%}"
    "{%- if tools -%}"
    "{{ '<|im_start|>system\\n' }}{% if system %}{{ system + '\\n\\n' }}{% endif %}"
    "{{ 'You can call functions. Their JSON schemas:\\n<tools>\\n' }}"
    "{%- for tool in tools -%}{{ (tool['function'] if tool['function'] is defined else tool) | tojson }}"
    "{{ '\\n' }}{%- endfor -%}"
    "{{ '</tools>\\nTo call a function, reply with <tool_call>\\n{\"name\": <name>, \"arguments\": <object>}\\n"
    "</tool_call><|im_end|>\\n' }}"
    "{%- elif system -%}{{ '<|im_start|>system\\n' + system + '<|im_end|>\\n' }}{%- endif -%}"
    "{%- for message in turns -%}"
    "{{ '<|im_start|>' + message['role'] + '\\n' }}"
    "{%- if message['role'] == 'tool' -%}{{ '<tool_response>\\n' + message['content'] + '\\n</tool_response>' }}"
    "{%- else -%}{%- if message['content'] -%}{{ message['content'] }}{%- endif -%}"
    "{%- if message['tool_calls'] is defined and message['tool_calls'] -%}"
    "{%- for call in message['tool_calls'] -%}"
    "{%- if message['content'] or not loop.first -%}{{ '\\n' }}{%- endif -%}"
    "{{ '<tool_call>\\n' }}{{ {'name': call['function']['name'], 'arguments': call['function']['arguments']}"
    " | tojson }}{{ '\\n</tool_call>' }}"
    "{%- endfor -%}{%- endif -%}{%- endif -%}"
    "{{ '<|im_end|>\\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n' }}{%- endif -%}"
)

BUILT_IN = {"chatml-tools": CHATML_TOOLS}
HOW_TO_PASS = ("pass a template that renders them: .sft(data, chat_template='chatml-tools') (built in: "
               "ChatML with Hermes-style <tool_call> tags), a path to a .jinja file, or a Jinja string; "
               "or train a model whose own template renders tools (e.g. Qwen2.5, Llama 3.1)")


def resolve_template(value: str, where: str = "setting 'chat_template'") -> str:
    """A built-in template's name, a path to a Jinja file, or Jinja text -> the template text."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(Problem(where, f"got {short(value)}", f"use one of {sorted(BUILT_IN)}, a .jinja "
                                  "file path, or a Jinja template string"))
    if value in BUILT_IN:
        return BUILT_IN[value]
    if "{{" in value or "{%" in value:
        return value
    path = Path(value).expanduser()
    if path.is_file():
        try:
            return path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise ConfigError(Problem(where, f"cannot read {value!r} ({err})", "give a readable UTF-8 file")) from None
    raise ConfigError(Problem(where, f"{short(value)} is not a built-in template, a file, or Jinja text",
                              f"use one of {sorted(BUILT_IN)}, a .jinja file path, or a Jinja template string"))


PROBE_TOOL = {"type": "function", "function": {"name": "posttrain_probe_tool", "description": "probe",
                                               "parameters": {"type": "object", "properties": {}}}}
PROBE_CALL: list[dict[str, object]] = [{"role": "user", "content": "probe"},
              {"role": "assistant", "content": "", "tool_calls": [
                  {"type": "function", "function": {"name": "posttrain_probe_call",
                                                    "arguments": {"probe_arg": "probe_value"}}}]},
              {"role": "tool", "content": "posttrain_probe_result"}]


def check_tool_template(tokenizer: Tokenizer, tools: bool, calls: bool, model: str = "the model") -> None:
    """Raise ConfigError unless the tokenizer's chat template renders a `tools` list (when `tools`)
    and assistant tool calls with their arguments and tool results (when `calls`)."""
    if not (tools or calls):
        return
    what = " and ".join(w for w, need in (("tool definitions ('tools')", tools),
                                          ("tool calls ('tool_calls')", calls)) if need)
    where = f"chat template of {model}"
    if not getattr(tokenizer, "chat_template", None):
        raise ConfigError(Problem(where, f"is missing, so {what} cannot be rendered", HOW_TO_PASS))
    try:
        text = tokenizer.apply_chat_template(PROBE_CALL if calls else PROBE_CALL[:1],
                                             tools=[PROBE_TOOL] if tools else None, tokenize=False)
    except Exception as err:        # a template's own `raise_exception`, or a Jinja error
        raise ConfigError(Problem(where, f"fails on {what}: {short(str(err), 160)}", HOW_TO_PASS)) from None
    missing = [name for name, need in (("posttrain_probe_tool", tools), ("posttrain_probe_call", calls),
                                       ("probe_value", calls), ("posttrain_probe_result", calls)) if need
               and name not in text]
    if missing:
        raise ConfigError(Problem(where, f"does not render {what} (they vanish from the text, so the model "
                                  "would learn from turns it cannot see)", HOW_TO_PASS))


TOOL_CALL = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.S)


def parse_tool_calls(text: str) -> list[dict] | None:
    """The calls in a reply written the way `chatml-tools` renders them, as
    `[{"name": str, "arguments": dict}]`; [] for a reply with no call; None when a call is not valid JSON."""
    calls = []
    for body in TOOL_CALL.findall(text):
        try:
            call = json.loads(body)
        except ValueError:
            return None
        if not isinstance(call, dict) or not isinstance(call.get("name"), str):
            return None
        arguments = call.get("arguments", {})
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments)
            except ValueError:
                return None
        calls.append({"name": call["name"], "arguments": arguments if isinstance(arguments, dict) else {}})
    return calls


# How transformers' `parse_response` reads a reply written the way `chatml-tools` renders it (its
# `response_template` format, transformers >= 5.13): optional text, then `<tool_call>` JSON blocks.
CHATML_TOOLS_RESPONSE: dict[str, object] = {
    "defaults": {"role": "assistant"},
    "start_anchor": "<|im_start|>assistant\n",
    "fields": {
        "tool_calls": {"open": "<tool_call>", "close_pattern": r"</tool_call>\s*", "repeats": True,
                       "content": "json", "transform": {"type": "function", "function": "{content}"}},
        "content": {"close_pattern": r"<\|im_end\|>\s*", "content": "text"},
    },
}


def use_tool_parser(tokenizer: Tokenizer) -> bool:
    """Make `tokenizer.parse_response` read tool calls from replies: the tokenizer's own parser when it has
    one, `CHATML_TOOLS_RESPONSE` for the `chatml-tools` template, else TRL's for the templates it knows
    (Qwen, Llama 3.1, ...). False when none applies (TRL could not tell a tool call from text)."""
    if getattr(tokenizer, "response_template", None) is not None or getattr(tokenizer, "response_schema", None):
        return True
    if getattr(tokenizer, "chat_template", None) == CHATML_TOOLS:
        tokenizer.response_template = CHATML_TOOLS_RESPONSE  # type: ignore[attr-defined]
        return True
    from trl.chat_template_utils import add_response_schema

    try:
        add_response_schema(tokenizer)
    except (ValueError, TypeError):
        return False
    return True
