"""The `posttrain` command: one face over the advisor, the trainer, the evals and the RAG baseline.

Commands from `advisor` and `rag_baseline` are imported lazily, when they are called.
"""

from __future__ import annotations

import typer

app = typer.Typer(help="Decide how to post-train, then train, evaluate and compare.", no_args_is_help=True,
                  add_completion=False, pretty_exceptions_show_locals=False)


@app.command()
def doctor() -> None:
    """Versions, threads, GPU, and whether the default model and embedder resolve offline."""
    from posttrain.doctor import run_doctor

    raise typer.Exit(run_doctor())


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
