"""Continued pre-training: next-token loss on every token of raw domain text, held in memory or streamed
(`load_data(corpus, streaming=True)`, or a `datasets.IterableDataset`) for corpora larger than memory."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from posttrain.config import StageSettings
from posttrain.data import Data, DataFormat, Stream
from posttrain.errors import Problem
from posttrain.stages.common import StageContext
from posttrain.stages.sft import LENGTH_GROUPED, PADDING_FREE_FIELD, train_tokenized
from posttrain.stages.sft import trl_args as sft_trl_args
from posttrain.stages.spec import Advice, Cost, StageOutcome, StageSpec
from posttrain.stages.tokens import tokenize_text

if TYPE_CHECKING:
    from collections.abc import Iterator

    import datasets

    from posttrain.types import Tokenizer


class PretrainSettings(StageSettings):
    """Continued pre-training: next-token loss on every token of raw text."""

    kind: Literal["pretrain"] = "pretrain"
    padding_free: bool | None = PADDING_FREE_FIELD


def build_dataset(data: Data | Stream, tokenizer: Tokenizer,
                  settings: PretrainSettings) -> datasets.Dataset | datasets.IterableDataset:
    """Documents tokenised and split into max_length blocks (long documents are kept whole); a stream's
    as it is read, as a `datasets.IterableDataset`."""
    import datasets

    if isinstance(data, Stream):
        def blocks() -> Iterator[dict[str, list[int]]]:
            for row in data.rows():
                yield from tokenize_text(row["text"], tokenizer, settings.max_length)

        features = datasets.Features({"input_ids": datasets.List(datasets.Value("int32")),
                                      "labels": datasets.List(datasets.Value("int64"))})
        return datasets.IterableDataset.from_generator(blocks, features=features)
    whole = [block for row in data.rows for block in tokenize_text(row["text"], tokenizer, settings.max_length)]
    return datasets.Dataset.from_list(whole)


def run(ctx: StageContext) -> StageOutcome:
    """Train on the documents and save the full model; returns TRL's final metrics and log."""
    return train_tokenized(ctx, build_dataset, SPEC)


def trl_args(ctx: StageContext, rows: int) -> dict[str, object]:
    """SFT's arguments; a stream is read in order, so it has no length-grouped batches."""
    args = sft_trl_args(ctx, rows)
    if isinstance(ctx.data, Stream):
        args = {key: value for key, value in args.items() if key not in LENGTH_GROUPED}
    return args


def check(settings: PretrainSettings, data: Data | Stream | None, where: str) -> list[Problem]:
    """A streamed corpus needs max_steps: its length, and so an epoch's steps, is unknown."""
    if isinstance(data, Stream) and settings.max_steps is None:
        return [Problem(f"{where}, setting 'max_steps'", f"is not set, and the data ({data.source}) is streamed, "
                        "so its length and the steps in an epoch are unknown",
                        "set how many optimizer steps to train, e.g. .pretrain(corpus, max_steps=1000)")]
    return []


SPEC = StageSpec(
    kind="pretrain", summary="continued pre-training: next-token loss on every token of raw domain text",
    settings=PretrainSettings, formats=(DataFormat.TEXT,), trl_config="SFTConfig", default_lr=(5e-5, 3e-4),
    trl_args=trl_args, run=run, check=check, aliases=("cpt",),
    cost=Cost(fused_head=True, packs=True),
    advice=Advice(name="cpt", claims=(DataFormat.TEXT,), tokens="domain_corpus_tokens", order=0,
                  wants=lambda task: False,          # the advisor's domain rules decide continued pre-training
                  scale="~1B tokens or more", call='.pretrain("corpus.txt")'),
    data_hint="raw domain text: rows like {'text': '...'} or .txt/.md files (streamed: "
              "load_data(path, streaming=True) or a datasets.IterableDataset, with max_steps)")
