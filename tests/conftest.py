"""Shared fixtures. Hub access is off for the whole suite: anything that reaches for it fails loudly."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def tiny():
    """A 2-layer random model with the real tokenizer: (model, tokenizer)."""
    from posttrain.testing import tiny_model

    return tiny_model()


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory, tiny) -> Path:
    """The tiny model saved as a HF folder, usable wherever a model name is."""
    folder = tmp_path_factory.mktemp("tiny-model")
    model, tokenizer = tiny
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def default_model():
    """The embedded SmolLM2-135M-Instruct: (model, tokenizer), loaded once per session."""
    from posttrain.models import load_model

    return load_model("default")
