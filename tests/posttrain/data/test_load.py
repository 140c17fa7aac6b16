"""Data loading: format detection, normalisation, and errors that name the row and field."""

from __future__ import annotations

import json

import pytest

from posttrain.data import DataFormat, load_data
from posttrain.errors import DataError

MSG = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]


@pytest.mark.parametrize("rows, expected, conversational", [
    ([{"text": "A document."}], DataFormat.TEXT, False),
    ([{"messages": MSG}], DataFormat.MESSAGES, True),
    ([{"prompt": "2+2?", "completion": "4"}], DataFormat.PROMPT_COMPLETION, False),
    ([{"prompt": MSG[:1], "completion": MSG[1:]}], DataFormat.PROMPT_COMPLETION, True),
    ([{"prompt": "Who?", "chosen": "Ava", "rejected": "A bot"}], DataFormat.PREFERENCE, False),
    ([{"prompt": MSG[:1], "chosen": MSG[1:], "rejected": [{"role": "assistant", "content": "No."}]}],
     DataFormat.PREFERENCE, True),
    ([{"prompt": "3*4?", "answer": "12"}], DataFormat.PROMPT_ONLY, False),
    ([{"instruction": "Add", "input": "2 and 2", "output": "4"}], DataFormat.PROMPT_COMPLETION, False),
    ([{"question": "3*4?", "answer": "12"}], DataFormat.PROMPT_ONLY, False),
])
def test_detects_each_format(rows, expected, conversational):
    data = load_data(rows)
    assert data.format is expected
    assert data.conversational is conversational


def test_alpaca_rows_are_normalised_with_input_folded_into_prompt():
    data = load_data([{"instruction": "Add", "input": "2 and 2", "output": "4"}])
    assert data.rows == [{"prompt": "Add\n\n2 and 2", "completion": "4"}]


def test_standard_rows_become_conversational_for_chat_models():
    data = load_data([{"prompt": "Who?", "chosen": "Ava", "rejected": "A bot", "id": 3}])
    row = data.as_conversational(system="Be brief.")[0]
    assert row["prompt"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Who?"}]
    assert row["chosen"] == [{"role": "assistant", "content": "Ava"}]
    assert row["id"] == 3
    assert data.extra_columns == ["id"]


def test_extra_columns_survive_for_reward_functions():
    data = load_data([{"prompt": "3*4?", "answer": "12", "level": 1}])
    assert data.to_dataset(conversational=True)[0]["answer"] == "12"


@pytest.mark.parametrize("suffix, writer", [
    (".jsonl", lambda rows: "\n".join(json.dumps(r) for r in rows)),
    (".json", lambda rows: json.dumps(rows)),
    (".csv", lambda rows: "prompt,completion\n" + "\n".join(f"{r['prompt']},{r['completion']}" for r in rows)),
])
def test_reads_files(tmp_path, suffix, writer):
    rows = [{"prompt": "2+2?", "completion": "4"}, {"prompt": "3+3?", "completion": "6"}]
    path = tmp_path / f"data{suffix}"
    path.write_text(writer(rows))
    data = load_data(path)
    assert data.rows == rows and data.source == str(path)


def test_reads_parquet_and_datasets(tmp_path):
    import datasets

    ds = datasets.Dataset.from_list([{"prompt": "2+2?", "completion": "4"}])
    ds.to_parquet(str(tmp_path / "d.parquet"))
    assert load_data(tmp_path / "d.parquet").format is DataFormat.PROMPT_COMPLETION
    assert load_data(ds).rows == [{"prompt": "2+2?", "completion": "4"}]


def test_fingerprint_changes_with_content():
    a = load_data([{"prompt": "2+2?", "completion": "4"}])
    b = load_data([{"prompt": "2+2?", "completion": "5"}])
    assert a.fingerprint != b.fingerprint
    assert a.fingerprint == load_data([{"prompt": "2+2?", "completion": "4"}]).fingerprint


# Each bad input: the rows, then fragments the message must contain (row number, field, the fix).
BAD_ROWS = [
    ("empty completion", [{"prompt": "p", "completion": "ok"}, {"prompt": "p", "completion": " "}],
     ["row 2", "'completion'", "is empty"]),
    ("prompt not a string", [{"prompt": 3, "completion": "x"}], ["row 1", "'prompt'", "must be a string"]),
    ("unknown role", [{"messages": [{"role": "robot", "content": "x"}]}], ["row 1", "'messages'[0]", "robot"]),
    ("no assistant turn", [{"messages": [{"role": "user", "content": "x"}]}],
     ["row 1", "'messages'", "no non-empty assistant"]),
    ("message content not text", [{"messages": [{"role": "user", "content": ["x"]}]}],
     ["row 1", "'messages'[0]", "'content' must be a string"]),
    ("message missing role", [{"messages": [{"content": "x"}]}], ["row 1", "'messages'[0]", "'role' and 'content'"]),
    ("chosen equals rejected", [{"prompt": "p", "chosen": "same", "rejected": "same"}],
     ["row 1", "'rejected'", "equals 'chosen'"]),
    ("preference without prompt", [{"chosen": "a", "rejected": "b"}], ["row 1", "'prompt'", "is missing"]),
    ("unknown fields", [{"query": "x", "reply": "y"}], ["row 1", "match no known format"]),
    ("row not a dict", [["prompt", "completion"]], ["row 1", "not an object"]),
    ("string prompt, list completion", [{"prompt": "p", "completion": [{"role": "assistant", "content": "a"}]}],
     ["row 1", "'completion'", "message list"]),
    ("prompt ends with assistant", [{"prompt": [{"role": "assistant", "content": "a"}], "answer": "1"}],
     ["row 1", "'prompt'", "ends with an assistant message"]),
    ("mixed formats", [{"prompt": "p", "completion": "c"}, {"text": "t"}], ["row 2", "format 'text'", "split"]),
    ("mixed styles", [{"prompt": "p", "completion": "c"},
                      {"prompt": MSG[:1], "completion": MSG[1:]}], ["row 2", "'prompt'", "unlike row 1"]),
    ("empty dataset", [], ["has no rows"]),
]


@pytest.mark.parametrize("case, rows, fragments", BAD_ROWS, ids=[c[0] for c in BAD_ROWS])
def test_bad_rows_name_row_and_field(case, rows, fragments):
    with pytest.raises(DataError) as err:
        load_data(rows, name="train.jsonl")
    message = str(err.value)
    for fragment in fragments:
        assert fragment in message, f"{case}: {fragment!r} not in {message!r}"
    assert "Fix:" in message or "has no rows" in message or "split" in message


def test_every_bad_row_is_reported_at_once():
    rows = [{"prompt": "p", "completion": ""}, {"prompt": "", "completion": "c"}, {"prompt": "p", "completion": "c"}]
    with pytest.raises(DataError) as err:
        load_data(rows)
    assert len(err.value.problems) == 2
    assert "row 1" in str(err.value) and "row 2" in str(err.value)


@pytest.mark.parametrize("name, content, fragments", [
    ("missing.jsonl", None, ["file not found"]),
    ("bad.jsonl", '{"prompt": "a", "completion": "b"}\n{"prompt": oops}\n', ["line 2", "invalid JSON"]),
    ("bad.json", '{"prompt": ', ["invalid JSON"]),
    ("rows.json", '{"prompt": "a"}', ["not a list of rows"]),
    ("data.xlsx", "x", ["unsupported file type '.xlsx'"]),
    ("empty.jsonl", "", ["has no rows"]),
    ("latin1.jsonl", b'{"prompt": "caf\xe9", "completion": "b"}\n', ["not UTF-8 text", "0xe9", "save the file as UTF-8"]),
    ("latin1.csv", b"prompt,completion\ncaf\xe9,b\n", ["not UTF-8 text"]),
    ("garbage.parquet", b"PAR1 not really", ["not a readable Parquet file"]),
    ("empty.parquet", b"", ["not a readable Parquet file"]),
])
def test_bad_files(tmp_path, name, content, fragments):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(DataError) as err:
        load_data(path)
    for fragment in fragments:
        assert fragment in str(err.value)
    assert name in str(err.value)


def test_expected_format_is_enforced_with_an_example():
    with pytest.raises(DataError) as err:
        load_data([{"text": "just text"}], expect=[DataFormat.PREFERENCE], name="prefs.jsonl")
    assert "format 'text'" in str(err.value) and '"chosen"' in str(err.value)


def test_rows_with_names_that_are_not_strings_are_refused_by_name():
    with pytest.raises(DataError, match=r"has fields \['note', 1\], which match no known format"):
        load_data([{1: "x", "note": "y"}])


def test_an_unknown_expected_format_is_a_config_error():
    from posttrain.errors import ConfigError

    with pytest.raises(ConfigError, match=r"load_data\(expect=...\): unknown format\(s\) \['chat'\]"):
        load_data([{"text": "a"}], expect=["text", "chat"])


def test_a_chat_row_ending_in_a_user_turn_is_refused_naming_the_row():
    rows = [{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]},
            {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"},
                          {"role": "user", "content": "and then?"}]}]
    with pytest.raises(DataError) as refused:
        load_data(rows)
    text = str(refused.value)
    assert "row 2, field 'messages': ends with a user turn (message 2: 'and then?')" in text
    assert "Fix: add the assistant's reply after it, or remove that last turn" in text
    assert "row 1" not in text
