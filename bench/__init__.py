"""Benchmark: posttrain against plain TRL on the same data, batch size and learning rate.

    python -m bench run            # full run on the default model (~15 minutes on 2 cores)
    python -m bench run --quick    # tiny model, a few steps: proves the bench works

Every case runs in its own process (clean peak memory), the plain TRL run and the posttrain run
back to back, and the table reports their ratios.
"""
