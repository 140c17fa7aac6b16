"""Search as a trained tool: the model answers by calling `search(query)` over the documents' index, zero or
more times, then answering; scored beside base, RAG and RAG + the shipped reader on the same questions.

1. Training, on another corpus than the test's (`examples/data/reading` and the lives of the people its
   records name, `examples/data/search`, joined three records to a document so that a search returns
   passages of several facts, as the test's do): a cold-start SFT on worked search episodes (search the
   question; answer at once where the result holds the answer; search again, by the person's name alone
   copied from the result, only where it names the person without the answer: `--second-query name`), LoRA,
   from the default model with the shipped reader; then GRPO in the search environment with
   `charged_search_reward` (token F1 less a little a search).
2. Test, over the fictional-facts index: the 50 questions and 12 two-hop questions (the answer needs a fact
   from a second document, found through a name the first one gives: `qa_two_hop.jsonl`), each arm paired
   with the search agent by exact match (sign test); searches and cost per answer in the report.

    python examples/search_agent.py --grpo-steps 0 --sft-steps 12 --arms "search agent"   # 26 min on 2 shared
                                                      # CPU cores, 1 thread (12 training)
    python examples/search_agent.py --agent RUN/train/01-sft/model --fresh-query --force-answer \
        --arms rag+reader,"search agent"    # score an agent again with the test-time rules (22 min)
    python examples/search_agent.py --quick    # 2 training questions, one step each, 3 test questions
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from posttrain_demo.examples import data_dir, example_rows
from rag_baseline import RAGBaseline, compare
from rag_baseline.recommend import paired
from rag_baseline.raft import _sentence_with
from rag_baseline.search import SearchAgent, multi_fact_texts, search_pipeline

K = 3


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description="Train a search agent and compare it with RAG and the reader.")
    parser.add_argument("--quick", action="store_true", help="a smoke test")
    parser.add_argument("--output-dir", default="runs/examples/search_agent")
    parser.add_argument("--train-rows", type=int, default=176, help="training questions (half of them two-hop)")
    parser.add_argument("--per-text", type=int, default=3, help="training records joined into one document")
    parser.add_argument("--sft-steps", type=int, default=10, help="cold-start steps of 8 traces")
    parser.add_argument("--grpo-steps", type=int, default=2,
                        help="GRPO steps of 2 questions x 4 episodes (0: the cold start alone)")
    parser.add_argument("--second-query", default="name", choices=["name", "question"],
                        help="a cold-start trace's second search: the bridge's name alone, or the question "
                             "with the name in place of its description")
    parser.add_argument("--arms", default="base,rag,rag+reader,search agent", help="the arms to score")
    parser.add_argument("--force-answer", action="store_true",
                        help="a turn that would search again for nothing new is answered instead (SearchAgent)")
    parser.add_argument("--fresh-query", action="store_true",
                        help="a query the episode already searched is written anew, its first token banned "
                             "(SearchAgent)")
    parser.add_argument("--agent", help="score this trained agent (a model folder or run) and skip training")
    args = parser.parse_args(argv)
    from rag_baseline.reader import reader_model

    out, start = Path(args.output_dir), time.perf_counter()
    rows = example_rows("search/train.jsonl")
    two, one = [r for r in rows if r["hops"] == 2], [r for r in rows if r["hops"] == 1]
    n = 1 if args.quick else args.train_rows // 2
    train = [row for pair in zip(two[:n], one[:n]) for row in pair]
    folders = [data_dir() / "reading" / "docs", data_dir() / "search" / "docs"]
    texts = {p.name: p.read_text(encoding="utf-8") for folder in folders for p in sorted(folder.glob("*.md"))}
    # the records joined three to a document: a search brings back 500-character passages holding several
    # records' facts, as the fictional facts' chunks do; each row's evidence is the sentence of its source
    # that holds the answer, so a trace answers only from a passage that really says it
    library = RAGBaseline.from_texts(multi_fact_texts(list(texts.values()), per_text=args.per_text))
    train = [dict(row, evidence=_sentence_with(texts[row["source"]], row["answer"])) for row in train]
    trainer = search_pipeline(library, train, model=reader_model(), output_dir=out / "train",
                              second_query=args.second_query,
                              sft={"lora": {"r": 16, "alpha": 32}, "learning_rate": 1e-3, "batch_size": 2,
                                   "grad_accum": 4, "max_steps": 1 if args.quick else args.sft_steps},
                              grpo={"max_steps": 1, "max_completion_length": 32, "num_generations": 2,
                                    "batch_size": 1, "allow_no_learning": True} if args.quick else
                              {"max_steps": args.grpo_steps, "batch_size": 2, "micro_batch_size": 4,
                               "max_completion_length": 640, "learning_rate": 2e-5, "allow_no_learning": True}
                              if args.grpo_steps else {"skip": True})
    print(trainer.plan())
    run = args.agent or trainer.run()
    trained = time.perf_counter() - start
    facts = RAGBaseline.from_files([data_dir() / "fictional_facts" / "docs"])
    from advisor import advise

    advice = advise({"description": "Answer questions about our documents", "needs_private_knowledge": True})
    docs = [data_dir() / "fictional_facts" / "docs"]
    arms = {"base": "default", "rag": advice.route(documents=docs, reader="none", output_dir=out / "route"),
            "rag+reader": advice.route(documents=docs, output_dir=out / "route"),
            "search agent": SearchAgent(facts, run, force_answer=args.force_answer,
                                         fresh_query=args.fresh_query)}
    arms = {label: arm for label, arm in arms.items() if label in args.arms.split(",")}
    stages = "SFT then GRPO" if args.grpo_steps or args.quick else "SFT alone"
    lines = [f"search agent trained in {trained:.0f} s ({len(train)} questions, {stages})\n"]
    for label, file in (("50 questions", "fictional_facts/qa.jsonl"), ("two-hop", "fictional_facts/qa_two_hop.jsonl")):
        test = example_rows(file)[:3 if args.quick else None]
        report = compare(test, arms, k=K, max_new_tokens=32, latency_samples=0 if args.quick else 2)
        report.write(out / label.replace(" ", "_"))
        judged = report.open_answers()
        lines.append(f"## {label} ({len(test)} questions)\n")
        lines.append(report.to_markdown())
        lines.append("Open answers, exact match: " + ", ".join(f"{arm} {judged[arm]['exact_match']:.3f}"
                                                                for arm in judged))
        for other in [arm for arm in ("rag+reader", "rag") if arm in arms and "search agent" in arms]:
            lines.append(f"search agent vs {other}, paired by exact match: "
                         f"{paired(report, 'search agent', other, judged='exact')}")
        lines.append("")
    lines.append(f"whole example: {time.perf_counter() - start:.0f} s")
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.md").write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))
    return out / "summary.md"


if __name__ == "__main__":
    main()
