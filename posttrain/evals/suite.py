"""`EvalSuite`: several evals run together, declared in Python or YAML; `SuiteResult`: their scores."""

from __future__ import annotations

import difflib
import inspect
import json
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from posttrain.errors import ConfigError, Problem, ProblemsError, short
from posttrain.evals.base import Eval, EvalResult
from posttrain.evals.function_calling import FunctionCalling
from posttrain.evals.harness import LMEvalTask
from posttrain.evals.instruction_following import InstructionFollowing
from posttrain.evals.likelihood import Perplexity
from posttrain.evals.episodes import ToolEpisodes
from posttrain.evals.math_accuracy import MathAccuracy
from posttrain.evals.multiple_choice import MultipleChoice
from posttrain.evals.qa import Identity, QAAccuracy

if TYPE_CHECKING:
    from posttrain.types import CausalLM, Tokenizer


KINDS: dict[str, type] = {cls.kind: cls for cls in (MathAccuracy, InstructionFollowing, Identity, QAAccuracy,
                                                    MultipleChoice, Perplexity, FunctionCalling, LMEvalTask,
                                                    ToolEpisodes)}
PATH_FIELDS = ("rows", "texts", "questions")


@dataclass
class SuiteResult:
    """Results of one suite run, by eval name, with the time each took."""

    results: dict[str, EvalResult]
    seconds: dict[str, float] = field(default_factory=dict)

    def __getitem__(self, name: str) -> EvalResult:
        return self.results[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.results)

    def to_dict(self) -> dict:
        return {"results": {name: r.to_dict() for name, r in self.results.items()}, "seconds": self.seconds}

    @classmethod
    def from_dict(cls, data: dict) -> SuiteResult:
        return cls({name: EvalResult.from_dict(r) for name, r in data["results"].items()},
                   dict(data.get("seconds", {})))

    def save(self, path: str | Path) -> Path:
        """Write the results as JSON (per-item details included)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False, default=str), encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | Path) -> SuiteResult:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    def rows(self) -> list[list[str]]:
        """One row of strings per eval: name (with ↑ or ↓), score, 95% CI, n, note."""
        table = []
        for name, r in self.results.items():
            arrow = "↑" if r.higher_is_better else "↓"
            if r.skipped:
                table.append([f"{name} {arrow}", "–", "–", "0", f"skipped: {r.skipped}"])
                continue
            table.append([f"{name} {arrow}", _fmt(r.score), f"[{_fmt(r.ci[0])}, {_fmt(r.ci[1])}]", str(r.n), ""])
        return table

    def table(self) -> str:
        """A markdown table of the scores."""
        lines = ["| eval | score | 95% CI | n | note |", "|---|---|---|---|---|"]
        return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in self.rows()])

    def rich_table(self, title: str = "Evaluation"):
        """The same table as a `rich.table.Table`, for terminals."""
        from rich.markup import escape
        from rich.table import Table

        table = Table(title=escape(title))        # names, notes and titles are text, not markup
        for column in ("eval", "score", "95% CI", "n", "note"):
            table.add_column(column, justify="right" if column in ("score", "n") else "left")
        for row in self.rows():
            table.add_row(*map(escape, row))
        return table


def _fmt(value: float) -> str:
    return "–" if value is None or math.isnan(value) else f"{value:.3f}"


def eval_line(result: EvalResult, seconds: float) -> str:
    """The line a run prints as one eval finishes: its score (or why it was skipped) and its time.

    >>> eval_line(EvalResult("math_accuracy", 0.42, 50, (0.29, 0.56)), 3.14)
    '  eval math_accuracy: 0.420 (n=50, 3.1 s)'
    >>> eval_line(EvalResult.skip("mmlu", "lm_eval not installed"), 0.0)
    '  eval mmlu: skipped, lm_eval not installed (0.0 s)'
    """
    if result.skipped:
        return f"  eval {result.name}: skipped, {result.skipped} ({seconds:.1f} s)"
    return f"  eval {result.name}: {_fmt(result.score)} (n={result.n}, {seconds:.1f} s)"


def _print(text: str) -> None:
    from rich.console import Console

    Console(stderr=True, soft_wrap=True).print(text, markup=False, highlight=False)   # names are text, not markup


class EvalSuite:
    """Several evals run on one model, returning one `SuiteResult`.

    Declare it in Python or in YAML (a list of entries, each a `kind` and that eval's options; rows
    inline or as a path, relative paths taken from the YAML file's folder):

        - {kind: math_accuracy, rows: math.jsonl, max_new_tokens: 128}
        - {kind: identity, name: Aria, maker: Acme}
        - {kind: perplexity, texts: wiki.txt}
        - {kind: function_calling, rows: calls.jsonl, chat_template: chatml-tools}

    Kinds: math_accuracy, instruction_following, identity, qa_accuracy, multiple_choice, perplexity,
    function_calling, lm_eval.

    >>> from posttrain.evals import QAAccuracy
    >>> suite = EvalSuite([QAAccuracy([{"question": "Capital of France?", "answer": "Paris"}])])
    >>> EvalSuite.from_config(suite.to_config()).to_config() == suite.to_config()
    True
    """

    def __init__(self, evals: Sequence[Eval]) -> None:
        self.evals = list(evals)
        problems = [Problem(f"eval {i}", f"{short(ev)} has no name or no run(model, tokenizer)",
                            "give an object with `name` and `run(model, tokenizer) -> EvalResult`")
                    for i, ev in enumerate(self.evals) if not isinstance(ev, Eval)]
        names = [getattr(ev, "name", None) for ev in self.evals]
        problems += [Problem(f"eval {i}", f"its name {name!r} is used twice", "give each eval its own `name`")
                     for i, name in enumerate(names) if name in names[:i]]
        if problems:
            raise ConfigError(problems, title="invalid eval suite")

    def __len__(self) -> int:
        return len(self.evals)

    def __iter__(self) -> Iterator[Eval]:
        return iter(self.evals)

    @property
    def names(self) -> list[str]:
        return [ev.name for ev in self.evals]

    def run(self, model: CausalLM, tokenizer: Tokenizer, *, on_result: Callable[[EvalResult], None] | None = None,
            progress: bool = False) -> SuiteResult:
        """Run every eval in order on the model (in eval mode, gradients off). `on_result` is called
        with each result as it finishes; `progress=True` prints a line for each (`eval_line`) on stderr."""
        was_training = getattr(model, "training", False)
        model.train(False)                     # eval mode: dropout off
        results, seconds = {}, {}
        try:
            for ev in self.evals:
                start = time.perf_counter()
                results[ev.name] = ev.run(model, tokenizer)
                seconds[ev.name] = round(time.perf_counter() - start, 3)
                if progress:
                    _print(eval_line(results[ev.name], seconds[ev.name]))
                if on_result is not None:
                    on_result(results[ev.name])
        finally:
            model.train(was_training)
        return SuiteResult(results, seconds)

    def to_config(self) -> list[dict]:
        """The suite as a list of plain dicts (see `from_config`)."""
        configs, missing = [], []
        for ev in self.evals:
            to_config = getattr(ev, "to_config", None)
            if to_config is None:
                missing.append(ev.name)
            else:
                configs.append(to_config())
        if missing:
            raise ConfigError([Problem(f"eval {name!r}", "has no to_config()", "give it one returning "
                                       "{'kind': ..., **options}, or leave it out of saved suites")
                               for name in missing])
        return configs

    @classmethod
    def from_config(cls, entries: Sequence[dict] | object, base_dir: str | Path | None = None) -> EvalSuite:
        """Build a suite from entries like `{"kind": "qa_accuracy", "rows": "qa.jsonl", "match": "exact"}`.
        Every problem of every entry (unknown kind or option, bad rows) is reported in one ConfigError."""
        if not isinstance(entries, (list, tuple)):
            raise ConfigError(Problem("suite", f"is {short(entries)}", "write a list of evals, "
                                      "e.g. [{kind: math_accuracy, rows: math.jsonl}]"))
        evals, problems = [], []
        for index, entry in enumerate(entries):
            try:
                evals.append(_build(entry, f"suite entry {index}", base_dir))
            except ProblemsError as error:
                problems += [Problem(f"suite entry {index}: {p.where}", p.message, p.fix) if
                             not p.where.startswith("suite entry") else p for p in error.problems]
        if problems:
            raise ConfigError(problems, title="invalid eval suite")
        return cls(evals)

    @classmethod
    def from_yaml(cls, path: str | Path) -> EvalSuite:
        """Read a suite from YAML: a list of entries, or a mapping with an `evals` list."""
        from posttrain.yamlfile import read_yaml

        path = Path(path)
        data = read_yaml(path, what="eval suite YAML", expect=(list, dict),
                         example="write a list of evals, e.g. - {kind: math_accuracy, rows: math.jsonl}")
        entries = data.get("evals") if isinstance(data, dict) else data
        return cls.from_config(entries, base_dir=path.parent)

    def to_yaml(self, path: str | Path | None = None) -> str:
        """The suite as YAML text (written to `path` when given)."""
        import yaml

        text = yaml.safe_dump(self.to_config(), sort_keys=False, allow_unicode=True)
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text


def _build(entry: Any, where: str, base_dir: str | Path | None) -> Eval:
    if not isinstance(entry, dict) or "kind" not in entry:
        raise ConfigError(Problem(where, f"is {short(entry)}", "write a mapping with a `kind`, one of: "
                                  + ", ".join(KINDS)))
    options = dict(entry)
    kind = options.pop("kind")
    if kind not in KINDS:
        close = difflib.get_close_matches(str(kind), list(KINDS), n=1)
        raise ConfigError(Problem(f"{where}, field 'kind'", f"{kind!r} is not an eval kind",
                                  (f"did you mean '{close[0]}'? " if close else "") + "use one of: " + ", ".join(KINDS)))
    cls = KINDS[kind]
    parameters = inspect.signature(cls).parameters
    known = [name for name in parameters if name != "self"]
    problems = [Problem(f"{where}, field {key!r}", f"is not an option of {kind}",
                        "".join(f"did you mean '{c}'? " for c in difflib.get_close_matches(str(key), known, n=1))
                        + f"use one of: {', '.join(known)}")
                for key in options if key not in parameters]
    problems += [Problem(where, f"{kind} needs {name!r}", f"add `{name}: ...`") for name, p in parameters.items()
                 if p.default is inspect.Parameter.empty and p.kind is not p.VAR_KEYWORD and name not in options]
    if problems:
        raise ConfigError(problems)
    for key in PATH_FIELDS:
        if isinstance(options.get(key), str) and base_dir is not None:
            candidate = Path(base_dir) / options[key]
            options[key] = str(candidate) if candidate.exists() else options[key]
    return cls(**options)
