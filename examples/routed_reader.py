"""What a user gets by following the advice: `advise(...).route(documents=...)` for documents the model
must answer from builds a `RAGBaseline` over the default model with the shipped reader
(`rag_baseline.reader`); this scores it against plain RAG over the base model (`route(reader="none")`) on
the 50 fictional-facts questions and on the places corpus (`examples/data/places`, 60 questions written
apart from every training file), open answers judged by SQuAD's exact match and token F1, paired. Both arms
answer as the route builds them, with `short_answers` (`rag_baseline.answer.short_answer`); the exact match
of the replies as generated, before it, is reported beside.

    python examples/routed_reader.py            # both corpora, ~10 min on 2 CPU cores (1 thread)
    python examples/routed_reader.py --quick    # 3 questions of each: a smoke test
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from advisor import advise
from posttrain.evals.qa import exact_match
from posttrain_demo.examples import data_dir, example_rows
from rag_baseline import compare
from rag_baseline.recommend import paired

K = 3


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description="Score the routed RAG reader against plain RAG.")
    parser.add_argument("--quick", action="store_true", help="3 questions a corpus")
    parser.add_argument("--output-dir", default="runs/examples/routed_reader")
    args = parser.parse_args(argv)
    out, lines = Path(args.output_dir), []
    advice = advise({"description": "Answer questions about our documents", "needs_private_knowledge": True})
    print(advice)
    for corpus in ("fictional_facts", "places"):
        docs, rows = data_dir() / corpus / "docs", example_rows(f"{corpus}/qa.jsonl")[:3 if args.quick else None]
        start = time.perf_counter()
        routed = advice.route(documents=[docs], output_dir=out / corpus)
        routed_seconds = time.perf_counter() - start
        plain = advice.route(documents=[docs], reader="none", output_dir=out / corpus)
        report = compare(rows, {"rag": plain, "rag+reader": routed}, k=K, max_new_tokens=24,
                         latency_samples=0 if args.quick else 3)
        report.write(out / corpus)
        judged, strict = report.open_answers(), paired(report, "rag+reader", "rag", judged="exact")
        lines.append(f"## {corpus} ({len(rows)} questions; route() took {routed_seconds:.0f} s)\n")
        lines.append(report.to_markdown())
        lines.append(f"Open answers, exact match: rag {judged['rag']['exact_match']:.3f}, rag+reader "
                     f"{judged['rag+reader']['exact_match']:.3f}; token F1 {judged['rag']['f1']:.3f} -> "
                     f"{judged['rag+reader']['f1']:.3f}; paired by exact match (all questions): {strict}")
        lines.append(f"Exact match of the replies as generated (before short_answer): rag {generated(report, 'rag'):.3f}, "
                     f"rag+reader {generated(report, 'rag+reader'):.3f}\n")
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.md").write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))
    return out / "summary.md"


def generated(report: object, arm: str) -> float:
    """Open answers' exact match over the replies as the model wrote them (`generated`, where short_answer
    changed one)."""
    details = report.results[arm]["qa_accuracy"].details           # type: ignore[attr-defined]
    return sum(exact_match(str(d.get("generated", d["output"])), d["answer"]) for d in details) / len(details)


if __name__ == "__main__":
    main()
