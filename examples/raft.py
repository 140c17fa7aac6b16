"""RAFT against RAG and plain fine-tuning on facts no model has seen (the fictional Isle of Quellmoor).

Arms, all on the same 50 held-out questions: the base model; RAG (the base model reading retrieved
passages); fine-tuned (continued pre-training on paraphrased documents, then SFT on the training
questions); fine-tuned + RAG; and RAFT (SFT on the same training questions asked with retrieved
passages, the answer's passage among distractors in 80% of them), evaluated with retrieval. The
report ends with the arm to deploy and what each costs.

    python examples/raft.py            # 4 documents, 38 training questions, 50 test questions
    python examples/raft.py --quick    # 1 document, 2 questions, 1 step per stage
"""

from __future__ import annotations

import argparse
from pathlib import Path

from posttrain_demo.examples import data_dir, example_rows
from rag_baseline import RAGBaseline, compare, knowledge_pipeline, raft_pipeline

K = 3


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description="RAFT vs RAG vs fine-tuning on the fictional-facts corpus.")
    parser.add_argument("--quick", action="store_true", help="one document, two questions, one step per stage")
    parser.add_argument("--output-dir", default="runs/examples/raft")
    args = parser.parse_args(argv)

    facts, out = data_dir() / "fictional_facts", Path(args.output_dir)
    docs = sorted((facts / "docs").glob("*.md"))[:1] if args.quick else [facts / "docs"]
    train = example_rows("fictional_facts/qa_train.jsonl")[:2 if args.quick else None]
    test = example_rows("fictional_facts/qa.jsonl")[:2 if args.quick else None]
    rag = RAGBaseline.from_files(docs)

    finetuned = knowledge_pipeline(docs, train, paraphrases=1 if args.quick else 4, output_dir=out / "finetune",
                                   **_settings(args.quick, {"pretrain": {"epochs": 2, "learning_rate": 5e-5},
                                                            "sft": {"epochs": 5, "learning_rate": 1e-4}})).run()
    raft = raft_pipeline(rag, train, k=K, samples=1 if args.quick else 2, output_dir=out / "raft",
                         **_settings(args.quick, {"sft": {"epochs": 3, "learning_rate": 1e-4}})).run()

    report = compare(test, {"base": "default", "rag": rag, "fine-tuned": finetuned,
                            "fine-tuned+rag": rag.with_model(finetuned), "raft": rag.with_model(raft)},
                     k=K, max_new_tokens=8 if args.quick else 16, latency_samples=1 if args.quick else 3)
    paths = report.write(out)
    print(report.to_markdown())
    return paths["markdown"]


def _settings(quick: bool, full: dict) -> dict:
    return {stage: {"max_steps": 1} for stage in full} if quick else full


if __name__ == "__main__":
    main()
