"""The `posttrain` command: one face over the advisor, the trainer, the evals and the RAG baseline.

The commands of `advisor` and `rag_baseline` live in their own light `cli` modules (no torch, TRL
or FAISS at import) and are attached when the command line starts.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="Decide how to post-train, then train, evaluate and compare.", no_args_is_help=True,
                  add_completion=False, pretty_exceptions_show_locals=False)


@app.command()
def train(pipeline: Annotated[Path, typer.Argument(metavar="PIPELINE.yaml",
                                                    help="Pipeline YAML (see Trainer.to_yaml).")],
          output_dir: Annotated[Path | None, typer.Option(help="Override the YAML's output_dir.")] = None,
          resume: Annotated[bool, typer.Option(help="Skip stages already done; continue an "
                                               "interrupted one.")] = True,
          trust_file: Annotated[bool, typer.Option("--trust-file", help="Let the file name reward functions "
                                                   "from any module (it may then run any code). Without it: "
                                                   "posttrain.rewards, posttrain.evals and modules beside the "
                                                   "file only.")] = False,
          gate: Annotated[bool, typer.Option("--gate", help="End with the ship gate (see `posttrain gate`): "
                                             "exit 1 (blocked) or 3 (undecided) unless the run should ship.")] = False,
          max_drop: Annotated[str, typer.Option(help="With --gate: the largest tolerated significant drop of an "
                                                "eval, absolute (0.02) or relative ('5%').")] = "0.02") -> None:
    """Run a pipeline from YAML, with progress bars and a summary table at the end."""
    from rich.console import Console

    from posttrain.pipeline.builder import Trainer

    console = Console()
    trainer = Trainer.from_yaml(pipeline, trust_file=trust_file)
    if output_dir is not None:
        trainer = Trainer.from_dict({**trainer.to_dict(), "output_dir": str(output_dir)}, base_dir=pipeline.parent,
                                    trust_file=trust_file)
    main = int(os.environ.get("RANK", "0")) == 0      # under torchrun / accelerate launch: one plan, one report
    if main:
        console.print(trainer.plan())
    from posttrain.tracking import stop_on_ctrl_c

    try:
        with stop_on_ctrl_c():
            run = trainer.run(resume=resume)
    except KeyboardInterrupt:
        from posttrain.pipeline.execute import kept_after_interrupt

        again = ["posttrain", "train", str(pipeline)] + (["--output-dir", str(output_dir)] if output_dir else []) \
            + (["--trust-file"] if trust_file else [])
        _interrupted(f"{kept_after_interrupt(Path(trainer.output_dir))}; resume with: {shlex.join(again)}")
    if main:
        console.print(summary_table(run))
        console.print(f"report: {run.report()}", markup=False)
    if gate and main:
        _exit_with_gate(run, {}, max_drop)


def _exit_with_gate(run, targets: dict[str, str], max_drop: str) -> None:
    """Print the gate's verdict and findings, and exit with its status (0 ship, 1 blocked, 3 undecided)."""
    result = run.gate(targets=targets, max_drop=_drop(max_drop))
    typer.echo(result.text())
    raise typer.Exit(result.exit_code)


def _drop(text: str) -> float | str:
    """--max-drop as the gate takes it: a number, or the text when it is a percentage (checked there)."""
    try:
        return float(text)
    except ValueError:
        return text


def summary_table(run):
    """A rich table: one row per stage with time, main metric and eval changes."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=escape(f"run {run.output_dir}"))
    for column in ("stage", "rows", "seconds", "train loss", "evals (before → after)"):
        table.add_column(column)
    for stage in run.stages:
        evals = ", ".join(f"{escape(d.name)} {d.before:.2f}→{d.after:.2f}{' [red]regressed[/]' if d.regressed else ''}"
                          for d in stage.eval_deltas())
        loss = stage.metrics.get("train_loss")
        table.add_row(escape(stage.output_dir.name), str(stage.data.get("rows", "")), f"{stage.seconds:.0f}",
                      "" if loss is None else f"{loss:.4f}", evals)
    return table


@app.command()
def demo(output_dir: Annotated[Path, typer.Option(help="Where the demo writes its runs and report.")] = Path("runs/demo"),
         quick: Annotated[bool, typer.Option(help="A tiny version (seconds, for checks).")] = False) -> None:
    """The main job: advise, train a short SFT -> DPO -> GRPO chain with evals, compare with RAG."""
    from posttrain_demo.demo import run_demo

    run_demo(output_dir=output_dir, quick=quick)   # it ends by naming its report


@app.command()
def doctor() -> None:
    """Versions, threads, GPU, and whether the default model and embedder resolve offline."""
    from posttrain.doctor import run_doctor

    raise typer.Exit(run_doctor())


@app.command()
def export(run_dir: Annotated[Path, typer.Argument(metavar="RUN_DIR", help="A run's folder (its run.json).")],
           out_dir: Annotated[Path, typer.Argument(metavar="OUT_DIR", help="A new folder to write.")],
           gguf: Annotated[str, typer.Option(help="GGUF files to write, comma-separated: f32, f16, q8_0 "
                                             "('' for none).")] = "f16,q8_0",
           ollama: Annotated[bool, typer.Option(help="Write an Ollama Modelfile for the q8_0 GGUF.")] = True,
           last_finished: Annotated[bool, typer.Option("--last-finished", help="Export an unfinished chain's last "
                                                       "finished stage (the card says so).")] = False) -> None:
    """Write a run's final model as a serving folder: safetensors, tokenizer, model card, GGUF, Modelfile.
    GGUF types: f32, f16, q8_0; q4_k_m and q5_k_m with llama-cpp-python installed."""
    from posttrain.pipeline.result import RunResult

    types = tuple(kind.strip() for kind in gguf.split(",") if kind.strip())
    try:
        result = RunResult.from_dir(run_dir).export(out_dir, gguf=types, ollama=ollama,
                                                    last_finished=last_finished)
    except KeyboardInterrupt:
        again = (["posttrain", "export", str(run_dir), str(out_dir), "--gguf", gguf]
                 + ([] if ollama else ["--no-ollama"])
                 + (["--last-finished"] if last_finished else []))
        _interrupted(f"nothing was written to {out_dir} (the unfinished export is removed; the run is "
                     f"untouched); start it again with: {shlex.join(again)}")
    for file in result.files:
        typer.echo(f"{file}  ({file.stat().st_size / 2**20:.1f} MiB)")


def _interrupted(note: str) -> None:
    """Ctrl-C: one line on stderr, what is kept and the command that resumes, then exit status 130."""
    from posttrain.errors import EXIT_INTERRUPTED

    typer.echo(f"interrupted: {note}", err=True)
    raise typer.Exit(EXIT_INTERRUPTED)


@app.command()
def gate(run_dir: Annotated[Path, typer.Argument(metavar="RUN_DIR", help="A run's folder (its run.json).")],
         target: Annotated[list[str] | None, typer.Option(help="A stage's own eval, STAGE=EVAL (stage kind or folder "
                                                       "name); repeat per stage. Default: the eval it improved most.")] = None,
         max_drop: Annotated[str, typer.Option(help="The largest tolerated significant drop of any other eval: "
                                               "absolute (0.02) or relative to its score before ('5%').")] = "0.02") -> None:
    """Whether a run should ship, for CI: exit 0 when every stage's own eval improved significantly and no
    eval regressed past --max-drop; 1 (blocked) or 3 (undecided: more items would settle it) otherwise."""
    from posttrain.errors import ConfigError, Problem
    from posttrain.pipeline.result import RunResult

    pairs = [item.partition("=") for item in target or []]
    bad = [Problem("gate, --target", f"{key!r} is not STAGE=EVAL", "write it as sft=policy_compliance")
           for key, sep, value in pairs if not sep or not key or not value]
    if bad:
        raise ConfigError(bad, title="cannot gate")
    if not (run_dir / "run.json").is_file():
        raise ConfigError(Problem(f"gate, RUN_DIR {run_dir}", "holds no run.json", "name a run's output folder"),
                          title="cannot gate")
    _exit_with_gate(RunResult.from_dir(run_dir), {key: value for key, _, value in pairs}, max_drop)


def _attach_commands() -> None:
    """Commands defined next to the packages they drive."""
    import importlib

    for module, attach in (("advisor.cli", lambda m: app.command("advise")(m.advise_command)),
                           ("posttrain.evals.cli", lambda m: app.command("eval")(m.eval_command)),
                           ("rag_baseline.cli", _attach_rag)):
        attach(importlib.import_module(module))


def _attach_rag(module) -> None:
    app.command("compare")(module.compare_command)
    app.add_typer(module.rag_app, name="rag", help="Build and query a retrieval index.")


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point. Every command's library errors end here: the message (which
    names the problem and the fix) on stderr, exit status 2 (1 for a stage that ran and failed); no
    traceback. An OS error the library did not foresee is shown the same way, with its file."""
    import sys

    from posttrain.errors import EXIT_FAILED, EXIT_USAGE, PosttrainError, StageFailed, print_error

    if not _attached:
        _attach_commands()
        _attached.append(True)
    try:
        app(args=argv, prog_name="posttrain")
    except StageFailed as err:
        print_error(err)
        sys.exit(EXIT_FAILED)
    except PosttrainError as err:
        print_error(err)
        sys.exit(EXIT_USAGE)
    except OSError as err:                      # a file or model the machine cannot read or write
        print_error(RuntimeError(os_error_text(err)))
        sys.exit(EXIT_USAGE)


def os_error_text(err: OSError) -> str:
    """An OS error as a sentence naming its file and a fix, not "[Errno 2] ..."."""
    files = " -> ".join(str(f) for f in (err.filename, err.filename2) if f is not None) or "a file"
    return (f"{files}: {(err.strerror or str(err)).lower()}. Fix: check that the path exists, is of the "
            "right kind (file or folder) and can be read and written by this user")



_attached: list[bool] = []


if __name__ == "__main__":
    main()
