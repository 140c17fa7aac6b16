"""A pipeline file's mistakes are reported all at once: a misspelt stage kind (skipped, with "did you
mean"), a misspelt eval kind, an unknown or bad setting, a bad row, a bad trl_args value, each naming its
place, the problem and the fix, in one ConfigError; nothing is written."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from posttrain import ConfigError, Trainer
from posttrain.cli import main

STAGES = 3
EVAL = {"kind": "math_accuracy", "rows": [{"question": "2+2?", "answer": "4"}]}


def _stage() -> dict:
    return {"kind": "sft", "data": [{"prompt": "Say one.", "completion": "1"}, {"prompt": "Say two.", "completion": "2"}],
            "max_steps": 1}


def _stage_kind(spec, n):
    spec["stages"][n - 1]["kind"] = "sfft"
    return f"stage {n}, field 'kind'", "'sfft' is not a stage kind", "did you mean 'sft'?"


def _eval_kind(spec, n):
    spec["evals"][0]["kind"] = "math_acuracy"
    return "evals, suite entry 0, field 'kind'", "is not an eval kind", "did you mean 'math_accuracy'?"


def _unknown_setting(spec, n):
    spec["stages"][n - 1]["max_stepz"] = 3
    return f"stage {n} (sft), setting 'max_stepz'", "unknown setting", "did you mean 'max_steps'?"


def _bad_row(spec, n):
    spec["stages"][n - 1]["data"].append({"prompt": "Say three."})
    return f"stage {n} (sft) data", "row 3: lacks field 'completion'", "give row 3 'completion'"


def _bad_trl_args(spec, n):
    spec["stages"][n - 1]["trl_args"] = {"packing": "yes"}
    return f"stage {n} (sft), trl_args key 'packing'", "got 'yes', expected a bool", "give a bool"


def _negative_epochs(spec, n):
    spec["stages"][n - 1]["epochs"] = -1
    return f"stage {n} (sft), setting 'epochs'", "greater than 0 (got -1)", "see the field's description"


def _unknown_top_key(spec, n):
    spec["output"] = "runs/x"
    return "pipeline key 'output'", "is not a pipeline setting", "did you mean 'output_dir'?"


MISTAKES = [_stage_kind, _eval_kind, _unknown_setting, _bad_row, _bad_trl_args, _negative_epochs, _unknown_top_key]
PER_STAGE = {_unknown_setting, _bad_row, _bad_trl_args, _negative_epochs}


def _pipeline(model: Path, out: Path) -> dict:
    return {"model": str(model), "output_dir": str(out), "evals": [dict(EVAL)], "stages": [_stage() for _ in range(STAGES)]}


def _refused(folder: Path, spec: dict) -> str:
    path = folder / "pipeline.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    with pytest.raises(ConfigError) as err:
        Trainer.from_yaml(path).validate()      # the file is refused when read, or when validated
    assert [p.name for p in folder.iterdir()] == ["pipeline.yaml"], "refusing the pipeline wrote files"
    return str(err.value)


@pytest.mark.parametrize("mistake", MISTAKES, ids=lambda m: m.__name__.strip("_"))
def test_each_mistake_names_its_place_the_problem_and_the_fix(tiny_dir, tmp_path, mistake):
    spec = _pipeline(tiny_dir, tmp_path / "run")
    says = mistake(spec, 2)
    text = _refused(tmp_path, spec)
    assert all(part in text for part in says), (says, text)
    assert "(1 problem)" in text


@st.composite
def _mistakes(draw):
    """Two or more different mistakes; a misspelt kind gets a stage of its own (the stage is skipped, so
    what else is wrong in it cannot be checked)."""
    chosen = draw(st.lists(st.sampled_from(MISTAKES), min_size=2, max_size=len(MISTAKES), unique=True))
    free = list(range(1, STAGES + 1))
    placed = []
    if _stage_kind in chosen:
        own = draw(st.sampled_from(free))
        free.remove(own)
        placed.append((_stage_kind, own))
    placed += [(m, draw(st.sampled_from(free)) if m in PER_STAGE else 0) for m in chosen if m is not _stage_kind]
    return placed


@settings(max_examples=25, deadline=None, derandomize=True, database=None)   # the same examples every run
@given(placed=_mistakes())
def test_every_mistake_of_a_pipeline_file_is_reported_at_once(tiny_dir, placed):
    with tempfile.TemporaryDirectory(prefix="pipeline-errors-") as name:
        folder = Path(name)
        spec = _pipeline(tiny_dir, folder / "run")
        expected = [mistake(spec, n) for mistake, n in placed]
        text = _refused(folder, spec)
    missing = [says for says in expected if not all(part in text for part in says)]
    assert not missing, f"not reported: {missing}\n{text}"
    assert f"({len(expected)} problems)" in text


def test_the_train_command_prints_every_problem_at_once(tiny_dir, tmp_path, capsys):
    spec = _pipeline(tiny_dir, tmp_path / "run")
    expected = [_stage_kind(spec, 1), _eval_kind(spec, 0), _bad_row(spec, 2), _bad_trl_args(spec, 3)]
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    with pytest.raises(SystemExit) as exit_:
        main(["train", str(path)])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "Traceback" not in err and "(4 problems)" in err
    assert all(part in err for says in expected for part in says)
    assert not (tmp_path / "run").exists()
