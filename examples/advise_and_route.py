"""From a task to a plan: three task specs, the advisor's recommendation for each (with the rule behind
every reason), and the routed pipeline for the tutoring task (SFT -> DPO -> GRPO on the example data).

    python examples/advise_and_route.py            # print the advice and the plan
    python examples/advise_and_route.py --run      # ... and run the plan, with evals around every stage
    python examples/advise_and_route.py --quick --run    # one step per stage: a smoke test
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from posttrain_demo.demo import FULL, QUICK, advise_all, routed_chain
from posttrain_demo.examples import show_run


def main(argv: list[str] | None = None) -> Path | None:
    parser = argparse.ArgumentParser(description="Advise on three tasks; route one to a training plan.")
    parser.add_argument("--run", action="store_true", help="run the routed plan (about 10 minutes on 2 CPU cores)")
    parser.add_argument("--quick", action="store_true", help="a handful of rows and one step per stage")
    parser.add_argument("--output-dir", default="runs/examples/advise_and_route")
    args = parser.parse_args(argv)

    console = Console()
    recommendations = advise_all(console)
    trainer = routed_chain(recommendations["tutor"], Path(args.output_dir), QUICK if args.quick else FULL)
    console.rule("routed plan for 'tutor'")
    console.print(trainer.plan())
    if not args.run:
        console.print("(add --run to train it)")
        return None
    return show_run(trainer.run(), Path(args.output_dir) / "report.md", console)


if __name__ == "__main__":
    main()
