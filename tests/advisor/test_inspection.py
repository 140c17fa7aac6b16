"""advise() takes every format the data loader accepts and routes it to the method whose registry entry
claims it; no format makes it raise anything but a PosttrainError."""

from __future__ import annotations

import json

import pytest

from advisor import advise
from posttrain.data import DataFormat
from posttrain.data.formats import EXAMPLES
from posttrain.stages import stage_for_format

# The same formats as people export them: aliases and other tools' shapes the loader converts.
EXPORTS = {
    "alpaca": ({"instruction": "Add 2 and 2.", "input": "", "output": "4"}, "prompt_completion"),
    "sharegpt": ({"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello!"}]},
                 "messages"),
    "tool call": ({"messages": [{"role": "user", "content": "Weather in Paris?"},
                                {"role": "assistant", "content": "", "tool_calls": [
                                    {"type": "function", "function": {"name": "get_weather",
                                                                      "arguments": {"city": "Paris"}}}]}]},
                  "messages"),
    "implicit-prompt preference": ({"chosen": [{"role": "user", "content": "Who are you?"},
                                               {"role": "assistant", "content": "I am Ava."}],
                                    "rejected": [{"role": "user", "content": "Who are you?"},
                                                 {"role": "assistant", "content": "A bot."}]}, "preference"),
}


@pytest.mark.parametrize("fmt", list(DataFormat), ids=str)
def test_every_format_is_inspected_and_routed_to_its_method(fmt):
    rows = [json.loads(EXAMPLES[fmt])] * 3
    rec = advise({"description": "improve answers", "must_be_reliable": True}, datasets=rows)
    [info] = rec.datasets_info
    method = stage_for_format(fmt)
    assert info.format == str(fmt) and info.rows == 3 and info.tokens > 0
    assert method is not None and info.stage == method.advisor_name
    if method.advice.wants is None or method.kind == "grpo":          # data alone makes these stages
        assert method.advisor_name in rec.stages, rec


@pytest.mark.parametrize("name", list(EXPORTS))
def test_exports_are_inspected_as_their_format(name):
    row, fmt = EXPORTS[name]
    rec = advise({"must_be_reliable": True}, datasets=[row] * 2)
    assert rec.datasets_info[0].format == fmt


def test_kto_rows_get_a_kto_stage_and_a_runnable_trainer(tmp_path):
    rows = [{"prompt": "Who are you?", "completion": "I am Ava.", "label": True},
            {"prompt": "Who are you?", "completion": "I am a bot.", "label": False}]
    rec = advise({"description": "make answers better", "target_skills": ["chat"], "must_be_reliable": True},
                 datasets=rows)
    assert rec.stages == ["kto"] and rec.spec.labelled_answers == 2
    assert any(reason.rule == "kto-from-labelled-answers" for reason in rec.reasons)
    trainer = rec.route(output_dir=tmp_path / "run")
    assert [stage.kind for stage in trainer.stages] == ["kto"]


def test_the_issue_case_no_longer_crashes():
    rows = [{"prompt": "Who are you?", "completion": "I am Ava.", "label": True}] * 3
    rec = advise({"description": "make answers better", "target_skills": ["chat"]}, datasets=rows)
    assert rec.datasets_info[0].stage == "kto"
    assert "3 labelled answers" in " ".join(rec.warnings)          # below scale: said in the method's words
