"""Tool use in SFT: assistant `tool_calls`, `tool` results and a `tools` column, in the shapes people
have them (OpenAI exports, bare calls, ShareGPT function_call turns), rendered with the chat template;
the loss covers assistant turns (tool calls included), never tool results, user or system turns.

Each mask is checked token by token against an independent reading of the rendered ChatML: the
conversation is tokenised whole, and a token is trained exactly when it lies inside an assistant turn's
body (after `<|im_start|>assistant\\n`, up to and including `<|im_end|>`).
"""

from __future__ import annotations

import copy
import json
import re

import pytest

from posttrain import Trainer
from posttrain.stages.sft import SFTSettings as BaseSFTSettings
from posttrain.data import DataFormat, load_data
from posttrain.data.templates import CHATML_TOOLS, parse_tool_calls, resolve_template
from posttrain.errors import ConfigError, DataError
from posttrain.stages.sft import SFTSettings, build_dataset
from posttrain.stages.tokens import IGNORE, row_messages, row_tools, tokenize_chat

TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Current weather",
                                           "parameters": {"type": "object",
                                                          "properties": {"city": {"type": "string"}}}}}]
OPENAI_ROW = {"messages": [
    {"role": "system", "content": "You are a weather bot."},
    {"role": "user", "content": "Weather in Paris?"},
    {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
    {"role": "tool", "tool_call_id": "call_1", "content": "18C, sunny"},
    {"role": "assistant", "content": "It is 18C and sunny in Paris."}],
    "tools": json.dumps(TOOLS)}


@pytest.fixture()
def tool_tokenizer(tiny):
    """The tiny model's tokenizer with the built-in tool template (a copy: the session's stays as it is)."""
    _, tokenizer = tiny
    tokenizer = copy.deepcopy(tokenizer)
    tokenizer.chat_template = CHATML_TOOLS
    return tokenizer


def expected_tokens(tokenizer, text: str) -> tuple[list[int], list[int]]:
    """Token ids of `text` and the labels an exact mask gives them, from character offsets."""
    spans = [(m.end(), m.end() + text[m.end():].index("<|im_end|>") + len("<|im_end|>"))
             for m in re.finditer(r"<\|im_start\|>assistant\n", text)]
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    labels = [token if any(start <= a and b <= end for start, end in spans) else IGNORE
              for token, (a, b) in zip(encoded["input_ids"], encoded["offset_mapping"])]
    return encoded["input_ids"], labels


def check_exact_mask(tokenizer, row: dict, system: str | None = None) -> dict:
    tokens = tokenize_chat(row_messages(row, system), tokenizer, 4096, row_tools(row))
    rendered = tokenizer.decode(tokens["input_ids"])
    ids, labels = expected_tokens(tokenizer, rendered)
    assert tokens["input_ids"] == ids
    assert tokens["labels"] == labels, "the mask differs from the assistant turns token by token"
    return tokens


def trained(tokenizer, tokens) -> str:
    return tokenizer.decode([t for t, l in zip(tokens["input_ids"], tokens["labels"]) if l != IGNORE])


def masked(tokenizer, tokens) -> str:
    return tokenizer.decode([t for t, l in zip(tokens["input_ids"], tokens["labels"]) if l == IGNORE])


def test_openai_export_is_converted_and_masked_exactly(tool_tokenizer):
    data = load_data([OPENAI_ROW])
    row = data.rows[0]
    assert data.format is DataFormat.MESSAGES
    assert row["tools"] == TOOLS                                   # JSON text parsed
    call = row["messages"][2]
    assert call["content"] == "" and call["tool_calls"][0]["function"]["arguments"] == {"city": "Paris"}
    tokens = check_exact_mask(tool_tokenizer, row)
    assert trained(tool_tokenizer, tokens) == ('<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}'
                                               '\n</tool_call><|im_end|>It is 18C and sunny in Paris.<|im_end|>')
    hidden = masked(tool_tokenizer, tokens)
    for text in ("18C, sunny", "Weather in Paris?", "You are a weather bot.", '"description": "Current weather"'):
        assert text in hidden


@pytest.mark.parametrize("call", [
    {"name": "get_weather", "arguments": {"city": "Oslo"}},                                  # bare
    {"name": "get_weather", "arguments": '{"city": "Oslo"}'},                                # bare, JSON text
    {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Oslo"}}},
])
def test_call_shapes_render_alike(tool_tokenizer, call):
    rows = [{"messages": [{"role": "user", "content": "Oslo?"}, {"role": "assistant", "tool_calls": [call]}],
             "tools": TOOLS}]
    row = load_data(rows).rows[0]
    tokens = check_exact_mask(tool_tokenizer, row)
    assert trained(tool_tokenizer, tokens) == ('<tool_call>\n{"name": "get_weather", "arguments": {"city": "Oslo"}}'
                                               '\n</tool_call><|im_end|>')


def test_parallel_calls_and_several_rounds(tool_tokenizer):
    call = lambda city: {"type": "function", "function": {"name": "get_weather", "arguments": {"city": city}}}
    row = {"messages": [
        {"role": "user", "content": "Paris and Rome?"},
        {"role": "assistant", "content": "Checking both.", "tool_calls": [call("Paris"), call("Rome")]},
        {"role": "tool", "content": "18C"}, {"role": "tool", "content": "25C"},
        {"role": "assistant", "content": "Paris 18C, Rome 25C."},
        {"role": "user", "content": "And Oslo?"},
        {"role": "assistant", "content": "", "tool_calls": [call("Oslo")]},
        {"role": "tool", "content": "5C"},
        {"role": "assistant", "content": "Oslo is 5C."}], "tools": TOOLS}
    tokens = check_exact_mask(tool_tokenizer, load_data([row]).rows[0])
    text = trained(tool_tokenizer, tokens)
    assert text.count("<tool_call>") == 3 and "Checking both." in text and "Oslo is 5C." in text
    assert "18C<" not in text and "25C<" not in text and "And Oslo?" not in text


def test_prompt_completion_with_tool_turns_in_the_completion(tool_tokenizer):
    row = {"prompt": [{"role": "user", "content": "Weather in Paris?"}],
           "completion": [OPENAI_ROW["messages"][2], OPENAI_ROW["messages"][3], OPENAI_ROW["messages"][4]],
           "tools": TOOLS}
    data = load_data([row])
    assert data.format is DataFormat.PROMPT_COMPLETION
    tokens = check_exact_mask(tool_tokenizer, data.rows[0])
    assert "18C, sunny" not in trained(tool_tokenizer, tokens)


def test_weight_zero_keeps_an_assistant_turn_out_of_the_loss(tool_tokenizer):
    row = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Bad reply.", "weight": 0},
                        {"role": "user", "content": "Again"}, {"role": "assistant", "content": "Good reply.", "weight": 1}]}
    tokens = tokenize_chat(row_messages(load_data([row]).rows[0]), tool_tokenizer, 512)
    assert trained(tool_tokenizer, tokens) == "Good reply.<|im_end|>"
    assert "Bad reply." in masked(tool_tokenizer, tokens)


def test_a_template_without_tools_is_refused_naming_how_to_pass_one(tiny):
    _, tokenizer = tiny                                   # SmolLM2's template drops tools and tool calls
    data = load_data([OPENAI_ROW])
    with pytest.raises(ConfigError) as err:
        build_dataset(data, copy.deepcopy(tokenizer), BaseSFTSettings())
    message = str(err.value)
    assert "does not render tool definitions ('tools') and tool calls ('tool_calls')" in message
    assert "chat_template='chatml-tools'" in message and ".jinja" in message


def test_no_template_at_all_is_refused(tiny):
    _, tokenizer = tiny
    plain = copy.deepcopy(tokenizer)
    plain.chat_template = None
    with pytest.raises(ConfigError, match="chat template of .* is missing.*chatml-tools"):
        build_dataset(load_data([OPENAI_ROW]), plain, BaseSFTSettings())


def test_the_chat_template_setting_trains_tool_rows(tiny):
    _, tokenizer = tiny
    tokenizer = copy.deepcopy(tokenizer)
    dataset = build_dataset(load_data([OPENAI_ROW]), tokenizer, SFTSettings(chat_template="chatml-tools"))
    assert len(dataset) == 1 and tokenizer.chat_template == CHATML_TOOLS      # saved with the model


def test_sft_validate_accepts_tool_rows_and_checks_the_template_setting(tmp_path):
    assert Trainer("default", output_dir=tmp_path).sft([OPENAI_ROW], chat_template="chatml-tools").validate()
    with pytest.raises(ConfigError, match="setting 'chat_template'.*not a built-in template"):
        Trainer("default", output_dir=tmp_path).sft([OPENAI_ROW], chat_template="no-such-template").validate()
    jinja = tmp_path / "t.jinja"
    jinja.write_text(CHATML_TOOLS)
    assert resolve_template(str(jinja)) == CHATML_TOOLS


@pytest.mark.parametrize("message, fragments", [
    ({"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": {"arguments": {}}}]},
     ["'tool_calls'[0]", "must name the function called"]),
    ({"role": "assistant", "content": "", "tool_calls": [{"name": "f", "arguments": "not json"}]},
     ["'arguments'", "must be a JSON object"]),
    ({"role": "user", "content": "x", "tool_calls": [{"name": "f", "arguments": {}}]},
     ["'tool_calls'", "is on a user message"]),
    ({"role": "assistant", "content": "x", "weight": 2}, ["'weight'", "must be 0 or 1"]),
    ({"role": "assistant", "content": "", "tool_calls": "f()"}, ["'tool_calls'", "must be a list"]),
])
def test_bad_tool_calls_name_row_and_field(message, fragments):
    rows = [{"messages": [{"role": "user", "content": "Hi"}, message, {"role": "assistant", "content": "ok"}]}]
    with pytest.raises(DataError) as err:
        load_data(rows, name="tools.jsonl")
    for fragment in ["tools.jsonl, row 1, field 'messages'[1]", *fragments]:
        assert fragment in str(err.value)


@pytest.mark.parametrize("tools, fragment", [
    ("{not json", "must be a list of function schemas"),
    ([{"description": "no name"}], "must be a function schema with a name"),
    ([{"name": "f", "parameters": "x"}], "must be a JSON schema object"),
])
def test_bad_tools_column(tools, fragment):
    with pytest.raises(DataError, match=re.escape(fragment)):
        load_data([{**OPENAI_ROW, "tools": tools}])


def test_a_tool_call_alone_is_something_to_learn():
    row = {"messages": [{"role": "user", "content": "Oslo?"},
                        {"role": "assistant", "tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}]}]}
    assert load_data([row]).format is DataFormat.MESSAGES


def test_replies_parse_back_into_calls():
    text = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Oslo"}}\n</tool_call>'
    assert parse_tool_calls(text) == [{"name": "get_weather", "arguments": {"city": "Oslo"}}]
    assert parse_tool_calls("It is sunny.") == []
    assert parse_tool_calls("<tool_call>{oops</tool_call>") is None
