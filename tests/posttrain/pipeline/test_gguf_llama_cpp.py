"""GGUF exports loaded in llama.cpp (llama-cpp-python) and compared with transformers: a tiny random model of
each family (with the default model's byte-level BPE, and Mistral, Phi-3 and Gemma with SentencePiece-style
tokenizers) gives the same tokens, top tokens and greedy continuations; llama.cpp's quantizer makes the k-quants;
the default model's f16 export answers 24 prompts as transformers does. Skipped where llama-cpp-python is not
installed (bench/llama_cpp_check.sh installs it into its own venv and runs these)."""

from __future__ import annotations

import pytest

pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed; bash bench/llama_cpp_check.sh installs "
                    "it into its own venv and runs this file")

from bench.llama_cpp import (PROMPTS, chat_texts, check_default, compare, family_cases,  # noqa: E402
                             family_model, gguf_run, reference_run)


@pytest.mark.parametrize(("architecture", "tokenizer_kind"), family_cases())
def test_each_family_s_tiny_export_runs_in_llama_cpp_as_in_transformers(architecture, tokenizer_kind, tmp_path):
    from posttrain.pipeline.gguf_file import write_gguf

    model, tokenizer = family_model(architecture, tokenizer_kind)
    model.save_pretrained(tmp_path / "model")
    tokenizer.save_pretrained(tmp_path / "model")
    texts = chat_texts(tokenizer, PROMPTS[:4]) + ["12345 numbers 3.14, émoji 🤖  two spaces\n\ttab"]
    want = reference_run(model, tokenizer, texts, 10, set())
    path = write_gguf(tmp_path / "model", tmp_path / "model-f32.gguf", "f32")
    result = compare(path.name, "transformers", gguf_run(path, texts, 10, set()), want)
    assert result.same_tokens == result.prompts                 # llama.cpp's tokenizer splits as transformers'
    assert result.max_logit_diff < 0.01 * result.logit_scale, result
    assert result.top1_agreement == 1.0 and result.greedy_same == result.prompts, result


def test_llama_cpp_s_quantizer_writes_the_k_quants_from_the_export(tmp_path, tiny_dir):
    import gguf
    import numpy as np

    from tests.posttrain.pipeline.test_export import write_run

    run = write_run(tmp_path / "run", tiny_dir)
    export = run.export(tmp_path / "out", gguf=("q4_k_m", "q5_k_m"), ollama=True)
    assert sorted(export.gguf) == ["q4_k_m", "q5_k_m"]
    assert not list((tmp_path / "out").glob("*f16*"))           # the f16 it quantized from is not left behind
    for kind, file_type in (("q4_k_m", 15), ("q5_k_m", 17)):
        reader = gguf.GGUFReader(export.gguf[kind])
        assert int(reader.fields["general.file_type"].parts[-1][0]) == file_type
        assert oct(export.gguf[kind].stat().st_mode & 0o777) == "0o644"
    model, tokenizer = run.load()
    texts = chat_texts(tokenizer, PROMPTS[:3])
    want = reference_run(model, tokenizer, texts, 4, set())
    for kind in ("q4_k_m", "q5_k_m"):
        got = gguf_run(export.gguf[kind], texts, 4, set())
        correlation = np.corrcoef(np.concatenate([g["logits"].ravel() for g in got]),
                                  np.concatenate([w["logits"].ravel() for w in want]))[0, 1]
        assert correlation > 0.9, (kind, correlation)
    assert (tmp_path / "out" / "Modelfile").read_text().startswith("FROM ./model-q4_k_m.gguf")


@pytest.mark.slow
def test_the_default_model_s_f16_export_answers_as_transformers_on_24_prompts(tmp_path):
    [f16] = check_default(tmp_path, kinds=("f16",), new_tokens=24)    # Q4_K_M's cost: docs/results.md
    assert f16.prompts == 24 and f16.same_tokens == 24
    assert f16.greedy_same == 24, f16
