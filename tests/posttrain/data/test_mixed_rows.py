"""A row in another format than the rest of its file: the message names the row, the field it lacks
(or adds) against the file's format, and the fix."""

from __future__ import annotations

import json

import pytest

from posttrain.data import load_data
from posttrain.errors import DataError

SFT = {"prompt": "2+2?", "completion": "4"}
DPO = {"prompt": "Who are you?", "chosen": "I am Ava.", "rejected": "I am a bot."}

# rows, then what the message must say: the place, the problem, the fix
CASES = [
    ("sft row without completion", [SFT, SFT, {"prompt": "3+3?"}, SFT],
     ["train.jsonl, row 3:", "lacks field 'completion'", "format 'prompt_completion'", "reads as format 'prompt_only'",
      "Fix: give row 3 'completion'", '{"prompt": "2+2?", "completion": "4"}', "split rows of another format"]),
    ("dpo row without rejected", [DPO, {"prompt": "Hi", "chosen": "Hello."}, DPO],
     ["train.jsonl, row 2:", "lacks field 'rejected'", "format 'preference'", "Fix: give row 2 'rejected'"]),
    ("misspelt field", [SFT, SFT, {"prompt": "3+3?", "completon": "6"}],
     ["row 3:", "lacks field 'completion'", "Fix: rename 'completon' to 'completion' in row 3"]),
    ("several fields missing", [SFT, SFT, {"text": "a document"}],
     ["row 3:", "lacks fields 'prompt', 'completion'", "reads as format 'text'", "give row 3 'prompt', 'completion'"]),
    ("an added field", [SFT, SFT, {**SFT, "label": True}],
     ["row 3:", "has 'label'", "other rows (format 'prompt_completion') lack", "reads as format 'unpaired_preference'",
      "Fix: remove 'label' from row 3"]),
    ("wrong type", [SFT, SFT, {"prompt": "3+3?", "completion": None}],
     ["row 3, field 'completion'", "must be a string, got NoneType None", "Fix: give 'completion' as text"]),
]


@pytest.mark.parametrize("case, rows, says", CASES, ids=[c[0] for c in CASES])
def test_an_odd_row_names_the_field_it_lacks_and_the_fix(case, rows, says, tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    for source in (rows, path):
        with pytest.raises(DataError) as err:
            load_data(source, name="train.jsonl")
        message = str(err.value).replace(str(path), "train.jsonl")
        for text in says:
            assert text in message
        assert "most rows are" not in message


def test_every_odd_row_is_named_once():
    with pytest.raises(DataError) as err:
        load_data([SFT, {"prompt": "a"}, SFT, {"prompt": "b"}, SFT], name="train.jsonl")
    assert [p.where for p in err.value.problems] == ["train.jsonl, row 2", "train.jsonl, row 4"]
