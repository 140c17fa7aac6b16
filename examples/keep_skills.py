"""Replay keeps a skill while another is trained. Stage 1 teaches the house style by SFT (all lowercase, no
commas, every answer ends with "hope this helps"); stage 2 teaches one-step arithmetic by SFT on worked answers
("8 x 4 = 32. The answer is 32."), a plausible next task whose answers are written the ordinary way. Stage 2 runs
twice from the same stage-1 model: on its own data, and with a quarter of its rows replayed from stage 1's data
(`mix=[{"data": "policy_train.jsonl", "share": 0.25}]`). Both skills are measured on held-out items before and
after every stage, with the paired test.

Trained alone on the arithmetic, the model drops the house style on everyday questions (the worked answers
never use it); with the replayed quarter it keeps it, and learns the arithmetic all the same.

    python examples/keep_skills.py            # stage 1 once, stage 2 with and without replay (see docs/results.md)
    python examples/keep_skills.py --quick    # a handful of rows and one step per stage: a smoke test
"""

from __future__ import annotations

import argparse
from pathlib import Path

from posttrain import Trainer
from posttrain_demo.examples import (
    before_after_markdown,
    example_data,
    math_eval,
    policy_eval,
    show_run,
)

ARMS = {"without replay": [], "with replay": [{"data": "policy_train.jsonl", "share": 0.25}]}


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description="Two SFT stages; the second with and without replay of the first.")
    parser.add_argument("--quick", action="store_true", help="a handful of rows and one step (smoke test)")
    parser.add_argument("--output-dir", default="runs/examples/keep_skills")
    args = parser.parse_args(argv)

    out = Path(args.output_dir)
    rows, (policy_items, math_items), tokens = (4, (2, 2), 8) if args.quick else (None, (None, 50), 48)
    evals = [policy_eval(policy_items, tokens), math_eval(math_items, min(tokens, 40))]
    style = (Trainer("default", output_dir=out / "house_style", evals=evals)
             .sft(example_data("policy_train.jsonl", rows), max_steps=1 if args.quick else 60, learning_rate=8e-5,
                  batch_size=4, max_length=256))
    print(style.plan())
    first = style.run()
    report = show_run(first, out / "report.md")
    summary = []
    for arm, mix in ARMS.items():
        replay = [{"data": example_data(m["data"], rows), "share": m["share"]} for m in mix]
        math = (Trainer(first.model_dir, output_dir=out / arm.replace(" ", "_"), evals=evals)
                .sft(example_data("math_worked.jsonl", rows), max_steps=1 if args.quick else 16,
                     learning_rate=1.5e-4, batch_size=8, max_length=256, mix=replay))
        print(f"\n## stage 2 {arm}\n\n{math.plan()}")
        run = math.run()
        run.report(out / arm.replace(" ", "_") / "report.md")
        print(f"\n## stage 2 {arm}\n\n{before_after_markdown(run)}")
        stage = run.stages[-1]
        summary.append(f"| {arm} | {stage.data['rows']} | {stage.seconds:.0f} |")
    print("\n| stage 2 | rows | training s |\n|---|---|---|\n" + "\n".join(summary))
    return report


if __name__ == "__main__":
    main()
