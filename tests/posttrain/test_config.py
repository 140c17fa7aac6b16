"""Misspelt eval kinds and options, and `trl_args` values of the wrong type: each refused before anything
runs, naming the place, the bad value and the fix."""

from __future__ import annotations

import pytest

from posttrain import ConfigError, Trainer

ROWS = [{"prompt": f"Say the number {i}.", "completion": f"{i}"} for i in range(8)]
QA = [{"question": "Capital of France?", "answer": "Paris"}]

# a suite entry, then what the message must say
EVAL_CASES = [
    ({"kind": "math_acuracy", "rows": [{"question": "2+2?", "answer": "4"}]},
     ["suite entry 0, field 'kind'", "'math_acuracy' is not an eval kind", "did you mean 'math_accuracy'?"]),
    ({"kind": "qa_acc", "rows": QA}, ["'qa_acc' is not an eval kind", "did you mean 'qa_accuracy'?"]),
    ({"kind": "perplexty", "texts": ["some text"]}, ["did you mean 'perplexity'?", "use one of:"]),
    ({"kind": "zebra"}, ["'zebra' is not an eval kind", "use one of: math_accuracy"]),
    ({"kind": "qa_accuracy", "rows": QA, "max_new_token": 8},
     ["suite entry 0, field 'max_new_token'", "is not an option of qa_accuracy",
      "did you mean 'max_new_tokens'?"]),
]


@pytest.mark.parametrize("entry, says", EVAL_CASES)
def test_a_misspelt_eval_kind_or_option_gets_a_suggestion(entry, says):
    from posttrain.evals import EvalSuite

    with pytest.raises(ConfigError) as err:
        EvalSuite.from_config([entry])
    for text in says:
        assert text in str(err.value)
    if entry["kind"] == "zebra":
        assert "did you mean" not in str(err.value)


def test_a_pipeline_yaml_with_a_misspelt_eval_kind_is_refused_with_the_suggestion(tmp_path):
    path = tmp_path / "pipeline.yaml"
    path.write_text("model: default\nevals:\n  - {kind: instruction_folowing, rows: []}\nstages: []\n")
    with pytest.raises(ConfigError, match="did you mean 'instruction_following'"):
        Trainer.from_yaml(path)


# trl_args, then what the message must say
TYPE_CASES = [
    ({"packing": "yes"}, ["trl_args key 'packing': got 'yes', expected a bool (true/false)", "Fix: give a bool"]),
    ({"max_steps": "10"}, ["trl_args key 'max_steps': got '10', expected an int (a whole number)"]),
    ({"max_steps": 2.5}, ["trl_args key 'max_steps': got 2.5, expected an int"]),
    ({"learning_rate": "1e-5"}, ["trl_args key 'learning_rate': got '1e-5', expected a number",
                                 "YAML reads 1e-5 as text", "1.0e-5"]),
    ({"max_length": "long"}, ["trl_args key 'max_length': got 'long', expected an int (a whole number) or null"]),
    ({"dataset_text_field": 3}, ["trl_args key 'dataset_text_field': got 3, expected a string"]),
    ({"packing": True, "bf16": 1}, ["trl_args key 'bf16': got 1, expected a bool (true/false) or null"]),
]


@pytest.mark.parametrize("trl_args, says", TYPE_CASES)
def test_trl_args_of_the_wrong_type_fail_validate(tiny_dir, tmp_path, trl_args, says):
    with pytest.raises(ConfigError) as err:
        Trainer(tiny_dir, output_dir=tmp_path).sft(ROWS, trl_args=trl_args).validate()
    message = str(err.value)
    assert "stage 1" in message or "sft" in message
    for text in says:
        assert text in message
    assert not (tmp_path / "01-sft").exists()


@pytest.mark.parametrize("annotation, good, bad", [
    (bool, [True, False], ["yes", 1, None]),
    (int, [0, 7], [True, 1.5, "3"]),
    (float, [1, 2.5], ["0.1", False]),
    ("int | None", [None, 3], ["3"]),
    ("Literal['a', 'b']", ["a"], ["c"]),
    ("SchedulerType", ["linear", "cosine"], ["sideways"]),
    ("SchedulerType | str", ["sideways"], [3]),
    ("list[str] | None", [["x"], "anything", 3], []),              # not simple: not checked
])
def test_wrong_type_follows_the_annotation(annotation, good, bad):
    from typing import Literal  # noqa: F401  (used by eval below)

    from transformers.trainer_utils import SchedulerType  # noqa: F401

    from posttrain.stages.trl_types import wrong_type

    kind = eval(annotation) if isinstance(annotation, str) else annotation
    assert all(wrong_type(value, kind) is None for value in good)
    assert all(wrong_type(value, kind) is not None for value in bad)


def test_every_default_of_the_trl_configs_passes_the_type_check():
    import dataclasses

    from posttrain.stages import STAGES
    from posttrain.stages.spec import check_trl_args

    for spec in STAGES.values():
        config = spec.config_class()
        defaults = {f.name: f.default for f in dataclasses.fields(config) if f.default is not dataclasses.MISSING}
        assert check_trl_args(defaults, config, spec.kind) == []
