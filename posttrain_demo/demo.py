"""The guided tour (`posttrain demo`): advise on three task specs, run the routed SFT -> DPO -> GRPO
chain on the example data with evals before and after every stage, compare the base model with RAG
on fictional facts, and write one report (markdown and a self-contained HTML page).

It sits on top of all three packages (the advisor routes to the trainer and to the RAG baseline), so
it lives here, above them; `posttrain/` never imports it back.

The chain trains one tutoring assistant: SFT teaches the house style (and, on worked answers, the
format GRPO needs to start from), DPO its identity, GRPO arithmetic. Every stage is sized to move its
own held-out eval (20 to 40 items, paired test per item) in a few minutes on two CPU cores. GRPO's own
eval is scored as RL papers score it: avg@4, four answers per problem at the stage's sampling temperature
(the greedy score is shown beside it).

>>> from posttrain_demo.demo import run_demo
>>> run_demo("runs/demo", quick=True)            # doctest: +SKIP
PosixPath('runs/demo/report.md')
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from posttrain_demo.examples import (data_dir, example_data, example_rows, identity_eval, machine_line, math_eval,
                                math_sampled_eval, policy_eval, right_operation, with_settings)


def _console():
    from rich.console import Console

    return Console(highlight=False)


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


# --- how much the demo does --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DemoSize:
    """How much the demo does: each stage's data rows and settings, eval items and tokens, RAG questions.

    `evals` maps each eval to (items, max_new_tokens); `estimate` is the expected seconds per part on
    two CPU cores, (with native bf16, without), measured with these settings (see docs/results.md).
    """

    sft: dict
    dpo: dict
    grpo: dict
    evals: dict[str, tuple[int, int]]
    rag_questions: int
    rag_tokens: int
    estimate: dict[str, tuple[float, float]] = field(default_factory=dict)


SAMPLES = 4        # answers per problem in GRPO's own eval (avg@k), at the GRPO stage's temperature
GRPO_EVAL = f"math_avg@{SAMPLES}"
GRPO_TRAIN, GRPO_HELDOUT = "math_small_train.jsonl", "math_small_heldout.jsonl"   # add and take away, small numbers

FULL = DemoSize(
    sft={"rows": 96, "max_steps": 12, "batch_size": 8, "learning_rate": 1e-4, "max_length": 128},
    dpo={"rows": 64, "max_steps": 16, "batch_size": 4, "learning_rate": 6e-5, "max_length": 128, "beta": 0.1,
         "loss_type": ["sigmoid", "sft"]},
    grpo={"rows": 40, "max_steps": 10, "batch_size": 4, "num_generations": 4, "max_completion_length": 24,
          "temperature": 0.9, "learning_rate": 2e-5, "beta": 0.04},
    evals={"policy_compliance": (20, 40), "identity": (30, 32), "math_accuracy": (40, 24), GRPO_EVAL: (40, 24)},
    rag_questions=20, rag_tokens=24,
    estimate={"setup": (15, 15), "evals": (105, 110), "sft": (40, 45), "dpo": (65, 70), "grpo": (100, 125),
              "rag": (30, 35)})
QUICK = DemoSize(
    sft={"rows": 4, "max_steps": 1, "batch_size": 2, "learning_rate": 1e-4, "max_length": 64},
    dpo={"rows": 4, "max_steps": 1, "batch_size": 2, "learning_rate": 5e-5, "max_length": 64, "beta": 0.1,
         "loss_type": ["sigmoid", "sft"]},
    grpo={"rows": 2, "max_steps": 1, "batch_size": 1, "num_generations": 2, "max_completion_length": 8,
          "temperature": 0.8, "learning_rate": 2e-5, "beta": 0.04,
          "allow_no_learning": True},      # a smoke test: one group of two 8-token answers may well tie
    evals={"policy_compliance": (2, 8), "identity": (2, 8), "math_accuracy": (2, 8), GRPO_EVAL: (2, 8)},
    rag_questions=2, rag_tokens=8)

# What each stage trains, and the eval that shows it (the report's "what this shows").
TARGETS = {"sft": "policy_compliance", "dpo": "identity", "grpo": GRPO_EVAL}
WHY = {
    "sft": "SFT on the house style (lowercase, no commas, signed off) and on worked arithmetic answers. The worked "
           "answers are GRPO's cold start: the base model rarely states a right final number, so without them "
           "most GRPO groups would score all zeros and teach nothing.",
    "dpo": "DPO on identity pairs (Ava by Northwind Labs preferred over other names and makers, plain answers "
           "preferred on everyday questions and worked answers on arithmetic), in the house style, so the first "
           "stage's skills hold.",
    "grpo": "GRPO on word problems that add or take away small numbers (\"has 7 and gets 2 more\", \"had 5 and "
            "used 4 of them\"): the model samples several answers per problem and is pushed toward the better "
            "ones. The reward is math-verify on the final number plus a denser term for using the problem's "
            "operation. The model already solves some of these problems in some samples and misses others, "
            "mostly by adding where it should take away, so the reward decides between answers it already "
            "samples and a short run learns from nearly every group. A KL penalty to the stage's input model "
            "(beta 0.04) keeps its answers elsewhere (the house style, the identity) close to what they were. "
            "What GRPO optimises is the expected reward "
            "of the model's own samples, so its own eval is avg@4 (4 answers per held-out problem at the "
            "stage's sampling temperature, each problem's share of right answers averaged, compared per "
            "problem with an exact sign-flip test); greedy accuracy on the same problems is shown too.",
}

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


def estimate_seconds(size: DemoSize, bf16: bool, cores: int) -> dict[str, float]:
    """Expected seconds per part of the demo on this machine: the two-core reference times for its bf16
    mode, scaled down (not linearly) on more cores."""
    scale = min(1.0, (2 / max(cores, 1)) ** 0.7)
    return {part: (with_bf16 if bf16 else without) * scale for part, (with_bf16, without) in size.estimate.items()}


def print_plan(console: Any, size: DemoSize, quick: bool) -> float:
    """The demo's steps with their sizes, the machine, and the time it should take; returns the estimate."""
    from posttrain.device import cpu_has_native_bf16
    from posttrain.device import thread_count

    bf16, cores = cpu_has_native_bf16(), thread_count()
    parts = estimate_seconds(size, bf16, cores)
    total = sum(parts.values())
    evals = ", ".join(f"{name} ({items} items)" for name, (items, _) in size.evals.items())
    steps = [f"1. advice on {len(SPECS)} task specs",
             f"2. SFT {size.sft['max_steps']} steps, DPO {size.dpo['max_steps']} steps, GRPO {size.grpo['max_steps']} "
             "steps, one tutoring assistant",
             f"3. evals before and after every stage: {evals}",
             f"4. base model vs RAG on {size.rag_questions} fictional-facts questions",
             "5. the report: report.md and report.html"]
    console.rule("posttrain demo" + (" (quick: a smoke test)" if quick else ""))
    console.print("\n".join(steps), markup=False)
    console.print(f"machine: {machine_line()}", markup=False)
    if parts:
        detail = ", ".join(f"{part} {seconds:.0f} s" for part, seconds in parts.items())
        console.print(f"estimate: about {total / 60:.1f} min here ({detail})", markup=False)
    return total


# --- the chain -------------------------------------------------------------------------------------------------

class ShownEval:
    """An eval shown with a spinner while it runs (the run prints its score and time when it is done)."""

    def __init__(self, inner: Any, console: Any) -> None:
        self.inner, self.console, self.name = inner, console, inner.name

    def run(self, model: Any, tokenizer: Any) -> Any:
        with self.console.status(f"  eval {self.name} ({len(self.inner.items)} items)"):
            return self.inner.run(model, tokenizer)

    def to_config(self) -> dict:
        return self.inner.to_config()


def demo_evals(size: DemoSize, console: Any) -> list:
    """The chain's evals (each stage's own, on held-out items), shown as they run."""
    makers = {"policy_compliance": policy_eval, "identity": identity_eval,
              "math_accuracy": lambda items, tokens: math_eval(items, tokens, data=GRPO_HELDOUT),
              GRPO_EVAL: lambda items, tokens: math_sampled_eval(items, tokens, SAMPLES, size.grpo["temperature"],
                                                                 data=GRPO_HELDOUT)}
    evals = []
    for name, (items, tokens) in size.evals.items():
        inner = makers[name](items, tokens)
        inner.batch_size = max(inner.batch_size, items * inner.samples)   # one batch per eval: fewest steps
        evals.append(ShownEval(inner, console))
    return evals


def routed_chain(recommendation: Any, output_dir: Path, size: DemoSize, console: Any = None,
                 model: str = "default") -> Any:
    """The tutor recommendation routed to a Trainer on `model` over the example data, sized by `size`."""
    from posttrain import rewards
    from posttrain.evals import EvalSuite

    settings = {kind: {k: v for k, v in stage.items() if k != "rows"}
                for kind, stage in (("sft", size.sft), ("dpo", size.dpo), ("grpo", size.grpo))}
    # lora=False: full fine-tuning in every stage, which the steps and learning rates here are sized for
    # (docs/results.md); on a small machine the advisor's compute estimate would pick LoRA for DPO and GRPO.
    trainer = recommendation.route(model, output_dir=output_dir, lora=False,
                                   data={"sft": example_data("tutor_sft.jsonl", size.sft["rows"]),
                                         "dpo": example_data("tutor_dpo.jsonl", size.dpo["rows"]),
                                         "grpo": example_data(GRPO_TRAIN, size.grpo["rows"])},
                                   rewards=[rewards.math_accuracy, right_operation])
    trainer = with_settings(trainer, **settings)
    return trainer.evaluate(EvalSuite(demo_evals(size, console or _console())))


def run_demo(output_dir: str | Path = "runs/demo", quick: bool = False, model: str = "default") -> Path:
    """Advise, train the routed chain with evals around every stage, compare with RAG; returns the report.

    `quick=True` does every step on a handful of rows with one training step per stage (a smoke test);
    `model` is the base model of the chain and of the RAG comparison (a name or a folder).
    """
    console, size, out = _console(), QUICK if quick else FULL, Path(output_dir)
    start = time.time()
    estimate = print_plan(console, size, quick)
    recommendations = advise_all(console)
    console.rule("the routed chain: sft -> dpo -> grpo")
    trainer = routed_chain(recommendations["tutor"], out / "chain", size, console, model)
    console.print(trainer.plan())
    run = trainer.run()
    console.rule("retrieval on fictional facts: base vs RAG")
    comparison = compare_arms(_open_questions(size.rag_questions), {"base": model, "rag": (_rag_index(), model)},
                              out / "rag", max_new_tokens=size.rag_tokens, console=console)
    seconds = time.time() - start
    report = write_demo_report(out, run, recommendations, comparison, seconds)
    console.rule(f"done in {seconds / 60:.1f} min" + (f" (estimate {estimate / 60:.1f} min)" if estimate else ""))
    console.print(f"report: {report} and {report.with_suffix('.html')}", markup=False)
    return report


def advise_all(console: Any) -> dict[str, Any]:
    """The advisor's recommendation for each demo spec, printed."""
    from advisor import advise

    recommendations = {}
    for name, spec in SPECS.items():
        recommendations[name] = advise(spec)
        console.rule(f"advice: {name}")
        console.print(recommendations[name])
    return recommendations


def _rag_index() -> Any:
    from rag_baseline import RAGBaseline

    return RAGBaseline.from_files([data_dir() / "fictional_facts" / "docs"])


def _open_questions(limit: int) -> list[dict]:
    return [row for row in example_rows("fictional_facts/qa.jsonl") if "options" not in row][:limit]


# --- the report ------------------------------------------------------------------------------------------------

def write_demo_report(out: Path, run: Any, recommendations: dict, comparison: Any, seconds: float) -> Path:
    """report.md (the chain at a glance: every eval on the base model and after each stage, with its
    interval, each stage's own eval marked; advice; one section per stage with its before/after table
    and plots; base vs RAG) and report.html, the same page with the plots inlined."""
    from posttrain.pipeline.report import run_sections, write_html
    from posttrain.pipeline.report_chain import chain_section

    lines = [f"# posttrain demo: {run_verdict(run)}", "",
             f"*Machine: {machine_line()}. Took {seconds / 60:.1f} min, {time.strftime('%Y-%m-%d %H:%M')}.*", "",
             *chain_section(run, out / "report_plots", out, TARGETS),
             *_advice_section(recommendations),
             "## 2. The routed chain: SFT -> DPO -> GRPO", "",
             "One tutoring assistant trained in three stages, each from the previous stage's model. Every eval "
             "runs on held-out items before and after every stage; a change is flagged when a paired test over "
             "the same items gives p < 0.05 (greedy evals: the exact sign test on items fixed and broken; "
             f"{GRPO_EVAL}: the exact sign-flip permutation test on each problem's share of right answers).",
             "",
             *run_sections(run, out / "report_plots", out, notes=WHY, level=3),
             *_rag_section(comparison)]
    path = out / "report.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    write_html(path, title="posttrain demo")
    return path


def run_verdict(run: Any) -> str:
    """A headline: how many stages moved their own eval, whether anything regressed, and the ship gate's
    verdict on the run (`posttrain gate` with the demo's targets)."""
    from posttrain.errors import ConfigError
    from posttrain.pipeline.gate import gate_run

    moved = sum(1 for stage in run.stages for d in stage.eval_deltas()
                if d.improved and d.name == TARGETS.get(stage.kind))
    regressed = len(run.regressions())
    try:
        targets = {kind: name for kind, name in TARGETS.items() if kind in {s.kind for s in run.stages}}
        gate = gate_run(run, targets).verdict.upper()
    except ConfigError as err:
        gate = f"NONE ({err.problems[0]})"
    return (f"{moved} of {len(run.stages)} stages moved their own eval, "
            + (f"{regressed} regression(s)" if regressed else "no regressions") + f"; gate: {gate}")


def _advice_section(recommendations: dict) -> list[str]:
    rows = [f"| {name} | {rec.approach} | {' -> '.join(rec.stages) or '-'} | {rec.reasons[0]} |"
            for name, rec in recommendations.items()]
    return ["## 1. Advice", "",
            "**What this shows:** the advisor picks training only where a prompt or retrieval would not do: "
            "the tutor's three skills need the three stages below, private documents need RAG (section 3).", "",
            "| spec | approach | stages | first reason |", "|---|---|---|---|", *rows, ""]


def _rag_section(comparison: Any) -> list[str]:
    scores = {name: result.score for name, result in comparison.scores.items()}
    shows = ", ".join(f"{name} {score:.2f}" for name, score in scores.items())
    return ["## 3. Fictional facts: base model vs RAG", "",
            f"**What this shows:** facts the model never saw cannot be trained in by a few steps but can be looked "
            f"up: accuracy {shows}, with the base model's weights untouched.", "",
            comparison.to_markdown(), "", "![base vs RAG accuracy](rag/report.png)", ""]
