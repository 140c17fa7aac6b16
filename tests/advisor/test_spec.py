"""TaskSpec: strict fields, counts, skill names, and loading from dicts, YAML and JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from advisor import TaskSpec, advise
from posttrain.errors import ConfigError

DATA = Path(__file__).resolve().parents[1] / "data" / "advisor"


def test_unknown_field_names_the_field_and_the_closest_one():
    with pytest.raises(ConfigError) as err:
        TaskSpec.load({"num_instruction": 25})
    assert "'num_instruction'" in str(err.value) and "did you mean 'num_instructions'" in str(err.value)


def test_negative_counts_name_field_value_and_fix():
    with pytest.raises(ConfigError) as err:
        TaskSpec.load({"labeled_examples": -5, "rl_prompts": -1})
    text = str(err.value)
    assert "2 problems" in text
    assert "'labeled_examples': must be a count of 0 or more, got -5" in text
    assert "'rl_prompts'" in text and "Fix:" in text


@pytest.mark.parametrize("given, expected", [
    (["function calling"], ["function_calling"]),
    (["Function-Calling", "SQL"], ["function_calling", "sql"]),
    ("math, tool use", ["math", "function_calling"]),
    (["maths", "math"], ["math"]),
])
def test_skill_names_are_normalised(given, expected):
    assert TaskSpec(target_skills=given).target_skills == expected


def test_unknown_skill_suggests_the_closest():
    with pytest.raises(ConfigError) as err:
        TaskSpec.load({"target_skills": ["reasonning"]})
    assert "unknown skill 'reasonning'" in str(err.value) and "did you mean 'reasoning'" in str(err.value)


def test_instructions_set_their_count_unless_given():
    assert TaskSpec(instructions=["a", "b"]).num_instructions == 2
    assert TaskSpec(instructions=["a"], num_instructions=30).num_instructions == 30


def test_load_from_yaml_and_json():
    policy = TaskSpec.load(DATA / "policy.yaml")
    assert policy.target_skills == ["function_calling"] and policy.num_instructions == 3
    assert TaskSpec.load(str(DATA / "math.json")) == TaskSpec(**json.loads((DATA / "math.json").read_text()))
    assert advise(DATA / "math.json").stages == ["sft", "grpo"]


def test_bad_files_are_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match="spec file not found"):
        TaskSpec.load(tmp_path / "missing.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="not a mapping of spec fields"):
        TaskSpec.load(tmp_path / "list.yaml")
    (tmp_path / "broken.json").write_text("{num: }")
    with pytest.raises(ConfigError, match="cannot be parsed"):
        TaskSpec.load(tmp_path / "broken.json")


def test_import_and_advise_do_not_import_torch():
    code = ("import sys, advisor; rec = advisor.advise({'num_instructions': 25, 'labeled_examples': 8000}); "
            "assert rec.stages == ['sft']; str(rec); rec.to_dict(); "
            "heavy = [m for m in ('torch', 'transformers', 'trl', 'faiss') if m in sys.modules]; "
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
