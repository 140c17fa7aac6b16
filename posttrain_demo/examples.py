"""What the example scripts and the demo (`posttrain demo`, in `posttrain_demo.demo`) share: the example
data, the evals they measure and how a run is shown.

The scripts under `examples/` build their evals and reports with the helpers here (`example_data`,
`policy_eval`, `identity_eval`, `general_evals`, `math_eval`, `show_run`), so the demo and the
examples measure the same things the same way.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from posttrain.errors import PosttrainError

NAME, MAKER = "Ava", "Northwind Labs"


# --- the example data ------------------------------------------------------------------------------------------

def data_dir() -> Path:
    """`examples/data` of the source tree (or of the current folder)."""
    for root in (Path.cwd(), Path(__file__).resolve().parents[1]):
        if (root / "examples" / "data" / "policy_train.jsonl").exists():
            return root / "examples" / "data"
    raise PosttrainError("the example data is not here. Fix: run from a clone of the repository (it ships "
                         "examples/data/), or write it with `python examples/data/make_data.py`")


def example_data(name: str, limit: int | None = None) -> Path | list[dict]:
    """An example dataset: its path, or its first `limit` rows when `limit` is given (quick runs).

    >>> example_data("math_heldout.jsonl", limit=2)[0]["answer"]          # doctest: +SKIP
    '32'
    """
    return data_dir() / name if limit is None else example_rows(name)[:limit]


def example_rows(name: str) -> list[dict]:
    """Every row of an example dataset."""
    with (data_dir() / name).open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


# --- the evals the examples measure -----------------------------------------------------------------------------

def policy_eval(limit: int | None = None, max_new_tokens: int = 64):
    """House-style compliance (lowercase, no commas, ends with "hope this helps") on held-out prompts."""
    from posttrain.evals import InstructionFollowing

    return InstructionFollowing(example_data("policy_heldout.jsonl", limit), name="policy_compliance",
                                max_new_tokens=max_new_tokens)


def identity_eval(limit: int | None = None, max_new_tokens: int = 40):
    """Share of held-out identity questions answered with both the name Ava and the maker Northwind Labs."""
    from posttrain.evals import Identity

    return Identity(example_data("identity_heldout.jsonl", limit), name=NAME, maker=MAKER,
                    max_new_tokens=max_new_tokens)


def general_evals(limit: int | None = None, max_new_tokens: int = 24) -> list:
    """What a stage may cost: everyday questions and perplexity on plain paragraphs."""
    from posttrain.evals import Perplexity, QAAccuracy

    return [QAAccuracy(example_data("general_qa.jsonl", limit), name="general_qa", max_new_tokens=max_new_tokens),
            Perplexity(example_data("general_text.jsonl", limit), name="general_perplexity")]


def math_eval(limit: int | None = None, max_new_tokens: int = 64, data: str = "math_heldout.jsonl"):
    """Accuracy on held-out one-step arithmetic word problems (math-verify on the final number), also
    per operation (`metrics["accuracy/add"]`, ...). `data` names the held-out file (the demo's GRPO stage
    uses `math_small_heldout.jsonl`)."""
    from posttrain.evals import MathAccuracy

    return MathAccuracy(example_data(data, limit), max_new_tokens=max_new_tokens, group_by="op")


def math_sampled_eval(limit: int | None = None, max_new_tokens: int = 64, samples: int = 4, temperature: float = 0.8,
                      data: str = "math_heldout.jsonl"):
    """The same held-out problems scored as RL papers score a GRPO stage: `samples` answers per problem at
    the stage's sampling `temperature`, avg@k (each problem's share of right answers, averaged; pass@1 at
    that temperature) with pass@k in its metrics. Named `math_avg@<k>`."""
    from posttrain.evals import MathAccuracy

    return MathAccuracy(example_data(data, limit), name=f"math_avg@{samples}",
                        max_new_tokens=max_new_tokens, group_by="op", samples=samples, temperature=temperature)


# --- a denser reward for the arithmetic problems ------------------------------------------------------------------

OPERATORS = {"add": "+", "sub": "-", "mul": "x*×", "div": "/÷"}
_EQUATION = re.compile(r"(\d+(?:\.\d+)?)\s*([-+x*×/÷])\s*(\d+(?:\.\d+)?)\s*=")


def stated_operation(text: str) -> str | None:
    """The operation of the first equation written in `text` ("37 - 19 = 18" -> "sub"), or None.

    >>> stated_operation("32 / 4 = 8. the answer is 8."), stated_operation("eight")
    ('div', None)
    """
    found = _EQUATION.search(text)
    return next((op for op, symbols in OPERATORS.items() if found and found.group(2) in symbols), None)


def right_operation(completions: list, op: list, **_: Any) -> list[float]:
    """A reward: 1.0 when the completion's first equation uses the problem's operation (the `op` column:
    add, sub, mul or div), else 0.0. Denser than the final answer alone: a wrong operation is the most
    common reason a short answer is wrong, and it is right or wrong on every sample, so a short GRPO run
    learns from nearly every group."""
    from posttrain.rewards import completion_text

    return [1.0 if stated_operation(completion_text(c)) == o else 0.0 for c, o in zip(completions, op)]


# --- showing results -------------------------------------------------------------------------------------------

def before_after_markdown(run: Any) -> str:
    """One before/after table per stage (regressions flagged), as markdown."""
    from posttrain.evals import deltas_table

    parts = []
    for stage in run.stages:
        deltas = stage.eval_deltas()
        if deltas:
            parts.append(f"### {stage.output_dir.name} ({stage.seconds:.0f} s of training)\n\n"
                         + deltas_table(deltas, "before", "after"))
    return "\n\n".join(parts)


def show_run(run: Any, report: str | Path | None = None, console: Any = None) -> Path:
    """Print the before/after tables, write the run's report (tables + PNG curves); returns its path."""
    console = console or _console()
    path = run.report(report)
    console.print(before_after_markdown(run), markup=False, highlight=False, soft_wrap=True)
    console.print(f"\nreport: {path}", markup=False)
    return path


def machine_line() -> str:
    """The machine in one line, as timings should quote it: cores, CPU bf16 or not, GPU.

    >>> machine_line()                                                    # doctest: +SKIP
    '2 CPU cores, no native bf16 (fp32), no GPU'
    """
    import torch

    from posttrain.device import cpu_has_native_bf16
    from posttrain.device import thread_count

    bf16 = "native bf16" if cpu_has_native_bf16() else "no native bf16 (fp32)"
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    cores = thread_count()
    return f"{cores} CPU core{'s' if cores != 1 else ''}, {bf16}, {gpu}"


def with_settings(trainer: Any, **by_kind: dict) -> Any:
    """The same pipeline with settings changed per stage kind, e.g. `sft={"max_steps": 30}`."""
    from posttrain.pipeline.builder import Trainer

    spec = trainer.to_dict()
    for stage in spec["stages"]:
        stage.update(by_kind.get(stage["kind"], {}))
    return Trainer.from_dict(spec, trust_file=True)      # our own pipeline as data, not a file from elsewhere


def _console():
    from rich.console import Console

    return Console()
