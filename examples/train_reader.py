"""Retrain the shipped RAG reader (`rag_baseline/readers/default/`) and rewrite its record.

    python examples/train_reader.py                  # ~20 min on 2 CPU cores: train, then export
    python examples/train_reader.py --export-only    # export an existing run's model again
    python examples/train_reader.py --checkpoint runs/reader/01-sft/checkpoints/checkpoint-25   # a stopped run

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
    args = parser.parse_args(argv)
    out = Path(args.output_dir)
    if args.checkpoint:
        from rag_baseline.reader import export_adapter, merge_checkpoint

        step = Path(args.checkpoint).name.rsplit("-", 1)[-1]
        merged = merge_checkpoint(Path(args.checkpoint), out / f"merged-{step}")
        record = export_adapter(merged, Path(args.to), note=f"the run's LoRA checkpoint at step {step}, "
                                "exported before the stage's end")
        print(f"wrote {args.to} from {args.checkpoint}: adapter sha256 {record['adapter_sha256'][:12]}")
        return Path(args.to)
    if not args.export_only:
        result = reader_pipeline(output_dir=out).run()
        print(f"trained: {result.model_dir}")
    from rag_baseline.reader import export_adapter

    record = export_adapter(out, Path(args.to))
    print(f"wrote {args.to}: adapter sha256 {record['adapter_sha256'][:12]}, corpus sha256 "
          f"{record['corpus_sha256'][:12]}")
    return Path(args.to)


if __name__ == "__main__":
    main()
