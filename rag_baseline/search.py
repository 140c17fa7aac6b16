"""Search as a tool: the model answers by calling `search(query)` over a `RAGBaseline`'s index, zero or more
times, reading what comes back, then answering (the retrieve-read-search-again loop of Search-R1 and
R1-Searcher, on the user's own index).

- `search_environment(rag, k)`: an environment class for `.grpo(environment=...)` (and `ToolEpisodes`):
  each episode gets a `search` tool over `rag`, counting its calls;
- `search_reward`: the episode's final answer against the row's `answer`, by SQuAD's token F1 (1.0 for an
  exact match); `charged_search_reward`, the one `search_pipeline` trains with: the same less a small charge per
  search, and nothing for an episode that ends without an answer;
- `search_traces(rag, rows, k)`: worked episodes for a cold-start SFT (search the question; answer at once
  where the result holds the answer; where it only names the bridge of a two-hop row, search again with the
  bridge's name in place of its description; answer with the span alone); `multi_fact_texts` joins short
  training records into documents whose chunks hold several facts, as a user's documents do;
- `search_pipeline(rag, rows, ...)`: cold start, then GRPO in the environment, one `Trainer`;
- `SearchAgent(rag, model)`: the arm `compare()` scores beside base, RAG and fine-tuned models: open
  questions are answered as episodes (`answer_episodes`); its cost counts searches per answer.

>>> from rag_baseline import RAGBaseline
>>> from rag_baseline.search import SearchAgent, search_pipeline
>>> rag = RAGBaseline.from_files(["examples/data/reading/docs", "examples/data/search/docs"])  # doctest: +SKIP
>>> run = search_pipeline(rag, "examples/data/search/train.jsonl").run()                        # doctest: +SKIP
>>> # then: compare(rows, {"rag": user_rag, "search agent": SearchAgent(user_rag, run)})
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from posttrain.errors import ConfigError, Problem, short
from rag_baseline.answer import context_block

if TYPE_CHECKING:
    from collections.abc import Sequence

    from posttrain.evals.base import Rows
    from posttrain.pipeline.builder import Trainer
    from rag_baseline.store import RAGBaseline

TEMPLATE = "chatml-tools"
SYSTEM = ("Answer the question. Call search to look facts up in the documents, again if what you find names "
          "what you still need. Then reply with the short answer only.")
K = 2
MAX_SEARCHES = 3


class SearchEnvironment:
    """One episode's `search` tool over an index (`search_environment` binds the index and `k`)."""

    index: ClassVar[Any] = None
    k: ClassVar[int] = K

    def reset(self, **row: Any) -> None:
        self.searches = 0
        self.seen: list[Any] = []

    def search(self, query: str) -> str:
        """Search the documents and return the passages that match the query best.

        Args:
            query: What to look for: a question, or a name with what you want to know about it.
        """
        self.searches += 1
        docs = self.index.retrieve(str(query), self.k)
        self.seen.extend(docs)
        return context_block(docs)


def search_environment(rag: RAGBaseline, k: int = K) -> type[SearchEnvironment]:
    """An environment class whose `search` tool returns the top `k` chunks of `rag` for a query."""
    if not isinstance(k, int) or k < 1:
        raise ConfigError(Problem("k", f"must be a whole number >= 1, got {short(k)}", "e.g. k=2"))
    if not hasattr(rag, "retrieve"):
        raise ConfigError(Problem("rag", f"got {type(rag).__name__}", "give a RAGBaseline"))
    return type("SearchEnvironment", (SearchEnvironment,), {"index": rag, "k": k, "__module__": __name__,
                                                           "__doc__": SearchEnvironment.__doc__})


def search_reward(completions: Sequence, **columns: Any) -> list[float | None]:
    """Token F1 (SQuAD) of each episode's final answer against the `answer` column; None where it is missing.

    >>> search_reward(["Irwe Eskow", "the captain was Irwe", "x"], answer=["Irwe Eskow", "Irwe Eskow", None])
    [1.0, 0.4, None]
    """
    from posttrain.evals.qa import token_f1
    from posttrain.rewards import completion_text

    answers = columns.get("answer")
    if not isinstance(answers, (list, tuple)) or len(answers) != len(completions):
        raise ValueError("search_reward needs the dataset column 'answer' (one per completion)")
    return [None if gold is None else round(float(token_f1(completion_text(c), gold)), 4)
            for c, gold in zip(completions, answers)]


SEARCH_CHARGE = 0.05


def charged_search_reward(completions: Sequence, environments: Sequence | None = None,
                          **columns: Any) -> list[float | None]:
    """`search_reward` less `SEARCH_CHARGE` for each search the episode made (its environment's count), and
    0.0 for an episode that ends still calling `search` (no final answer): answering once the passages hold
    the answer earns more than searching on.

    >>> call = {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "search"}}]}
    >>> charged_search_reward([[call, {"role": "tool", "content": "x"}, {"role": "assistant", "content": "Irwe"}],
    ...                        [call]], answer=["Irwe", "Irwe"])
    [0.95, 0.0]
    """
    scores = search_reward(completions, **columns)
    out: list[float | None] = []
    for i, (completion, score) in enumerate(zip(completions, scores)):
        if score is None:
            out.append(None)
            continue
        messages = list(completion) if isinstance(completion, (list, tuple)) else []
        own = [m for m in messages if isinstance(m, dict) and m.get("role") != "tool"]
        if own and own[-1].get("tool_calls"):
            out.append(0.0)
            continue
        env = environments[i] if environments is not None and i < len(environments) else None
        searches = getattr(env, "searches", None)
        if searches is None:
            searches = sum(len(m.get("tool_calls") or []) for m in own)
        out.append(round(max(0.0, score - SEARCH_CHARGE * int(searches)), 4))
    return out


def _tool_schema() -> dict:
    from posttrain.tools import tool_schema

    return tool_schema(SearchEnvironment().search)


def _call(query: str) -> dict:
    return {"type": "function", "function": {"name": "search", "arguments": {"query": query}}}


SECOND_QUERIES = ("name", "question")


def search_traces(rag: RAGBaseline, rows: Rows, *, k: int = K, system: str | None = SYSTEM,
                  second_query: str = "name") -> list[dict]:
    """Worked search episodes `{"messages", "tools"}` for SFT from question-answer rows, each shaped like an
    episode at test time: the question is searched as asked, and where that result already holds the row's
    `evidence` (or, without one, its answer) the answer follows at once, one-hop or two-hop alike; a two-hop
    row (`hops: 2`, with `bridge`) whose first result names the bridge but lacks the evidence is searched
    again: with `second_query="name"` (the default) by the bridge's name alone, copied from the first result,
    so the second query cannot be the first one again; with `"question"`, by the row's `second` question (the
    question with the name in place of its description). The answer is the span alone. Rows whose searches
    do not bring back what they need are left out, so every trace reads its answer from what it found."""
    from posttrain.data.readers import read_rows
    from rag_baseline.raft import _holds

    if second_query not in SECOND_QUERIES:
        raise ConfigError(Problem("second_query", f"got {short(second_query)}",
                                  "'name' (the bridge's name alone) or 'question' (the row's `second`)"))
    found, _ = read_rows(rows)
    schema = _tool_schema()
    traces = []
    for row in found:
        question, answer = str(row["question"]), str(row["answer"])
        evidence = str(row.get("evidence") or answer)
        first = context_block(rag.retrieve(question, k))
        queries, results = [question], [first]
        if not _holds(first, evidence):
            bridge = row.get("bridge")
            second = bridge if second_query == "name" else row.get("second")
            if row.get("hops") != 2 or not bridge or not second or not _holds(first, str(bridge)):
                continue
            results.append(context_block(rag.retrieve(str(second), k)))
            queries.append(str(second))
            if not _holds(results[-1], evidence):
                continue
        messages: list[dict] = ([{"role": "system", "content": system}] if system else []) + \
            [{"role": "user", "content": question}]
        for query, result in zip(queries, results):
            messages += [{"role": "assistant", "content": "", "tool_calls": [_call(query)]},
                         {"role": "tool", "name": "search", "content": result}]
        messages.append({"role": "assistant", "content": answer})
        traces.append({"messages": messages, "tools": [schema]})
    return traces


def multi_fact_texts(texts: Sequence[str], per_text: int = 3, seed: int = 0) -> list[str]:
    """`texts` (short one-record documents) shuffled with `seed` and joined `per_text` at a time, so that the
    index built over them returns passages of its full chunk size holding several records' facts, as a
    user's longer documents do: a search corpus for training that looks like the one the agent meets.

    >>> multi_fact_texts(["# A\\n\\nA is red.", "# B\\n\\nB is blue.", "# C\\n\\nC is green."], per_text=2, seed=1)
    ['# B\\n\\nB is blue.\\n\\n# C\\n\\nC is green.', '# A\\n\\nA is red.']
    """
    import random

    if not isinstance(per_text, int) or per_text < 1:
        raise ConfigError(Problem("per_text", f"must be a whole number >= 1, got {short(per_text)}", "e.g. 3"))
    order = [str(t).strip() for t in texts]
    random.Random(seed).shuffle(order)
    return ["\n\n".join(order[i:i + per_text]) for i in range(0, len(order), per_text)]


def search_pipeline(rag: RAGBaseline, rows: Rows, *, model: str | os.PathLike[str] = "default",
                    output_dir: str | Path = "runs/search_agent", k: int = K, sft: dict | None = None,
                    grpo: dict | None = None, seed: int = 0, second_query: str = "name") -> Trainer:
    """Cold-start SFT on `search_traces(rag, rows)`, then GRPO in `search_environment(rag, k)` on the same
    questions with `charged_search_reward`; both in the `chatml-tools` template with `SYSTEM` (`second_query`:
    what a trace's second search asks, see `search_traces`). `sft` and `grpo` override
    the stages' settings below; `grpo={"skip": True}` leaves the GRPO stage out (the cold start alone)."""
    from posttrain.data.readers import read_rows
    from posttrain.pipeline.builder import Trainer

    found, _ = read_rows(rows)
    trainer = Trainer(str(model), output_dir=output_dir, seed=seed).sft(
        search_traces(rag, found, k=k, second_query=second_query), **{"chat_template": TEMPLATE, "batch_size": 8, "epochs": 1,
                                            "max_length": 1024, **(sft or {})})
    settings = dict(grpo or {})
    if settings.pop("skip", False):
        return trainer
    prompts = [{"prompt": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": str(row["question"])}],
                "answer": str(row["answer"])} for row in found]
    return trainer.grpo(prompts, environment=search_environment(rag, k), rewards=[charged_search_reward],
                        **{"chat_template": TEMPLATE, "max_tool_turns": MAX_SEARCHES, "num_generations": 4,
                           "batch_size": 4, "max_completion_length": 96, "temperature": 0.8,
                           "learning_rate": 1e-5, "max_steps": 8, **settings})


# --- the compare() arm -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SearchAgent:
    """A `compare()` arm: `model` answers each open question as an episode with `search` over `rag` (up to
    `max_searches` calls, `k` chunks each), greedy. Multiple-choice rows are scored as a RAG arm would,
    with `rag` and `model`."""

    rag: Any
    model: Any = "default"
    k: int = K
    max_searches: int = MAX_SEARCHES
    system: str | None = SYSTEM
    max_new_tokens: int = 64        # a turn's budget: it must hold a call with the question as its query
    force_answer: bool = False      # a turn that would search again for nothing new is answered instead
    fresh_query: bool = False       # a query the episode has already searched is written anew (see `_fresh`)


@dataclass
class Episode:
    question: str
    messages: list[dict]
    env: SearchEnvironment
    final: str = ""
    done: bool = False
    prompt_tokens: int = 0
    turns: list[str] = field(default_factory=list)


def answer_episodes(agent: SearchAgent, questions: Sequence[str], loaded: Any, *, batch_size: int = 16,
                    max_new_tokens: int | None = None) -> list[Episode]:
    """Run one greedy episode per question: while a reply calls `search` and searches are left, run it and
    give back the passages; the last reply without a call is the answer (a reply still calling when the
    searches run out ends the episode with its text before the call). With `agent.force_answer`, a reply
    that calls when the searches are spent, or repeats a query the episode already searched, is decoded
    again with the call's opening token banned at its start, and that text is the answer. With
    `agent.fresh_query`, a call that repeats a query (searches left) is first decoded again from the opening
    of its query with the first token of each query already searched banned there (`_fresh`), so the
    agent searches something new (a name from the results, say) rather than the same passages again; the
    two rules together answer only where the searches are spent."""
    from posttrain.data.templates import parse_tool_calls, resolve_template
    from posttrain.generation import generate
    from posttrain.tools import guard_environment

    model, tokenizer = loaded
    make = guard_environment(search_environment(agent.rag, agent.k))
    schema = [_tool_schema()]
    episodes = []
    for question in questions:
        env = make()
        env.reset()
        messages = ([{"role": "system", "content": agent.system}] if agent.system else []) + \
            [{"role": "user", "content": str(question)}]
        episodes.append(Episode(str(question), messages, env))
    saved = tokenizer.chat_template
    tokenizer.chat_template = resolve_template(TEMPLATE)
    try:
        for turn in range(agent.max_searches + 1):
            live = [e for e in episodes if not e.done]
            if not live:
                break
            texts = [tokenizer.apply_chat_template(e.messages, tools=schema, tokenize=False,
                                                   add_generation_prompt=True) for e in live]
            for episode, text in zip(live, texts):
                episode.prompt_tokens += len(tokenizer(text, add_special_tokens=False)["input_ids"])
            replies = generate(model, tokenizer, texts, chat=False, batch_size=batch_size,
                               max_new_tokens=max_new_tokens or agent.max_new_tokens)
            if agent.fresh_query:
                replies = _fresh(agent, model, tokenizer, live, texts, replies, turn, max_new_tokens)
            if agent.force_answer:
                replies = _forced(agent, model, tokenizer, live, texts, replies, turn, max_new_tokens)
            for episode, reply in zip(live, replies):
                episode.turns.append(reply)
                calls = [c for c in (parse_tool_calls(reply) or []) if c["name"] == "search"]
                before = reply.split("<tool_call>")[0].strip()
                if not calls or turn == agent.max_searches:
                    episode.final, episode.done = (before if calls else reply.strip()), True
                    episode.messages.append({"role": "assistant", "content": reply})
                    continue
                call = calls[0]
                query = call["arguments"].get("query", "")
                episode.messages.append({"role": "assistant", "content": before, "tool_calls": [_call(str(query))]})
                result = episode.env.search(query=query)
                episode.messages.append({"role": "tool", "name": "search",
                                         "content": result if isinstance(result, str) else json.dumps(result)})
    finally:
        tokenizer.chat_template = saved
    return episodes


def _asked(episode: Episode) -> list[str]:
    """The queries the episode has searched, in order."""
    return [str(m["tool_calls"][0]["function"]["arguments"].get("query", "")) for m in episode.messages
            if m.get("tool_calls")]


def _same(query: object, asked: Sequence[str]) -> bool:
    """Whether `query` is one of `asked`, ignoring case and spacing."""
    def norm(text: object) -> str:
        return " ".join(str(text).split()).casefold()

    return norm(query) in {norm(a) for a in asked}


QUERY_OPENING = re.compile(r'"query"\s*:\s*"')


def _decode(model: Any, tokenizer: Any, text: str, banned: list[int], max_new_tokens: int) -> str:
    """Greedy continuation of `text` (already templated) with `banned` token ids suppressed as its first token."""
    import torch

    from posttrain.models import stop_token_ids

    ids = tokenizer(text, add_special_tokens=False, return_tensors="pt")["input_ids"].to(model.device)
    with torch.inference_mode():
        new = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False,
                             max_new_tokens=max_new_tokens, begin_suppress_tokens=banned,
                             eos_token_id=sorted(stop_token_ids(tokenizer)), pad_token_id=tokenizer.pad_token_id)
    return str(tokenizer.decode(new[0, ids.shape[1]:], skip_special_tokens=True))


def _fresh(agent: SearchAgent, model: Any, tokenizer: Any, live: list[Episode], texts: list[str],
           replies: list[str], turn: int, max_new_tokens: int | None) -> list[str]:
    """`replies` with each call that repeats a query the episode has searched (with searches left) decoded
    again from the opening of its query (`{"query": "`, the model's own text up to there kept), greedy, with
    the first token of each query already searched banned as the query's first token."""
    from posttrain.data.templates import parse_tool_calls

    out = list(replies)
    for i, (episode, reply) in enumerate(zip(live, replies)):
        calls = [c for c in (parse_tool_calls(reply) or []) if c["name"] == "search"]
        asked = _asked(episode)
        opening = QUERY_OPENING.search(reply)
        if not calls or turn >= agent.max_searches or opening is None or \
                not _same(calls[0]["arguments"].get("query", ""), asked):
            continue
        prefix = texts[i] + reply[:opening.end()]
        start = tokenizer(prefix, add_special_tokens=False)["input_ids"]
        banned = set()
        for query in asked:
            ids = tokenizer(prefix + query, add_special_tokens=False)["input_ids"]
            if len(ids) > len(start) and ids[:len(start)] == start:
                banned.add(ids[len(start)])
        if banned:
            out[i] = reply[:opening.end()] + _decode(model, tokenizer, prefix, sorted(banned),
                                                     max_new_tokens or agent.max_new_tokens)
    return out


def _forced(agent: SearchAgent, model: Any, tokenizer: Any, live: list[Episode], texts: list[str],
            replies: list[str], turn: int, max_new_tokens: int | None) -> list[str]:
    """`replies` with each that would search for nothing new (no searches left, or a query the episode has
    searched) decoded again, greedy, with the tokens that open a call banned as its first token."""
    from posttrain.data.templates import parse_tool_calls

    banned = sorted({tokenizer(text, add_special_tokens=False)["input_ids"][0]
                     for text in ("<tool_call>", " <tool_call>", "\n<tool_call>")})
    out = list(replies)
    for i, (episode, reply) in enumerate(zip(live, replies)):
        calls = [c for c in (parse_tool_calls(reply) or []) if c["name"] == "search"]
        if not calls:
            continue
        if turn < agent.max_searches and not _same(calls[0]["arguments"].get("query", ""), _asked(episode)):
            continue
        text = _decode(model, tokenizer, texts[i], banned, max_new_tokens or agent.max_new_tokens)
        out[i] = text.split("<tool_call>")[0].strip()
    return out
