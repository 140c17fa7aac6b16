"""`FunctionCalling`: held-out tool-use prompts scored the way BFCL's AST checker scores them.

Each row gives the conversation so far (`prompt`: a string or messages), the `tools` offered and the
expected `calls` (`[{"name", "arguments"}]`; `[]` when the right reply calls nothing). The model's reply
is parsed into calls (`<tool_call>{"name": ..., "arguments": {...}}</tool_call>`, as the built-in
`chatml-tools` template renders them) and compared as values, not strings: the same calls (in any order,
as BFCL's parallel checker allows), each with the function's name, the same argument names, and each
value equal after normalisation (numbers by value, so 5 == 5.0 and "5" is not 5; strings case- and
surrounding-space-insensitive; lists and objects element by element). A reply that is not valid JSON
inside its tags scores as wrong.

Each row falls in one of BFCL's categories, given by an optional `category` field or else read from the
row: `irrelevance` (no call is right), `parallel` (several calls in one reply), `multiple` (one call, to be
chosen among several offered tools) and `simple` (one call, one tool offered). `metrics` holds the
exact-call rate of each category present (`accuracy/simple`, `accuracy/multiple`, `accuracy/parallel`,
`accuracy/irrelevance`) beside the total and the sub-scores.

>>> ev = FunctionCalling([{"prompt": "Weather in Oslo?", "tools": [], "calls": [{"name": "get_weather",
...                        "arguments": {"city": "Oslo"}}]}])
>>> ev.score(['<tool_call>{"name": "get_weather", "arguments": {"city": " oslo"}}</tool_call>']).score
1.0
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from posttrain.data.convert import tools_list
from posttrain.data.templates import parse_tool_calls, resolve_template
from posttrain.errors import DataError, Problem, short
from posttrain.evals.base import (EvalResult, Rows, accuracy_result, check_options, check_output_count,
                                  check_precision, config_of, read_eval_rows)
from posttrain.generation import Precision, eval_precision

if TYPE_CHECKING:
    from posttrain.types import CausalLM, Tokenizer


@dataclass
class FunctionCalling:
    """Call accuracy on held-out tool-use prompts (BFCL-style: names and argument values compared).

    In a suite YAML: `- {kind: function_calling, rows: calls.jsonl, chat_template: chatml-tools}`.
    """

    kind: ClassVar[str] = "function_calling"
    rows: Rows
    name: str = "function_calling"
    max_new_tokens: int = 96
    batch_size: int = 16
    chat_template: str | None = None      # e.g. "chatml-tools" for a model whose own template drops tools
    precision: Precision | None = "fp32"

    def __post_init__(self) -> None:
        check_precision(self.precision, self.name)
        self.items = [self._normalise(row) for row in read_eval_rows(self.rows, self.kind, _check_row)]
        check_options({"max_new_tokens": self.max_new_tokens, "batch_size": self.batch_size}, self.name)
        if self.chat_template is not None:
            resolve_template(self.chat_template, f"{self.name}, option 'chat_template'")

    @staticmethod
    def _normalise(row: dict) -> dict:
        prompt = row["prompt"]
        messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
        tools = tools_list(row.get("tools") or [])
        return {"messages": messages, "tools": tools, "calls": row["calls"],
                "category": row.get("category") or category_of(row["calls"], tools if isinstance(tools, list) else [])}

    def prompts(self) -> list[dict]:
        """What the model is asked: each row's messages with its tools."""
        return [{"messages": item["messages"], "tools": item["tools"]} for item in self.items]

    def score(self, outputs: Sequence[str]) -> EvalResult:
        """Score one reply per row, in order."""
        check_output_count(outputs, self.items, self.name)
        details, correct = [], []
        for item, output in zip(self.items, outputs):
            calls = parse_tool_calls(output)
            verdict = calls is not None and calls_match(calls, item["calls"])
            correct.append(verdict)
            details.append({"prompt": item["messages"][-1]["content"], "output": output, "expected": item["calls"],
                            "parsed": calls, "correct": verdict, "category": item["category"]})
        parsed = [d["parsed"] for d in details]
        expected_call = [bool(item["calls"]) for item in self.items]
        names = [p is not None and [c["name"] for c in p] == [c["name"] for c in item["calls"]]
                 for p, item in zip(parsed, self.items)]
        metrics = {"valid_json": sum(p is not None for p in parsed) / len(parsed),
                   "name_accuracy": sum(names) / len(names),
                   "called_when_needed": _rate([bool(p) for p, e in zip(parsed, expected_call) if e]),
                   "silent_when_not_needed": _rate([p == [] for p, e in zip(parsed, expected_call) if not e])}
        for category in CATEGORIES:
            verdicts = [d["correct"] for d in details if d["category"] == category]
            if verdicts:
                metrics[f"accuracy/{category}"] = _rate(verdicts)
        return accuracy_result(self.name, correct, details, metrics)

    def run(self, model: CausalLM, tokenizer: Tokenizer) -> EvalResult:
        """Greedy replies of `model` to every prompt, rendered with its tools by the chat template and
        generated by the shared generator (batched, each reply leaving its batch when it ends)."""
        from posttrain.generation import generate

        tokenizer = copy.copy(tokenizer)
        if self.chat_template is not None:
            tokenizer.chat_template = resolve_template(self.chat_template)
        texts = [tokenizer.apply_chat_template(p["messages"], tools=p["tools"] or None, tokenize=False,
                                               add_generation_prompt=True) for p in self.prompts()]
        return self.score(generate(model, tokenizer, texts, max_new_tokens=self.max_new_tokens,
                                   batch_size=self.batch_size, chat=False,
                                   precision=eval_precision(self.precision, sampled=False)))

    def to_config(self) -> dict:
        return config_of(self, self.kind)


CATEGORIES = ("simple", "multiple", "parallel", "irrelevance")


def category_of(calls: list[dict], tools: list) -> str:
    """BFCL's category of a request from its expected calls and offered tools: `irrelevance` when no call
    is right, `parallel` for several calls in one reply, `multiple` for one call among several offered
    tools, else `simple`."""
    if not calls:
        return "irrelevance"
    if len(calls) > 1:
        return "parallel"
    return "multiple" if len(tools) > 1 else "simple"


def _rate(values: list[bool]) -> float:
    return sum(values) / len(values) if values else float("nan")


def calls_match(got: list[dict], expected: list[dict]) -> bool:
    """The same calls in any order (each expected call matched by its own reply call): names equal,
    argument names equal, values equal as values."""
    if len(got) != len(expected):
        return False
    left = list(got)
    for e in expected:
        match = next((i for i, g in enumerate(left) if g["name"] == e["name"]
                      and values_match(g["arguments"], e.get("arguments", {}))), None)
        if match is None:
            return False
        left.pop(match)
    return True


def values_match(got: object, expected: object) -> bool:
    """BFCL-style value equality: numbers by value (not bools), strings normalised, containers elementwise."""
    if isinstance(expected, bool) or isinstance(got, bool):
        return got is expected
    if isinstance(expected, (int, float)):
        return isinstance(got, (int, float)) and float(got) == float(expected)
    if isinstance(expected, str):
        return isinstance(got, str) and got.strip().casefold() == expected.strip().casefold()
    if isinstance(expected, dict):
        return isinstance(got, dict) and set(got) == set(expected) and all(values_match(got[k], expected[k])
                                                                            for k in expected)
    if isinstance(expected, list):
        return isinstance(got, list) and len(got) == len(expected) and all(values_match(g, e)
                                                                           for g, e in zip(got, expected))
    return got == expected


def _check_row(row: dict, where: str) -> list[Problem]:
    problems = []
    prompt = row.get("prompt")
    if not (isinstance(prompt, str) and prompt.strip()) and not (
            isinstance(prompt, list) and prompt and all(isinstance(m, dict) and "role" in m for m in prompt)):
        problems.append(Problem(f"{where}, field 'prompt'", f"is {short(prompt)}",
                                "give the user's request as text or as chat messages"))
    calls = row.get("calls")
    if not isinstance(calls, list) or not all(isinstance(c, dict) and isinstance(c.get("name"), str)
                                              and isinstance(c.get("arguments", {}), dict) for c in calls):
        problems.append(Problem(f"{where}, field 'calls'", f"is {short(calls)}",
                                'give the expected calls, e.g. [{"name": "get_weather", "arguments": {"city": '
                                '"Oslo"}}], or [] when no tool should be called'))
    category = row.get("category")
    if category is not None and category not in CATEGORIES:
        problems.append(Problem(f"{where}, field 'category'", f"is {short(category)}",
                                f"use one of {list(CATEGORIES)}, or leave it out to have it read from the row"))
    if not isinstance(tools_list(row.get("tools") or []), list):
        problems.append(Problem(f"{where}, field 'tools'", f"is {short(row.get('tools'))}",
                                "give the offered tools as a list of function schemas"))
    return problems


__all__ = ["FunctionCalling", "CATEGORIES", "calls_match", "category_of", "values_match", "DataError"]
