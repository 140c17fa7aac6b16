"""A calculator agent: arithmetic word problems (adding, taking away, multiplying, two-step) solved by calling
a `calculator` tool, with the same problems answered without the tool beside it.

1. SFT cold start on 240 worked tool-use chats in the built-in `chatml-tools` template (the default model's
   own template drops tools), half of them two-step: the question, one call with the problem's whole
   expression ("(a + b) / c" for a two-step problem: no episode has to decide after a result whether
   another call is due), its result, the answer. It teaches the call's format and how to turn a problem
   into an expression;
2. GRPO in the `posttrain.tools.Calculator` environment on prompts half of which are two-step: each episode
   may call the tool once (`max_tool_turns=1`: one round of calls, then the answer), `rewards.math_accuracy`
   checks the final answer after the tool turn. `max_completion_length` (96) holds the call, its result and
   the answer: TRL drops a tool result that does not fit, silently, and the stage counts such episodes
   (`tool_replies_dropped`).

Held-out: 100 problems written apart from the training ones (other names, things and phrasings), scored
before and after each stage as multi-turn episodes with the tool (`calculator_episodes`: accuracy per kind,
tool calls per episode, share of episodes hitting the turn limit). At the end the same problems are answered
without the tool (`math_no_tool`) by the default model and by the trained one, each compared with the agent
on the same problems (paired sign test).

    python examples/calculator_agent.py            # SFT 26 steps of 8, GRPO 6 steps of 4 prompts x 4 episodes
    python examples/calculator_agent.py --quick    # 4 problems, 1 step each: a smoke test
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

from posttrain import Trainer, rewards
from posttrain.evals import MathAccuracy, ToolEpisodes
from posttrain_demo.examples import example_data, show_run

TEMPLATE = "chatml-tools"


def episodes_eval(limit: int | None) -> ToolEpisodes:
    """Held-out problems solved as episodes with the calculator (greedy)."""
    return ToolEpisodes(example_data("calculator_heldout.jsonl", limit), environment="posttrain.tools.Calculator",
                        name="calculator_episodes", chat_template=TEMPLATE, max_turns=2,
                        max_new_tokens=56 if limit is None else 8)


def no_tool_eval(limit: int | None) -> MathAccuracy:
    """The same problems answered without the tool."""
    return MathAccuracy(example_data("calculator_heldout.jsonl", limit), name="math_no_tool",
                        max_new_tokens=96 if limit is None else 8)


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description="SFT cold start, then GRPO with a calculator tool; held-out "
                                     "accuracy with and without the tool.")
    parser.add_argument("--quick", action="store_true", help="a handful of problems and one step (smoke test)")
    parser.add_argument("--output-dir", default="runs/examples/calculator_agent")
    args = parser.parse_args(argv)

    rows = 4 if args.quick else None
    start = time.perf_counter()
    trainer = (Trainer("default", output_dir=args.output_dir, evals=[episodes_eval(rows)])
               .sft(example_data("calculator_traces.jsonl", rows), chat_template=TEMPLATE, batch_size=8,
                    epochs=1, learning_rate=2e-4, max_steps=1 if args.quick else 26, max_length=512)
               .grpo(example_data("calculator_train.jsonl", rows), environment="posttrain.tools.Calculator",
                     rewards=[rewards.math_accuracy], chat_template=TEMPLATE, max_tool_turns=1,
                     num_generations=2 if args.quick else 4, batch_size=1 if args.quick else 4,
                     max_completion_length=16 if args.quick else 96, max_steps=1 if args.quick else 6,
                     learning_rate=1e-5, temperature=0.8,
                     allow_no_learning=args.quick))     # one step of one group may tie: a smoke test keeps it
    print(trainer.plan())
    run = trainer.run()
    path = show_run(run, Path(args.output_dir) / "report.md")
    print(with_and_without(run, no_tool_eval(rows)))
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    print(f"whole example: {time.perf_counter() - start:.0f} s of wall time, {cpu.ru_utime + cpu.ru_stime:.0f} s "
          "of CPU time")
    return path


def with_and_without(run: object, no_tool: MathAccuracy) -> str:
    """The final agent with the tool against the default model without it, on the same held-out problems
    (and the final model without the tool, to show what the tool itself adds)."""
    from posttrain import load_model
    from posttrain.evals import SuiteResult
    from posttrain.evals.compare import paired_test

    stages = getattr(run, "stages")
    base = no_tool.run(*load_model("default"))
    final = no_tool.run(*getattr(run, "load")())
    agent = SuiteResult.from_dict(stages[-1].evals["after"])["calculator_episodes"]
    lines = []
    for label, without in (("the default model", base), ("the trained model", final)):
        test = paired_test(without, agent)
        rose, fell, p = test if test is not None else (0, 0, float("nan"))
        kinds = ", ".join(f"{k.split('/')[1]} {without.metrics.get(k, 0):.2f} -> {agent.metrics[k]:.2f}"
                          for k in sorted(agent.metrics) if k.startswith("accuracy/"))
        lines.append(f"without the tool ({label}) {without.score:.2f} -> the agent with it {agent.score:.2f} "
                     f"({kinds}); {rose} problems rose, {fell} fell, p={p:.2g}")
    cold = SuiteResult.from_dict(stages[0].evals["after"])["calculator_episodes"]     # SFT alone, before GRPO
    lines.append("the agent after SFT alone -> after GRPO: " + ", ".join(
        f"{k.split('/')[1]} {cold.metrics.get(k, 0):.2f} -> {agent.metrics[k]:.2f}"
        for k in sorted(agent.metrics) if k.startswith("accuracy/")) + f"; all {cold.score:.2f} -> {agent.score:.2f}")
    lines.append(f"tool calls per episode {agent.metrics['tool_calls_per_episode']:.2f}, turn limit hit "
                 f"{agent.metrics['turn_limit_share']:.2f}, tool errors {agent.metrics['tool_error_share']:.2f}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
