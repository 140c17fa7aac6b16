"""DPO's checks before training (posttrain.stages.dpo)."""

from __future__ import annotations

import pytest

from posttrain import Trainer
from posttrain.errors import ConfigError

LONG = "Tell me a long story about a dragon and a knight, please. " * 3


@pytest.mark.parametrize("kind, rows", [
    ("dpo", [{"prompt": LONG, "chosen": "Yes.", "rejected": "No."}, {"prompt": "Hi", "chosen": "Yes.", "rejected": "No."}]),
    ("kto", [{"prompt": LONG, "completion": "Yes.", "label": True}, {"prompt": "Hi", "completion": "No.", "label": False}]),
])
def test_validate_finds_prompts_that_leave_no_answer_within_max_length(kind, rows, tiny_dir, tmp_path):
    """TRL keeps the start of each sequence: a prompt that fills max_length leaves the pair nothing to compare."""
    trainer = Trainer(tiny_dir, output_dir=tmp_path / "run").add_stage(kind, rows, max_length=48, system="Be brief.")
    with pytest.raises(ConfigError) as refused:
        trainer.validate()
    text = str(refused.value)
    assert f"stage 1 ({kind}) data <2 rows in memory>, row 1: has no answer tokens left within max_length=48 " \
           "(its prompt alone is" in text and "Fix: raise max_length or shorten the prompt" in text
    assert "row 2" not in text
    Trainer(tiny_dir, output_dir=tmp_path / "run").add_stage(kind, rows, max_length=256).validate()
