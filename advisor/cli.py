"""`posttrain advise SPEC [--data FILE ...] [--json] [--run]`: print the advice, optionally act on it.

Every library error (`PosttrainError`) goes through `posttrain.errors.print_error` and exit code 2, as for
every other `posttrain` command.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer


@contextmanager
def exit_on_error() -> Iterator[None]:
    """Turn a `PosttrainError` into its message on stderr and exit code 2."""
    from posttrain.errors import EXIT_USAGE, PosttrainError, print_error

    try:
        yield
    except PosttrainError as err:
        print_error(err)
        raise typer.Exit(EXIT_USAGE) from None


def advise_command(
    spec: Annotated[Path, typer.Argument(help="Task spec: a YAML or JSON file of TaskSpec fields.")],
    data: Annotated[Optional[list[Path]], typer.Option(  # noqa: UP045 (typer reads the annotation)
        "--data", "-d", help="A dataset to inspect (repeatable): format, rows and tokens fill the spec.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the recommendation as JSON.")] = False,
    run: Annotated[bool, typer.Option("--run", help="Route the recommendation, execute it, run the evals it "
                                      "lists (on --eval-data) and write the report.")] = False,
    model: Annotated[str, typer.Option(help="Model to train or wrap: 'default', a folder or a hub id.")] = "default",
    output_dir: Annotated[Path, typer.Option(help="Where a training run writes its stages.")] = Path("runs/advised"),
    eval_data: Annotated[Optional[list[Path]], typer.Option(  # noqa: UP045 (typer reads the annotation)
        "--eval-data", "-e", help="Held-out rows for the evals the advice lists (repeatable): each listed eval "
        "runs on the first file it can read.")] = None,
    epochs: Annotated[Optional[float], typer.Option(  # noqa: UP045
        help="Training length: epochs of every stage (default: each stage's own).")] = None,
    max_steps: Annotated[Optional[int], typer.Option(  # noqa: UP045
        help="Training length: steps of every stage (wins over --epochs).")] = None,
    system: Annotated[Optional[str], typer.Option(  # noqa: UP045
        help="System prompt of the prompt baseline (default: built from the spec's description and "
        "instructions).")] = None,
) -> None:
    """Recommend prompting, retrieval or post-training for a task, with reasons, the runner-up, warnings
    and evals."""
    from rich.console import Console

    from advisor.decide import advise

    console = Console()
    with exit_on_error():
        rec = advise(spec, datasets=[str(path) for path in data] if data else None)
        if json_out:
            typer.echo(json.dumps(rec.to_dict(), indent=2))
        else:
            console.print(rec)
        if run:
            length = {k: v for k, v in (("epochs", epochs), ("max_steps", max_steps)) if v is not None}
            _execute(rec, model, output_dir, console, eval_data=list(eval_data or []), length=length, system=system)


def _execute(rec, model: str, output_dir: Path, console, *, eval_data: list[Path], length: dict,
             system: str | None) -> None:
    """Route and run: train the plan (the listed evals before and after each stage, then the run's report),
    build and save the retrieval index, or measure the prompt baseline on the listed evals (its report);
    every listed eval that does not run is named with the reason."""
    from rich.markup import escape

    from advisor.benchmarks import advised_suite

    suite, left_out = advised_suite(rec.suggested_evals, eval_data)
    routed = rec.route(model=model, output_dir=output_dir, system=system, stage_settings=length)
    if hasattr(routed, "run") and hasattr(routed, "plan"):
        if suite is not None:
            routed = routed.evaluate(suite)
        console.print(routed.plan())
        result = routed.run()
        console.print(f"[green]trained:[/green] {escape(str(result.model_dir))}")
        console.print(f"[green]report:[/green] {escape(str(result.report()))}")
    elif hasattr(routed, "save"):
        folder = routed.save(output_dir / "rag")
        console.print(f"[green]retrieval index saved:[/green] {escape(str(folder))}")
        if suite is not None:
            left_out += [f"{name}: retrieval is measured against the model with `posttrain compare`"
                         for name in suite.names]
    else:
        console.print(f"[green]prompt baseline[/green] over {escape(model)}; system prompt:\n{escape(routed.system)}")
        if suite is not None:
            report = _baseline_report(routed, suite, output_dir)
            console.print(f"[green]report:[/green] {escape(str(report))}")
    for line in left_out:
        console.print(f"[yellow]eval not run:[/yellow] {escape(line)}")


def _baseline_report(baseline, suite, output_dir: Path) -> Path:
    """Run `suite` on the prompt baseline; write `report.md` (the system prompt and the scores) and the
    results as JSON into `output_dir`."""
    import time

    from posttrain.evals import SuiteResult

    results, seconds = {}, {}
    for evaluation in suite:
        start = time.monotonic()
        results[evaluation.name] = baseline.run_eval(evaluation)
        seconds[evaluation.name] = round(time.monotonic() - start, 2)
    scores = SuiteResult(results, seconds)
    output_dir.mkdir(parents=True, exist_ok=True)
    scores.save(output_dir / "eval-results.json")
    system = "\n".join(f"> {line}" for line in baseline.system.splitlines())
    path = output_dir / "report.md"
    path.write_text(f"# Prompt baseline over {baseline.model}\n\nSystem prompt:\n\n{system}\n\n"
                    f"{scores.table()}\n", encoding="utf-8")
    return path
