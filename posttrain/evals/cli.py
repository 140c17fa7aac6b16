"""`posttrain eval MODEL --suite suite.yaml`: run an eval suite on a model, print the table, save JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer


def eval_command(
    model: Annotated[str, typer.Argument(help="'default', a model folder, or a hub id")],
    suite: Annotated[Path, typer.Option("--suite", "-s", help="suite YAML: a list of {kind: ..., ...} entries")],
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="where to save the results as JSON "
                                                   "(default: eval-results.json next to the suite)")] = None,
) -> None:
    """Evaluate MODEL on every eval of the suite; print a table and save the results as JSON."""
    from rich.console import Console

    from posttrain.evals.suite import EvalSuite
    from posttrain.models import load_model

    console = Console()
    evals = EvalSuite.from_yaml(suite)
    with console.status(f"loading {model}"):
        loaded, tokenizer = load_model(model)
    with console.status("evaluating") as status:
        def progress(result) -> None:
            status.update(f"evaluating: {result.name} done")
        results = evals.run(loaded, tokenizer, on_result=progress)
    console.print(results.rich_table(title=f"{model} on {suite.name}"))
    saved = results.save(output or suite.with_name("eval-results.json"))
    console.print(f"results saved to {saved}", markup=False)
