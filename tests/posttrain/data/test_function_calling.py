"""Function calling end to end: the shipped tool-call data (held-out split disjoint from training), its
SFT masks, and the BFCL-style eval that compares parsed calls as values."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import pytest
from tests.posttrain.data.test_tools import check_exact_mask, trained

from posttrain.data import DataFormat, load_data
from posttrain.data.templates import CHATML_TOOLS
from posttrain.errors import DataError
from posttrain.evals.function_calling import FunctionCalling, calls_match, values_match

DATA = Path(__file__).resolve().parents[3] / "examples" / "data"


def read(name: str) -> list[dict]:
    return [json.loads(line) for line in (DATA / name).read_text(encoding="utf-8").splitlines() if line.strip()]


def test_heldout_requests_and_argument_values_never_appear_in_training():
    train, heldout = read("tools_train.jsonl"), read("tools_heldout.jsonl")
    train_text = {m["content"] for r in train for m in r["messages"] if m["role"] == "user"}
    assert train_text.isdisjoint({r["prompt"][0]["content"] for r in heldout})
    trained_values = {str(v) for r in train for m in r["messages"] for c in m.get("tool_calls") or []
                      for v in json.loads(c["function"]["arguments"]).values()}
    heldout_values = {str(v) for r in heldout for c in r["calls"] for v in c["arguments"].values()}
    assert trained_values.isdisjoint(heldout_values - {"celsius", "fahrenheit"})
    assert len(heldout) == 100 and sum(not r["calls"] for r in heldout) >= 1


def test_training_rows_load_and_mask_exactly(tiny):
    tokenizer = copy.deepcopy(tiny[1])
    tokenizer.chat_template = CHATML_TOOLS
    data = load_data(DATA / "tools_train.jsonl")
    assert data.format is DataFormat.MESSAGES and len(data) == 320
    for row in data.rows[:12]:
        tokens = check_exact_mask(tokenizer, row)
        text = trained(tokenizer, tokens)
        assert ("<tool_call>" in text) == any(m.get("tool_calls") for m in row["messages"])
        assert '"temperature": 18' not in text and "{\"sent\": true}" not in text     # tool results masked


@pytest.mark.parametrize("got, expected, same", [
    ({"amount": 5}, {"amount": 5.0}, True),
    ({"amount": "5"}, {"amount": 5}, False),
    ({"city": " paris"}, {"city": "Paris"}, True),
    ({"city": "Paris", "unit": "celsius"}, {"city": "Paris"}, False),          # an argument too many
    ({"flag": True}, {"flag": 1}, False),
    ({"ids": [1, 2]}, {"ids": [1.0, 2]}, True),
    ({"ids": [2, 1]}, {"ids": [1, 2]}, False),
])
def test_values_compare_as_values(got, expected, same):
    assert values_match(got, expected) is same


def test_calls_compare_names_and_values_in_any_order():
    a, b = {"name": "f", "arguments": {"x": 1}}, {"name": "g", "arguments": {}}
    assert calls_match([a, b], [a, b]) and calls_match([b, a], [a, b]) and not calls_match([a], [a, b])
    assert not calls_match([a, a], [a, b]) and not calls_match([a, b], [a, a])      # each call matched once
    assert calls_match([], []) and not calls_match([a], [])


def test_scores_by_bfcl_category():
    weather = {"type": "function", "function": {"name": "get_weather", "parameters": {}}}
    timer = {"type": "function", "function": {"name": "set_timer", "parameters": {}}}
    oslo, lima = ({"name": "get_weather", "arguments": {"city": c}} for c in ("Oslo", "Lima"))
    rows = [{"prompt": "Weather in Oslo?", "tools": [weather], "calls": [oslo]},                    # simple
            {"prompt": "Weather in Oslo?", "tools": [timer, weather], "calls": [oslo]},             # multiple
            {"prompt": "Weather in Lima?", "tools": [timer, weather], "calls": [lima]},             # multiple
            {"prompt": "Oslo and Lima?", "tools": [weather], "calls": [oslo, lima]},                # parallel
            {"prompt": "Who wrote Hamlet?", "tools": [weather], "calls": []},                       # irrelevance
            {"prompt": "Hi", "tools": [weather, timer], "calls": [oslo], "category": "simple"}]      # as given
    call = lambda c: f'<tool_call>{json.dumps(c)}</tool_call>'
    ev = FunctionCalling(rows)
    assert [item["category"] for item in ev.items] == ["simple", "multiple", "multiple", "parallel", "irrelevance",
                                                       "simple"]
    result = ev.score([call(oslo), call(oslo), call(oslo), call(lima) + call(oslo), call(oslo), "no"])
    assert result.metrics["accuracy/simple"] == 0.5 and result.metrics["accuracy/multiple"] == 0.5
    assert result.metrics["accuracy/parallel"] == 1.0 and result.metrics["accuracy/irrelevance"] == 0.0
    assert [d["category"] for d in result.details] == [item["category"] for item in ev.items]
    assert "accuracy/parallel" not in FunctionCalling(rows[:1]).score([call(oslo)]).metrics     # absent: not shown
    with pytest.raises(DataError, match=r"row 1, field 'category': is 'chained'.*one of \['simple'"):
        FunctionCalling([{"prompt": "x", "calls": [], "category": "chained"}])


def test_scoring_parses_replies():
    rows = [{"prompt": "Weather in Oslo?", "tools": [], "calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}]},
            {"prompt": "Weather in Lima?", "tools": [], "calls": [{"name": "get_weather", "arguments": {"city": "Lima"}}]},
            {"prompt": "Who wrote Hamlet?", "tools": [], "calls": []},
            {"prompt": "Timer 5 min", "tools": [], "calls": [{"name": "set_timer", "arguments": {"minutes": 5}}]}]
    result = FunctionCalling(rows).score([
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Oslo"}}\n</tool_call>',
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Lima"}',          # cut off: invalid JSON
        "Shakespeare.",
        '<tool_call>{"name": "set_timer", "arguments": "{\\"minutes\\": 5}"}</tool_call>'])
    assert [d["correct"] for d in result.details] == [True, False, True, True]
    assert result.score == 0.75 and result.metrics["valid_json"] == 0.75
    assert result.metrics["silent_when_not_needed"] == 1.0
    assert FunctionCalling(rows, chat_template="chatml-tools").to_config()["chat_template"] == "chatml-tools"


def test_bad_eval_rows_and_options_are_named():
    with pytest.raises(DataError, match=r"row 1, field 'calls'"):
        FunctionCalling([{"prompt": "x", "calls": "get_weather(Oslo)"}])
    rows = [{"prompt": "x", "calls": []}]
    with pytest.raises(DataError, match=r"function_calling, option 'precision': is 'fp8'"):
        FunctionCalling(rows, precision="fp8")
    with pytest.raises(DataError, match=r"function_calling, option 'max_new_tokens': is 0"):
        FunctionCalling(rows, max_new_tokens=0)


def test_the_eval_runs_a_model(tiny):
    model, tokenizer = tiny
    before = tokenizer.chat_template
    result = FunctionCalling(read("tools_heldout.jsonl")[:2], max_new_tokens=4, chat_template="chatml-tools").run(
        model, tokenizer)
    assert result.n == 2 and not math.isnan(result.score) and tokenizer.chat_template == before
