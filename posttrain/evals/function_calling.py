"""`FunctionCalling`: held-out tool-use prompts scored the way BFCL's AST checker scores them.

Each row gives the conversation so far (`prompt`: a string or messages), the `tools` offered and the
expected `calls` (`[{"name", "arguments"}]`; `[]` when the right reply calls nothing). The model's reply
is parsed into calls (`<tool_call>{"name": ..., "arguments": {...}}</tool_call>`, as the built-in
`chatml-tools` template renders them) and compared as values, not strings: the same function names in the
same order, the same argument names, and each value equal after normalisation (numbers by value, so
5 == 5.0 and "5" is not 5; strings case- and surrounding-space-insensitive; lists and objects element by
element). A reply that is not valid JSON inside its tags scores as wrong.

>>> ev = FunctionCalling([{"prompt": "Weather in Oslo?", "tools": [], "calls": [{"name": "get_weather",
...                        "arguments": {"city": "Oslo"}}]}])
>>> ev.score(['<tool_call>{"name": "get_weather", "arguments": {"city": " oslo"}}</tool_call>']).score
1.0
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from posttrain.data.convert import tools_list
from posttrain.data.templates import parse_tool_calls, resolve_template
from posttrain.errors import DataError, Problem, short
from posttrain.evals.base import (EvalResult, Rows, accuracy_result, check_options, check_output_count, config_of,
                                  read_eval_rows)


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

    def __post_init__(self) -> None:
        self.items = [self._normalise(row) for row in read_eval_rows(self.rows, self.kind, _check_row)]
        check_options({"max_new_tokens": self.max_new_tokens, "batch_size": self.batch_size}, self.name)
        if self.chat_template is not None:
            resolve_template(self.chat_template, f"{self.name}, option 'chat_template'")

    @staticmethod
    def _normalise(row: dict) -> dict:
        prompt = row["prompt"]
        messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
        return {"messages": messages, "tools": tools_list(row.get("tools") or []), "calls": row["calls"]}

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
                            "parsed": calls, "correct": verdict})
        parsed = [d["parsed"] for d in details]
        expected_call = [bool(item["calls"]) for item in self.items]
        names = [p is not None and [c["name"] for c in p] == [c["name"] for c in item["calls"]]
                 for p, item in zip(parsed, self.items)]
        metrics = {"valid_json": sum(p is not None for p in parsed) / len(parsed),
                   "name_accuracy": sum(names) / len(names),
                   "called_when_needed": _rate([bool(p) for p, e in zip(parsed, expected_call) if e]),
                   "silent_when_not_needed": _rate([p == [] for p, e in zip(parsed, expected_call) if not e])}
        return accuracy_result(self.name, correct, details, metrics)

    def run(self, model: Any, tokenizer: Any) -> EvalResult:
        """Greedy replies of `model` to every prompt (rendered with the tools by the chat template)."""
        tokenizer = copy.copy(tokenizer)
        if self.chat_template is not None:
            tokenizer.chat_template = resolve_template(self.chat_template)
        texts = [tokenizer.apply_chat_template(p["messages"], tools=p["tools"] or None, tokenize=False,
                                               add_generation_prompt=True) for p in self.prompts()]
        return self.score(greedy(model, tokenizer, texts, self.max_new_tokens, self.batch_size))

    def to_config(self) -> dict:
        return config_of(self, self.kind)


def greedy(model: Any, tokenizer: Any, texts: list[str], max_new_tokens: int, batch_size: int) -> list[str]:
    """Greedy continuations of already-rendered prompts, left-padded in batches."""
    import torch

    side, tokenizer.padding_side = tokenizer.padding_side, "left"
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    outputs = []
    was_training = model.training
    model.eval()
    try:
        for start in range(0, len(texts), batch_size):
            batch = tokenizer(texts[start:start + batch_size], return_tensors="pt", padding=True,
                              add_special_tokens=False).to(model.device)
            with torch.no_grad():
                ids = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=pad)
            outputs += tokenizer.batch_decode(ids[:, batch["input_ids"].shape[1]:], skip_special_tokens=True)
    finally:
        tokenizer.padding_side = side
        model.train(was_training)
    return outputs


def _rate(values: list[bool]) -> float:
    return sum(values) / len(values) if values else float("nan")


def calls_match(got: list[dict], expected: list[dict]) -> bool:
    """The same calls in the same order: names equal, argument names equal, values equal as values."""
    return len(got) == len(expected) and all(
        g["name"] == e["name"] and values_match(g["arguments"], e.get("arguments", {})) for g, e in zip(got, expected))


def values_match(got: Any, expected: Any) -> bool:
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
    if not isinstance(tools_list(row.get("tools") or []), list):
        problems.append(Problem(f"{where}, field 'tools'", f"is {short(row.get('tools'))}",
                                "give the offered tools as a list of function schemas"))
    return problems


__all__ = ["FunctionCalling", "calls_match", "values_match", "DataError"]
