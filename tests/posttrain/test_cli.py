"""The `posttrain` command line: train, eval and doctor, and one way of failing (exit 2, the message)."""

from __future__ import annotations

import json

import pytest
import yaml

ROWS = [{"prompt": f"Say the number {i}.", "completion": f"{i}"} for i in range(8)]


def _posttrain(args, capsys):
    from posttrain.cli import main

    with pytest.raises(SystemExit) as done:
        main([str(a) for a in args])
    captured = capsys.readouterr()
    return done.value.code, captured.out, " ".join(captured.err.split())


def _pipeline(tmp_path, model, **stage):
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump({"model": str(model), "output_dir": str(tmp_path / "run"),
                                    "stages": [{"kind": "sft", "data": "rows.jsonl", **stage}]}))
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    return path


def test_train_runs_a_pipeline_and_prints_its_summary(tiny_dir, tmp_path, capsys):
    pipeline = _pipeline(tmp_path, tiny_dir, max_steps=2, batch_size=4)
    code, out, _ = _posttrain(["train", pipeline, "--output-dir", tmp_path / "elsewhere"], capsys)
    assert code == 0
    assert "01-sft" in out and "report:" in out
    assert (tmp_path / "elsewhere" / "01-sft" / "model" / "model.safetensors").exists()
    assert not (tmp_path / "run").exists()


def test_train_refuses_a_bad_pipeline_with_exit_2_and_the_fix(tiny_dir, tmp_path, capsys):
    pipeline = _pipeline(tmp_path, tiny_dir, max_stepz=2)
    code, out, err = _posttrain(["train", pipeline], capsys)
    assert code == 2
    assert "setting 'max_stepz'" in err and "did you mean 'max_steps'" in err
    assert "Traceback" not in out + err and not (tmp_path / "run").exists()


def test_train_refuses_invalid_yaml(tmp_path, capsys):
    broken = tmp_path / "broken.yaml"
    broken.write_text("stages: [kind: sft\n")
    code, _, err = _posttrain(["train", broken], capsys)
    assert code == 2 and "cannot be parsed" in err and "fix the YAML" in err


def test_eval_scores_a_model_and_saves_json(tiny_dir, tmp_path, capsys):
    suite = tmp_path / "suite.yaml"
    suite.write_text(yaml.safe_dump([{"kind": "perplexity", "texts": ["The cat sat on the mat.", "Hello there."]}]))
    code, out, _ = _posttrain(["eval", tiny_dir, "--suite", suite, "--output", tmp_path / "r.json"], capsys)
    assert code == 0 and "perplexity" in out
    saved = json.loads((tmp_path / "r.json").read_text())
    assert saved and "perplexity" in json.dumps(saved)


def test_eval_with_a_missing_suite_exits_2(tiny_dir, tmp_path, capsys):
    code, _, err = _posttrain(["eval", tiny_dir, "--suite", tmp_path / "nope.yaml"], capsys)
    assert code == 2 and "nope.yaml" in err


def test_an_error_prints_its_message_verbatim_and_unbroken(tiny_dir, tmp_path, capsys):
    # Brackets are text, not markup, and a long path is not split across lines.
    missing = tmp_path / ("[bold]suite-" + "x" * 120 + ".yaml")
    code, _, err = _posttrain(["eval", tiny_dir, "--suite", missing], capsys)
    assert code == 2 and str(missing) in err


def test_doctor_reports_the_machine_the_models_and_the_trl_hooks(capsys):
    code, out, _ = _posttrain(["doctor"], capsys)
    assert code == 0
    flat = " ".join(out.split())
    for row in ("torch threads", "bf16 on CPU", "default model", "default embedder", "TRL hook"):
        assert row in flat, row


def test_train_help_names_its_argument_as_a_pipeline_file(capsys):
    code, out, _ = _posttrain(["train", "--help"], capsys)
    assert code == 0 and "PIPELINE.yaml" in out and "{pipeline}" not in out


@pytest.mark.timeout(600)
def test_ctrl_c_during_training_says_what_is_kept_and_how_to_resume(tiny_dir, tmp_path):
    """SIGINT while the second stage trains: exit 130, one line naming the finished stage and the command
    that resumes, and no .lock left."""
    import signal
    import subprocess
    import sys

    path = tmp_path / "pipeline.yaml"
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    path.write_text(yaml.safe_dump({"model": str(tiny_dir), "output_dir": str(tmp_path / "run"), "stages": [
        {"kind": "sft", "data": "rows.jsonl", "max_steps": 1, "precision": "fp32"},
        {"kind": "sft", "data": "rows.jsonl", "max_steps": 100000, "precision": "fp32"}]}))
    child = subprocess.Popen([sys.executable, "-m", "posttrain", "train", str(path)], stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
    try:
        seen = []
        for line in child.stderr:
            seen.append(line)
            if line.startswith("[2/2] sft: from"):
                break
        assert (tmp_path / "run" / "01-sft" / "stage.json").exists(), seen
        child.send_signal(signal.SIGINT)
        _, rest = child.communicate(timeout=300)
        assert child.returncode == 130, rest
    finally:
        child.kill()
    notes = [line for line in rest.splitlines() if line.startswith("interrupted:")]
    assert len(notes) == 1, rest
    assert f"kept in {tmp_path / 'run'}: finished 01-sft" in notes[0]
    assert f"resume with: posttrain train {path}" in notes[0]
    assert "Traceback" not in rest
    assert not (tmp_path / "run" / ".lock").exists()


def test_train_exits_1_with_the_reason_when_a_stage_could_not_learn(tiny_dir, tmp_path, capsys):
    # a module name no other test uses: it stays imported in this process after the run
    (tmp_path / "tied_rewards.py").write_text("def same(completions, **columns):\n    return [1.0 for _ in completions]\n")
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump({"model": str(tiny_dir), "output_dir": str(tmp_path / "run"), "stages": [
        {"kind": "grpo", "data": [{"prompt": "Say a word."}] * 2, "rewards": ["tied_rewards.same"], "max_steps": 1,
         "num_generations": 2, "batch_size": 2, "max_completion_length": 4, "precision": "fp32"}]}))
    code, out, err = _posttrain(["train", path], capsys)
    assert code == 1
    assert ("error: a stage failed (1 problem): - stage 01-grpo: the rewards never differed within a group of "
            "answers in 1 logged step, so no update moved the model; it learned nothing") in err
    assert "allow_no_learning=True" in err and "report:" not in out
    assert (tmp_path / "run" / "01-grpo" / "failed.json").exists()
    assert not (tmp_path / "run" / ".lock").exists()
