"""The starting model: base vs instruct and parameter count, read from local files (never downloaded),
from the name, or as stated; and what the advice does with them."""

from __future__ import annotations

import json
import struct

import pytest

from advisor import TaskSpec, advise
from advisor.model_info import describe_model, params_from_config, params_from_name
from posttrain.errors import ConfigError

SMOLLM2 = {"hidden_size": 576, "num_hidden_layers": 30, "vocab_size": 49152, "intermediate_size": 1536,
           "num_attention_heads": 9, "num_key_value_heads": 3, "head_dim": 64, "tie_word_embeddings": True}


def write_safetensors(path, shapes):
    """A safetensors file whose header names tensors of `shapes` (the data bytes are zeros)."""
    header, offset = {}, 0
    for name, shape in shapes.items():
        size = 4
        for dim in shape:
            size *= dim
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + bytes(offset))


def model_folder(folder, *, chat_template: bool, config=None):
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(config or SMOLLM2))
    tokenizer = {"eos_token": "</s>", **({"chat_template": "{{ messages }}"} if chat_template else {})}
    (folder / "tokenizer_config.json").write_text(json.dumps(tokenizer))
    return folder


@pytest.mark.parametrize("name, params", [
    ("Qwen/Qwen2.5-1.5B", 1_500_000_000), ("SmolLM2-135M-Instruct", 135_000_000),
    ("meta-llama/Llama-3.1-8B-Instruct", 8_000_000_000), ("gemma-2-9b-it", 9_000_000_000),
    ("gpt2", None), ("Qwen2.5-Math", None),
])
def test_parameter_count_from_the_name(name, params):
    assert params_from_name(name) == params


def test_parameter_count_from_a_config_matches_the_default_model_by_hand():
    # embeddings 49152*576 (tied) + 30 layers * (attention 576*(576+192+192+576) + MLP 3*576*1536 + 2 norms)
    # + final norm
    by_hand = 49152 * 576 + 30 * (576 * 1536 + 3 * 576 * 1536 + 2 * 576) + 576
    assert params_from_config(SMOLLM2) == by_hand == 134_515_008


def test_a_local_folder_with_a_chat_template_is_instruct_and_counted_from_safetensors(tmp_path):
    folder = model_folder(tmp_path / "my-model", chat_template=True)
    write_safetensors(folder / "model.safetensors", {"embed": [100, 8], "layer.weight": [8, 8]})
    info = describe_model(str(folder))
    assert (info.kind, info.kind_from, info.params, info.params_from) == \
        ("instruct", "chat template", 100 * 8 + 8 * 8, "safetensors")


def test_a_local_folder_without_a_chat_template_is_base_and_counted_from_its_config(tmp_path):
    info = describe_model(str(model_folder(tmp_path / "ckpt", chat_template=False)))
    assert (info.kind, info.kind_from, info.params, info.params_from) == \
        ("base", "no chat template", 134_515_008, "config")


def test_the_name_wins_over_a_chat_template_some_base_models_ship(tmp_path):
    info = describe_model(str(model_folder(tmp_path / "wren-1b-base", chat_template=True)))
    assert (info.kind, info.kind_from) == ("base", "name")


def test_the_hugging_face_cache_is_read_without_a_download(tmp_path, monkeypatch):
    snapshot = tmp_path / "hub" / "models--acme--wren-7b" / "snapshots" / "abc123"
    model_folder(snapshot, chat_template=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    info = describe_model("acme/wren-7b")
    assert (info.kind, info.folder, info.params_from) == ("base", str(snapshot), "config")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty"))
    assert describe_model("acme/wren-7b").kind is None


def test_what_the_spec_states_wins(tmp_path):
    folder = model_folder(tmp_path / "ckpt", chat_template=False)
    rec = advise({"model": str(folder), "model_kind": "instruct", "model_params": "7B", "num_instructions": 2})
    assert (rec.spec.model_kind, rec.spec.model_params) == ("instruct", 7_000_000_000)
    assert (rec.model_info.kind_from, rec.model_info.params_from) == ("stated", "stated")
    assert rec.approach == "prompt_engineering"


def test_a_local_base_checkpoint_gets_sft_first(tmp_path):
    folder = model_folder(tmp_path / "ckpt", chat_template=False)
    rec = advise({"model": str(folder), "target_skills": ["tone"], "preference_pairs": 8000})
    assert (rec.approach, rec.stages) == ("post_training", ["sft", "dpo"])
    assert rec.reasons[0].rule == "base-model" and "base model" in rec.reasons[0].message
    assert any(w.endswith("[base-model-without-demonstrations]") for w in rec.warnings)
    assert "Model: " in str(rec) and "no chat template" in str(rec)


def test_the_default_model_is_instruct_and_small():
    info = describe_model("default")
    assert info.kind == "instruct" and 134_000_000 <= info.params <= 136_000_000
    rec = advise({"model": "default", "target_skills": ["math"], "verifiable_reward": True, "rl_prompts": 5000})
    assert any(w.endswith("[model-too-small]") and "0.13B" in w for w in rec.warnings)


@pytest.mark.parametrize("value", ["big", "1.5Q", -3])
def test_a_bad_parameter_count_is_a_config_error(value):
    with pytest.raises(ConfigError, match="model_params"):
        TaskSpec.load({"model_params": value})
