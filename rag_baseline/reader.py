"""The shipped RAG reader: a LoRA adapter of the default model trained to answer from retrieved passages.

The default model finds the evidence for almost every question yet often reads another passage's fact
(another place's year or export). The reader is that model with a small LoRA adapter trained on RAFT's rows
(`raft_rows`: the question asked with 3 retrieved passages, the one that answers it always among the
distractors retrieval brings along, the answer the short span alone) over `examples/data/reading`: invented
islands, firms, people and fairs, and families of look-alike records (ships, farms, observatories, choirs,
quarries; mills, villages, lighthouses, potteries, abbeys) whose neighbours share names, years and goods, so
the distractors are the records most like the right one; the second set asks each fact in words other than
the passage's and puts some facts after a common noun the question names ("the stream Lusk": the answer is
Lusk). None of it shares a name or fact with any user's documents, so what it learnt is the skill of
reading, not facts. `advise(...).route(documents=...)` builds its `RAGBaseline` over base + reader when the
model is the default; for another model, `reader_pipeline(model=...)` is the recipe that trains one.

The adapter ships inside the package (`rag_baseline/readers/default/`: PEFT's `adapter_config.json` and
`adapter_model.safetensors`, and `record.json`), is loaded offline and checked against the sha256 that
`record.json` holds. `examples/train_reader.py` retrains it and rewrites the record (the adapter's and the
training corpus's fingerprints and the recipe).

>>> from rag_baseline.reader import load_reader
>>> model, tokenizer = load_reader()                 # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from posttrain.errors import ConfigError, PosttrainError, Problem

if TYPE_CHECKING:
    from posttrain.pipeline.builder import Trainer
    from rag_baseline.answer import Loaded

READER_DIR = Path(__file__).resolve().parent / "readers" / "default"
ADAPTER_FILE = "adapter_model.safetensors"
RECORD_FILE = "record.json"

#: How the shipped reader was trained (`reader_pipeline`'s settings; `examples/train_reader.py` records them).
RECIPE: dict[str, Any] = {
    "k": 3, "samples": 1, "oracle_share": 1.0, "quote": False, "seed": 0,
    "lora": {"r": 8, "alpha": 16, "dropout": 0.05, "target_modules": "all-linear"},
    "sft": {"max_steps": 120, "learning_rate": 1e-3, "batch_size": 4, "grad_accum": 2, "warmup_ratio": 0.05},
}


def reading_corpus(root: Path | None = None) -> tuple[Path, Path]:
    """`(docs folder, qa.jsonl)` of the reading corpus the reader is trained on (`examples/data/reading`)."""
    if root is None:
        found = [r / "examples" / "data" for r in (Path.cwd(), Path(__file__).resolve().parents[1])
                 if (r / "examples" / "data" / "reading" / "qa.jsonl").exists()]
        if not found:
            raise PosttrainError("the reading corpus (examples/data/reading) is not here. Fix: run from a clone "
                                 "of the repository, which ships it")
        root = found[0]
    base = root / "reading"
    return base / "docs", base / "qa.jsonl"


def corpus_fingerprint(docs: Path, qa: Path) -> str:
    """sha256 over the reading corpus: each document's name and bytes in name order, then the questions."""
    digest = hashlib.sha256()
    for path in sorted(docs.glob("*.md")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    digest.update(qa.read_bytes())
    return digest.hexdigest()


def file_fingerprint(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def reader_pipeline(model: str | os.PathLike[str] = "default", output_dir: str | Path = "runs/reader",
                    root: Path | None = None, sft: dict[str, Any] | None = None) -> Trainer:
    """The recipe that trains a reader for `model` (any causal LM): one SFT stage with a LoRA adapter on
    RAFT's rows over the reading corpus, with the shipped reader's settings (`RECIPE`; `sft` overrides its
    SFT settings, e.g. `{"max_steps": 40}`). Run it and serve `RAGBaseline(...).with_model(run)`.

    Example:
        >>> run = reader_pipeline("HuggingFaceTB/SmolLM2-360M-Instruct").run()   # doctest: +SKIP
    """
    from rag_baseline.raft import raft_pipeline
    from rag_baseline.store import RAGBaseline

    docs, qa = reading_corpus(root)
    recipe = RECIPE
    return raft_pipeline(RAGBaseline.from_files([docs]), str(qa), model=model, output_dir=output_dir,
                         lora=dict(recipe["lora"]), seed=recipe["seed"], k=recipe["k"],
                         oracle_share=recipe["oracle_share"], samples=recipe["samples"], quote=recipe["quote"],
                         sft={**recipe["sft"], **(sft or {})})


def merge_checkpoint(checkpoint: Path, to: Path, base_model: str | os.PathLike[str] = "default") -> Path:
    """A run's LoRA checkpoint (`NN-sft/checkpoints/checkpoint-N`, PEFT's files) merged into the base model and
    saved in `to`, a model folder `export_adapter` takes (for a run stopped before its stage completed)."""
    from peft import PeftModel

    from posttrain.models import load_model, no_loading_bar

    base, tokenizer = load_model(base_model)
    with warnings.catch_warnings(), no_loading_bar():
        warnings.simplefilter("ignore", FutureWarning)
        merged = PeftModel.from_pretrained(base, str(checkpoint)).merge_and_unload()
        merged.save_pretrained(str(to), safe_serialization=True)
        tokenizer.save_pretrained(str(to))
    return to


def export_adapter(run_dir: Path, to: Path = READER_DIR, *, root: Path | None = None,
                   base_model: str | os.PathLike[str] = "default", note: str | None = None,
                   rank: int | None = None, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write the trained reader at `run_dir` (a `reader_pipeline` output folder) as a PEFT LoRA adapter of
    the default model in `to`, with `record.json` (the adapter's and the corpus's sha256 and the recipe).

    The run saves the merged model; its difference from the base in each adapted layer is the adapter's
    product B·A scaled, of rank r, so an SVD recovers factors of the same rank exactly (up to rounding).
    Layers the adapter did not touch must be unchanged; the factors are stored in float16. `rank` (default
    the recipe's r) is the exported rank: a run trained on top of an earlier reader differs from the base by
    the sum of both adapters, of rank up to twice r, which `rank=2*r` keeps exactly. `extra` goes into the
    record as it is (e.g. the rounds of training behind it)."""
    import torch
    from peft import LoraConfig, get_peft_model

    from posttrain.models import load_model

    found = sorted(run_dir.glob("*/model/config.json"))
    merged_dir = found[-1].parent if found else run_dir
    merged, _ = load_model(merged_dir)
    base, _ = load_model(base_model)
    rank = int(rank or RECIPE["lora"]["r"])
    tuned = dict(merged.named_parameters())
    deltas: dict[str, torch.Tensor] = {}
    for name, param in base.named_parameters():
        delta = tuned[name].detach() - param.detach()
        if not torch.any(delta):
            continue
        module = name.removesuffix(".weight")
        if not name.endswith(".weight") or not isinstance(base.get_submodule(module), torch.nn.Linear):
            raise PosttrainError(f"the run at {merged_dir} changed {name}, which a LoRA adapter does not train. "
                                 "Fix: export a run of reader_pipeline()")
        deltas[module] = delta
    targets = sorted({module.rsplit(".", 1)[-1] for module in deltas})
    config = LoraConfig(r=rank, lora_alpha=rank, lora_dropout=0.0, target_modules=targets, bias="none",
                        task_type="CAUSAL_LM")
    with warnings.catch_warnings():                     # transformers' deprecation notes are not the user's concern
        warnings.simplefilter("ignore", FutureWarning)
        peft_model = get_peft_model(base, config)
    with torch.no_grad():
        for module, delta in deltas.items():
            layer = peft_model.base_model.model.get_submodule(module)
            u, s, vh = torch.linalg.svd(delta.double(), full_matrices=False)
            root_s = s[:rank].sqrt()
            layer.lora_B["default"].weight.copy_((u[:, :rank] * root_s).float())
            layer.lora_A["default"].weight.copy_((root_s[:, None] * vh[:rank]).float())
        for name, param in peft_model.named_parameters():
            if "lora_" in name:
                param.data = param.data.to(torch.float16)
    to.mkdir(parents=True, exist_ok=True)
    from posttrain.models import no_loading_bar

    with warnings.catch_warnings(), no_loading_bar():   # PEFT's deprecation notes are not the user's concern
        warnings.simplefilter("ignore", FutureWarning)
        peft_model.save_pretrained(str(to), safe_serialization=True)
    config_path = to / "adapter_config.json"
    settings = json.loads(config_path.read_text())
    settings["base_model_name_or_path"] = "default"
    config_path.write_text(json.dumps(settings, indent=2, sort_keys=True) + "\n")
    (to / "README.md").unlink(missing_ok=True)
    docs, qa = reading_corpus(root)
    record = {"base_model": "SmolLM2-135M-Instruct (posttrain's default)", "adapter_sha256":
              file_fingerprint(to / ADAPTER_FILE), "corpus_sha256": corpus_fingerprint(docs, qa),
              "corpus": "examples/data/reading", "recipe": RECIPE, "layers": len(deltas),
              "script": "examples/train_reader.py", "rank": rank, **({"note": note} if note else {}),
              **(extra or {})}
    (to / RECORD_FILE).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    return record


def reader_record(folder: Path = READER_DIR) -> dict[str, Any]:
    """The shipped reader's `record.json`, its adapter checked against the sha256 recorded there."""
    record_path, adapter = folder / RECORD_FILE, folder / ADAPTER_FILE
    if not record_path.exists() or not adapter.exists():
        raise ConfigError(Problem("reader", f"the shipped reader adapter is missing from {folder}",
                                  "reinstall posttrain (the adapter is package data), or retrain it with "
                                  "`python examples/train_reader.py`"), title="cannot load the RAG reader")
    record = json.loads(record_path.read_text())
    found = file_fingerprint(adapter)
    if found != record.get("adapter_sha256"):
        raise ConfigError(Problem("reader", f"{adapter} has sha256 {found[:12]}..., not the recorded "
                                  f"{str(record.get('adapter_sha256'))[:12]}...",
                                  "reinstall posttrain, or retrain it with `python examples/train_reader.py`"),
                          title="cannot load the RAG reader")
    return record


def reader_model(folder: Path = READER_DIR) -> str:
    """The default model with the shipped reader merged in, as a model folder (built once per machine under
    posttrain's home, named by the adapter's sha256; later calls reuse it). No network is used."""
    record = reader_record(folder)
    from posttrain.models import posttrain_home

    target = posttrain_home() / "readers" / f"default-{record['adapter_sha256'][:16]}"
    if (target / "config.json").exists():
        return str(target)
    from peft import PeftModel

    from posttrain.models import load_model, no_loading_bar

    base, tokenizer = load_model("default")
    partial = target.with_name(target.name + ".partial")
    with warnings.catch_warnings(), no_loading_bar():        # our output is ours: no library bars
        warnings.simplefilter("ignore", FutureWarning)
        merged = PeftModel.from_pretrained(base, str(folder)).merge_and_unload()
        shutil.rmtree(partial, ignore_errors=True)
        merged.save_pretrained(str(partial), safe_serialization=True)
        tokenizer.save_pretrained(str(partial))
    partial.replace(target)
    return str(target)


def load_reader(folder: Path = READER_DIR) -> Loaded:
    """`(model, tokenizer)`: the default model with the shipped reader merged in."""
    from rag_baseline.answer import load_generator

    return load_generator(reader_model(folder))
