"""Facts no model has seen (the fictional Isle of Quellmoor): the base model, RAG over the documents, a
model fine-tuned on them (continued pre-training on paraphrased documents, then SFT on question-answer
pairs worded differently from the test), and the fine-tuned model with RAG, all on the same held-out
questions.

    python examples/rag_vs_finetune.py            # 4 documents, 38 training questions, 50 test questions
    python examples/rag_vs_finetune.py --quick    # 1 document, 2 questions, 1 step per stage
"""

from __future__ import annotations

import argparse
from pathlib import Path

from posttrain_demo.demo import compare_arms
from posttrain_demo.examples import data_dir, example_rows, show_run
from rag_baseline import RAGBaseline, knowledge_pipeline


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description="Base vs RAG vs fine-tuned vs fine-tuned + RAG.")
    parser.add_argument("--quick", action="store_true", help="one document, two questions, one step per stage")
    parser.add_argument("--output-dir", default="runs/examples/rag_vs_finetune")
    args = parser.parse_args(argv)

    facts, out = data_dir() / "fictional_facts", Path(args.output_dir)
    docs = sorted((facts / "docs").glob("*.md"))[:1] if args.quick else [facts / "docs"]
    train_rows = facts / "qa_train.jsonl"
    if args.quick:
        train_rows = [{"question": "Which town is the capital of Quellmoor?", "answer": "Brannock Harbour"}]
    stages = ({"pretrain": {"max_steps": 1}, "sft": {"max_steps": 1}} if args.quick else
              {"pretrain": {"epochs": 2, "learning_rate": 5e-5}, "sft": {"epochs": 5, "learning_rate": 1e-4}})
    plan = knowledge_pipeline(docs, train_rows, paraphrases=1 if args.quick else 4, output_dir=out / "finetune",
                              **stages)
    print(plan.plan())
    run = plan.run()
    show_run(run, out / "finetune_report.md")

    rag = RAGBaseline.from_files(docs)
    test_rows = example_rows("fictional_facts/qa.jsonl")[:2 if args.quick else None]
    compare_arms(test_rows, {"base": "default", "rag": rag, "fine-tuned": run, "fine-tuned+rag": (rag, run)},
                 out, max_new_tokens=8 if args.quick else 32)
    return out / "report.md"


if __name__ == "__main__":
    main()
