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


@pytest.mark.slow
def test_quality_bench_quick_pairs_both_sides_on_the_same_rows_and_scores_the_held_out_set(tmp_path):
    out = tmp_path / "quality-quick.json"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "bench", "quality", "--quick", "--cases", "variable", "--repeats", "2",
                           "--out", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert set(report["cases"]) == {"variable"} and report["machine"]["gflops_bf16"] > 0
    for case, result in report["cases"].items():
        settings, runs = result["settings"], result["runs"]
        assert [r["side"] for r in runs] == ["trl", "posttrain", "posttrain", "trl"], case     # alternated
        trl, ours = runs[0], runs[1]
        # the same rows in the same order: each TRL batch has one more label a row (the newline after end-of-turn)
        common = settings["steps"]
        assert [b["labels"] - settings["batch"] for b in trl["batches"][:common]] == \
               [b["labels"] for b in ours["batches"][:common]], case
        for run in runs:     # held-out scored before training and every eval_every steps
            assert [point[0] for point in run["heldout"]][:2] == [0, settings["eval_every"]]
            assert run["heldout"][0][2] == pytest.approx(runs[0]["heldout"][0][2])      # same start, same scorer
            assert len(run["clock"]) == len(run["batches"]) and run["peak_rss_gib"] > 0
        assert all(b["positions"] == b["tokens"] for b in ours["batches"])       # padding-free on CPU
        medians = result["medians"]
        assert medians["steady_tokens_per_s_ratio"]["n"] == 2 and medians["memory_ratio"]["median"] > 0
    assert report["cases"]["variable"]["medians"]["trl_padding_share"]["median"] > 0
    assert "time to TRL's final held-out loss" in done.stdout


@pytest.mark.slow
def test_the_gpu_run_quick_runs_every_case_and_writes_each_one(tmp_path):
    """The GPU script's cases on tiny shapes on this device (the QLoRA case needs CUDA and bitsandbytes)."""
    out = tmp_path / "gpu-run-quick.json"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "bench", "gpu-run", "--quick", "--out", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(out.read_text())
    from bench.gpu_run import CASES

    assert list(report["cases"]) == list(CASES)
    quality, sampling = report["cases"]["quality@1b"], report["cases"]["sampling@135m"]
    assert quality["memory_ratio"] > 0 and quality["steady_tokens_per_s_ratio"] > 0
    assert set(quality["floors"]) == {"time_to_quality_ratio", "memory_ratio"}
    assert report["cases"]["quality@1b+padding_free"]["report"]["posttrain_settings"] == {"padding_free": True}
    assert sampling["tokens_per_s_ratio"] > 0 and sampling["step_over_bound"] > 0
    import torch

    if not torch.cuda.is_available():
        assert "skipped" in report["cases"]["qlora@8b"]
    assert sum(line.startswith(CASES) for line in done.stdout.splitlines()) == len(CASES)   # one line a case
