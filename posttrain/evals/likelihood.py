"""Evals that read the model's probabilities instead of generating: `Perplexity` and the batched
log-likelihood scorer that `MultipleChoice` also uses."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from posttrain.errors import Problem, short
from posttrain.evals.base import EvalResult, bootstrap_interval, check_options, config_of, read_eval_rows
from posttrain.generation import Precision

if TYPE_CHECKING:
    from posttrain.types import CausalLM, KVCache, Tokenizer

TokenPair = tuple[list[int], list[int]]


def continuation_logprobs(model: CausalLM, tokenizer: Tokenizer, pairs: Sequence[TokenPair], batch_size: int = 8,
                          *, precision: Precision = "fp32") -> list[list[float]]:
    """log p of each continuation token given the context and the continuation tokens before it.

    `pairs` holds `(context_ids, continuation_ids)`, the context at least one token long; results
    come back in the caller's order, one list of floats per pair. Nothing is computed twice: the
    tokens every context starts with (a chat template's system turn, a question shared by its
    options) go through the model once, and each of `batch_size` rows per forward pass then carries
    only the rest of its context and its continuation, left-padded so that the vocabulary projection
    runs on the continuation's positions alone. fp32 by default (log-likelihoods are reported as
    numbers); `precision="auto"` uses bf16 weights on a CPU that computes bf16 natively.
    """
    import torch

    from posttrain.generation import inference_weights, prefix_cache, shared_prefix

    prefix = shared_prefix([context for context, _ in pairs])
    rest = [(context[len(prefix):], continuation) for context, continuation in pairs]
    order = sorted(range(len(pairs)), key=lambda i: -len(rest[i][0]) - len(rest[i][1]))
    results: list[list[float]] = [[] for _ in pairs]
    with torch.inference_mode(), inference_weights(model, precision):
        cached = prefix_cache(model, prefix)
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            for index, logprobs in zip(chunk, _score_batch(model, tokenizer, len(prefix), cached,
                                                          [rest[i] for i in chunk])):
                results[index] = logprobs
    return results


def _score_batch(model: CausalLM, tokenizer: Tokenizer, prefix: int, cached: KVCache | None,
                 pairs: Sequence[TokenPair]) -> list[list[float]]:
    """One forward pass over `pairs` (contexts already without the shared prefix) after the prefix's cache."""
    import torch

    from posttrain.generation import after_prefix, expanded, forward

    ids, mask = after_prefix([context + continuation for context, continuation in pairs], prefix,
                             tokenizer.pad_token_id, model.device)
    tail = max(len(c) for _, c in pairs)
    logits = forward(model, ids, mask, expanded(cached, len(pairs)), keep=tail + 1)[0]
    results = []
    for row, (_, continuation) in enumerate(pairs):
        # Sequences end together: continuation token i is predicted at kept position tail - len + i.
        picked = logits[row, tail - len(continuation):tail].float().log_softmax(-1)
        targets = torch.tensor(continuation, dtype=torch.long, device=picked.device)
        results.append(picked.gather(-1, targets[:, None])[:, 0].tolist())
    return results


def _check_text(row: dict, where: str) -> list[Problem]:
    value = row.get("text")
    if isinstance(value, str) and value.strip():
        return []
    return [Problem(f"{where}, field 'text'", f"is {short(value)} (fields: {sorted(row)})",
                    'give each text as a non-empty string, or a row {"text": ...}')]


@dataclass
class Perplexity:
    """Perplexity of the model on reference texts, to watch general ability drift (lower is better).

    `texts`: strings, rows with a `text` field, or a path (.jsonl with `text`, or .txt where blank
    lines separate texts). The score is the corpus perplexity exp(total NLL / total tokens) over every
    token but each text's first (texts longer than `max_length` tokens are cut); the interval is a
    seeded percentile bootstrap over texts.

    >>> from posttrain.testing import tiny_model
    >>> result = Perplexity(["The cat sat on the mat."]).run(*tiny_model())
    >>> result.higher_is_better, result.score > 1
    (False, True)
    """

    kind: ClassVar[str] = "perplexity"
    texts: list | str | Path
    name: str = "perplexity"
    max_length: int = 1024
    batch_size: int = 8
    items: list[dict] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        source = self.texts
        if isinstance(source, list):
            source = [{"text": t} if isinstance(t, str) else t for t in source]
        self.items = read_eval_rows(source, self.kind, _check_text)
        check_options({"max_length": self.max_length, "batch_size": self.batch_size}, self.name)

    def run(self, model: CausalLM, tokenizer: Tokenizer) -> EvalResult:
        """Score every text (batched forward passes, no generation)."""
        ids = [tokenizer(row["text"], add_special_tokens=True)["input_ids"][:self.max_length] for row in self.items]
        scored = [(i, seq) for i, seq in enumerate(ids) if len(seq) > 1]
        logprobs = continuation_logprobs(model, tokenizer, [(seq[:1], seq[1:]) for _, seq in scored],
                                         self.batch_size)
        per_text = [(-sum(lp), len(lp)) for lp in logprobs]
        details = [{"text": self.items[i]["text"][:200], "tokens": n, "nll": nll,
                    "perplexity": math.exp(nll / n)} for (i, _), (nll, n) in zip(scored, per_text)]
        if not per_text:
            return EvalResult.skip(self.name, "no text has two or more tokens", higher_is_better=False)
        return EvalResult(name=self.name, score=_corpus_perplexity(per_text), n=len(per_text),
                          ci=bootstrap_interval(per_text, _corpus_perplexity), details=details,
                          higher_is_better=False, metrics={"tokens": float(sum(n for _, n in per_text))})

    def to_config(self) -> dict:
        return config_of(self, self.kind)


def _corpus_perplexity(per_text: Sequence[tuple[float, int]]) -> float:
    return math.exp(sum(nll for nll, _ in per_text) / sum(n for _, n in per_text))
