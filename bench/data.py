"""Deterministic synthetic data: chat rows of 40-520 tokens, preference pairs and RL prompts.

Each answer is a learnable function of its prompt (the prompt's words in reverse order), so the
loss falls and a reward can score it.
"""

from __future__ import annotations

import random
from typing import Any

from posttrain.rewards import completion_text

WORDS = ("apple river stone cloud paper window garden silver engine market planet yellow orange "
         "forest ladder mirror pocket rabbit school travel violin winter bridge candle dragon "
         "feather guitar harbor island jacket kettle lemon magnet number ocean pencil quartz "
         "rocket saddle tunnel umbrella valley wagon yogurt zebra anchor basket castle desert").split()


def _words(rng: random.Random, count: int) -> list[str]:
    return [rng.choice(WORDS) for _ in range(count)]


def chat_rows(count: int, tokenizer: Any, min_tokens: int = 40, max_tokens: int = 520,
              seed: int = 0) -> list[dict]:
    """Prompt/completion rows in chat form whose rendered length spreads over [min, max] tokens."""
    rng = random.Random(seed)
    rows = []
    for _ in range(count):
        target = rng.randint(min_tokens, max_tokens)
        # about one token a word, split between question and answer, minus the template and instruction (~38 tokens)
        words = _words(rng, max(2, int((target - 38) / 2)))
        rows.append({"prompt": _ask(words), "completion": _say(" ".join(reversed(words)))})
    return rows


def _ask(words: list[str]) -> list[dict]:
    return [{"role": "user", "content": "Reverse these words: " + " ".join(words)}]


def _say(text: str) -> list[dict]:
    return [{"role": "assistant", "content": text}]


def row_tokens(rows: list[dict], tokenizer: Any) -> list[int]:
    """Rendered length in tokens of each chat row (prompt and completion)."""
    texts = [tokenizer.apply_chat_template(r["prompt"] + r["completion"], tokenize=False) for r in rows]
    return [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]


def preference_rows(count: int, seed: int = 1) -> list[dict]:
    """Pairs whose chosen answer reverses the prompt's words and rejected answer does not."""
    rng = random.Random(seed)
    rows = []
    for _ in range(count):
        words = _words(rng, rng.randint(25, 60))
        rows.append({"prompt": _ask(words), "chosen": _say(" ".join(reversed(words))),
                     "rejected": _say(" ".join(_words(rng, len(words))))})
    return rows


def prompt_rows(count: int, seed: int = 2) -> list[dict]:
    """RL prompts with the expected answer in an `answer` column for the reward."""
    rng = random.Random(seed)
    rows = []
    for _ in range(count):
        words = _words(rng, rng.randint(3, 8))
        rows.append({"prompt": _ask(words), "answer": " ".join(reversed(words))})
    return rows


def reversal_reward(completions: list, answer: list[str], **_: Any) -> list[float]:
    """Share of the expected words found in order at the start of the completion (0 to 1)."""
    scores = []
    for completion, expected in zip(completions, answer):
        got, want = completion_text(completion).split(), expected.split()
        hits = sum(1 for a, b in zip(got, want) if a.strip(".,") == b)
        scores.append(hits / len(want))
    return scores
