"""Look at the datasets a user has: detect each one's format, count rows and tokens, and fill the spec.

Tokens are counted with the default model's tokenizer over every text field of a row (prompt,
completion, chosen, rejected, message contents, text), without special tokens or chat template.

>>> from advisor.inspection import inspect_datasets
>>> [info.format for info, _ in inspect_datasets([{"prompt": "2+2?", "completion": "4"}])]
['prompt_completion']
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from advisor.spec import TaskSpec

# Columns of prompt-only rows that hold a reference answer a reward function can check against.
ANSWER_COLUMNS = ("answer", "solution", "ground_truth", "reference", "target", "expected", "tests")
TEXT_FIELDS = ("text", "prompt", "completion", "chosen", "rejected", "messages")
BATCH = 1024


class DatasetInfo(BaseModel):
    """What inspecting one dataset found."""

    source: str
    format: str
    rows: int
    tokens: int
    columns: list[str]
    stage: str = Field(description="The method the advisor routes this format to (its registry entry "
                       "claims the format), by its advisor name; empty when no registered method claims it.")
    answer_column: str | None = None


@lru_cache(maxsize=1)
def default_tokenizer() -> Any:
    """The default model's tokenizer, loaded once per process."""
    from posttrain.models import load_tokenizer

    return load_tokenizer("default")


def inspect_datasets(datasets: Any, tokenizer: Any = None) -> list[tuple[DatasetInfo, Any]]:
    """`(info, data)` for each dataset in `datasets` (rows, a path, a Dataset, or a list of them); `data`
    is the loaded and checked `posttrain.data.Data`, kept so nothing reads the files again."""
    from posttrain.data import Data, load_data
    from posttrain.errors import ConfigError, Problem
    from posttrain.stages import stage_for_format

    tokenizer = tokenizer or default_tokenizer()
    found = []
    for source in _each_dataset(datasets):
        data = load_data(source)
        if not isinstance(data, Data):
            raise ConfigError(Problem(f"advise(datasets=...) {data.source}", "is a stream; the advisor counts "
                                      "rows and tokens of data read whole", "pass the file or its rows, not a "
                                      "stream (streaming is for training on corpora larger than memory)"))
        fmt = str(data.format)
        columns = sorted({key for row in data.rows for key in row})
        answer = next((c for c in ANSWER_COLUMNS if c in columns), None) if fmt == "prompt_only" else None
        method = stage_for_format(fmt)
        found.append((DatasetInfo(source=data.source, format=fmt, rows=len(data),
                                  tokens=count_tokens(data.rows, tokenizer), columns=columns,
                                  stage=method.advisor_name if method else "", answer_column=answer), data))
    return found


def _each_dataset(datasets: Any) -> Iterator[Any]:
    """One dataset is rows (dicts), a path or a Dataset; a list of those is several."""
    if isinstance(datasets, (str, Path)) or _is_rows(datasets) or not isinstance(datasets, (list, tuple)):
        yield datasets
        return
    yield from datasets


def _is_rows(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and bool(value) and isinstance(value[0], dict)


def row_texts(row: dict) -> list[str]:
    """Every piece of text in a row, in field order."""
    texts = []
    for field in TEXT_FIELDS:
        value = row.get(field)
        if isinstance(value, str):
            texts.append(value)
        elif isinstance(value, list):
            texts += [m["content"] for m in value if isinstance(m, dict) and isinstance(m.get("content"), str)]
    return texts


def count_tokens(rows: list[dict], tokenizer: Any) -> int:
    """Tokens in all text of `rows` (no special tokens), tokenized in batches."""
    texts = [text for row in rows for text in row_texts(row)]
    total = 0
    for start in range(0, len(texts), BATCH):
        encoded = tokenizer(texts[start:start + BATCH], add_special_tokens=False)["input_ids"]
        total += sum(len(ids) for ids in encoded)
    return total


def fill_spec(spec: TaskSpec, infos: list[DatasetInfo]) -> tuple[TaskSpec, list[str]]:
    """The spec with counts measured from the data, and notes where a measured count replaced a
    different one the spec stated."""
    from posttrain.stages import find_stage

    measured: dict[str, Any] = {}
    method_rows: dict[str, int] = {}
    for info in infos:
        method = find_stage(info.stage) if info.stage else None
        if method is None:
            continue
        count_field, token_field = method.advice.count, method.advice.tokens
        if count_field:
            measured[count_field] = measured.get(count_field, 0) + info.rows
        elif not token_field:                      # a method with no count of its own in the spec
            method_rows[method.kind] = method_rows.get(method.kind, 0) + info.rows
        if token_field:
            measured[token_field] = measured.get(token_field, 0) + info.tokens
        if info.answer_column and "verifiable_reward" not in spec.model_fields_set:
            measured["verifiable_reward"] = True
    notes = [f"spec says {name}={getattr(spec, name)} but the data given has {value:,}; using the data's count"
             for name, value in measured.items()
             if name in spec.model_fields_set and name != "method_rows" and getattr(spec, name) not in (value, 0, None)]
    if method_rows:
        measured["method_rows"] = {**spec.method_rows, **method_rows}
    return spec.model_copy(update=measured), notes
