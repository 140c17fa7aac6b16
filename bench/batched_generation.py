"""Batched against one-by-one generation of 100 short questions on the default model, one thread.

The test (tests/posttrain/evals/test_evals.py) checks that batching makes 2 calls instead of 100 with identical
outputs; the time each takes lives here.

    python -m bench.batched_generation
"""

from __future__ import annotations

import json
import sys
import time


def measure(prompts: int = 100, batch_size: int = 50) -> dict:
    """Seconds for QAAccuracy over `prompts` questions, batched and one by one, on one CPU thread."""
    import torch

    from posttrain import load_model
    from posttrain.evals import QAAccuracy

    torch.set_num_threads(1)
    model, tokenizer = load_model("default")
    rows = [{"question": f"What is {i} plus {i % 7}? Reply with the number only.", "answer": str(i + i % 7)}
            for i in range(prompts)]
    seconds = {}
    for label, size in (("batched", batch_size), ("one_by_one", 1)):
        start = time.perf_counter()
        QAAccuracy(rows, match="contains", max_new_tokens=4, batch_size=size).run(model, tokenizer)
        seconds[label] = round(time.perf_counter() - start, 2)
    return {"prompts": prompts, "batch_size": batch_size, "seconds": seconds,
            "speed_up": round(seconds["one_by_one"] / seconds["batched"], 2)}


if __name__ == "__main__":
    print(json.dumps(measure(), indent=2))
    sys.exit(0)
