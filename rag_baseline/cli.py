"""Command-line face of the RAG baseline: `posttrain rag build|ask` and `posttrain compare`.

Thin wrappers over the library; heavy modules load inside the commands.
"""

from __future__ import annotations

from pathlib import Path

import typer

rag_app = typer.Typer(help="Build a retrieval index over documents, and ask it questions.", no_args_is_help=True,
                      add_completion=False, pretty_exceptions_show_locals=False)


@rag_app.command("build")
def build(docs: list[Path] = typer.Argument(..., help="Files (.txt, .md, .pdf, .html, .jsonl) or folders of them."),
          out: Path = typer.Option(..., "--out", "-o", help="Folder to write the index into."),
          chunk_size: int = typer.Option(500, help="Characters per chunk."),
          chunk_overlap: int = typer.Option(50, help="Characters shared by neighbouring chunks."),
          index: str = typer.Option("flat", help="flat (exact) or hnsw (fast, approximate; for 100k+ chunks)."),
          embedder: str = typer.Option("default", help="'default' (all-MiniLM-L6-v2) or a model folder.")) -> None:
    """Chunk, embed and index DOCS; save the index (no pickle) to --out."""
    from rag_baseline.store import RAGBaseline

    rag = RAGBaseline.from_files(docs, chunk_size=chunk_size, chunk_overlap=chunk_overlap, index=index,
                                 embedder=embedder)
    rag.save(out)
    typer.echo(f"indexed {len(rag)} chunks from {len(docs)} path(s) into {out}")


@rag_app.command("ask")
def ask(index_dir: Path = typer.Argument(..., help="A folder written by `rag build`."),
        question: str = typer.Argument(..., help="The question."),
        k: int = typer.Option(4, "--k", "-k", help="Chunks to retrieve."),
        model: str = typer.Option("default", help="Generator: 'default' or a model folder."),
        sources_only: bool = typer.Option(False, "--sources-only", help="Print the retrieved chunks in full, no answer.")) -> None:
    """Answer QUESTION from the index at INDEX_DIR, then list the sources used."""
    from rag_baseline.store import RAGBaseline

    rag = RAGBaseline.load(index_dir)
    if sources_only:
        sources = rag.retrieve(question, k)
    else:
        answer = rag.answer(question, model=model, k=k)
        typer.echo(answer.text)
        sources = answer.sources
    for number, doc in enumerate(sources, start=1):
        where = doc.metadata.get("source", doc.metadata.get("chunk_id"))
        text = " ".join(doc.page_content.split()) if sources_only else _one_line(doc.page_content)
        typer.echo(f"[{number}] {doc.metadata['score']:.3f} {where}: {text}")


def compare_command(rows: Path = typer.Argument(..., help="Eval rows (.jsonl): question, answer, optional options."),
                    arms: list[str] = typer.Argument(..., help="NAME=SPEC: base=default, ft=runs/ft/model, "
                                                     "rag=rag:INDEX_DIR, ft_rag=rag:INDEX_DIR@runs/ft/model"),
                    out: Path = typer.Option(Path("runs/compare"), "--out", "-o", help="Folder for report.md/json/png."),
                    k: int = typer.Option(3, "--k", "-k", help="Chunks retrieved per question by RAG arms."),
                    match: str = typer.Option("contains", help="Open answers: contains, normalized or exact."),
                    max_new_tokens: int = typer.Option(48, help="Tokens generated per open answer.")) -> None:
    """Compare base, RAG, fine-tuned and fine-tuned + RAG arms on the same questions."""
    from rag_baseline.comparison import compare, parse_arm_string

    parsed = dict(parse_arm_string(text) for text in arms)
    report = compare(rows, parsed, k=k, match=match, max_new_tokens=max_new_tokens)
    paths = report.write(out)
    typer.echo(report.to_markdown())
    typer.echo("wrote " + ", ".join(str(path) for path in paths.values()))


def _one_line(text: str, limit: int = 100) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."
