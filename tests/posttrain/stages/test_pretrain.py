"""Pre-training on a corpus larger than memory: text rows streamed from files or a datasets.IterableDataset,
read while training runs (never whole), each checked as it is read, with max_steps required."""

from __future__ import annotations

import json

import pytest
import torch

from posttrain import Trainer, load_model
from posttrain.data import Stream, load_data
from posttrain.data.stream import HEAD_ROWS
from posttrain.errors import ConfigError, DataError

ROWS = 1000


def write_corpus(path, rows=ROWS, bad_row=None):
    lines = [json.dumps({"text": f"The ferry to pier {i % 5} leaves at {6 + i % 5} in the morning.", "id": i})
             for i in range(rows)]
    if bad_row is not None:
        lines[bad_row - 1] = json.dumps({"text": "", "id": bad_row})
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_streamed_jsonl_corpus_trains_a_tiny_model_without_reading_it_whole(tiny_dir, tmp_path):
    stream = load_data(write_corpus(tmp_path / "corpus.jsonl"), streaming=True)
    assert isinstance(stream, Stream) and len(stream.head) == HEAD_ROWS and len(stream) == 0
    run = Trainer(tiny_dir, output_dir=tmp_path / "run").pretrain(stream, max_steps=8, batch_size=4,
                                                                   learning_rate=3e-3).run(progress=False)
    stage = run.stages[0]
    _, losses = stage.series("loss")
    assert len(losses) == 8 and losses[-1] < losses[0], losses
    before, _ = load_model(tiny_dir)
    after, _ = run.load()
    assert not torch.equal(before.model.embed_tokens.weight, after.model.embed_tokens.weight)
    assert 8 * 4 <= stage.data["rows"] < ROWS, "rows read: at least the rows trained on, never the whole file"


def test_an_iterable_dataset_is_streamed_and_files_are_read_as_whole_reads_read_them(tmp_path):
    import datasets

    dataset = datasets.load_dataset("json", data_files=str(write_corpus(tmp_path / "c.jsonl", rows=200)),
                                    split="train", streaming=True)
    stream = load_data(dataset)
    assert isinstance(stream, Stream) and [row["id"] for row in stream.rows()] == list(range(200))
    (tmp_path / "notes.txt").write_text("First block\nstill first.\n\nSecond block.\n\n\nThird.\n")
    assert list(load_data(tmp_path / "notes.txt", streaming=True).rows()) == load_data(tmp_path / "notes.txt").rows \
        == [{"text": "First block\nstill first."}, {"text": "Second block."}, {"text": "Third."}]
    (tmp_path / "content.jsonl").write_text('{"content": "a page", "url": "x"}\n')
    renamed = load_data(tmp_path / "content.jsonl", streaming=True, columns={"content": "text", "url": None})
    assert list(renamed.rows()) == [{"text": "a page"}]


def test_a_stream_without_max_steps_is_refused_before_training(tiny_dir, tmp_path):
    stream = load_data(write_corpus(tmp_path / "corpus.jsonl"), streaming=True)
    with pytest.raises(ConfigError) as err:
        Trainer(tiny_dir, output_dir=tmp_path / "run").pretrain(stream, batch_size=4).validate()
    message = str(err.value)
    assert "stage 1 (pretrain), setting 'max_steps': is not set" in message and "is streamed" in message
    assert "Fix: set how many optimizer steps to train, e.g. .pretrain(corpus, max_steps=1000)" in message
    assert not (tmp_path / "run").exists()


def test_a_bad_row_past_the_checked_head_stops_training_naming_it(tiny_dir, tmp_path):
    stream = load_data(write_corpus(tmp_path / "corpus.jsonl", bad_row=HEAD_ROWS + 3), streaming=True)
    with pytest.raises(DataError, match=rf"corpus.jsonl, row {HEAD_ROWS + 3}, field 'text': is empty"):
        Trainer(tiny_dir, output_dir=tmp_path / "run").pretrain(stream, max_steps=40, batch_size=4).run(progress=False)


@pytest.mark.parametrize("rows, fragment", [
    ([{"prompt": "2+2?", "completion": "4"}], "only raw text"),
    ([{"text": "fine"}, {"prompt": "odd", "completion": "one"}], "row 2"),
])
def test_only_text_streams(tmp_path, rows, fragment):
    path = tmp_path / "data.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    with pytest.raises(DataError, match=fragment):
        load_data(path, streaming=True)


def test_a_stream_given_to_sft_points_to_pretrain_and_a_json_file_to_jsonl(tmp_path):
    stream = load_data(write_corpus(tmp_path / "corpus.jsonl", rows=3), streaming=True)
    with pytest.raises(DataError, match=r"format 'text'.*train on it with \.pretrain"):
        load_data(stream, expect=["messages", "prompt_completion"])
    (tmp_path / "rows.json").write_text(json.dumps([{"text": "a"}]))
    with pytest.raises(DataError, match=r"rows.json: is a .json file.*write it as .jsonl"):
        load_data(tmp_path / "rows.json", streaming=True)
