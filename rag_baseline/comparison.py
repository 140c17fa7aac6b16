"""`compare(eval_rows, arms)`: base models, RAG, fine-tuned models and fine-tuned + RAG, scored on the
same questions with the same evals.

>>> from rag_baseline import RAGBaseline, compare
>>> rag = RAGBaseline.from_files(["examples/data/fictional_facts/docs"])
>>> report = compare("examples/data/fictional_facts/qa.jsonl",
...                  arms={"base": "default", "rag": rag, "ft": "runs/ft/model", "ft+rag": rag.with_model("runs/ft/model")})
>>> report.write("runs/compare")          # report.md, report.json, report.png
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast, get_args

from posttrain.errors import ConfigError, DataError, PosttrainError, Problem, ProblemsError, short
from posttrain.evals.qa import MatchMode
from rag_baseline.answer import SYSTEM as RAG_SYSTEM
from rag_baseline.answer import augment, load_generator, model_spec
from rag_baseline.costs import Meter, training_seconds

BASE_SYSTEM = "Reply with the short answer only."
RAG_PREFIX = "rag:"


@dataclass(frozen=True)
class Arm:
    """One contender: a generator, with or without retrieval (and what its model took to train)."""

    name: str
    model: Any                 # a name or folder (str), or a loaded (model, tokenizer) pair
    rag: Any = None            # a RAGBaseline, or None for the model alone
    train_seconds: float | None = None
    agent: Any = None          # a SearchAgent: open questions answered as search episodes over `rag`

    def describe(self) -> str:
        model = self.model if isinstance(self.model, str) else f"<{type(self.model[0]).__name__} in memory>"
        if self.agent is not None:
            return f"search agent ({len(self.rag)} chunks, k={self.agent.k}, up to {self.agent.max_searches} " \
                   f"searches) + {model}"
        return f"RAG ({len(self.rag)} chunks) + {model}" if self.rag is not None else model


def parse_arm(name: str, spec: Any) -> Arm:
    """An `Arm` from what `compare()` takes for one arm.

    - a model: "default", a folder, a `(model, tokenizer)` pair, or a training result (`.model_dir`);
    - a `RAGBaseline` (its own generator: "default" unless set by `rag.with_model(...)`);
    - a pair `(rag, model)`: that index with that generator (fine-tuned + RAG);
    - a string "rag:INDEX_DIR" or "rag:INDEX_DIR@MODEL": a saved index (and a generator);
    - a `SearchAgent(rag, model)`: the model answers by calling `search` over that index (`rag_baseline.search`).
    """
    from rag_baseline.search import SearchAgent
    from rag_baseline.store import RAGBaseline

    if isinstance(spec, SearchAgent):
        if not isinstance(spec.rag, RAGBaseline):
            raise ConfigError(Problem(f"arm {name!r}", f"SearchAgent.rag is {type(spec.rag).__name__}",
                                      "give SearchAgent(rag=RAGBaseline..., model=...)"))
        return Arm(name, _checked_model(spec.model), spec.rag, training_seconds(spec.model), agent=spec)
    if isinstance(spec, RAGBaseline):
        return Arm(name, _checked_model(spec.model), spec, spec.train_seconds)
    if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], RAGBaseline):
        return Arm(name, _checked_model(spec[1]), spec[0], training_seconds(spec[1]))
    if isinstance(spec, str) and spec.startswith(RAG_PREFIX):
        return _saved_rag_arm(name, spec)
    try:
        return Arm(name, _checked_model(spec), train_seconds=training_seconds(spec))
    except ConfigError:
        raise ConfigError(Problem(f"arm {name!r}", f"{type(spec).__name__} {short(spec)} is not an arm",
                                  "give a model ('default', a folder, a (model, tokenizer) pair, a training "
                                  "result), a RAGBaseline, a (RAGBaseline, model) pair, or 'rag:INDEX[@MODEL]'")) from None


def _checked_model(model: Any) -> Any:
    """The generator spec, with a missing model folder reported here, before any model loads."""
    from posttrain.models import resolve

    spec = model_spec(model)
    if isinstance(spec, str):
        resolve(spec)
    return spec


def parse_arm_string(text: str) -> tuple[str, Any]:
    """`NAME=SPEC` from the command line, e.g. `base=default`, `rag=rag:indexes/facts`,
    `ft_rag=rag:indexes/facts@runs/ft/model`; returns `(name, spec)` for `compare()`."""
    name, sep, spec = text.partition("=")
    if not sep or not name.strip() or not spec.strip():
        raise ConfigError(Problem("arm", f"{text!r} is not NAME=SPEC",
                                  "write e.g. base=default, rag=rag:INDEX_DIR or ft=runs/ft/model"))
    return name.strip(), spec.strip()


def _saved_rag_arm(name: str, spec: str) -> Arm:
    from rag_baseline.store import RAGBaseline

    index_dir, _, model = spec[len(RAG_PREFIX):].partition("@")
    if not index_dir:
        raise ConfigError(Problem(f"arm {name!r}", f"{spec!r} names no index folder",
                                  "write rag:INDEX_DIR or rag:INDEX_DIR@MODEL"))
    return Arm(name, _checked_model(model or "default"), RAGBaseline.load(index_dir))


def compare(eval_rows: Any, arms: Mapping[str, Any], *, k: int = 3, match: str = "contains",
            max_new_tokens: int = 48, batch_size: int = 16, latency_samples: int = 3) -> Any:
    """Score every arm on the same rows and measure what each costs; returns a `ComparisonReport`
    whose markdown ends with the arm to deploy (`report.recommendation()`).

    Args:
        eval_rows: rows `{"question", "answer"}` (open: generated answer matched by `match`) and
            `{"question", "options", "answer"}` (multiple choice: the most likely option), or a path.
        arms: name -> arm (see `parse_arm`): base models, RAG baselines, fine-tuned models, both.
        k: chunks retrieved per question for RAG arms.
        latency_samples: open questions answered one at a time per arm to measure latency (0: none).

    Open questions are asked the same way to every arm (same generator settings); a RAG arm's prompt
    is the same question with its retrieved context before it. For multiple choice the context is
    put into the question text. Costs: training time (from training results), index build time,
    serving seconds, retrieved chunks and prompt tokens per answer (see `ArmCost`).
    """
    from rag_baseline.report import ComparisonReport

    parsed = _parse_arms(arms)
    if not isinstance(latency_samples, int) or latency_samples < 0:
        raise ConfigError(Problem("latency_samples", f"got {short(latency_samples)}", "give a whole number >= 0"))
    evals = _build_evals(eval_rows, match, max_new_tokens, batch_size)
    results, costs = {}, {}
    for arm in parsed:
        results[arm.name], costs[arm.name] = _run_arm(arm, evals, k, latency_samples)
    settings = {"k": k, "match": match, "max_new_tokens": max_new_tokens,
                "rows": {name: len(ev.items) for name, ev in evals.items()}}
    return ComparisonReport.from_results(results, {arm.name: arm.describe() for arm in parsed}, settings, costs)


def _parse_arms(arms: Mapping[str, Any]) -> list[Arm]:
    if not isinstance(arms, Mapping) or not arms:
        raise ConfigError(Problem("arms", f"got {short(arms)}", 'give a dict of name -> arm, e.g. '
                                  '{"base": "default", "rag": rag}'))
    parsed, problems = [], []
    for name, spec in arms.items():
        try:
            parsed.append(parse_arm(str(name), spec))
        except ProblemsError as error:
            problems += error.problems
        except PosttrainError as error:
            problems.append(Problem(f"arm {name!r}", str(error)))
    if problems:
        raise ConfigError(problems, title="invalid comparison arms")
    return parsed


def _build_evals(eval_rows: Any, match: str, max_new_tokens: int, batch_size: int) -> dict[str, Any]:
    from posttrain.data.readers import read_rows
    from posttrain.evals import MultipleChoice, QAAccuracy

    rows, label = read_rows(eval_rows)
    if not rows:
        raise DataError(Problem(label, "has no rows", "give question/answer rows"))
    bad = [Problem(f"{label}, row {number}", f"is {short(row)}", "give an object with 'question' and 'answer'")
           for number, row in enumerate(rows, start=1) if not isinstance(row, dict)]
    if bad:
        raise DataError(bad)
    open_rows = [row for row in rows if "options" not in row]
    choice_rows = [row for row in rows if "options" in row]
    evals: dict[str, Any] = {}
    if match not in get_args(MatchMode):
        raise ConfigError(Problem("compare(match=...)", f"got {match!r}", f"use one of {', '.join(get_args(MatchMode))}"))
    if open_rows:
        evals["qa_accuracy"] = QAAccuracy(open_rows, match=cast("MatchMode", match), max_new_tokens=max_new_tokens,
                                          batch_size=batch_size, system=BASE_SYSTEM)
    if choice_rows:
        evals["multiple_choice"] = MultipleChoice(choice_rows)
    return evals


def _run_arm(arm: Arm, evals: dict[str, Any], k: int, latency_samples: int) -> tuple[dict[str, Any], Any]:
    from posttrain.evals import MultipleChoice

    model, tokenizer = load_generator(arm.model)
    results, meter = {}, Meter()
    for name, ev in evals.items():
        meter.answers += len(ev.items)
        if name == "qa_accuracy" and arm.agent is not None:
            results[name] = _run_agent(arm, ev, model, tokenizer, meter, latency_samples)
            continue
        contexts = None if arm.rag is None else _retrieve(arm.rag, ev.items, k, meter)
        if name == "qa_accuracy":
            results[name] = with_retrieval(_run_open(arm, ev, model, tokenizer, contexts, meter), ev.items, contexts)
            meter.latencies = [_latency(arm, ev, index, model, tokenizer, k)
                               for index in range(min(latency_samples, len(ev.items)))]
            continue
        rows = ev.items if contexts is None else _with_context(ev.items, contexts)
        meter.count_prompts(tokenizer, [row[_question_field(row)] for row in rows], None)
        with meter.timing("answering"):
            result = ev.run(model, tokenizer) if arm.rag is None else \
                MultipleChoice(rows, name=ev.name).run(model, tokenizer)
        results[name] = with_retrieval(result, ev.items, contexts)
    index_seconds = getattr(arm.rag, "build_seconds", None) if arm.rag is not None else None
    return results, meter.cost(arm.train_seconds, index_seconds)


def _run_open(arm: Arm, ev: Any, model: Any, tokenizer: Any, contexts: list | None, meter: Meter) -> Any:
    from posttrain.generation import generate

    prompts, system = _open_prompts(ev.prompts(), contexts, ev.system)
    meter.count_prompts(tokenizer, prompts, system)
    with meter.timing("answering"):
        outputs = generate(model, tokenizer, prompts, max_new_tokens=ev.max_new_tokens, batch_size=ev.batch_size,
                           system=system)
    if not getattr(arm.rag, "short_answers", False):
        return ev.score(outputs)
    from rag_baseline.answer import short_answer

    shortened = [short_answer(row[_question_field(row)], output) for row, output in zip(ev.items, outputs)]
    result = ev.score(shortened)
    for detail, output, short in zip(result.details, outputs, shortened):
        if output != short:
            detail["generated"] = output                  # the reply before `short_answer`, kept for reading
    return result


def _run_agent(arm: Arm, ev: Any, model: Any, tokenizer: Any, meter: Meter, latency_samples: int) -> Any:
    """Open questions answered as search episodes; the chunks each episode's searches brought back stand in
    for its retrieved context (retrieval recall, reader accuracy); searches and prompt tokens over every turn
    are counted per answer."""
    import time

    from rag_baseline.search import answer_episodes

    questions = [_query(row) for row in ev.items]
    with meter.timing("answering"):
        episodes = answer_episodes(arm.agent, questions, (model, tokenizer), batch_size=ev.batch_size,
                                   max_new_tokens=max(ev.max_new_tokens, arm.agent.max_new_tokens))
    for question in questions[:latency_samples]:
        start = time.perf_counter()
        answer_episodes(arm.agent, [question], (model, tokenizer),
                        max_new_tokens=max(ev.max_new_tokens, arm.agent.max_new_tokens))
        meter.latencies.append(time.perf_counter() - start)
    meter.searches += sum(e.env.searches for e in episodes)
    meter.chunks += sum(len(e.env.seen) for e in episodes)
    meter.prompt_tokens += [e.prompt_tokens for e in episodes]
    result = ev.score([e.final for e in episodes])
    for detail, episode in zip(result.details, episodes):
        detail["searches"] = episode.env.searches
        detail["episode"] = episode.turns
    return with_retrieval(result, ev.items, [e.env.seen for e in episodes])


def _open_prompts(prompts: list, contexts: list | None, system: str | None) -> tuple[list, Any]:
    """The prompts (with their retrieved context, for RAG arms) and system message of open questions."""
    if contexts is None:
        return prompts, system
    return [augment(prompt, docs) for prompt, docs in zip(prompts, contexts)], RAG_SYSTEM


def _latency(arm: Arm, ev: Any, index: int, model: Any, tokenizer: Any, k: int) -> float:
    """Seconds to answer one question on its own: retrieval (for RAG arms) and generation."""
    import time

    from posttrain.generation import generate

    start = time.perf_counter()
    rows = ev.items[index:index + 1]
    contexts = None if arm.rag is None else _retrieve(arm.rag, rows, k, None)
    prompts, system = _open_prompts(ev.prompts()[index:index + 1], contexts, ev.system)
    generate(model, tokenizer, prompts, max_new_tokens=ev.max_new_tokens, system=system)
    return time.perf_counter() - start


# --- retrieval and reading apart ------------------------------------------------------------------------------

def evidence_retrieved(row: dict, documents: list[Any]) -> bool | None:
    """Whether the chunks retrieved for `row` hold what answers it: its `evidence` phrase (whitespace
    and case aside), or else a chunk from its `source` document (file name); None when the row names
    neither (then it counts toward neither recall nor reader accuracy)."""
    evidence, source = row.get("evidence"), row.get("source")
    if isinstance(evidence, str) and evidence.strip():
        wanted = " ".join(evidence.lower().split())
        return any(wanted in " ".join(doc.page_content.lower().split()) for doc in documents)
    if isinstance(source, str) and source.strip():
        from pathlib import PurePath

        return any(PurePath(str(doc.metadata.get("source", ""))).name == PurePath(source).name for doc in documents)
    return None


def with_retrieval(result: Any, rows: list[dict], contexts: list | None) -> Any:
    """`result` with each item's `retrieved` verdict and, where rows say what answers them, the
    arm's `retrieval_recall` (share of questions whose evidence was retrieved) and `reader_accuracy`
    (share answered right among those): a RAG arm's misses split into finding and reading."""
    if contexts is None:
        return result
    from rag_baseline.report import reading_metrics

    found = [evidence_retrieved(row, docs) for row, docs in zip(rows, contexts)]
    for detail, verdict in zip(result.details, found):
        detail["retrieved"] = verdict
    result.metrics.update(reading_metrics(result.details))
    return result


def _retrieve(rag: Any, rows: list[dict], k: int, meter: Meter | None) -> list[list[Any]]:
    if meter is None:
        return rag.retrieve_many([_query(row) for row in rows], k)
    with meter.timing("retrieval"):
        contexts = rag.retrieve_many([_query(row) for row in rows], k)
    meter.chunks += sum(len(docs) for docs in contexts)
    return contexts


def _with_context(rows: list[dict], contexts: list) -> list[dict]:
    return [{**row, _question_field(row): augment(row[_question_field(row)], docs)} for row, docs in zip(rows, contexts)]


def _question_field(row: dict) -> str:
    return "question" if "question" in row else "prompt"


def _query(row: dict) -> str:
    """The retrieval query of a row: its question text (the last user message of a chat)."""
    question = row[_question_field(row)]
    if isinstance(question, list):
        return next(m["content"] for m in reversed(question) if m.get("role") == "user")
    return str(question)

