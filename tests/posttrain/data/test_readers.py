"""Where rows come from: folders written by `datasets`' save_to_disk, folders of data files (hub
snapshots), hub dataset ids found in the local cache only (never downloaded), and DatasetDicts."""

from __future__ import annotations

import json

import pytest

from posttrain.data import DataFormat, load_data
from posttrain.errors import DataError

ROWS = [{"prompt": "2+2?", "completion": "4"}, {"prompt": "3+3?", "completion": "6"}]
TEST_ROWS = [{"prompt": "5+5?", "completion": "10"}]


def _jsonl(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(json.dumps(r) for r in rows))


def test_save_to_disk_dataset_and_dataset_dict(tmp_path):
    import datasets

    datasets.Dataset.from_list(ROWS).save_to_disk(str(tmp_path / "one"))
    assert load_data(tmp_path / "one").rows == ROWS
    splits = datasets.DatasetDict({"train": datasets.Dataset.from_list(ROWS),
                                   "test": datasets.Dataset.from_list(TEST_ROWS)})
    splits.save_to_disk(str(tmp_path / "dict"))
    assert load_data(tmp_path / "dict").rows == ROWS
    assert load_data(str(tmp_path / "dict"), split="test").rows == TEST_ROWS
    assert load_data(splits, split="test").rows == TEST_ROWS
    with pytest.raises(DataError, match=r"has no split 'dev'.*use one of \['test', 'train'\]"):
        load_data(tmp_path / "dict", split="dev")


def test_dataset_dict_without_train_asks_for_a_split(tmp_path):
    import datasets

    splits = datasets.DatasetDict({"a": datasets.Dataset.from_list(ROWS), "b": datasets.Dataset.from_list(ROWS)})
    with pytest.raises(DataError, match=r"none is called 'train'.*split='a'"):
        load_data(splits)


def test_folder_of_files_reads_the_train_split(tmp_path):
    _jsonl(tmp_path / "data" / "train-00000.jsonl", ROWS[:1])
    _jsonl(tmp_path / "data" / "train-00001.jsonl", ROWS[1:])
    _jsonl(tmp_path / "data" / "test-00000.jsonl", TEST_ROWS)
    (tmp_path / "README.md").write_text("# A dataset card")
    assert load_data(tmp_path).rows == ROWS
    assert load_data(tmp_path, split="test").rows == TEST_ROWS


def test_folder_of_documents_is_a_corpus(tmp_path):
    (tmp_path / "a.md").write_text("First doc.")
    (tmp_path / "b.txt").write_text("Second doc.\n\nThird block.")
    data = load_data(tmp_path)
    assert data.format is DataFormat.TEXT and len(data) == 3


def test_empty_folder_is_refused(tmp_path):
    with pytest.raises(DataError, match="is a folder with no data files"):
        load_data(tmp_path)


def test_hub_id_is_read_from_the_local_cache_only(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    repo = tmp_path / "datasets--someone--tiny-sft"
    commit = "0" * 40
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    _jsonl(repo / "snapshots" / commit / "data" / "train.jsonl", ROWS)
    data = load_data("someone/tiny-sft")
    assert data.rows == ROWS and data.source == "someone/tiny-sft"


def test_hub_id_not_cached_is_a_clear_error(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "ds"))
    with pytest.raises(DataError) as err:
        load_data("nobody/not-cached-anywhere")
    message = str(err.value)
    assert "not a file or folder here nor a hub dataset in the local Hugging Face cache" in message.replace(
        "neither a file", "not a file")
    assert "never downloads" in message and "hf download nobody/not-cached-anywhere --repo-type dataset" in message


# -- data as people save it ------------------------------------------------------------------------------------

@pytest.mark.parametrize("suffix, body", [
    (".jsonl", '{"prompt": "hi", "completion": "there"}\n{"prompt": "yo", "completion": "you"}\n'),
    (".json", '[{"prompt": "hi", "completion": "there"}, {"prompt": "yo", "completion": "you"}]'),
    (".csv", "prompt,completion\nhi,there\nyo,you\n"),
])
def test_a_utf8_byte_order_mark_is_read_as_utf8(suffix, body, tmp_path):
    """Excel, PowerShell and Windows editors start UTF-8 files with a byte-order mark."""
    path = tmp_path / f"rows{suffix}"
    path.write_bytes(b"\xef\xbb\xbf" + body.encode())
    data = load_data(path)
    assert data.format is DataFormat.PROMPT_COMPLETION and data.rows[0]["prompt"] == "hi"


@pytest.mark.parametrize("suffix, body", [(".jsonl", '{"text": "a document"}\n'), (".csv", "text\na document\n"),
                                          (".txt", "a document\n")])
def test_a_streamed_corpus_with_a_byte_order_mark_is_read_as_utf8(suffix, body, tmp_path):
    path = tmp_path / f"corpus{suffix}"
    path.write_bytes(b"\xef\xbb\xbf" + body.encode())
    assert next(iter(load_data(path, streaming=True).rows())) == {"text": "a document"}


@pytest.mark.parametrize("line", [
    '{"prompt": "what is 2+2?", "completion": "4" "x"}',
    '{"prompt": "a carriage\rreturn", "completion": "4"}',       # a raw CR inside a line: not a line end
    '{"prompt": "trailing comma", "completion": "4",}',
])
def test_a_malformed_jsonl_line_is_reported_at_the_parsers_line_and_column(line, tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_bytes(('{"prompt": "ok", "completion": "ok"}\r\n' + line + "\n").encode())
    try:
        json.loads(line)
    except json.JSONDecodeError as parser:
        expected = f"line 2: invalid JSON ({parser.msg} at column {parser.colno})"
    with pytest.raises(DataError) as refused:
        load_data(path)
    assert expected in str(refused.value)
    with pytest.raises(DataError) as streamed:
        list(load_data(path, streaming=True).rows())
    assert expected in str(streamed.value)


def test_a_malformed_json_file_is_reported_at_the_parsers_line_and_column(tmp_path):
    text = '[\r\n  {"prompt": "a", "completion": "b"},\r\n  {"prompt": "c" "completion": "d"}\r\n]'
    path = tmp_path / "rows.json"
    path.write_bytes(text.encode())
    try:
        json.loads(text)
    except json.JSONDecodeError as parser:
        expected = f"invalid JSON ({parser.msg} at line {parser.lineno}, column {parser.colno})"
    with pytest.raises(DataError) as refused:
        load_data(path)
    assert expected in str(refused.value) and "line 3, column 18" in expected     # CR LF kept as the file has them
