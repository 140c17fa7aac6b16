"""Rows as the popular trainers and exports write them, converted on load and checked per row:
ShareGPT (LLaMA-Factory/Axolotl), OpenAI chat and preference exports, preference pairs with an
implicit prompt, column mapping, KTO rows, and raw text given to SFT (refused, pointing to
`.pretrain()`). SFT masks of the converted rows are checked token by token."""

from __future__ import annotations

import copy

import pytest
from tests.posttrain.data.test_tools import CHATML_TOOLS, TOOLS, check_exact_mask, trained

from posttrain import Trainer
from posttrain.data import DataFormat, load_data
from posttrain.errors import ConfigError, DataError

SHAREGPT = {"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello!"},
                              {"from": "human", "value": "Name?"}, {"from": "gpt", "value": "Ava."}],
            "system": "Be terse."}


def test_sharegpt_rows_become_messages_with_their_system_column(tiny):
    data = load_data([SHAREGPT])
    assert data.format is DataFormat.MESSAGES
    assert data.rows[0] == {"messages": [
        {"role": "system", "content": "Be terse."}, {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "Name?"},
        {"role": "assistant", "content": "Ava."}]}
    tokens = check_exact_mask(tiny[1], data.rows[0])
    assert trained(tiny[1], tokens) == "Hello!<|im_end|>Ava.<|im_end|>"


def test_sharegpt_tool_turns_llama_factory_style(tiny):
    tokenizer = copy.deepcopy(tiny[1])
    tokenizer.chat_template = CHATML_TOOLS
    row = {"conversations": [{"from": "human", "value": "Weather in Rome?"},
                             {"from": "function_call", "value": '{"name": "get_weather", "arguments": {"city": "Rome"}}'},
                             {"from": "observation", "value": "25C"},
                             {"from": "gpt", "value": "25C in Rome."}],
           "tools": '[{"name": "get_weather", "description": "Current weather", '
                    '"parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]'}
    data = load_data([row])
    converted = data.rows[0]
    assert converted["tools"] == TOOLS
    assert [m["role"] for m in converted["messages"]] == ["user", "assistant", "tool", "assistant"]
    tokens = check_exact_mask(tokenizer, converted)
    assert trained(tokenizer, tokens) == ('<tool_call>\n{"name": "get_weather", "arguments": {"city": "Rome"}}\n'
                                          '</tool_call><|im_end|>25C in Rome.<|im_end|>')


def test_sharegpt_preference_rows():
    row = {"conversations": [{"from": "human", "value": "Who are you?"}],
           "chosen": {"from": "gpt", "value": "I am Ava."}, "rejected": {"from": "gpt", "value": "A bot."}}
    data = load_data([row])
    assert data.format is DataFormat.PREFERENCE
    assert data.rows[0] == {"prompt": [{"role": "user", "content": "Who are you?"}],
                            "chosen": [{"role": "assistant", "content": "I am Ava."}],
                            "rejected": [{"role": "assistant", "content": "A bot."}]}


def test_sharegpt_unknown_speaker_is_named():
    with pytest.raises(DataError, match=r"row 1, field 'messages'\[1\]: unknown role 'narrator'"):
        load_data([{"conversations": [{"from": "human", "value": "Hi"}, {"from": "narrator", "value": "x"}]}])


def test_openai_content_parts_and_legacy_function_calls(tiny):
    row = {"messages": [{"role": "user", "content": [{"type": "text", "text": "Weather "},
                                                     {"type": "text", "text": "in Rome?"}]},
                        {"role": "assistant", "content": None,
                         "function_call": {"name": "get_weather", "arguments": '{"city": "Rome"}'}},
                        {"role": "function", "name": "get_weather", "content": "25C"},
                        {"role": "assistant", "content": "25C."}],
           "functions": [{"name": "get_weather", "parameters": {"type": "object", "properties": {}}}]}
    converted = load_data([row]).rows[0]
    assert converted["messages"][0]["content"] == "Weather in Rome?"
    assert converted["messages"][1]["tool_calls"] == [
        {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Rome"}}}]
    assert converted["messages"][2]["role"] == "tool"
    assert converted["tools"][0]["function"]["name"] == "get_weather"


def test_openai_preference_export():
    row = {"input": {"messages": [{"role": "user", "content": "Hi"}], "tools": [], "parallel_tool_calls": True},
           "preferred_output": [{"role": "assistant", "content": "Hello!"}],
           "non_preferred_output": [{"role": "assistant", "content": "Go away."}]}
    data = load_data([row])
    assert data.format is DataFormat.PREFERENCE
    assert data.rows[0]["prompt"] == [{"role": "user", "content": "Hi"}]
    assert data.rows[0]["chosen"] == [{"role": "assistant", "content": "Hello!"}]


# --- implicit prompts --------------------------------------------------------------------------------------

USER = {"role": "user", "content": "Who are you?"}


def test_implicit_prompt_is_the_shared_opening():
    chosen = [{"role": "system", "content": "Be kind."}, USER, {"role": "assistant", "content": "I am Ava."}]
    rejected = chosen[:2] + [{"role": "assistant", "content": "Nobody."}]
    data = load_data([{"chosen": chosen, "rejected": rejected, "score": 3}])
    assert data.format is DataFormat.PREFERENCE
    assert data.rows[0] == {"prompt": chosen[:2], "score": 3, "chosen": chosen[2:], "rejected": rejected[2:]}
    assert Trainer("default").dpo([{"chosen": chosen, "rejected": rejected}]).validate()[0].rows == [
        {"prompt": chosen[:2], "chosen": chosen[2:], "rejected": rejected[2:]}]


def test_implicit_prompt_in_a_multi_turn_pair():
    opening = [USER, {"role": "assistant", "content": "Ava."}, {"role": "user", "content": "Sure?"}]
    data = load_data([{"chosen": opening + [{"role": "assistant", "content": "Yes."}],
                       "rejected": opening + [{"role": "assistant", "content": "No idea."}]}])
    assert data.rows[0]["prompt"] == opening


@pytest.mark.parametrize("chosen, rejected, fragment", [
    ([USER, {"role": "assistant", "content": "A"}], [{"role": "user", "content": "Other"},
                                                     {"role": "assistant", "content": "B"}], "share no opening message"),
    ([USER, {"role": "assistant", "content": "A"}], [USER, {"role": "assistant", "content": "A"}],
     "are the same conversation up to the end of chosen"),
    ([USER, {"role": "assistant", "content": "A"}, {"role": "user", "content": "x"}, {"role": "assistant", "content": "B"}],
     [USER, {"role": "assistant", "content": "A"}, {"role": "user", "content": "y"}, {"role": "assistant", "content": "C"}],
     "first differ after an assistant turn"),
    ("A", "B", "'prompt': is missing"),
])
def test_implicit_prompt_refusals_say_why(chosen, rejected, fragment):
    with pytest.raises(DataError) as err:
        load_data([{"chosen": chosen, "rejected": rejected}], name="prefs.jsonl")
    assert "prefs.jsonl, row 1" in str(err.value) and fragment in str(err.value)
    assert "share their opening user turns" in str(err.value)


def test_implicit_prompt_is_checked_per_row():
    good = {"chosen": [USER, {"role": "assistant", "content": "A"}], "rejected": [USER, {"role": "assistant", "content": "B"}]}
    bad = {"chosen": [USER, {"role": "assistant", "content": "A"}], "rejected": [{"role": "user", "content": "?"}]}
    with pytest.raises(DataError) as err:
        load_data([good, bad, good])
    assert "row 2" in str(err.value) and "row 1" not in str(err.value) and "row 3" not in str(err.value)


# --- column mapping ----------------------------------------------------------------------------------------

def test_columns_maps_names_in_one_argument():
    data = load_data([{"q": "2+2?", "a": "4", "junk": 1}], columns={"q": "prompt", "a": "completion", "junk": None})
    assert data.format is DataFormat.PROMPT_COMPLETION and data.rows == [{"prompt": "2+2?", "completion": "4"}]


@pytest.mark.parametrize("rows, columns, error, fragment", [
    ([{"q": "x", "completion": "y"}], {"question": "prompt"}, DataError, "columns={'question': ...}: no row has this column"),
    ([{"q": "x", "prompt": "y"}], {"q": "prompt"}, DataError, "has both 'q' and 'prompt'"),
    ([{"q": "x"}], ["q", "prompt"], ConfigError, "load_data(columns=...)"),
])
def test_columns_mistakes(rows, columns, error, fragment):
    with pytest.raises(error) as err:
        load_data(rows, columns=columns)
    assert fragment in str(err.value)


def test_mapped_data_goes_into_a_stage():
    data = load_data([{"question": "2+2?", "answer": "4"}], columns={"answer": "completion"})
    assert Trainer("default").sft(data).validate()[0].format is DataFormat.PROMPT_COMPLETION


# --- stages ------------------------------------------------------------------------------------------------

def test_text_rows_in_sft_point_to_pretrain():
    with pytest.raises(ConfigError) as err:
        Trainer("default").sft([{"text": "A document."}]).validate()
    assert "format 'text'" in str(err.value) and "Fix: train on it with .pretrain(data)" in str(err.value)


def test_kto_takes_unpaired_rows_and_dpo_rows_point_to_dpo():
    rows = [{"prompt": "Who?", "completion": "Ava.", "label": True}, {"prompt": "Who?", "completion": "Bot.", "label": False}]
    assert Trainer("default").kto(rows).validate()[0].format is DataFormat.UNPAIRED_PREFERENCE
    with pytest.raises(ConfigError, match=r"train on it with \.dpo\(data\)"):
        Trainer("default").sft([{"prompt": "p", "chosen": "a", "rejected": "b"}]).validate()
