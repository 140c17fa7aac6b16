"""GRPO on one-step arithmetic word problems, rewarded by math-verify (`rewards.math_accuracy`): the model
samples 4 answers per problem and is pushed toward the ones whose final number is right. Accuracy on
held-out problems before/after; the report plots the reward curve.

    python examples/grpo_math.py            # 120 problems, 15 steps of 4 prompts x 4 samples
    python examples/grpo_math.py --quick    # 2 problems, 1 step: a smoke test
"""

from __future__ import annotations

import argparse
from pathlib import Path

from posttrain import Trainer, rewards
from posttrain.demo import example_data, math_eval, show_run


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description="GRPO on arithmetic; held-out accuracy before/after.")
    parser.add_argument("--quick", action="store_true", help="a handful of prompts and one step (smoke test)")
    parser.add_argument("--output-dir", default="runs/examples/grpo_math")
    args = parser.parse_args(argv)

    quick = args.quick
    trainer = (Trainer("default", output_dir=args.output_dir, evals=[math_eval(2 if quick else None,
                                                                                8 if quick else 64)])
               .grpo(example_data("math_train.jsonl", 2 if quick else None), rewards=[rewards.math_accuracy],
                     num_generations=4 if not quick else 2, max_completion_length=8 if quick else 64,
                     batch_size=1 if quick else 4, max_steps=1 if quick else 15, learning_rate=1e-5,
                     temperature=0.9))
    print(trainer.plan())
    return show_run(trainer.run(), Path(args.output_dir) / "report.md")


if __name__ == "__main__":
    main()
