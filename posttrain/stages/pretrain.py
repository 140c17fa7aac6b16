"""Continued pre-training: next-token loss on every token of raw domain text."""

from __future__ import annotations

from typing import Any

from posttrain.config import PretrainSettings
from posttrain.data import Data, DataFormat
from posttrain.stages.common import StageContext
from posttrain.stages.sft import train_tokenized
from posttrain.stages.sft import trl_args as sft_trl_args
from posttrain.stages.spec import StageSpec
from posttrain.stages.tokens import tokenize_text


def build_dataset(data: Data, tokenizer: Any, settings: PretrainSettings):
    """Documents tokenised and split into max_length blocks (long documents are kept whole)."""
    import datasets

    blocks = [block for row in data.rows for block in tokenize_text(row["text"], tokenizer, settings.max_length)]
    return datasets.Dataset.from_list(blocks)


def run(ctx: StageContext) -> dict[str, Any]:
    """Train on the documents and save the full model; returns TRL's final metrics and log."""
    return train_tokenized(ctx, build_dataset, SPEC)


SPEC = StageSpec(
    kind="pretrain", summary="continued pre-training: next-token loss on every token of raw domain text",
    settings=PretrainSettings, formats=(DataFormat.TEXT,), trl_config="SFTConfig", default_lr=(5e-5, 3e-4),
    trl_args=sft_trl_args, run=run, aliases=("cpt",),
    data_hint="raw domain text: rows like {'text': '...'} or .txt/.md files")
