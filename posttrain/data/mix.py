"""Mixing and replay: a stated share of a stage's rows drawn from other data.

A stage's `mix` setting (`[{"data": "general.jsonl", "share": 0.2}]`) makes each source that share of the
rows the stage trains on; the stage's own data stays whole and is the rest. Replaying some of an earlier
stage's data (or general instruction data) while training a new skill is the usual way to keep the skills
the model had (Ibrahim et al., 2024, 'Simple and Scalable Strategies to Continually Pre-train Large Language
Models': a small replay share; Scialom et al., 2022, 'Fine-tuned Language Models are Continual Learners':
about 1% rehearsal).

With N rows of its own and shares s_i (summing to S < 1), the stage trains on N / (1 - S) rows, of which
round(s_i * N / (1 - S)) come from source i: drawn without repetition while the source lasts (a source
smaller than its share is repeated, every row as often as any other), then all rows are shuffled. The same
seed gives the same rows in the same order. A source must have the stage data's own format.

>>> mix_counts(80, [0.2])
[20]
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from posttrain.data import Data, DataFormat, fingerprint, load_data
from posttrain.data.formats import EXAMPLES
from posttrain.errors import DataError, Problem

if TYPE_CHECKING:
    from posttrain.config import MixSource


def mix_counts(own_rows: int, shares: Sequence[float]) -> list[int]:
    """Rows drawn from each source when the stage has `own_rows` rows of its own."""
    total = own_rows / (1 - sum(shares))
    return [max(1, round(share * total)) for share in shares]


def source_label(data: object) -> str:
    """How a mix source is named in the plan, errors and records: its path, or its rows in memory."""
    if isinstance(data, (str, Path)):
        return str(data)
    return f"<{len(data)} rows in memory>" if hasattr(data, "__len__") else "<rows>"


def draw(rows: Sequence[dict], count: int, rng: random.Random) -> list[dict]:
    """`count` rows: a shuffled pass over `rows`, then another, ... (each row used as evenly as possible)."""
    drawn: list[dict] = []
    while len(drawn) < count:
        order = list(range(len(rows)))
        rng.shuffle(order)
        drawn += [rows[i] for i in order[:count - len(drawn)]]
    return drawn


def summary(own_label: str, own_rows: int | None, sources: Sequence[MixSource]) -> tuple[dict[str, object], ...]:
    """What a stage trains on, source by source (`{"data", "share", "rows"}`; rows None while the stage's
    own data is unread), for the plan and the stage's record."""
    shares = [source.share for source in sources]
    counts: list[int | None] = list(mix_counts(own_rows, shares)) if own_rows is not None else [None] * len(shares)
    parts: list[dict[str, object]] = [{"data": own_label, "share": round(1 - sum(shares), 6), "rows": own_rows}]
    parts += [{"data": source_label(source.data), "share": source.share, "rows": count}
              for source, count in zip(sources, counts)]
    return tuple(parts)


def describe(parts: Sequence[dict[str, object]]) -> str:
    """The plan's line: 'mix: 80 rows (80%) from sft.jsonl + 20 rows (20%) from general.jsonl'."""
    def one(part: dict[str, object]) -> str:
        rows = f"{part['rows']} rows" if part["rows"] is not None else "rows counted when read"
        return f"{rows} ({part['share']:.0%}) from {part['data']}"

    return "mix: " + " + ".join(one(part) for part in parts)


def _style(data: Data) -> str:
    return f"{data.format}" + (" (chat messages)" if data.conversational else "")


def mix(own: Data, own_label: str, sources: Sequence[MixSource], expect: Sequence[DataFormat], where: str,
        seed: int) -> tuple[Data, tuple[dict[str, object], ...], list[Problem]]:
    """The stage's data with each source's share of rows drawn into it, the summary of what was drawn, and
    the problems found (a source that cannot be read, or of another format than the stage's data: then the
    stage's own data is returned unmixed)."""
    problems: list[Problem] = []
    loaded: list[Data] = []
    for index, source in enumerate(sources):
        label = f"{where}, mix[{index}] data {source_label(source.data)}"
        try:
            data = load_data(source.data, expect=expect, name=label)
        except DataError as err:
            problems += err.problems
            continue
        if not isinstance(data, Data):
            problems.append(Problem(label, "is a stream", "mix data held in memory (a file or rows)"))
        elif data.format != own.format or data.conversational != own.conversational:
            problems.append(Problem(label, f"is {_style(data)}, the stage's data is {_style(own)}",
                                    f"give rows of the stage's format, like {EXAMPLES[own.format]}, "
                                    f"or mix it into a stage that takes {data.format}"))
        else:
            loaded.append(data)
    if problems:
        return own, summary(own_label, len(own), sources), problems
    rows = list(own.rows)
    counts = mix_counts(len(own), [source.share for source in sources])
    for index, (data, count) in enumerate(zip(loaded, counts)):
        rows += draw(data.rows, count, random.Random(f"mix:{seed}:{index}"))
    random.Random(f"mix:{seed}").shuffle(rows)
    mixed = Data(rows=rows, format=own.format, source=own.source, conversational=own.conversational,
                 fingerprint=fingerprint(rows))
    return mixed, summary(own_label, len(own), sources), []
