"""Retrain the shipped RAG reader (`rag_baseline/readers/default/`) and rewrite its record.

    python examples/train_reader.py                  # ~40 min on 2 CPU cores (1 thread): train, then export
    python examples/train_reader.py --export-only    # export an existing run's model again
    python examples/train_reader.py --checkpoint runs/reader/01-sft/checkpoints/checkpoint-25   # a stopped run
    python examples/train_reader.py --start-from shipped --steps 45 --learning-rate 5e-4 --rank 16
                                     # a second round on top of the shipped reader (both adapters kept: r=16)

The run trains LoRA on RAFT's rows over `examples/data/reading` (`rag_baseline.reader.reader_pipeline`) and
saves the merged model; the adapter is the merged model's difference from the base, which has the adapter's
rank, factored back into LoRA's A and B (an SVD, exact up to float rounding) and saved in PEFT's format.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rag_baseline.reader import READER_DIR, reader_pipeline


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description="Retrain the shipped RAG reader adapter.")
    parser.add_argument("--output-dir", default="runs/reader")
    parser.add_argument("--export-only", action="store_true", help="export the model already in --output-dir")
    parser.add_argument("--to", default=str(READER_DIR), help="where the adapter and its record go")
    parser.add_argument("--checkpoint", help="export this LoRA checkpoint of the run (checkpoints/checkpoint-N) "
                        "instead of its finished model, e.g. for a run stopped before the end")
    parser.add_argument("--start-from", help="train on top of a reader adapter folder (adapter and record.json, "
                        "e.g. a copy of the shipped one), or 'shipped': a second round of training")
    parser.add_argument("--steps", type=int, help="optimizer steps (default: one epoch)")
    parser.add_argument("--learning-rate", type=float, help="peak learning rate (default: the recipe's)")
    parser.add_argument("--save-steps", type=int, default=5, help="checkpoint interval, so a stopped run leaves one")
    parser.add_argument("--rank", type=int, help="rank of the exported adapter (default: the recipe's r; "
                        "2r keeps two rounds exactly)")
    args = parser.parse_args(argv)
    out = Path(args.output_dir)
    rounds = _rounds(args)
    if args.checkpoint:
        from rag_baseline.reader import export_adapter, merge_checkpoint

        step = Path(args.checkpoint).name.rsplit("-", 1)[-1]
        merged = merge_checkpoint(Path(args.checkpoint), out / f"merged-{step}", base_model=_start(args.start_from))
        record = export_adapter(merged, Path(args.to), note=f"the run's LoRA checkpoint at step {step}, "
                                "exported before the stage's end", rank=args.rank, extra=rounds)
        print(f"wrote {args.to} from {args.checkpoint}: adapter sha256 {record['adapter_sha256'][:12]}")
        return Path(args.to)
    if not args.export_only:
        sft = {"save_steps": args.save_steps, **({"max_steps": args.steps} if args.steps else {}),
               **({"learning_rate": args.learning_rate} if args.learning_rate else {})}
        result = reader_pipeline(model=_start(args.start_from), output_dir=out, sft=sft).run()
        print(f"trained: {result.model_dir}")
    from rag_baseline.reader import export_adapter

    record = export_adapter(out, Path(args.to), rank=args.rank, extra=rounds)
    print(f"wrote {args.to}: adapter sha256 {record['adapter_sha256'][:12]}, corpus sha256 "
          f"{record['corpus_sha256'][:12]}")
    return Path(args.to)


def _start(start_from: str | None) -> str:
    """The model a round trains: the default model, or it with an earlier reader adapter merged in."""
    if not start_from:
        return "default"
    from rag_baseline.reader import reader_model

    return reader_model(READER_DIR if start_from == "shipped" else Path(start_from))


def _rounds(args: argparse.Namespace) -> dict:
    """What the record says of a run trained on top of an earlier reader: the adapter it started from."""
    if not args.start_from:
        return {}
    from rag_baseline.reader import reader_record

    first = reader_record(READER_DIR if args.start_from == "shipped" else Path(args.start_from))
    return {"started_from": {"adapter_sha256": first["adapter_sha256"], "corpus_sha256": first["corpus_sha256"],
                             **({"note": first["note"]} if "note" in first else {})},
            "round": {"max_steps": args.steps, "learning_rate": args.learning_rate}}


if __name__ == "__main__":
    main()
