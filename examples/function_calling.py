"""SFT teaches the default model to call functions: OpenAI-style tool-call chats (assistant `tool_calls`,
`tool` results, a `tools` column) rendered with the built-in `chatml-tools` template, which the model
then keeps. Held-out requests with unseen argument values are scored BFCL-style (function name and
argument values parsed and compared as values), before and after, next to everyday questions and
perplexity (what the training cost).

    python examples/function_calling.py            # 320 chats, 40 steps of 8: one epoch (see docs/results.md)
    python examples/function_calling.py --quick    # 4 chats, 1 step: a smoke test

The default model's own template drops tools and tool calls, so the SFT stage sets
`chat_template="chatml-tools"`, and the eval renders the base model's prompts with the same template:
both models see the same tool definitions.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from posttrain import Trainer
from posttrain.evals import FunctionCalling
from posttrain_demo.examples import example_data, general_evals, show_run


def function_calling_eval(limit: int | None = None, max_new_tokens: int = 80) -> FunctionCalling:
    """Held-out tool-use requests, scored by parsed call (name and argument values)."""
    return FunctionCalling(example_data("tools_heldout.jsonl", limit), max_new_tokens=max_new_tokens,
                           chat_template="chatml-tools")


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description="SFT on tool-call chats; call accuracy before/after.")
    parser.add_argument("--quick", action="store_true", help="a handful of rows and one step (smoke test)")
    parser.add_argument("--output-dir", default="runs/examples/function_calling")
    parser.add_argument("--steps", type=int, default=40, help="optimizer steps of 8 chats (40: one epoch)")
    args = parser.parse_args(argv)

    rows, items, tokens = (4, 2, 8) if args.quick else (None, None, 80)
    steps = 1 if args.quick else args.steps
    trainer = (Trainer("default", output_dir=args.output_dir,
                       evals=[function_calling_eval(items, tokens), *general_evals(items, min(tokens, 24))])
               .sft(example_data("tools_train.jsonl", rows), chat_template="chatml-tools", max_steps=steps,
                    learning_rate=1e-4, batch_size=8, max_length=512))
    print(trainer.plan())
    return show_run(trainer.run(), Path(args.output_dir) / "report.md")


if __name__ == "__main__":
    main()
