"""A model that is not on the machine is refused in validate() (hub downloads off), by the CLI with its
message and exit status 2; a stage that fails before its first checkpoint leaves no folder behind."""

from __future__ import annotations

import pytest

from posttrain import ConfigError, Trainer
from posttrain.cli import main

ROWS = [{"prompt": f"Say the number {i}.", "completion": f"{i}"} for i in range(4)]
MISSING = "meta-llama/Llama-3.2-1B-Instruct"


@pytest.mark.parametrize("model, place, problem, fix", [
    (MISSING, f"model '{MISSING}'", "is not on this machine and hub downloads are off",
     f"huggingface-cli download {MISSING}"),
    ("no-such-org/no-such-model", "model 'no-such-org/no-such-model'", "HF_HUB_OFFLINE=1", "use 'default'"),
    ("gpt2", "model 'gpt2'", "is not on this machine", "point to a local folder"),
])
def test_a_hub_model_not_on_the_machine_is_refused_in_validate(tmp_path, model, place, problem, fix):
    trainer = Trainer(model, output_dir=tmp_path / "run").sft(ROWS, max_steps=1)
    with pytest.raises(ConfigError) as err:
        trainer.validate()
    text = str(err.value)
    assert place in text and problem in text and fix in text
    with pytest.raises(ConfigError, match="is not on this machine"):
        trainer.run(progress=False)
    assert not (tmp_path / "run").exists()


def test_the_cli_prints_the_message_and_exits_2_without_a_traceback(tmp_path, capsys):
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(f"model: {MISSING}\noutput_dir: {tmp_path / 'run'}\n"
                        "stages:\n  - {kind: sft, data: [{prompt: a, completion: b}], max_steps: 1}\n")
    with pytest.raises(SystemExit) as exit_:
        main(["train", str(pipeline)])
    err = capsys.readouterr().err
    assert exit_.value.code == 2
    assert "is not on this machine" in err and "Traceback" not in err and len(err.splitlines()) <= 4
    assert not (tmp_path / "run").exists()


def test_an_os_error_at_run_time_is_a_message_and_exit_2(tmp_path, capsys, monkeypatch, tiny_dir):
    from dataclasses import replace

    from posttrain.stages import STAGES

    def fails(ctx):
        raise OSError(f"cannot read {ctx.input_model}/model.safetensors")

    monkeypatch.setitem(STAGES, "sft", replace(STAGES["sft"], run=fails))
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(f"model: {tiny_dir}\noutput_dir: {tmp_path / 'run'}\n"
                        "stages:\n  - {kind: sft, data: [{prompt: a, completion: b}], max_steps: 1}\n")
    with pytest.raises(SystemExit) as exit_:
        main(["train", str(pipeline)])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "cannot read" in err and "Traceback" not in err
    assert not (tmp_path / "run" / "01-sft").exists()       # failed before its first checkpoint: no empty folder
