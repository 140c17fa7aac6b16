"""GGUF files of each supported family (posttrain.pipeline.gguf_file), read back without llama.cpp: llama.cpp's
architecture, tensor names and per-family keys; Gemma's norms shifted by one; the families transformers' own GGUF
reader supports (Mistral, Qwen2, Phi-3) load back to the same logits; the pre-tokenizer names; the k-quants refused
with the install named where llama.cpp is absent. tests/posttrain/pipeline/test_gguf_llama_cpp.py runs each
family in llama.cpp itself."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from posttrain.errors import ConfigError
from posttrain.pipeline.gguf_file import _pre_name, gguf_problems, write_gguf
from posttrain.testing import FAMILY_CONFIGS, tiny_family_model

ARCH = {"LlamaForCausalLM": "llama", "MistralForCausalLM": "llama", "Qwen2ForCausalLM": "qwen2",
        "Qwen3ForCausalLM": "qwen3", "Gemma2ForCausalLM": "gemma2", "Gemma3ForCausalLM": "gemma3",
        "Phi3ForCausalLM": "phi3"}


def _field(reader, key):
    field = reader.fields.get(key)
    return None if field is None else field.contents()


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Each family's tiny model and its f32 GGUF: (model, tokenizer, folder, reader) by architecture. With a
    600-token SentencePiece-style tokenizer, which reads back in a fraction of the default one's 5 s; the default
    model's byte-level BPE is written in tests/posttrain/pipeline/test_export.py."""
    import gguf

    from posttrain.testing import sentencepiece_tokenizer

    root = tmp_path_factory.mktemp("families")
    out, shared = {}, sentencepiece_tokenizer()
    for architecture in FAMILY_CONFIGS:
        model, tokenizer = tiny_family_model(architecture, tokenizer=shared)
        folder = root / architecture
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        (folder / "gguf").mkdir()
        path = write_gguf(folder, folder / "gguf" / "model.gguf", "f32")
        out[architecture] = (model, tokenizer, folder, gguf.GGUFReader(path))
    return out


@pytest.mark.parametrize("architecture", list(FAMILY_CONFIGS))
def test_each_family_is_written_with_llama_cpp_s_architecture_and_tensor_names(exported, architecture):
    import gguf

    model, _, folder, reader = exported[architecture]
    assert gguf_problems(folder) == []
    arch = ARCH[architecture]
    assert _field(reader, "general.architecture") == arch
    names = {t.name for t in reader.tensors}
    allowed = {gguf.TENSOR_NAMES[t].format(bid=b) + suffix for t in gguf.MODEL_TENSORS[gguf.MODEL_ARCH[arch.upper()]]
               for b in range(model.config.num_hidden_layers) for suffix in (".weight", ".bias")}
    assert names <= allowed                                   # every tensor is one llama.cpp's graph knows
    tied = "output.weight" not in names
    assert tied == bool(model.config.tie_word_embeddings)
    assert _field(reader, f"{arch}.block_count") == model.config.num_hidden_layers


def test_the_family_details_llama_cpp_reads(exported):
    _, _, _, qwen2 = exported["Qwen2ForCausalLM"]
    assert "blk.0.attn_q.bias" in {t.name for t in qwen2.tensors}
    _, _, _, qwen3 = exported["Qwen3ForCausalLM"]
    assert {"blk.0.attn_q_norm.weight", "blk.0.attn_k_norm.weight"} <= {t.name for t in qwen3.tensors}
    assert _field(qwen3, "qwen3.attention.key_length") == 32         # head_dim apart from hidden / heads
    _, _, _, gemma2 = exported["Gemma2ForCausalLM"]
    assert _field(gemma2, "gemma2.attn_logit_softcapping") == 50.0
    assert _field(gemma2, "gemma2.final_logit_softcapping") == 30.0
    assert _field(gemma2, "gemma2.attention.sliding_window") == 8
    _, _, _, phi3 = exported["Phi3ForCausalLM"]
    assert {"blk.0.attn_qkv.weight", "blk.0.ffn_up.weight"} <= {t.name for t in phi3.tensors}
    _, _, _, llama = exported["LlamaForCausalLM"]
    factors = next(t for t in llama.tensors if t.name == "rope_freqs.weight").data
    assert factors.shape == (8,) and factors.min() == 1.0 and factors.max() == 8.0   # Llama 3's RoPE scaling


@pytest.mark.parametrize("architecture", ["Gemma2ForCausalLM", "Gemma3ForCausalLM"])
def test_gemma_s_norm_weights_are_stored_plus_one(exported, architecture):
    model, _, _, reader = exported[architecture]
    stored = next(t for t in reader.tensors if t.name == "output_norm.weight").data
    assert np.allclose(stored, model.model.norm.weight.detach().numpy() + 1.0)
    if architecture == "Gemma3ForCausalLM":
        q_norm = next(t for t in reader.tensors if t.name == "blk.0.attn_q_norm.weight").data
        assert np.allclose(q_norm, model.model.layers[0].self_attn.q_norm.weight.detach().numpy() + 1.0)


@pytest.mark.parametrize("architecture", ["Qwen2ForCausalLM", "Phi3ForCausalLM"])
def test_transformers_reads_the_families_it_supports_back_to_the_same_logits(exported, architecture):
    from transformers import AutoModelForCausalLM

    model, tokenizer, folder, _ = exported[architecture]
    back = AutoModelForCausalLM.from_pretrained(folder / "gguf", gguf_file="model.gguf", dtype=torch.float32).eval()
    ids = tokenizer(["Hello there, how are you? 12345"], return_tensors="pt")["input_ids"]
    with torch.no_grad():
        assert torch.allclose(model(ids).logits, back(ids).logits, atol=1e-4)


def test_the_pre_tokenizer_is_named_by_its_digit_rule():
    def split(regex):
        return {"pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": regex}}, {"type": "ByteLevel"}]}}

    llama3 = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+"
    qwen2 = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+"
    assert _pre_name(split(llama3)) == "llama-bpe"
    assert _pre_name(split(qwen2)) == "qwen2"
    assert _pre_name(split(r"\s+")) is None


def test_a_qwen2_run_exports_with_gguf_and_modelfile(tmp_path, exported):
    from tests.posttrain.pipeline.test_export import write_run

    _, _, folder, _ = exported["Qwen2ForCausalLM"]
    model = tmp_path / "qwen2"
    shutil.copytree(folder, model, ignore=shutil.ignore_patterns("gguf"))
    run = write_run(tmp_path / "run", model)
    export = run.export(tmp_path / "out", gguf=("q8_0",))
    assert sorted(export.gguf) == ["q8_0"] and export.modelfile is not None


def test_k_quants_without_llama_cpp_are_refused_naming_the_install_and_the_alternative_works(tmp_path, tiny_dir,
                                                                                             monkeypatch):
    from posttrain.pipeline import export as export_module
    from tests.posttrain.pipeline.test_export import write_run

    monkeypatch.setattr(export_module, "llama_cpp_available", lambda: False)
    run = write_run(tmp_path / "run", tiny_dir)
    with pytest.raises(ConfigError, match="cannot export") as err:
        run.export(tmp_path / "out", gguf=("q4_k_m",))
    assert "q4_k_m need llama.cpp's quantizer (llama-cpp-python), which is not installed" in str(err.value)
    assert "pip install llama-cpp-python" in str(err.value) and "or ask for f16 or q8_0 instead" in str(err.value)
    assert not (tmp_path / "out").exists()
    run.export(tmp_path / "out", gguf=("q8_0",))                 # the alternative it names, followed
    assert (tmp_path / "out" / "model-q8_0.gguf").is_file()


def test_an_unsupported_rope_scaling_is_refused_with_the_converter_named(tmp_path, tiny_dir):
    model = tmp_path / "yarn"
    shutil.copytree(tiny_dir, model)
    config = json.loads((model / "config.json").read_text())
    config["rope_parameters"] = {"rope_type": "yarn", "factor": 4.0, "rope_theta": 10000.0}
    (model / "config.json").write_text(json.dumps(config))
    [problem] = gguf_problems(model)
    assert "rope scaling 'yarn' is not written" in str(problem) and "convert_hf_to_gguf.py" in str(problem)


@pytest.mark.parametrize("space_prefix", [True, False])
def test_a_sentencepiece_tokenizer_is_written_as_llama_cpp_s_llama_model(tmp_path, space_prefix):
    import gguf

    from posttrain.testing import sentencepiece_tokenizer

    model, tokenizer = tiny_family_model("MistralForCausalLM", tokenizer=sentencepiece_tokenizer(space_prefix=space_prefix))
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    assert gguf_problems(tmp_path) == []
    reader = gguf.GGUFReader(write_gguf(tmp_path, tmp_path / "m.gguf", "f16"))
    assert _field(reader, "tokenizer.ggml.model") == "llama"
    assert _field(reader, "tokenizer.ggml.add_space_prefix") is space_prefix
    assert _field(reader, "tokenizer.ggml.add_bos_token") is True
    tokens, types = _field(reader, "tokenizer.ggml.tokens"), _field(reader, "tokenizer.ggml.token_type")
    scores = _field(reader, "tokenizer.ggml.scores")
    assert types[tokens.index("<0x41>")] == gguf.TokenType.BYTE
    assert types[tokens.index("<|im_end|>")] == gguf.TokenType.CONTROL
    normal = [s for s, t in zip(scores, types) if t == gguf.TokenType.NORMAL]
    assert normal == sorted(normal, reverse=True)             # SentencePiece's order: earlier pieces merge first
