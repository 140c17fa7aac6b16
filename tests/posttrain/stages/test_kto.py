"""KTO: labelled answers train; bad labels are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from posttrain import ConfigError, Trainer

LABELLED = [{"prompt": f"Who are you? ({i})", "completion": "I am Ava." if i % 2 == 0 else "I am a bot.",
             "label": i % 2 == 0} for i in range(16)]


def _problems(trainer: Trainer) -> str:
    with pytest.raises(ConfigError) as err:
        trainer.validate()
    return str(err.value)


# -- a stage kind added through the registry trains ------------------------------------------------------------

def test_kto_raises_desirable_answers_over_undesirable_ones(tiny_dir, tmp_path):
    run = (Trainer(tiny_dir, output_dir=tmp_path).kto(LABELLED, max_steps=6, batch_size=4, learning_rate=1e-3)
           .run(progress=False))
    logged = [e for e in run.stages[0].history if "rewards/margins" in e]
    losses = [e["loss"] for e in logged]
    assert losses[-1] < losses[0]
    assert logged[-1]["rewards/margins"] > logged[0]["rewards/margins"] + 0.1
    assert (Path(run.model_dir) / "model.safetensors").exists()


def test_kto_rows_need_a_true_or_false_label(tiny_dir, tmp_path):
    rows = [dict(LABELLED[0], label="yes"), *LABELLED[1:]]
    message = _problems(Trainer(tiny_dir, output_dir=tmp_path).kto(rows))
    assert "row 1, field 'label'" in message and "true or false" in message
