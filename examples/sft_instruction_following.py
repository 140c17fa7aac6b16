"""SFT teaches a response policy the base model does not follow: all lowercase, no commas, and every answer
ends with "hope this helps". Compliance is measured on held-out prompts about other subjects, before and
after, next to everyday questions and perplexity (what the policy cost).

    python examples/sft_instruction_following.py            # 220 rows, 60 steps of 4 (see docs/results.md)
    python examples/sft_instruction_following.py --quick    # 4 rows, 1 step: a smoke test
"""

from __future__ import annotations

import argparse
from pathlib import Path

from posttrain import Trainer
from posttrain_demo.examples import example_data, general_evals, policy_eval, show_run


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description="SFT on a house style; compliance before/after.")
    parser.add_argument("--quick", action="store_true", help="a handful of rows and one step (smoke test)")
    parser.add_argument("--output-dir", default="runs/examples/sft_instruction_following")
    args = parser.parse_args(argv)

    rows, items, tokens = (4, 2, 8) if args.quick else (None, None, 64)
    steps = 1 if args.quick else 60
    trainer = (Trainer("default", output_dir=args.output_dir,
                       evals=[policy_eval(items, tokens), *general_evals(items, min(tokens, 24))])
               .sft(example_data("policy_train.jsonl", rows), max_steps=steps, learning_rate=8e-5, batch_size=4,
                    max_length=256))
    print(trainer.plan())
    return show_run(trainer.run(), Path(args.output_dir) / "report.md")


if __name__ == "__main__":
    main()
