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
