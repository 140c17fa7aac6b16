"""YAML files read numbers as YAML 1.2 does: `1e-5`, `5E-6` and `.5` are floats (PyYAML's YAML 1.1
reads the first two as text), whole numbers stay ints and other text stays text."""

from __future__ import annotations

import pytest

from posttrain import Trainer
from posttrain.yamlfile import load_yaml_text


@pytest.mark.parametrize("text, value", [
    ("1e-5", 1e-5), ("5E-6", 5e-6), (".5", 0.5), ("-.5e2", -50.0), ("+2e3", 2000.0), ("1.0e-5", 1e-5),
    ("3e0", 3.0), ("1.5", 1.5), ("3", 3), ("1_000", 1000), ("0099", "0099"), ("1e5x", "1e5x"), ("e5", "e5"),
    ("'1e-5'", "1e-5"), ("true", True),
])
def test_yaml_numbers_are_read_as_yaml_1_2_reads_them(text, value):
    read = load_yaml_text(f"x: {text}")["x"]
    assert read == value and type(read) is type(value)


def test_a_pipeline_file_with_exponent_learning_rates_validates_with_floats(tiny_dir, tmp_path):
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(f"model: {tiny_dir}\noutput_dir: {tmp_path / 'run'}\nstages:\n"
                        "  - kind: sft\n    data: [{prompt: a, completion: b}]\n    learning_rate: 1e-5\n"
                        "    max_steps: 1\n    trl_args: {max_grad_norm: .5, adam_epsilon: 5E-9}\n")
    trainer = Trainer.from_yaml(pipeline)
    trainer.validate()
    settings = trainer.stages[0].settings
    assert settings.learning_rate == 1e-5
    assert settings.trl_args == {"max_grad_norm": 0.5, "adam_epsilon": 5e-9}
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("text, position", [
    ("model: default\nstages:\n  - kind: sft\n   data: x\n", "line 4, column 4"),
    ("model: default\noutput_dir: [runs\n", "line 3, column 1"),
])
def test_a_yaml_syntax_error_names_the_file_line_and_column(text, position, tmp_path):
    from posttrain.errors import ConfigError

    path = tmp_path / "pipeline.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as refused:
        Trainer.from_yaml(path)
    message = str(refused.value)
    assert f"{path}, {position}: cannot be parsed as pipeline YAML" in message
    assert "<unicode string>" not in message


def test_a_task_spec_with_a_byte_order_mark_or_bad_json_names_the_file(tmp_path):
    from advisor import advise
    from posttrain.errors import ConfigError

    spec = tmp_path / "task.yaml"
    spec.write_bytes(b"\xef\xbb\xbfdescription: answer questions\nlabeled_examples: 5000\n")
    assert advise(spec).spec.labeled_examples == 5000
    broken = tmp_path / "task.json"
    broken.write_text('{"description": "x",\n "labeled_examples": }')
    with pytest.raises(ConfigError, match=r"task.json, line 2, column 22: cannot be parsed as a task spec"):
        advise(broken)


def test_the_pipeline_files_reader_keeps_its_old_name_with_a_warning():
    from posttrain.pipeline import yamlspec

    with pytest.warns(FutureWarning, match="renamed read_pipeline_file"):
        old = yamlspec.read_yaml
    assert old is yamlspec.read_pipeline_file
