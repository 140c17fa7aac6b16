"""SFT teaches the default model to read tool schemas: tool-use chats over 240 generated tools (the
schema-reading recipe, `posttrain.data.schema_reading`) rendered with the built-in `chatml-tools`
template, which the model then keeps. Held-out requests to 17 tools in 8 domains that training never
shows are scored BFCL-style (function name and argument values parsed and compared as values) by
category (simple, multiple, parallel, irrelevance), before and after, each paired item by item, next to
everyday questions and perplexity (what the training cost).

    python examples/function_calling.py            # 576 chats, 72 steps of 8: one epoch (see docs/results.md)
    python examples/function_calling.py --quick    # 4 chats, 1 step: a smoke test

The default model's own template drops tools and tool calls, so the SFT stage sets
`chat_template="chatml-tools"`, and the eval renders the base model's prompts with the same template:
both models see the same tool definitions.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from posttrain import Trainer
from posttrain.evals import EvalResult, FunctionCalling
from posttrain.evals.compare import paired_changes
from posttrain.evals.function_calling import CATEGORIES
from posttrain_demo.examples import example_data, general_evals, show_run


def function_calling_eval(limit: int | None = None, max_new_tokens: int = 128) -> FunctionCalling:
    """Held-out requests to unseen tools, scored by parsed call (name and argument values), by category."""
    return FunctionCalling(example_data("tools_unseen_heldout.jsonl", limit), max_new_tokens=max_new_tokens,
                           chat_template="chatml-tools")


def category_table(before: EvalResult, after: EvalResult) -> str:
    """Exact-call rate per BFCL category, before and after, with each category's paired test."""
    lines = ["| category | n | before | after | fixed / broken (p) |", "|---|---|---|---|---|"]
    for category in (*CATEGORIES, None):
        pick = [i for i, d in enumerate(before.details) if category is None or d.get("category") == category]
        if not pick:
            continue
        old, new = ([r.details[i] for i in pick] for r in (before, after))
        rate = lambda rows: sum(bool(d["correct"]) for d in rows) / len(rows)
        paired = paired_changes(EvalResult("c", 0.0, len(old), (0, 1), old), EvalResult("c", 0.0, len(new), (0, 1), new))
        test = "" if paired is None else f"{paired[0]} / {paired[1]} (p={paired[2]:.2g})"
        lines.append(f"| {category or 'all'} | {len(pick)} | {rate(old):.3f} | {rate(new):.3f} | {test} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description="SFT on many tool schemas; calls to unseen tools before/after.")
    parser.add_argument("--quick", action="store_true", help="a handful of rows and one step (smoke test)")
    parser.add_argument("--output-dir", default="runs/examples/function_calling")
    parser.add_argument("--steps", type=int, default=72, help="optimizer steps of 8 chats (72: one epoch)")
    args = parser.parse_args(argv)

    rows, items, tokens = (4, 2, 8) if args.quick else (None, None, 128)
    steps = 1 if args.quick else args.steps
    trainer = (Trainer("default", output_dir=args.output_dir,
                       evals=[function_calling_eval(items, tokens), *general_evals(items, min(tokens, 24))])
               .sft(example_data("tools_schemas_train.jsonl", rows), chat_template="chatml-tools", max_steps=steps,
                    learning_rate=1e-4, batch_size=8, max_length=768))
    print(trainer.plan())
    run = trainer.run()
    path = show_run(run, Path(args.output_dir) / "report.md")
    evals: dict[str, Any] = run.stages[-1].evals
    if evals.get("before") and evals.get("after"):
        before, after = (EvalResult.from_dict(evals[side]["results"]["function_calling"]) for side in ("before", "after"))
        table = category_table(before, after)
        print("\nfunction_calling by category (held-out, unseen tools):\n\n" + table)
        with path.open("a", encoding="utf-8") as handle:
            handle.write("\n\n## function_calling by category (held-out, unseen tools)\n\n" + table + "\n")
    return path


if __name__ == "__main__":
    main()
