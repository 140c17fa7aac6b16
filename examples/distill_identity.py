"""Distillation: a fresh student learns the identity ("Ava, made by Northwind Labs") from a teacher that has it.
The teacher is the default model after the DPO identity recipe of `examples/dpo_identity.py` (or any model
folder given with `--teacher`); the student is the untrained default model. The teacher answers the training
prompts once (greedy, `teacher_answers.jsonl` in the stage folder) and the student learns those answers by SFT
(`.distill()`). The student never sees a preference pair, nor any answer the teacher did not write.

The identity rate is measured on the held-out questions: the student before and after with the paired test,
and the teacher on the same questions in the same table.

    python examples/distill_identity.py            # teacher by DPO, then distillation (see docs/results.md)
    python examples/distill_identity.py --teacher runs/examples/dpo_identity/01-dpo/model
    python examples/distill_identity.py --quick    # a handful of prompts and one step: a smoke test
"""

from __future__ import annotations

import argparse
from pathlib import Path

from posttrain import Trainer
from posttrain_demo.examples import example_data, example_rows, identity_eval, show_run


def teacher_model(args: argparse.Namespace, rows: int | None, evals: list) -> tuple[str, float | None]:
    """The teacher's folder and its identity score (None for a teacher given by folder: measured later)."""
    if args.teacher:
        return args.teacher, None
    teacher = (Trainer("default", output_dir=Path(args.output_dir) / "teacher", evals=evals)
               .dpo(example_data("identity_train.jsonl", rows), beta=0.1, loss_type=["sigmoid", "sft"],
                    max_steps=1 if args.quick else 70, learning_rate=2e-5, batch_size=4, max_length=256))
    print(teacher.plan())
    run = teacher.run()
    return str(run.model_dir), run.stages[-1].eval_deltas()[0].after


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description="A student distilled from an identity teacher; identity before/after.")
    parser.add_argument("--quick", action="store_true", help="a handful of prompts and one step (smoke test)")
    parser.add_argument("--output-dir", default="runs/examples/distill_identity")
    parser.add_argument("--teacher", help="a model folder to distil from (default: train one by DPO first)")
    args = parser.parse_args(argv)

    rows, items, tokens = (4, 2, 8) if args.quick else (None, None, 40)
    evals = [identity_eval(items, tokens)]
    teacher, teacher_score = teacher_model(args, rows, evals)
    prompts = list(dict.fromkeys(row["prompt"] for row in example_rows("identity_train.jsonl")))[:rows]
    student = (Trainer("default", output_dir=Path(args.output_dir) / "student", evals=evals)
               .distill([{"prompt": p} for p in prompts], teacher=teacher, max_new_tokens=tokens,
                        max_steps=1 if args.quick else 50, learning_rate=5e-5, batch_size=4, max_length=256))
    print(student.plan())
    run = student.run()
    report = show_run(run, Path(args.output_dir) / "report.md")
    d = run.stages[-1].eval_deltas()[0]
    teacher_cell = "–" if teacher_score is None else f"{teacher_score:.3f}"
    print(f"\n| identity ({len(evals[0].items)} held out) | student before | teacher | student after | "
          f"fixed / broken (p) |\n|---|---|---|---|---|\n| {d.name} | {d.before:.3f} | {teacher_cell} | "
          f"{d.after:.3f} | {d.paired} |")
    return report


if __name__ == "__main__":
    main()
