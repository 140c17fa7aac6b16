"""A pipeline file runs only the callables its reader allows: posttrain's rewards and evals and modules
beside the file, unless the reader opts in with `trust_file=True` / `--trust-file`. Anything else is
refused in `validate()`, naming the path, the reason and the fix, and is never imported or called."""

from __future__ import annotations

import functools
import importlib
import os
import subprocess
import sys
import textwrap

import pytest
import yaml

import posttrain.rewards
from posttrain import Trainer
from posttrain.errors import ConfigError

ROWS = [{"prompt": "What is 2+2?", "answer": "4"}]
OUTSIDE = "outside_rewards"          # a module importable from sys.path, outside the pipeline's folder

OUTSIDE_SOURCE = '''
from pathlib import Path

MARKS = Path({marks!r})
(MARKS / "imported").touch()


def reward(completions, **columns):
    (MARKS / "called").touch()
    return [1.0 for _ in completions]


class Reward:
    def __call__(self, completions, **columns):
        return reward(completions, **columns)


instance = Reward()
'''


@pytest.fixture
def marks(tmp_path, monkeypatch):
    """A folder where the outside module leaves `imported` and `called`; the module itself lives in
    `tmp_path/elsewhere`, on sys.path but not beside any pipeline file."""
    folder, marks = tmp_path / "elsewhere", tmp_path / "marks"
    folder.mkdir()
    marks.mkdir()
    (folder / f"{OUTSIDE}.py").write_text(OUTSIDE_SOURCE.format(marks=str(marks)))
    monkeypatch.syspath_prepend(str(folder))
    sys.modules.pop(OUTSIDE, None)
    yield marks
    sys.modules.pop(OUTSIDE, None)


def _pipeline(tmp_path, model, rewards, **top) -> os.PathLike:
    folder = tmp_path / "pipeline"
    folder.mkdir(exist_ok=True)
    path = folder / "pipeline.yaml"
    path.write_text(yaml.safe_dump({"model": str(model), "output_dir": str(tmp_path / "run"), **top,
                                    "stages": [{"kind": "grpo", "data": ROWS, "rewards": rewards}]}))
    return path


def _refusal(trainer: Trainer) -> str:
    with pytest.raises(ConfigError) as err:
        trainer.validate()
    return " ".join(str(err.value).split())


def _outside():
    return importlib.import_module(OUTSIDE)


# What a file names -> what is put there first (a re-export into the library's own modules), and the
# module the refusal must name as where it was defined.
REEXPORTS = {
    "posttrain.rewards.shell": (lambda: os.system, os.system.__module__),
    "posttrain.rewards.getoutput": (lambda: subprocess.getoutput, "subprocess"),
    "posttrain.rewards.outside": (lambda: _outside().reward, OUTSIDE),
    "posttrain.rewards.outside_partial": (lambda: functools.partial(_outside().reward), OUTSIDE),
    "posttrain.rewards.partial_shell": (lambda: functools.partial(subprocess.getoutput, "id"), "subprocess"),
    "posttrain.rewards.OutsideClass": (lambda: _outside().Reward, OUTSIDE),
    "posttrain.rewards.outside_instance": (lambda: _outside().instance, OUTSIDE),
    "posttrain.evals.outside": (lambda: _outside().reward, OUTSIDE),
}

# Shell, file, network, import machinery, a site-packages function, a module outside the YAML's folder.
NOT_IMPORTED = ["os.system", "subprocess.getoutput", "shutil.rmtree", "urllib.request.urlopen",
                "importlib.import_module", "builtins.exec", "yaml.safe_load", f"{OUTSIDE}.reward",
                f"{OUTSIDE}.instance"]


@pytest.mark.parametrize("path", NOT_IMPORTED)
def test_a_path_outside_the_allow_list_is_refused_before_its_module_is_imported(tiny_dir, tmp_path, marks, path):
    message = _refusal(Trainer.from_yaml(_pipeline(tmp_path, tiny_dir, [path])))
    module = path.rpartition(".")[0]
    assert f"stage 1 (grpo), rewards[0]: '{path}' is refused" in message
    assert f"its module '{module}' is not among them, so it was not imported" in message
    assert "posttrain.rewards, posttrain.evals, posttrain.tools and modules in its own folder" in message
    assert "trust_file=True (posttrain train --trust-file)" in message
    assert not (marks / "imported").exists() and not (marks / "called").exists()
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("path", sorted(REEXPORTS))
def test_a_reexport_partial_or_class_is_judged_by_where_it_was_defined(tiny_dir, tmp_path, marks, monkeypatch,
                                                                         path):
    module, _, name = path.rpartition(".")
    make, defined_in = REEXPORTS[path]
    monkeypatch.setattr(importlib.import_module(module), name, make(), raising=False)
    message = _refusal(Trainer.from_yaml(_pipeline(tmp_path, tiny_dir, [path])))
    assert f"'{path}' is refused" in message
    assert f"it is defined in '{defined_in}', which is not among them, so it was not called" in message
    assert not (marks / "called").exists()


@pytest.mark.parametrize("name", ["system", "getoutput"])
def test_a_refused_shell_function_is_never_called(tiny_dir, tmp_path, monkeypatch, name):
    calls = []

    def spy(*args, **kwargs):
        if "completions" in kwargs:                 # called as a reward (not by anything else validate() runs)
            calls.append(kwargs)
        return [0.0]

    target = os if name == "system" else subprocess
    monkeypatch.setattr(target, name, spy)
    monkeypatch.setattr(posttrain.rewards, "sneaky", spy, raising=False)
    for path in (f"{target.__name__}.{name}", "posttrain.rewards.sneaky"):
        assert f"'{path}' is refused" in _refusal(Trainer.from_yaml(_pipeline(tmp_path, tiny_dir, [path])))
    assert calls == []


def test_a_file_cannot_trust_itself(tiny_dir, tmp_path, marks):
    path = _pipeline(tmp_path, tiny_dir, [f"{OUTSIDE}.reward"], trust_file=True)
    with pytest.raises(ConfigError, match="pipeline key 'trust_file': is not a pipeline setting"):
        Trainer.from_yaml(path)
    assert not (marks / "imported").exists()


def test_the_librarys_rewards_and_a_module_beside_the_file_run(tiny_dir, tmp_path, monkeypatch):
    folder = tmp_path / "pipeline"
    (folder / "scoring").mkdir(parents=True)
    (folder / "my_rewards.py").write_text(textwrap.dedent('''
        import functools

        from posttrain.rewards import completion_text

        def short(completions, **columns):
            return [1.0 if len(completion_text(c)) < 20 else 0.0 for c in completions]

        class Exact:
            def __call__(self, completions, answer, **columns):
                return [float(completion_text(c).strip() == a) for c, a in zip(completions, answer)]

        exact = Exact()
        strict_short = functools.partial(short)
    '''))
    (folder / "scoring" / "__init__.py").write_text("")
    (folder / "scoring" / "numbers.py").write_text("def has_digit(completions, **columns):\n"
                                                   "    return [float(any(ch.isdigit() for ch in str(c))) for c in completions]\n")
    monkeypatch.setattr(posttrain.rewards, "accuracy_again", functools.partial(posttrain.rewards.math_accuracy),
                        raising=False)
    rewards = ["posttrain.rewards.math_accuracy", "posttrain.rewards.accuracy_again", "my_rewards.short",
               "my_rewards.exact", "my_rewards.strict_short", "scoring.numbers.has_digit"]
    try:
        trainer = Trainer.from_yaml(_pipeline(tmp_path, tiny_dir, rewards))
        assert len(trainer.validate()) == 1
        assert str(folder) not in sys.path                      # the folder was on sys.path only to import
    finally:
        for name in ("my_rewards", "scoring", "scoring.numbers"):
            sys.modules.pop(name, None)
    assert not (tmp_path / "run").exists()


def test_a_module_beside_the_file_cannot_stand_in_for_one_already_loaded(tiny_dir, tmp_path):
    folder = tmp_path / "pipeline"
    folder.mkdir()
    (folder / "yaml.py").write_text("def safe_load(completions, **columns):\n    return [1.0 for _ in completions]\n")
    message = _refusal(Trainer.from_yaml(_pipeline(tmp_path, tiny_dir, ["yaml.safe_load"])))
    assert "'yaml.safe_load' is refused" in message and "not imported" in message


def test_a_module_below_the_files_folder_but_not_beside_it_is_refused(tiny_dir, tmp_path, monkeypatch):
    """A virtual environment inside the project folder does not make all of site-packages "beside"."""
    site = tmp_path / "pipeline" / ".venv" / "lib" / "site-packages"
    site.mkdir(parents=True)
    marks = tmp_path / "marks"
    marks.mkdir()
    (site / "venv_rewards.py").write_text(OUTSIDE_SOURCE.format(marks=str(marks)))
    monkeypatch.syspath_prepend(str(site))
    message = _refusal(Trainer.from_yaml(_pipeline(tmp_path, tiny_dir, ["venv_rewards.reward"])))
    assert "'venv_rewards.reward' is refused" in message and "not imported" in message
    assert not (marks / "imported").exists()


def test_a_pipeline_given_as_data_allows_only_the_librarys_own(tiny_dir, tmp_path, marks):
    spec = {"model": str(tiny_dir), "output_dir": str(tmp_path / "run"),
            "stages": [{"kind": "grpo", "data": ROWS, "rewards": [f"{OUTSIDE}.reward"]}]}
    message = _refusal(Trainer.from_dict(spec))
    assert "modules beside it" in message and "trust_file=True" in message
    assert not (marks / "imported").exists()
    spec["stages"][0]["rewards"] = ["posttrain.rewards.math_accuracy"]
    assert len(Trainer.from_dict(spec).validate()) == 1


def test_with_the_opt_in_an_outside_reward_runs(tiny_dir, tmp_path, marks):
    trainer = Trainer.from_yaml(_pipeline(tmp_path, tiny_dir, [f"{OUTSIDE}.reward"]), trust_file=True)
    assert len(trainer.validate()) == 1
    assert (marks / "imported").exists() and (marks / "called").exists()
    again = Trainer.from_dict(trainer.to_dict(), trust_file=True)          # the opt-in is the reader's, each time
    assert len(again.validate()) == 1
    assert "refused" in _refusal(Trainer.from_dict(trainer.to_dict()))


def test_the_trainer_saves_paths_read_from_a_file_as_plain_text(tiny_dir, tmp_path):
    trainer = Trainer.from_yaml(_pipeline(tmp_path, tiny_dir, ["posttrain.rewards.math_accuracy"]))
    assert yaml.safe_load(trainer.to_yaml())["stages"][0]["rewards"] == ["posttrain.rewards.math_accuracy"]


def _posttrain(args, capsys):
    from posttrain.cli import main

    with pytest.raises(SystemExit) as done:
        main([str(a) for a in args])
    captured = capsys.readouterr()
    return done.value.code, " ".join(captured.err.split())


def test_the_cli_refuses_an_outside_reward_unless_told_to_trust_the_file(tiny_dir, tmp_path, marks, capsys,
                                                                         monkeypatch):
    pipeline = _pipeline(tmp_path, tiny_dir, [f"{OUTSIDE}.reward"])
    code, err = _posttrain(["train", pipeline], capsys)
    assert code == 2 and f"'{OUTSIDE}.reward' is refused" in err and "--trust-file" in err
    assert not (marks / "imported").exists() and not (tmp_path / "run").exists()

    def validate_only(self, **_):
        self.validate()
        raise ConfigError("validated; the run itself is not part of this test")

    monkeypatch.setattr(Trainer, "run", validate_only)
    code, err = _posttrain(["train", pipeline, "--trust-file", "--output-dir", tmp_path / "other"], capsys)
    assert code == 2 and "validated; the run itself" in err
    assert (marks / "called").exists()


def test_every_refused_reward_of_a_stage_is_reported_at_once(tiny_dir, tmp_path):
    spec = {"model": str(tiny_dir), "output_dir": str(tmp_path / "run"),
            "stages": [{"kind": "grpo", "data": [{"prompt": "2+2?", "answer": "4"}],
                        "rewards": ["os.system", "posttrain.rewards.math_accuracy", "subprocess.getoutput"]}]}
    with pytest.raises(ConfigError) as err:
        Trainer.from_dict(spec, base_dir=tmp_path).validate()
    assert "rewards[0]" in str(err.value) and "rewards[2]" in str(err.value) and "rewards[1]" not in str(err.value)
    assert not (tmp_path / "run").exists()


def test_the_trust_file_fix_says_the_module_must_still_be_importable_or_beside_the_file(tiny_dir, tmp_path):
    path = _pipeline(tmp_path, tiny_dir, ["not_installed_anywhere.score"])
    with pytest.raises(ConfigError) as refused:
        Trainer.from_yaml(path).validate()
    assert ("posttrain train --trust-file); the module must then still be importable where you run (installed, "
            "or its folder on PYTHONPATH) or sit beside the file") in str(refused.value)
    with pytest.raises(ConfigError) as trusted:
        Trainer.from_yaml(path, trust_file=True).validate()
    assert "cannot import 'not_installed_anywhere.score'" in str(trusted.value)
    assert "importable where you run (installed, or its folder on PYTHONPATH) or sit beside the pipeline file" \
        in str(trusted.value)
