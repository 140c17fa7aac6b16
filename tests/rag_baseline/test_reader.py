"""The shipped RAG reader: its adapter and record, how the script exports one, and how route() serves it."""

from __future__ import annotations

import fnmatch
import json
import shutil
import tomllib
from pathlib import Path

import pytest

from posttrain.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def test_the_shipped_reader_is_what_the_training_script_recorded():
    from rag_baseline.reader import ADAPTER_FILE, READER_DIR, RECIPE, corpus_fingerprint, reader_record, reading_corpus

    record = reader_record()                               # raises unless the adapter's sha256 is the recorded one
    assert record["corpus_sha256"] == corpus_fingerprint(*reading_corpus(ROOT / "examples" / "data"))
    assert record["recipe"] == RECIPE and record["script"] == "examples/train_reader.py"
    config = json.loads((READER_DIR / "adapter_config.json").read_text())
    assert config["r"] == RECIPE["lora"]["r"] and config["peft_type"] == "LORA"
    assert (READER_DIR / ADAPTER_FILE).stat().st_size < 8 * 2**20
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["rag_baseline"]
    for file in READER_DIR.iterdir():
        assert any(fnmatch.fnmatch(str(file.relative_to(READER_DIR.parents[1])), p) for p in patterns), file


def test_a_changed_adapter_is_refused(tmp_path):
    from rag_baseline.reader import ADAPTER_FILE, READER_DIR, reader_model

    copy = shutil.copytree(READER_DIR, tmp_path / "reader")
    data = bytearray((copy / ADAPTER_FILE).read_bytes())
    data[-1] ^= 1
    (copy / ADAPTER_FILE).write_bytes(bytes(data))
    with pytest.raises(ConfigError, match="sha256"):
        reader_model(copy)
    (copy / ADAPTER_FILE).unlink()
    with pytest.raises(ConfigError, match="missing"):
        reader_model(copy)


def test_export_recovers_a_lora_adapter_from_the_merged_model(tiny, tmp_path):
    """What the script does after training: the merged model's difference from the base, factored back into
    an adapter of the recipe's rank, gives the merged model's outputs over the base."""
    import torch
    from peft import LoraConfig, PeftModel, get_peft_model

    from posttrain.models import load_model
    from rag_baseline.reader import RECIPE, export_adapter

    model, tokenizer = tiny
    base_dir = tmp_path / "base"
    model.save_pretrained(base_dir)
    tokenizer.save_pretrained(base_dir)
    base, _ = load_model(base_dir)
    torch.manual_seed(0)
    lora = get_peft_model(base, LoraConfig(r=RECIPE["lora"]["r"], lora_alpha=16, target_modules="all-linear"))
    for name, param in lora.named_parameters():
        if "lora_B" in name:
            param.data.normal_(0, 0.05)
    merged = lora.merge_and_unload()
    merged.save_pretrained(tmp_path / "run" / "01-sft" / "model")
    tokenizer.save_pretrained(tmp_path / "run" / "01-sft" / "model")
    record = export_adapter(tmp_path / "run", tmp_path / "adapter", root=ROOT / "examples" / "data", base_model=base_dir)
    assert record["layers"] > 0 and (tmp_path / "adapter" / "adapter_model.safetensors").exists()
    fresh, _ = load_model(base_dir)
    ids = torch.tensor([[1, 5, 9, 3, 7]])
    with torch.no_grad():
        plain = fresh(ids).logits
        rebuilt = PeftModel.from_pretrained(fresh, str(tmp_path / "adapter"))(ids).logits
        target = merged(ids).logits
    assert not torch.allclose(plain, target, atol=1e-3)                # the adapter changed the model
    assert torch.allclose(rebuilt, target, atol=2e-3)                   # and the export keeps that change


def test_route_serves_the_shipped_reader_with_the_default_model_only(tiny_dir):
    pytest.importorskip("faiss")
    from advisor import advise
    from rag_baseline.reader import reader_model

    advice = advise({"needs_private_knowledge": True})
    assert any(reason.rule == "rag-reader" for reason in advice.reasons)
    documents = ["The tern nests on the northern cliffs.", "The puffin nests in burrows."]
    assert advice.route(documents=documents, model=str(tiny_dir)).model == str(tiny_dir)   # another model: as is
    with pytest.raises(ConfigError, match="reader='train'"):
        advice.route(documents=documents, model=str(tiny_dir), reader="shipped")
    with pytest.raises(ConfigError, match="route\\(reader=...\\)"):
        advice.route(documents=documents, reader="best")
    plain = advice.route(documents=documents, reader="none")
    assert plain.model == "default" and plain.short_answers           # the route's answers are short spans
    routed = advice.route(documents=documents)
    assert routed.model == reader_model() and Path(routed.model, "config.json").exists() and routed.short_answers


def test_export_keeps_two_rounds_of_training_at_twice_the_rank(tiny, tmp_path):
    """A second round trains a fresh LoRA on top of the first reader merged in: the run differs from the base
    by the sum of two rank-r products, which `rank=2r` keeps and the recipe's rank r does not; the record
    says the rank and what the run started from."""
    import torch
    from peft import LoraConfig, get_peft_model

    from posttrain.models import load_model
    from rag_baseline.reader import RECIPE, export_adapter

    model, tokenizer = tiny
    base_dir = tmp_path / "base"
    model.save_pretrained(base_dir)
    tokenizer.save_pretrained(base_dir)
    r = RECIPE["lora"]["r"]
    merged, _ = load_model(base_dir)
    torch.manual_seed(0)
    for _ in range(2):                                    # two rounds, each merged before the next
        lora = get_peft_model(merged, LoraConfig(r=r, lora_alpha=16, target_modules=["q_proj"]))
        for name, param in lora.named_parameters():
            if "lora_B" in name:
                param.data.normal_(0, 0.05)
        merged = lora.merge_and_unload()
    merged.save_pretrained(tmp_path / "run" / "01-sft" / "model")
    tokenizer.save_pretrained(tmp_path / "run" / "01-sft" / "model")
    from peft import PeftModel

    ids = torch.tensor([[1, 5, 9, 3, 7]])
    errors = {}
    for rank in (r, 2 * r):
        out = tmp_path / f"adapter-{rank}"
        record = export_adapter(tmp_path / "run", out, root=ROOT / "examples" / "data", base_model=base_dir,
                                rank=rank, extra={"started_from": {"adapter_sha256": "abc"}})
        assert record["rank"] == rank and record["started_from"] == {"adapter_sha256": "abc"}
        assert json.loads((out / "adapter_config.json").read_text())["r"] == rank
        fresh, _ = load_model(base_dir)
        with torch.no_grad():
            errors[rank] = (PeftModel.from_pretrained(fresh, str(out))(ids).logits - merged(ids).logits).abs().max()
    assert errors[2 * r] < 2e-3 < errors[r]
