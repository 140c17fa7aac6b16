"""What the advisor knows about the starting model: base or instruction-tuned, and its parameter count.

Read from files on this machine only, never downloaded: a local folder, the Hugging Face cache, or the
library's converted default model. Without files, the name is read ("Qwen2.5-1.5B-Instruct" says
instruct and 1.5B); what the spec states always wins.

>>> from advisor.model_info import describe_model
>>> info = describe_model("Llama-3.1-8B-Instruct")
>>> info.kind, info.params, info.kind_from
('instruct', 8000000000, 'name')
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from posttrain.device import safetensors_params

ModelKind = Literal["base", "instruct"]

DEFAULT_NAMES = {"default", "smollm2-135m-instruct", "smollm2"}
DEFAULT_MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"
DEFAULT_PARAMS = 134_515_008       # counted from its safetensors (30 layers, hidden 576, tied embeddings)
INSTRUCT_MARKERS = ("instruct", "chat", "-it", "_it", "rlhf", "dpo", "sft", "assistant")
BASE_MARKERS = ("-base", "_base", "base-")
_SIZE = re.compile(r"(?<![\d.a-z])(\d+(?:\.\d+)?)\s*([bm])(?![a-z])", re.IGNORECASE)


class ModelInfo(BaseModel):
    """The starting model as the advisor sees it, and where each fact came from."""

    name: str
    kind: ModelKind | None = None
    params: int | None = None
    kind_from: str = "unknown"         # stated, chat template, name, unknown
    params_from: str = "unknown"       # stated, safetensors, config, name, unknown
    folder: str | None = None

    def describe(self) -> str:
        kind = f"{self.kind} ({self.kind_from})" if self.kind else "base or instruct unknown"
        params = f"{self.params / 1e9:.2f}B parameters ({self.params_from})" if self.params else \
            "parameter count unknown"
        return f"{self.name}: {kind}, {params}"


def describe_model(name: str, *, kind: ModelKind | None = None, params: int | None = None) -> ModelInfo:
    """Base vs instruct and parameter count for `name` (a hub id, a folder or "default"); `kind` and
    `params`, when given, are what the user stated and win over anything read."""
    folder = local_folder(name)
    info = ModelInfo(name=name, folder=str(folder) if folder else None)
    if folder is not None:
        info.kind, info.kind_from = _kind_from_folder(folder, name)
        info.params, info.params_from = _params_from_folder(folder)
    if info.kind is None and (guess := _kind_from_name(name)):
        info.kind, info.kind_from = guess, "name"
    if info.params is None and (size := params_from_name(name)):
        info.params, info.params_from = size, "name"
    if name.lower() in DEFAULT_NAMES and info.params is None:
        info.kind, info.kind_from, info.params, info.params_from = "instruct", "name", DEFAULT_PARAMS, "name"
    if kind is not None:
        info.kind, info.kind_from = kind, "stated"
    if params is not None:
        info.params, info.params_from = params, "stated"
    return info


def local_folder(name: str) -> Path | None:
    """The model's files on this machine, if any: the folder itself, the Hugging Face cache's newest
    snapshot, or the library's converted default model. Nothing is downloaded."""
    try:
        return _local_folder(name)
    except (OSError, ValueError):         # a name that is no valid path (a null byte, too long)
        return None


def _local_folder(name: str) -> Path | None:
    path = Path(name).expanduser()
    if path.is_dir():
        return path
    if name.lower() in DEFAULT_NAMES:
        home = Path(os.environ.get("POSTTRAIN_HOME", Path.home() / ".cache" / "posttrain")).expanduser()
        folder = home / "models" / "smollm2-135m-instruct-fp32"
        return folder if (folder / "config.json").is_file() else None
    if name.count("/") != 1:
        return None
    home = Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface"))
    hub = os.environ.get("HF_HUB_CACHE") or home / "hub"
    snapshots = Path(hub) / f"models--{name.replace('/', '--')}" / "snapshots"
    found = sorted(snapshots.glob("*/config.json"), key=lambda p: p.stat().st_mtime) if snapshots.is_dir() else []
    return found[-1].parent if found else None


def params_from_name(name: str) -> int | None:
    """'Qwen2.5-1.5B' -> 1_500_000_000, 'SmolLM2-135M' -> 135_000_000; None when the name gives no size."""
    match = _SIZE.search(Path(name).name)
    if not match:
        return None
    return round(float(match.group(1)) * (1e9 if match.group(2).lower() == "b" else 1e6))


def _kind_from_name(name: str) -> ModelKind | None:
    lowered = Path(name).name.lower()
    if any(marker in lowered for marker in INSTRUCT_MARKERS):
        return "instruct"
    if any(marker in lowered for marker in BASE_MARKERS) or lowered.endswith("base"):
        return "base"
    return None


def _kind_from_folder(folder: Path, name: str) -> tuple[ModelKind | None, str]:
    """A chat template marks an instruction-tuned model; some base models ship one too, so the name
    decides when it says which."""
    by_name = _kind_from_name(name) or _kind_from_name(_read_json(folder / "config.json").get("_name_or_path", ""))
    if by_name:
        return by_name, "name"
    config = _read_json(folder / "tokenizer_config.json")
    if (folder / "chat_template.jinja").is_file() or (folder / "chat_template.json").is_file() or \
            config.get("chat_template"):
        return "instruct", "chat template"
    if config or (folder / "tokenizer.json").is_file():
        return "base", "no chat template"
    return None, "unknown"


def _params_from_folder(folder: Path) -> tuple[int | None, str]:
    shards = sorted(folder.glob("*.safetensors"))
    if shards:
        try:
            return sum(safetensors_params(shard) for shard in shards), "safetensors"
        except (OSError, ValueError, KeyError):
            pass
    estimate = params_from_config(_read_json(folder / "config.json"))
    return (estimate, "config") if estimate else (None, "unknown")


def params_from_config(config: dict[str, Any]) -> int | None:
    """A decoder-only transformer's parameter count from its config (Llama/Qwen/Mistral layout)."""
    try:
        hidden, layers = config["hidden_size"], config["num_hidden_layers"]
        vocab, inter = config["vocab_size"], config.get("intermediate_size", 4 * config["hidden_size"])
    except KeyError:
        return None
    heads = config.get("num_attention_heads", 1)
    head_dim = config.get("head_dim") or hidden // heads
    kv = config.get("num_key_value_heads", heads) * head_dim
    attention = hidden * heads * head_dim * 2 + hidden * kv * 2
    per_layer = attention + 3 * hidden * inter + 2 * hidden
    embeddings = vocab * hidden * (1 if config.get("tie_word_embeddings", False) else 2)
    return layers * per_layer + embeddings + hidden


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
