"""Models: the offline default model, its one-time conversion, tokenizer fixes, tiny models."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import torch

from posttrain.errors import PosttrainError
from posttrain.models import load_model, resolve, stop_token_ids

CONVERT = ("import time; t = time.time(); from posttrain.models import default_model_dir; "
           "print(default_model_dir()); print('seconds', time.time() - t)")


def _python(code: str, home, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "POSTTRAIN_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    return subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kwargs)


@pytest.mark.slow
def test_two_processes_convert_once_and_later_loads_are_fast(tmp_path):
    first, second = _python(CONVERT, tmp_path), _python(CONVERT, tmp_path)
    outputs = [p.communicate(timeout=600) for p in (first, second)]
    assert [p.returncode for p in (first, second)] == [0, 0], outputs
    conversions = sum(err.count("converting the embedded default model") for _, err in outputs)
    assert conversions == 1
    folder = tmp_path / "models" / "smollm2-135m-instruct-fp32"
    assert {out.splitlines()[0] for out, _ in outputs} == {str(folder)}
    assert (folder / "model.safetensors").exists()
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".convert-")]   # no temp left

    # A later process loads the converted folder: the library's own work stays under a second; the
    # whole cold start, importing torch and transformers included, stays far from a conversion's ~20 s.
    code = ("import time; t0 = time.time(); import torch, transformers, transformers.modeling_utils; "
            "from posttrain import load_model; t1 = time.time(); m, tok = load_model('default'); "
            "print(t1 - t0, time.time() - t1)")
    out, err = _python(code, tmp_path).communicate(timeout=120)
    assert "converting" not in err
    imports, load = map(float, out.strip().splitlines()[-1].split())
    assert load < 1.5, load
    assert imports + load < 6.0, (imports, load)


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


def test_hub_ids_are_passed_through_and_fail_offline():
    assert resolve("HuggingFaceTB/SmolLM2-135M-Instruct") == "HuggingFaceTB/SmolLM2-135M-Instruct"
    start = time.time()
    with pytest.raises(Exception):
        load_model("no-such-org/no-such-model")
    assert time.time() - start < 30


def test_load_model_never_trusts_remote_code_by_default():
    import inspect

    assert inspect.signature(load_model).parameters["trust_remote_code"].default is False
