"""`ToolEpisodes`: the task solved with tools at hand, over several turns, as the model would run it.

Each episode: the question (with the tools' schemas rendered by the chat template), the model's reply;
while that reply calls tools and turns are left, each call runs (guarded: an error or a call past
`tool_timeout_s` is the tool's reply, as in training) and its result goes back as a `tool` message,
and the model goes on. The final answer (the last reply's text) is checked against the row's `answer`
(math-verify, as `MathAccuracy`), or, with an environment that has `get_reward()`, the episode
succeeds when that reward reaches `success_at`.

Greedy by default; `temperature > 0` with `samples=k` scores avg@k (pass@k in `metrics`). `metrics`
also holds `tool_calls_per_episode`, `turn_limit_share` (episodes still calling tools when the turns
ran out) and `tool_error_share` (tool replies that were errors), and the accuracy of each `kind`.
The details' prompts are the rows' questions, so a run is paired (`compare.paired_test`) with a
`MathAccuracy` of the same rows: the same model with and without the tool.

>>> from posttrain.evals.episodes import ToolEpisodes
>>> ev = ToolEpisodes([{"question": "What is 6 * 7?", "answer": "42"}], tools=["posttrain.tools.calculator"])
>>> ev.tools[0].__name__
'calculator'
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from posttrain.errors import DataError, Problem
from posttrain.evals.base import (EvalResult, Rows, accuracy_result, check_answer, check_options, check_precision,
                                  config_of, prompt_of, read_eval_rows, sampled_result)
from posttrain.generation import Precision, sampling_problem
from posttrain.tools import ToolCounter

if TYPE_CHECKING:
    from posttrain.types import CausalLM, Tokenizer


@dataclass
class _Episode:
    row: dict
    messages: list[dict]
    env: Any
    counter: ToolCounter
    tools: dict[str, Callable[..., Any]]
    schemas: list[dict]
    final: str = ""
    hit_limit: bool = False
    done: bool = False
    reward: float | None = None


@dataclass
class ToolEpisodes:
    """Share of multi-turn episodes, with `tools` (functions or dotted paths) or an `environment` (a
    class or factory, or dotted path), whose outcome is right. See the module's doc."""

    kind: ClassVar[str] = "tool_episodes"
    rows: Rows
    tools: list[Any] = field(default_factory=list)
    environment: Any = None
    name: str = "tool_episodes"
    max_turns: int = 4
    tool_timeout_s: float = 10.0
    success_at: float = 1.0
    chat_template: str | None = None
    system: str | None = None
    max_new_tokens: int = 96
    batch_size: int = 32
    precision: Precision | None = None
    samples: int = 1
    temperature: float = 0.0
    seed: int = 0
    group_by: str = "kind"
    items: list[dict] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        from posttrain.config import resolve_callable, resolve_factory
        from posttrain.data.templates import resolve_template
        from posttrain.tools import environment_problems, tool_problems

        check_precision(self.precision, self.name)
        check_options({"max_new_tokens": self.max_new_tokens, "batch_size": self.batch_size,
                       "max_turns": self.max_turns}, self.name)
        if self.temperature != 0 or self.samples != 1:
            problem = sampling_problem(self.samples, self.temperature)
            if problem is not None:
                raise DataError(Problem(f"{self.name}, option {problem.where!r}", problem.message, problem.fix),
                                title="invalid eval options")
        self.tools = [resolve_callable(t, f"{self.name}, tools[{i}]") for i, t in enumerate(self.tools)]
        problems = tool_problems(self.tools, self.name)
        self._factory = None
        if self.environment is not None:
            self._factory = resolve_factory(self.environment, f"{self.name}, option 'environment'")
            found, _ = environment_problems(self._factory, self.name)
            problems += found
        if not self.tools and self._factory is None:
            problems.append(Problem(f"{self.name}, option 'tools'", "is empty and no environment is given",
                                    "give tools=[fn, ...] or environment=YourEnv"))
        if self.chat_template is not None:
            resolve_template(self.chat_template, f"{self.name}, option 'chat_template'")
        if problems:
            raise DataError(problems, title="invalid eval options")
        scored_by_env = self._factory is not None and callable(getattr(self._factory(), "get_reward", None))
        self._by_answer = not scored_by_env
        self.items = read_eval_rows(self.rows, self.kind, lambda row, where: (
            ([] if row.get("question") is not None or row.get("prompt") is not None
             else [Problem(where, "has no 'question' (or 'prompt')", "give each row a question")])
            + (check_answer(row, where) if self._by_answer else [])))

    # -- one batch of episodes --------------------------------------------------------------------------

    def _episodes(self, model: CausalLM, tokenizer: Tokenizer, rows: list[dict], sample: int | None) -> list[_Episode]:
        """Run one episode per row to its end; each: messages, final text, calls, errors, hit_limit, reward."""
        from posttrain.data.templates import parse_tool_calls
        from posttrain.generation import eval_precision, generate
        from posttrain.tools import environment_tools, guard_environment, guard_tool, tool_schema

        episodes = []
        for row in rows:
            counter = ToolCounter()
            env = guard_environment(self._factory, self.tool_timeout_s, counter)() if self._factory else None
            question = prompt_of(row)
            messages: list[dict] = ([{"role": "user", "content": question}] if isinstance(question, str)
                                    else [dict(m) for m in question])
            if self.system and messages[0].get("role") != "system":
                messages.insert(0, {"role": "system", "content": self.system})
            if env is not None:
                note = env.reset(**row)
                if isinstance(note, str):
                    messages[-1] = {**messages[-1], "content": str(messages[-1]["content"]) + note}
            tools = [guard_tool(t, self.tool_timeout_s, counter) for t in self.tools]
            if env is not None:
                tools += [getattr(env, name) for name in environment_tools(type(env))]
            episodes.append(_Episode(row, messages, env, counter, {t.__name__: t for t in tools},
                                     [tool_schema(t) for t in tools]))
        for turn in range(self.max_turns + 1):
            live = [e for e in episodes if not e.done]
            if not live:
                break
            texts = [tokenizer.apply_chat_template(e.messages, tools=e.schemas, tokenize=False,
                                                   add_generation_prompt=True) for e in live]
            replies = generate(model, tokenizer, texts, chat=False, max_new_tokens=self.max_new_tokens,
                               batch_size=self.batch_size,
                               precision=eval_precision(self.precision, sampled=sample is not None),
                               temperature=self.temperature if sample is not None else 0.0,
                               seed=None if sample is None else self.seed * 1000 + sample * 10 + turn)
            for episode, reply in zip(live, replies):
                calls = parse_tool_calls(reply) or []
                content = reply.split("<tool_call>")[0].strip()
                if not calls:
                    episode.messages.append({"role": "assistant", "content": reply})
                    episode.final, episode.done = reply, True
                    continue
                if turn == self.max_turns:
                    episode.final, episode.done, episode.hit_limit = content, True, True
                    episode.messages.append({"role": "assistant", "content": reply})
                    continue
                episode.messages.append({"role": "assistant", "content": content, "tool_calls": [
                    {"type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}
                    for c in calls]})
                for call in calls:
                    result = self._call(episode, call)
                    episode.messages.append({"role": "tool", "name": call["name"], "content": result})
        for episode in episodes:
            if episode.env is not None and not self._by_answer:
                episode.reward = float(episode.env.get_reward())
        return episodes

    @staticmethod
    def _call(episode: _Episode, call: dict) -> str:
        tool = episode.tools.get(call["name"])
        if tool is None:
            episode.counter.calls += 1
            episode.counter.failed["error"] += 1
            return f"error: no tool named {call['name']!r}; the tools are {sorted(episode.tools)}"
        result = tool(**call["arguments"])      # guarded: wrong arguments, errors and overruns are replies
        return result if isinstance(result, str) else json.dumps(result, default=str)

    def _judge(self, episode: _Episode) -> dict:
        from posttrain.rewards import extract_final_answer, math_equal

        row, counter = episode.row, episode.counter
        if self._by_answer:
            extracted = extract_final_answer(episode.final)
            correct = math_equal(str(row["answer"]), extracted)
        else:
            extracted, correct = None, (episode.reward or 0.0) >= self.success_at
        group = row.get(self.group_by)
        return {"output": episode.final, "answer": row.get("answer"), "extracted": extracted,
                "correct": bool(correct), "reward": episode.reward, "tool_calls": counter.calls,
                "tool_errors": sum(counter.failed.values()), "hit_limit": episode.hit_limit,
                "episode": [m for m in episode.messages if m.get("role") != "system"],
                **({self.group_by: str(group)} if group is not None else {})}

    def _metrics(self, judged: list[dict]) -> dict[str, float]:
        n = max(len(judged), 1)
        calls = sum(j["tool_calls"] for j in judged)
        metrics = {"tool_calls_per_episode": calls / n, "turn_limit_share": sum(j["hit_limit"] for j in judged) / n,
                   "tool_error_share": sum(j["tool_errors"] for j in judged) / calls if calls else 0.0}
        groups: dict[str, list[bool]] = {}
        for j in judged:
            if self.group_by in j:
                groups.setdefault(j[self.group_by], []).append(j["correct"])
        metrics.update({f"accuracy/{g}": sum(v) / len(v) for g, v in sorted(groups.items())})
        return metrics

    def run(self, model: CausalLM, tokenizer: Tokenizer) -> EvalResult:
        """Run every episode (greedy, or `samples` sampled per row) and score them."""
        from posttrain.data.templates import resolve_template

        saved = tokenizer.chat_template
        if self.chat_template is not None:
            tokenizer.chat_template = resolve_template(self.chat_template)
        try:
            if self.temperature == 0:
                judged = [self._judge(e) for e in self._episodes(model, tokenizer, self.items, None)]
                details = [{"prompt": prompt_of(row), **j} for row, j in zip(self.items, judged)]
                return accuracy_result(self.name, [j["correct"] for j in judged], details, self._metrics(judged))
            per_item: list[list[dict]] = [[] for _ in self.items]
            for k in range(self.samples):
                for i, episode in enumerate(self._episodes(model, tokenizer, self.items, k)):
                    per_item[i].append(self._judge(episode))
        finally:
            tokenizer.chat_template = saved
        verdicts = [[j["correct"] for j in judged] for judged in per_item]
        details = [{"prompt": prompt_of(row), "mean": sum(v) / len(v), "right": sum(v), "k": len(v),
                    "samples": judged} for row, v, judged in zip(self.items, verdicts, per_item)]
        return sampled_result(self.name, verdicts, details, self._metrics([j for js in per_item for j in js]))

    def to_config(self) -> dict:
        return config_of(self, self.kind)
