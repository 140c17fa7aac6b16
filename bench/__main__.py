"""`python -m bench run [--quick] [--only sft,dpo,grpo,rag] [--out bench/results/NAME.json]`;
`python -m bench quality [--quick] [--cases variable,uniform] [--repeats 2]` (bench/quality.py)."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description="posttrain vs plain TRL, side by side")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the benchmark and print the ratio table")
    run.add_argument("--quick", action="store_true", help="tiny model, two steps a case (to check it works)")
    run.add_argument("--only", default="sft,dpo,grpo,rag", help="comma-separated: sft, dpo, grpo, rag")
    run.add_argument("--out", default=None, help="JSON path (default bench/results/quick.json or full.json)")
    run.add_argument("--model", default="default", help="model to train (full runs; --quick builds a tiny one)")
    run.add_argument("--reverse", action="store_true", help="swap each case's order (a second run with it "
                     "makes an alternating ABAB pair)")
    run.add_argument("--gpu", action="store_true", help="GPU-sized cases on random-init 135M, 1.07B and 8B shapes "
                     "(with --quick: tiny versions of the same cases, on any device, in-process)")
    quality = commands.add_parser("quality", help="SFT time to plain TRL's held-out loss, pairs alternated")
    quality.add_argument("--quick", action="store_true", help="tiny model, two steps a case (to check it works)")
    quality.add_argument("--cases", default="variable,uniform", help="comma-separated: variable, uniform")
    quality.add_argument("--repeats", type=int, default=2, help="pairs per case, alternating which side runs first")
    quality.add_argument("--out", default=None, help="JSON path (default bench/measured/quality-cpu.json)")
    quality.add_argument("--model", default="default")
    quality.add_argument("--posttrain", default="{}", help="JSON of posttrain SFT settings (e.g. a variant)")
    quality.add_argument("--profile", default="cpu", choices=["cpu", "gpu"], help="gpu: 16 rows a step")
    gpu_run = commands.add_parser("gpu-run", help="every GPU case of the speed work in one short run (bench/gpu_run.py)")
    gpu_run.add_argument("--quick", action="store_true", help="tiny shapes on this device (CPU included)")
    gpu_run.add_argument("--budget-s", type=float, default=480.0, help="no case starts that could end past this")
    gpu_run.add_argument("--out", default=None, help="JSON path (default bench/results/gpu-run.json)")
    qlora = commands.add_parser("qlora-peak", help="(internal) 8B QLoRA peak GPU memory against plan()'s estimate")
    qlora.add_argument("--model", required=True)
    qlora.add_argument("--out", required=True)
    qlora.add_argument("--quick", action="store_true")
    sampling = commands.add_parser("sampling", help="GRPO's sampling: TRL's path, posttrain's, the bandwidth bound")
    sampling.add_argument("--quick", action="store_true")
    sampling.add_argument("--repeats", type=int, default=4)
    sampling.add_argument("--out", default=None, help="JSON path (default bench/measured/sampling-cpu.json)")
    sampling.add_argument("--model", default="default")
    side = commands.add_parser("quality-side", help="(internal) one side of a quality case in this process")
    side.add_argument("side", choices=["trl", "posttrain"])
    side.add_argument("--settings", required=True)
    side.add_argument("--model", required=True)
    side.add_argument("--posttrain", default="{}")
    side.add_argument("--result", required=True)
    case = commands.add_parser("case", help="(internal) one case in this process")
    case.add_argument("name")
    case.add_argument("impl", choices=["trl", "posttrain"])
    case.add_argument("--model", required=True)
    case.add_argument("--result", required=True)
    case.add_argument("--quick", action="store_true")
    case.add_argument("--profile", default="cpu", choices=["cpu", "gpu"])
    args = parser.parse_args(argv)
    if args.command == "gpu-run":
        from bench.gpu_run import run_gpu_cases

        return run_gpu_cases(args.quick, args.out or f"bench/results/gpu-run{'-quick' if args.quick else ''}.json",
                             args.budget_s)
    if args.command == "qlora-peak":
        from bench.gpu_run import qlora_peak

        return qlora_peak(args.model, args.out, args.quick)
    if args.command == "sampling":
        from bench.sampling import run_sampling

        out = args.out or ("bench/results/sampling-quick.json" if args.quick else "bench/measured/sampling-cpu.json")
        return run_sampling(args.quick, args.repeats, out, args.model)
    if args.command in ("quality", "quality-side"):
        import json

        from bench import quality as q

        if args.command == "quality-side":
            result = q.run_side(args.side, json.loads(args.settings), args.model, json.loads(args.posttrain))
            from pathlib import Path

            Path(args.result).write_text(json.dumps(result))
            return 0
        out = args.out or ("bench/results/quality-quick.json" if args.quick else "bench/measured/quality-cpu.json")
        cases = [c.strip() for c in args.cases.split(",") if c.strip()]
        return q.run_quality(cases, args.quick, args.repeats, out, args.model, json.loads(args.posttrain), args.profile)
    if args.command == "case":
        from bench.cases import run_case
        from bench.measure import write_case_result

        write_case_result(run_case(args.name, args.impl, args.model, args.quick, args.profile), args.result)
        return 0
    if args.gpu:
        from bench.gpu import run_gpu_suite

        return run_gpu_suite(quick=args.quick, out=args.out or f"bench/results/gpu{'-quick' if args.quick else ''}.json")
    from bench.suite import run_suite

    only = {part.strip() for part in args.only.split(",") if part.strip()}
    out = args.out or f"bench/results/{'quick' if args.quick else 'full'}.json"
    return run_suite(quick=args.quick, only=only, out=out, model=args.model, reverse=args.reverse)


if __name__ == "__main__":
    sys.exit(main())
