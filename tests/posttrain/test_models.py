"""Models: the offline default model, its one-time conversion, tokenizer fixes, tiny models."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from posttrain.errors import PosttrainError
from posttrain.models import load_model, resolve, stop_token_ids

CONVERT = "from posttrain.models import default_model_dir; print(default_model_dir())"


def _python(code: str, home, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "POSTTRAIN_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    return subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kwargs)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_two_processes_convert_once_and_later_loads_reuse_the_conversion(tmp_path):
    first, second = _python(CONVERT, tmp_path), _python(CONVERT, tmp_path)
    outputs = [p.communicate(timeout=600) for p in (first, second)]
    assert [p.returncode for p in (first, second)] == [0, 0], outputs
    conversions = sum(err.count("converting the embedded default model") for _, err in outputs)
    assert conversions == 1
    folder = tmp_path / "models" / "smollm2-135m-instruct-fp32"
    assert {out.splitlines()[0] for out, _ in outputs} == {str(folder)}
    weights = folder / "model.safetensors"
    assert weights.exists()
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".convert-")]   # no temp left

    # A later process loads the converted folder as it is: no conversion, no rewrite of the weights,
    # the model's own config read from that folder. (How long this takes is measured in
    # bench/cold_start.py, not asserted here: a timing fails on a loaded machine.)
    written = (weights.stat().st_mtime_ns, sorted(p.name for p in folder.iterdir()))
    code = ("from posttrain import load_model; m, tok = load_model('default'); "
            "print(m.config._name_or_path); print(m.num_parameters())")
    out, err = _python(code, tmp_path).communicate(timeout=600)
    assert "converting" not in err, err
    loaded_from, parameters = out.strip().splitlines()[-2:]
    assert loaded_from == str(folder) and int(parameters) > 100_000_000
    assert (weights.stat().st_mtime_ns, sorted(p.name for p in folder.iterdir())) == written


def test_default_tokenizer_pads_with_a_token_that_is_not_end_of_turn(default_model):
    model, tokenizer = default_model
    assert tokenizer.pad_token == "<|endoftext|>"
    assert tokenizer.pad_token_id not in stop_token_ids(tokenizer)
    assert tokenizer.convert_tokens_to_ids("<|im_end|>") in stop_token_ids(tokenizer)
    assert model.config.pad_token_id == tokenizer.pad_token_id
    assert not hasattr(model.config, "quantization_config")
    assert model.dtype == torch.float32


def test_tiny_model_forward_pass(tiny):
    model, tokenizer = tiny
    batch = tokenizer(["Hello there", "Hi"], return_tensors="pt", padding=True)
    with torch.no_grad():
        out = model(**batch, labels=batch["input_ids"])
    assert out.logits.shape == (2, batch["input_ids"].shape[1], len(tokenizer))
    assert torch.isfinite(out.loss)
    assert model.config.num_hidden_layers == 2 and model.config.hidden_size == 64


def test_missing_local_folder_is_a_clear_error(tmp_path):
    with pytest.raises(PosttrainError, match="does not exist"):
        resolve(str(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(PosttrainError, match="no config.json"):
        resolve(str(tmp_path / "empty"))


@pytest.mark.timeout(300)     # the safety net: offline, a hub id fails at once instead of waiting on a network
def test_hub_ids_not_cached_fail_offline_before_loading(monkeypatch):
    with pytest.raises(PosttrainError, match="is not on this machine and hub downloads are off"):
        load_model("no-such-org/no-such-model")
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    assert resolve("HuggingFaceTB/SmolLM2-135M-Instruct") == "HuggingFaceTB/SmolLM2-135M-Instruct"


def test_load_model_never_trusts_remote_code_by_default():
    import inspect

    assert inspect.signature(load_model).parameters["trust_remote_code"].default is False


def test_load_model_shows_no_weight_loading_bar(tiny_dir):
    code = f"from posttrain.models import load_model; load_model({str(tiny_dir)!r}); print('loaded')"
    out, err = _python(code, tiny_dir.parent).communicate(timeout=300)
    assert out.strip().endswith("loaded"), err
    assert "Loading weights" not in err and "it/s]" not in err, err
