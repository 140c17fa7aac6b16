"""The guided tour (`posttrain demo`): advise on three task specs, run the routed SFT -> DPO -> GRPO
chain on the example data with evals before and after every stage, compare the base model with RAG
on fictional facts, and write one report with tables and plots.

It sits on top of all three packages (the advisor routes to the trainer and to the RAG baseline), so
it lives here, above them; `posttrain/` never imports it back.

>>> from advisor.demo import run_demo
>>> run_demo("runs/demo", quick=True)            # doctest: +SKIP
PosixPath('runs/demo/report.md')
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from posttrain.examples import (before_after_markdown, data_dir, example_data, identity_eval, math_eval,
                                policy_eval, with_settings)


def _console():
    from rich.console import Console

    return Console()


def compare_arms(rows: Any, arms: dict[str, Any], output_dir: str | Path, *, max_new_tokens: int = 32,
                 k: int = 3, console: Any = None) -> Any:
    """`rag_baseline.compare` on `rows`, printed, and written to `output_dir` (report.md/.json/.png)."""
    from rag_baseline import compare

    console = console or _console()
    with console.status(f"comparing {', '.join(arms)} on {len(rows) if isinstance(rows, list) else rows}"):
        report = compare(rows, arms, k=k, max_new_tokens=max_new_tokens)
    report.write(output_dir)
    console.print(report.to_markdown(), markup=False, highlight=False, soft_wrap=True)
    return report


# --- the demo --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DemoSize:
    """How much the demo does: rows per stage, steps, eval items and tokens generated."""

    rows: int | None
    sft_steps: int
    dpo_steps: int
    grpo_steps: int
    eval_items: int
    new_tokens: int
    rag_questions: int


FULL = DemoSize(rows=None, sft_steps=40, dpo_steps=50, grpo_steps=8, eval_items=10, new_tokens=40,
                rag_questions=20)
QUICK = DemoSize(rows=4, sft_steps=1, dpo_steps=1, grpo_steps=1, eval_items=2, new_tokens=8, rag_questions=2)

SPECS = {
    "tutor": {"description": "A tutoring assistant that follows our house style, introduces itself as Ava "
              "by Northwind Labs, and solves arithmetic word problems",
              "target_skills": ["instruction_following", "identity", "math"], "num_instructions": 3,
              "labeled_examples": 220, "preference_pairs": 200, "rl_prompts": 120, "verifiable_reward": True,
              "must_be_reliable": True},
    "handbook": {"description": "Answer questions about the Isle of Quellmoor from its handbook",
                 "needs_private_knowledge": True},
    "tone": {"description": "Be friendly and avoid discussing competitors", "num_instructions": 2},
}


def advise_all(console: Any) -> dict[str, Any]:
    """The advisor's recommendation for each demo spec, printed."""
    from advisor import advise

    recommendations = {}
    for name, spec in SPECS.items():
        recommendations[name] = advise(spec)
        console.rule(f"advice: {name}")
        console.print(recommendations[name])
    return recommendations


def routed_chain(recommendation: Any, output_dir: Path, size: DemoSize) -> Any:
    """The tutor recommendation routed to a Trainer over the example data, shortened to `size`."""
    from posttrain import rewards
    from posttrain.evals import EvalSuite

    trainer = recommendation.route(output_dir=output_dir, sft_data=example_data("policy_train.jsonl", size.rows),
                                   dpo_data=example_data("identity_train.jsonl", size.rows),
                                   grpo_data=example_data("math_train.jsonl", size.rows),
                                   rewards=[rewards.math_accuracy])
    trainer = with_settings(trainer, sft={"max_steps": size.sft_steps, "learning_rate": 8e-5, "max_length": 256},
                            dpo={"max_steps": size.dpo_steps, "learning_rate": 2e-5, "max_length": 256,
                                 "loss_type": ["sigmoid", "sft"]},
                            grpo={"max_steps": size.grpo_steps, "learning_rate": 1e-5, "batch_size": 2,
                                  "max_completion_length": max(8, size.new_tokens)})
    n, tokens = size.eval_items, size.new_tokens
    return trainer.evaluate(EvalSuite([policy_eval(n, tokens), identity_eval(n, tokens), math_eval(n, tokens)]))


def run_demo(output_dir: str | Path = "runs/demo", quick: bool = False) -> Path:
    """Advise, train the routed chain with evals around every stage, compare with RAG; returns the report.

    `quick=True` does every step on a handful of rows with one training step per stage (a smoke test).
    """
    from rich.console import Console

    console, size, out = Console(), QUICK if quick else FULL, Path(output_dir)
    start = time.time()
    recommendations = advise_all(console)
    console.rule("the routed chain: sft -> dpo -> grpo")
    trainer = routed_chain(recommendations["tutor"], out / "chain", size)
    console.print(trainer.plan())
    run = trainer.run()
    console.print(before_after_markdown(run), markup=False, highlight=False, soft_wrap=True)
    console.rule("retrieval on fictional facts: base vs RAG")
    rag = _rag_index()
    rows = _open_questions(size.rag_questions)
    comparison = compare_arms(rows, {"base": "default", "rag": rag}, out / "rag", max_new_tokens=size.new_tokens,
                              console=console)
    report = _write_report(out, run, recommendations, comparison, time.time() - start)
    console.rule(f"done in {time.time() - start:.0f} s")
    console.print(f"report: {report}", markup=False)
    return report


def _rag_index() -> Any:
    from rag_baseline import RAGBaseline

    return RAGBaseline.from_files([data_dir() / "fictional_facts" / "docs"])


def _open_questions(limit: int) -> list[dict]:
    with (data_dir() / "fictional_facts" / "qa.jsonl").open(encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    return [row for row in rows if "options" not in row][:limit]


def _write_report(out: Path, run: Any, recommendations: dict, comparison: Any, seconds: float) -> Path:
    """The chain's own report (per-stage tables, curves), with the advice before and RAG after it."""
    path = run.report(out / "report.md")
    chain = path.read_text(encoding="utf-8").split("\n", 1)[1]
    advice = ["## 1. Advice", "", "| spec | approach | stages | first reason |", "|---|---|---|---|"]
    advice += [f"| {name} | {rec.approach} | {' -> '.join(rec.stages)} | {rec.reasons[0]} |"
               for name, rec in recommendations.items()]
    lines = [f"# posttrain demo ({seconds / 60:.1f} min)", "", *advice, "",
             "## 2. The routed chain, evaluated before and after every stage", "",
             before_after_markdown(run), "", chain.replace("\n## ", "\n### "), "",
             "## 3. Fictional facts: base model vs RAG", "", comparison.to_markdown(),
             "![base vs RAG](rag/report.png)", ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
