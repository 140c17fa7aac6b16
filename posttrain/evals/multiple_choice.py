"""`MultipleChoice`: pick the option the model finds most likely as its reply, no generation needed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from posttrain.errors import Problem, short
from posttrain.evals.base import (EvalResult, Rows, accuracy_result, check_options, check_precision, check_prompt,
                                  config_of, prompt_of, read_eval_rows)
from posttrain.evals.likelihood import TokenPair, continuation_logprobs
from posttrain.generation import Precision, eval_precision

if TYPE_CHECKING:
    from posttrain.types import CausalLM, Tokenizer


def option_pairs(tokenizer: Tokenizer, question: str | list[dict], options: list[str],
                 system: str | None = None) -> list[TokenPair]:
    """`(context_ids, option_ids)` per option: the chat-templated question with the assistant turn
    opened, and the option's own tokens (tokenized apart, so every option shares the context)."""
    from posttrain.generation import render_prompt

    context = tokenizer(render_prompt(tokenizer, question, system), add_special_tokens=False)["input_ids"]
    return [(context, tokenizer(option, add_special_tokens=False)["input_ids"]) for option in options]


def option_loglikelihoods(model: CausalLM, tokenizer: Tokenizer, question: str | list[dict], options: list[str], *,
                          system: str | None = None, batch_size: int = 8,
                          precision: Precision = "fp32") -> list[tuple[float, int]]:
    """`(sum of log p over the option's tokens, number of tokens)` for each option scored as the
    assistant's reply to `question`. Divide the two for the length-normalised score.

    >>> from posttrain.testing import tiny_model
    >>> model, tokenizer = tiny_model()
    >>> [n for _, n in option_loglikelihoods(model, tokenizer, "Sky colour?", ["blue", "dark green"])]
    [1, 2]
    """
    pairs = option_pairs(tokenizer, question, options, system)
    return [(sum(lp), len(lp)) for lp in continuation_logprobs(model, tokenizer, pairs, batch_size,
                                                                precision=precision)]


def _answer_index(row: dict) -> int:
    answer = row["answer"]
    return answer if isinstance(answer, int) else row["options"].index(answer)


def _check_row(row: dict, where: str) -> list[Problem]:
    problems = check_prompt(row, where)
    options = row.get("options")
    if not (isinstance(options, list) and len(options) >= 2
            and all(isinstance(o, str) and o.strip() for o in options)):
        return problems + [Problem(f"{where}, field 'options'", f"is {short(options)}",
                                   'give a list of two or more non-empty strings, e.g. ["Paris", "Rome"]')]
    if len(set(options)) < len(options):
        problems.append(Problem(f"{where}, field 'options'", f"repeats an option ({short(options)})",
                                "make every option distinct"))
    answer = row.get("answer")
    in_range = isinstance(answer, int) and not isinstance(answer, bool) and 0 <= answer < len(options)
    if not (in_range or answer in options):
        problems.append(Problem(f"{where}, field 'answer'", f"is {short(answer)}, which is neither one of the "
                                f"options nor an index 0..{len(options) - 1}",
                                "give the correct option's exact text or its 0-based index"))
    return problems


@dataclass
class MultipleChoice:
    """Accuracy at picking the right option by length-normalised log-likelihood.

    Rows: `{"question": ..., "options": ["...", ...], "answer": <option text or 0-based index>}`.
    Each option is scored as the assistant's reply after the chat-templated question: the mean log p
    of its tokens (sum / number of tokens, like lm-eval's length-normalised accuracy); the option with
    the highest mean wins. `metrics["accuracy_unnormalized"]` uses the plain sum instead.

    The options of every row go through the model together, `batch_size` options per forward pass,
    after one pass over the prompt text all rows share (see `continuation_logprobs`); only the
    options' positions are projected onto the vocabulary. `precision` is "fp32" by default (the
    reported log-likelihoods are exact), "auto" for bf16 weights where the CPU computes bf16 natively.

    >>> from posttrain.testing import tiny_model
    >>> rows = [{"question": "2 + 2 =", "options": ["4", "5"], "answer": "4"}]
    >>> result = MultipleChoice(rows).run(*tiny_model())
    >>> result.n, len(result.details[0]["loglikelihoods"])
    (1, 2)
    """

    kind: ClassVar[str] = "multiple_choice"
    rows: Rows
    name: str = "multiple_choice"
    batch_size: int = 64
    system: str | None = None
    precision: Precision | None = "fp32"
    items: list[dict] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        check_precision(self.precision, self.name)
        self.items = read_eval_rows(self.rows, self.kind, _check_row)
        check_options({"batch_size": self.batch_size}, self.name)

    def run(self, model: CausalLM, tokenizer: Tokenizer) -> EvalResult:
        """Score every option of every row in batched forward passes."""
        pairs: list[TokenPair] = []
        spans: list[tuple[int, int]] = []
        for row in self.items:
            row_pairs = option_pairs(tokenizer, prompt_of(row), row["options"], self.system)
            spans.append((len(pairs), len(pairs) + len(row_pairs)))
            pairs += row_pairs
        logprobs = continuation_logprobs(model, tokenizer, pairs, self.batch_size,
                                         precision=eval_precision(self.precision, sampled=False))
        details, correct, correct_raw = [], [], []
        for row, (start, end) in zip(self.items, spans):
            sums = [sum(lp) for lp in logprobs[start:end]]
            means = [sum(lp) / max(1, len(lp)) for lp in logprobs[start:end]]
            picked, truth = means.index(max(means)), _answer_index(row)
            correct.append(picked == truth)
            correct_raw.append(sums.index(max(sums)) == truth)
            details.append({"prompt": prompt_of(row), "options": row["options"], "answer": truth,
                            "predicted": picked, "loglikelihoods": sums, "normalized": means,
                            "correct": picked == truth})
        return accuracy_result(self.name, correct, details,
                               {"accuracy_unnormalized": sum(correct_raw) / len(correct_raw)})

    def to_config(self) -> dict:
        return config_of(self, self.kind)
