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
    run: Annotated[bool, typer.Option("--run", help="Route the recommendation and execute it.")] = False,
    model: Annotated[str, typer.Option(help="Model to train or wrap: 'default', a folder or a hub id.")] = "default",
    output_dir: Annotated[Path, typer.Option(help="Where a training run writes its stages.")] = Path("runs/advised"),
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
            _execute(rec, model, output_dir, console)


def _execute(rec, model: str, output_dir: Path, console) -> None:
    """Route and run: train the plan, build and save the retrieval index, or show the prompt baseline."""
    from rich.markup import escape

    routed = rec.route(model=model, output_dir=output_dir)
    if hasattr(routed, "run") and hasattr(routed, "plan"):
        console.print(routed.plan())
        result = routed.run()
        console.print(f"[green]trained:[/green] {escape(str(result.model_dir))}")
    elif hasattr(routed, "save"):
        folder = routed.save(output_dir / "rag")
        console.print(f"[green]retrieval index saved:[/green] {escape(str(folder))}")
    else:
        console.print(f"[green]prompt baseline[/green] over {escape(model)}; system prompt:\n{escape(routed.system)}")
