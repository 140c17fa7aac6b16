"""The benchmark runs end to end in --quick mode and reports its ratios (it is not a speed test)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_quick_bench_writes_ratios_for_every_case(tmp_path):
    out = tmp_path / "quick.json"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run([sys.executable, "-m", "bench", "run", "--quick", "--only", "sft,dpo,grpo",
                           "--out", str(out)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["machine"]["gflops_fp32"] > 0
    assert set(report["cases"]) == {"sft_full", "sft_lora", "dpo_lora", "grpo_lora"}
    for case, result in report["cases"].items():
        assert result["ratios"]["speed"] > 0 and result["ratios"]["memory"] > 0, case
        for side in ("trl", "posttrain"):
            assert result[side]["peak_rss_gib"] > 0 and result[side]["curve_" + (
                "reward" if case.startswith("grpo") else "loss")], (case, side)
    assert report["cases"]["grpo_lora"]["ratios"]["generation"] > 0
    assert 0 < report["cases"]["sft_full"]["posttrain"]["ceiling_fraction"]
    assert "posttrain" in done.stdout and "ratio" in done.stdout     # the printed table


@pytest.mark.slow
def test_gpu_bench_quick_runs_every_case_on_this_device(tmp_path):
    out = tmp_path / "gpu-quick.json"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run([sys.executable, "-m", "bench", "run", "--gpu", "--quick", "--out", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(out.read_text())
    from bench.gpu import CASES, FLOORS, variant_available

    expected = [case for case in dict.fromkeys(CASES) if variant_available(case)]
    assert report["machine"]["device"] and list(report["cases"]) == expected
    for case, result in report["cases"].items():
        assert result["ratios"]["speed"] > 0 and result["ratios"]["memory"] > 0, case
        assert set(result["floors"]) == set(FLOORS[case.split("+")[0]])
        assert all(f["measured"] is not None for f in result["floors"].values()), case
        key = "curve_reward" if case.startswith("grpo") else "curve_loss"
        assert result["trl"][key] and result["posttrain"][key], case
