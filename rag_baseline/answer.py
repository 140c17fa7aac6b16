"""Answers from retrieved context through the shared batched generator, and the generator cache."""

from __future__ import annotations

import os
import re
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeAlias

from posttrain.errors import ConfigError, Problem, short
from posttrain.generation import GenerateOptions

if TYPE_CHECKING:
    from langchain_core.documents import Document
    from typing_extensions import Unpack

    from posttrain.generation import Prompt
    from posttrain.types import CausalLM, Tokenizer

SYSTEM = "Answer the question using the context. Reply with the short answer only."
MAX_NEW_TOKENS = 48
CACHE_SIZE = 3            # a 135M model in fp32 takes ~0.5 GB; keep a few, drop the oldest


class Trained(Protocol):
    """A training result (`RunResult`, `StageResult`): its model is the folder `model_dir`."""

    @property
    def model_dir(self) -> Path: ...


#: A loaded generator.
Loaded: TypeAlias = "tuple[CausalLM, Tokenizer]"
#: A generator as `answer()` and `compare()` take it (checked by `model_spec`).
ModelSpec: TypeAlias = "str | os.PathLike[str] | Loaded | Trained"


class AnswerOptions(GenerateOptions, total=False):
    """`answer_with_context` options beyond the questions, passages and model."""

    max_new_tokens: int
    system: str | None


_LOADED: OrderedDict[str, Loaded] = OrderedDict()


@dataclass(frozen=True)
class Answer:
    """An answer and the chunks it was generated from (each with `metadata["score"]`)."""

    question: str
    text: str
    sources: list[Document] = field(default_factory=list)

    def __str__(self) -> str:
        return self.text


def model_spec(model: object) -> str | Loaded:
    """A generator as `compare()` and `answer()` take it: a name or folder (str), or a loaded
    `(model, tokenizer)` pair. Training results (anything with `.model_dir`) become their folder."""
    if hasattr(model, "model_dir"):
        return str(model.model_dir)
    if isinstance(model, os.PathLike):
        return str(model)
    if isinstance(model, str) and model.strip():
        return model
    if isinstance(model, tuple) and len(model) == 2 and hasattr(model[0], "generate") and callable(model[1]):
        return model
    raise ConfigError(Problem("model", f"got {type(model).__name__} {short(model)}",
                              "pass 'default', a model folder, a (model, tokenizer) pair, or a training "
                              "result with .model_dir"))


def load_generator(model: object) -> Loaded:
    """`(model, tokenizer)` for a generator spec; loaded models are cached by folder."""
    from posttrain.models import load_model, resolve

    spec = model_spec(model)
    if isinstance(spec, tuple):
        return spec
    key = resolve(spec)
    if key not in _LOADED:
        _LOADED[key] = load_model(key)
        while len(_LOADED) > CACHE_SIZE:
            _LOADED.popitem(last=False)
    _LOADED.move_to_end(key)
    return _LOADED[key]


def clear_model_cache() -> None:
    """Forget the cached generators (frees their memory)."""
    _LOADED.clear()


def context_block(documents: Sequence[Document]) -> str:
    """Retrieved chunks as numbered passages."""
    return "\n\n".join(f"[{number}] {doc.page_content.strip()}" for number, doc in enumerate(documents, start=1))


def augment(prompt: Prompt, documents: Sequence[Document]) -> Prompt:
    """`prompt` with the retrieved context put before it (a string, or the last user message of a chat)."""
    prefix = f"Context:\n{context_block(documents)}\n\n"
    if isinstance(prompt, str):
        return prefix + (prompt if prompt.lstrip().lower().startswith("question") else f"Question: {prompt}")
    messages = [dict(message) for message in prompt]
    last_user = max(i for i, message in enumerate(messages) if message["role"] == "user")
    messages[last_user]["content"] = prefix + messages[last_user]["content"]
    return messages


_ASKED = re.compile(r"\b(?:which|what)\s+([a-z]+)\b", re.IGNORECASE)
_NOT_A_KIND = frozenset("is are was were does do did has have had can could will would should may might".split())


def short_answer(question: str, reply: str) -> str:
    """`reply` without the kind of thing the question asks for, when the reply opens with it: asked
    "which river ...?" or "in what year ...?", the replies "the river Pisk" and "the year 1671" become "Pisk"
    and "1671" (also "the hamlet of X", "river X", "the rivers X"). Any other reply is returned unchanged.

    Answers judged as SQuAD judges them are the shortest span that answers; the question's own noun in front
    of that span is not part of it. `advise(...).route(documents=...)` builds RAG that applies this to every
    answer (`RAGBaseline(short_answers=True)`).

    >>> short_answer("On the banks of which river is Orvel?", "the river Pisk")
    'Pisk'
    >>> short_answer("Which sea is Tarn in?", "the Gannet Sea"), short_answer("What is Tarn known for?", "salt")
    ('the Gannet Sea', 'salt')
    """
    asked = next((m.group(1).lower() for m in _ASKED.finditer(question) if m.group(1).lower() not in _NOT_A_KIND),
                 None)
    if asked is None:
        return reply
    found = re.match(rf"\s*(?:(?:the|a|an)\s+)?{re.escape(asked)}s?\b(?:\s+(?:of|called|named)\b)?[\s:,]*(\S.*)",
                     reply, re.IGNORECASE | re.DOTALL)
    return found.group(1) if found else reply


def answer_with_context(questions: list[str], contexts: list[list[Document]], model: object, *,
                        max_new_tokens: int = MAX_NEW_TOKENS, system: str | None = SYSTEM,
                        short_answers: bool = False, **generation: Unpack[GenerateOptions]) -> list[Answer]:
    """Generate one answer per question from its retrieved chunks, all in batched calls (each passed
    through `short_answer` when `short_answers`)."""
    from posttrain.generation import generate

    loaded, tokenizer = load_generator(model)
    prompts = [augment(question, docs) for question, docs in zip(questions, contexts)]
    texts = generate(loaded, tokenizer, prompts, max_new_tokens=max_new_tokens, system=system, **generation)
    if short_answers:
        texts = [short_answer(question, text) for question, text in zip(questions, texts)]
    return [Answer(question, text, docs) for question, text, docs in zip(questions, texts, contexts)]
