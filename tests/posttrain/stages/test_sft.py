"""SFT trains on assistant tokens only, end-of-turn included, for single- and multi-turn rows."""

from __future__ import annotations

import pytest

from posttrain.data import load_data
from posttrain.stages.sft import build_dataset
from posttrain.stages.sft import SFTSettings
from posttrain.stages.tokens import IGNORE, row_messages, tokenize_chat


def _trained_text(tokenizer, tokens) -> list[str]:
    """The trained spans, decoded, in order."""
    spans, current = [], []
    for token, label in zip(tokens["input_ids"], tokens["labels"]):
        if label != IGNORE:
            assert label == token
            current.append(token)
        elif current:
            spans.append(tokenizer.decode(current))
            current = []
    if current:
        spans.append(tokenizer.decode(current))
    return spans


def test_single_turn_trains_only_the_answer_and_its_end_of_turn(tiny):
    _, tokenizer = tiny
    tokens = tokenize_chat(row_messages({"prompt": "What is 2+2?", "completion": "4"}), tokenizer, 512)
    assert _trained_text(tokenizer, tokens) == ["4<|im_end|>"]
    full = tokenizer.apply_chat_template([{"role": "user", "content": "What is 2+2?"},
                                          {"role": "assistant", "content": "4"}], tokenize=False)
    assert tokenizer.decode(tokens["input_ids"]) == full.rstrip()


def test_multi_turn_trains_every_assistant_turn_and_masks_the_rest(tiny):
    _, tokenizer = tiny
    messages = [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello."}, {"role": "user", "content": "Name?"},
                {"role": "assistant", "content": "Ava."}]
    tokens = tokenize_chat(messages, tokenizer, 512)
    assert _trained_text(tokenizer, tokens) == ["Hello.<|im_end|>", "Ava.<|im_end|>"]
    masked = tokenizer.decode([t for t, l in zip(tokens["input_ids"], tokens["labels"]) if l == IGNORE])
    assert "Be terse." in masked and "Name?" in masked and "<|im_start|>assistant" in masked


def test_conversational_prompt_completion_and_system_setting(tiny):
    _, tokenizer = tiny
    row = {"prompt": [{"role": "user", "content": "Hi"}], "completion": [{"role": "assistant", "content": "Yo"}]}
    tokens = tokenize_chat(row_messages(row, system="Sys."), tokenizer, 512)
    assert _trained_text(tokenizer, tokens) == ["Yo<|im_end|>"]
    assert tokenizer.decode(tokens["input_ids"]).startswith("<|im_start|>system\nSys.")


def test_rows_truncated_to_nothing_are_named(tiny):
    _, tokenizer = tiny
    data = load_data([{"prompt": "word " * 50, "completion": "x"}, {"prompt": "Hi", "completion": "Yo"}],
                     name="sft.jsonl")
    with pytest.raises(Exception) as err:
        build_dataset(data, tokenizer, SFTSettings(max_length=20))
    assert "sft.jsonl, row 1" in str(err.value) and "max_length=20" in str(err.value)
    assert len(build_dataset(data, tokenizer, SFTSettings(max_length=512))) == 2


def test_validate_finds_a_max_length_that_leaves_no_answer_in_a_later_stage(tiny_dir, tmp_path):
    """Found before the first stage trains, not when the stage that has it starts."""
    from posttrain import Trainer
    from posttrain.errors import ConfigError

    good = [{"prompt": "Hi.", "completion": "Hello."}] * 2
    long = [{"prompt": "Tell me a long story about a dragon and a knight, please. " * 3, "completion": "Once."}] * 2
    trainer = Trainer(tiny_dir, output_dir=tmp_path / "run").sft(good, max_steps=1).sft(long, max_length=16)
    with pytest.raises(ConfigError) as refused:
        trainer.validate()
    text = str(refused.value)
    assert "stage 2 (sft) data <2 rows in memory>, row 1: has no answer tokens left within max_length=16" in text
    assert "row 2" in text and "stage 1" not in text
    assert not (tmp_path / "run").exists()
