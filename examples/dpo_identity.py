"""DPO changes who the assistant says it is: "Ava, made by Northwind Labs". The identity rate is measured
on paraphrased questions that are not in the training pairs, before and after, next to everyday questions
and perplexity on plain text (what the change cost).

The pairs (examples/data/make_data.py) mix rejected answers the base model would give, near misses with
only the name or only the maker wrong, and everyday questions where the plain answer beats the identity
line. The loss is DPO plus an NLL term on the chosen answer (`loss_type=["sigmoid", "sft"]`, RPO): DPO alone
pushes the rejected answers down without making the chosen one likely enough to be generated.

    python examples/dpo_identity.py            # 200 pairs, 50 steps of 4 (see docs/results.md)
    python examples/dpo_identity.py --quick    # 4 pairs, 1 step: a smoke test
"""

from __future__ import annotations

import argparse
from pathlib import Path

from posttrain import Trainer
from posttrain_demo.examples import example_data, general_evals, identity_eval, show_run


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description="DPO on identity; identity rate before/after.")
    parser.add_argument("--quick", action="store_true", help="a handful of pairs and one step (smoke test)")
    parser.add_argument("--output-dir", default="runs/examples/dpo_identity")
    parser.add_argument("--steps", type=int, default=70, help="optimizer steps of 4 pairs (70: one epoch)")
    args = parser.parse_args(argv)

    rows, items, tokens = (4, 2, 8) if args.quick else (None, None, 40)
    steps = 1 if args.quick else args.steps
    trainer = (Trainer("default", output_dir=args.output_dir,
                       evals=[identity_eval(items, tokens), *general_evals(items, min(tokens, 24))])
               .dpo(example_data("identity_train.jsonl", rows), beta=0.1, loss_type=["sigmoid", "sft"],
                    max_steps=steps, learning_rate=2e-5, batch_size=4, max_length=256))
    print(trainer.plan())
    return show_run(trainer.run(), Path(args.output_dir) / "report.md")


if __name__ == "__main__":
    main()
