"""Where a run writes, checked by validate() before anything is written (posttrain.pipeline.compile): a
folder that is a file or under one, one this user cannot write, and one holding another pipeline's run;
and a run's folder read for export (posttrain.pipeline.result, posttrain.pipeline.export)."""

from __future__ import annotations

import json
import os

import pytest

from posttrain import Trainer
from posttrain.errors import ConfigError
from posttrain.pipeline.result import RunResult

ROWS = [{"prompt": f"Say {i}.", "completion": f"{i}"} for i in range(4)]
PREFS = [{"prompt": f"Say {i}.", "chosen": f"{i}", "rejected": "no"} for i in range(4)]
FAST = {"max_steps": 1, "precision": "fp32"}


def test_an_output_dir_that_is_a_file_or_under_one_is_refused(tiny_dir, tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    for out, fragment in ((tmp_path / "notes.txt", "is a file"),
                          (tmp_path / "notes.txt" / "run", "is under '" + str(tmp_path / "notes.txt") + "', which is a file")):
        with pytest.raises(ConfigError, match="output_dir .*") as refused:
            Trainer(tiny_dir, output_dir=out).sft(ROWS).validate()
        assert fragment in str(refused.value) and "none of whose parts is an existing file" in str(refused.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_an_output_dir_that_cannot_be_written_is_refused(tiny_dir, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(ConfigError, match="cannot be written"):
            Trainer(tiny_dir, output_dir=locked / "run").sft(ROWS).validate()
    finally:
        locked.chmod(0o700)


def test_another_pipelines_run_is_refused_unless_replaced_on_purpose(tiny_dir, tmp_path):
    out = tmp_path / "run"
    first = Trainer(tiny_dir, output_dir=out).sft(ROWS, **FAST).dpo(PREFS, **FAST).run(progress=False)
    before = (out / "01-sft" / "stage.json").read_text()
    other = Trainer(tiny_dir, output_dir=out).dpo(PREFS, **FAST)
    with pytest.raises(ConfigError) as refused:
        other.validate()
    text = str(refused.value)
    assert "holds the run of another pipeline (stage 01-sft; stages 01-sft, 02-dpo)" in text
    assert "run(resume=False), or posttrain train --no-resume" in text
    with pytest.raises(ConfigError, match="another pipeline"):
        other.run(progress=False)
    assert (out / "01-sft" / "stage.json").read_text() == before       # the first run is untouched
    assert [s.kind for s in RunResult.from_dir(out).stages] == ["sft", "dpo"] == [s.kind for s in first.stages]

    replaced = other.run(resume=False, progress=False)                  # the explicit opt-in
    assert [s.kind for s in replaced.stages] == ["dpo"]
    assert sorted(p.name for p in out.glob("[0-9][0-9]-*")) == ["01-dpo"]   # no folder of the old run left
    assert [s["kind"] for s in json.loads((out / "run.json").read_text())["stages"]] == ["dpo"]


def test_the_same_pipeline_with_other_settings_is_not_another_pipeline(tiny_dir, tmp_path):
    out = tmp_path / "run"
    Trainer(tiny_dir, output_dir=out).sft(ROWS, **FAST).run(progress=False)
    Trainer(tiny_dir, output_dir=out).sft(ROWS, learning_rate=1e-4, **FAST).validate()     # a rerun, not a clash
    with pytest.raises(ConfigError, match=r"another pipeline \(model"):
        Trainer("default", output_dir=out).sft(ROWS, **FAST).validate()


def test_export_of_a_folder_without_a_run_is_a_library_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="holds no run.json: no stage of a run finished there. Fix: give the "
                                          "output_dir of a pipeline run"):
        RunResult.from_dir(tmp_path / "empty")
    with pytest.raises(ConfigError, match="does not exist"):
        RunResult.from_dir(tmp_path / "missing")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "run.json").write_text("[1, 2")
    with pytest.raises(ConfigError, match="has a run.json that cannot be read"):
        RunResult.from_dir(tmp_path / "bad")


@pytest.fixture(scope="module")
def finished_run(tiny_dir, tmp_path_factory):
    return Trainer(tiny_dir, output_dir=tmp_path_factory.mktemp("finished") / "run").sft(ROWS, **FAST).run(progress=False)


def test_export_into_a_path_under_a_file_is_refused_before_writing(finished_run, tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="export folder .*: is under .*which is a file"):
        finished_run.export(tmp_path / "file" / "export", gguf=(), ollama=False)
    assert (tmp_path / "file").read_text() == "x"


def test_ctrl_c_during_export_says_nothing_was_written_and_how_to_start_again(finished_run, tmp_path, capsys,
                                                                               monkeypatch):
    import posttrain.pipeline.export
    from posttrain.cli import main

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(posttrain.pipeline.export, "write_gguf", interrupted)
    out = tmp_path / "export"
    with pytest.raises(SystemExit) as done:
        main(["export", str(finished_run.output_dir), str(out), "--gguf", "q8_0", "--no-ollama"])
    err = " ".join(capsys.readouterr().err.split())
    assert done.value.code == 130
    assert err.startswith(f"interrupted: nothing was written to {out} (the unfinished export is removed; the run "
                          f"is untouched); start it again with: posttrain export {finished_run.output_dir} {out} "
                          "--gguf q8_0 --no-ollama")
    assert not out.exists() and not list(tmp_path.glob(".*export-*"))


@pytest.mark.parametrize("args, fragment", [
    (["nowhere", "out"], "run folder 'nowhere': does not exist"),
    (["empty", "out"], "holds no run.json"),
])
def test_posttrain_export_prints_the_library_error_not_errno(args, fragment, tmp_path, capsys, monkeypatch):
    from posttrain.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit) as done:
        main(["export", *args])
    err = " ".join(capsys.readouterr().err.split())
    assert done.value.code == 2 and fragment in err and "Errno" not in err
