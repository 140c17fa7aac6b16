"""The demo's parts that need no training: its sizes, its plan and estimate, the CPU bf16 switch, the chain
it routes, and its report (one before/after table per stage, the summary, the HTML page)."""

from __future__ import annotations

import json
import re

import pytest

from posttrain_demo.demo import (FULL, GRPO_HELDOUT, QUICK, TARGETS, estimate_seconds, print_plan, run_verdict,
                                 write_demo_report)
from tests.posttrain.pipeline.test_report_html import fake_run


def test_full_demo_evals_have_at_least_20_items_and_fit_the_held_out_files():
    from posttrain_demo.examples import data_dir

    files = {"policy_compliance": "policy_heldout.jsonl", "identity": "identity_heldout.jsonl",
             "math_accuracy": GRPO_HELDOUT, TARGETS["grpo"]: GRPO_HELDOUT}
    for name, (items, tokens) in FULL.evals.items():
        held_out = (data_dir() / files[name]).read_text(encoding="utf-8").count("\n")
        assert 20 <= items <= held_out, (name, items, held_out)
        assert tokens <= 40, f"{name}: {tokens} new tokens; the demo's answers are one sentence"
    assert set(TARGETS.values()) <= set(FULL.evals)


def test_grpos_own_eval_is_avg_at_k_at_the_stages_temperature_and_greedy_is_shown_too():
    from rich.console import Console

    from posttrain_demo.demo import demo_evals

    evals = {ev.name: ev.inner for ev in demo_evals(FULL, Console(quiet=True))}
    own = evals[TARGETS["grpo"]]
    assert own.samples >= 4 and own.temperature == FULL.grpo["temperature"]
    assert own.batch_size >= FULL.evals[own.name][0] * own.samples            # one batch of every sample
    assert evals["math_accuracy"].temperature == 0 and evals["math_accuracy"].items == own.items


def test_estimate_uses_the_machines_bf16_mode_and_shrinks_with_more_cores():
    without, native = estimate_seconds(FULL, bf16=False, cores=2), estimate_seconds(FULL, bf16=True, cores=2)
    assert sum(without.values()) > sum(native.values())
    assert sum(estimate_seconds(FULL, bf16=False, cores=8).values()) < sum(without.values())
    assert estimate_seconds(FULL, bf16=False, cores=1) == without       # never promised below the reference
    assert estimate_seconds(QUICK, bf16=False, cores=2) == {}


@pytest.mark.parametrize("flag, expected", [("0", False), ("1", True)])
def test_cpu_bf16_switch(monkeypatch, flag, expected):
    from posttrain.device import cpu_has_native_bf16
    from posttrain_demo.examples import machine_line

    monkeypatch.setenv("POSTTRAIN_CPU_BF16", flag)
    assert cpu_has_native_bf16() is expected
    assert ("no native bf16 (fp32)" in machine_line()) is not expected


def test_plan_says_what_runs_on_which_machine_and_how_long(monkeypatch):
    from rich.console import Console

    monkeypatch.setenv("POSTTRAIN_CPU_BF16", "0")
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    console = Console(record=True, width=120)
    total = print_plan(console, FULL, quick=False)
    text = console.export_text()
    assert f"SFT {FULL.sft['max_steps']} steps" in text and f"math_accuracy ({FULL.evals['math_accuracy'][0]} items)" in text
    assert "2 CPU cores, no native bf16 (fp32)" in text
    assert total == sum(estimate_seconds(FULL, bf16=False, cores=2).values())
    assert f"estimate: about {total / 60:.1f} min here" in text


def test_routed_chain_trains_the_tutor_in_the_house_style(tmp_path):
    from advisor import advise
    from posttrain_demo.demo import SPECS, routed_chain

    trainer = routed_chain(advise(SPECS["tutor"]), tmp_path, FULL)
    assert [s.kind for s in trainer.stages] == ["sft", "dpo", "grpo"]
    assert [s.settings.max_steps for s in trainer.stages] == [FULL.sft["max_steps"], FULL.dpo["max_steps"],
                                                              FULL.grpo["max_steps"]]
    assert trainer.evals.names == list(FULL.evals)
    assert [len(rows) for rows in trainer.validate()] == [FULL.sft["rows"], FULL.dpo["rows"], FULL.grpo["rows"]]


class FakeComparison:
    def __init__(self, scores: dict[str, float]) -> None:
        from posttrain.evals import EvalResult

        self.scores = {name: EvalResult(name, score, 20, (0.0, 1.0)) for name, score in scores.items()}

    def to_markdown(self) -> str:
        return "| arm | all |\n|---|---|\n" + "".join(f"| {n} | {r.score} |\n" for n, r in self.scores.items())


def test_demo_report_has_one_table_per_stage_a_summary_and_an_html_page(tmp_path):
    from advisor import advise
    from posttrain_demo.demo import SPECS

    import shutil

    from posttrain.pipeline.report import write_report

    run = fake_run(tmp_path)
    (tmp_path / "rag").mkdir()
    write_report(run, tmp_path / "chain.md")                       # any PNG will do for the RAG plot
    shutil.copy(next((tmp_path / "chain_plots").glob("*.png")), tmp_path / "rag" / "report.png")
    report = write_demo_report(tmp_path, run, {"tutor": advise(SPECS["tutor"])}, FakeComparison({"base": 0.0,
                                                                                                  "rag": 0.6}), 275)
    text = report.read_text(encoding="utf-8")
    assert text.count("| eval | before | after |") == len(run.stages)
    assert text.startswith("# posttrain demo: 1 of 2 stages moved their own eval, no regressions")
    assert "Took 4.6 min" in text and "CPU core" in text
    assert text.count("**What this shows:**") == 2 + len(run.stages)
    assert text.index("report_plots/chain.png") < text.index("## 1. Advice")          # the chain at the top
    page = report.with_suffix(".html").read_text(encoding="utf-8")
    assert page.count("<img ") == len(re.findall(r"!\[", text)) and 'src="data:image/png' in page


def test_run_verdict_counts_only_each_stages_own_eval(tmp_path):
    run = fake_run(tmp_path)
    assert run_verdict(run).startswith("1 of 2 stages moved their own eval")     # identity only: DPO's own
    for stage in run.stages:                  # the fake SFT's eval renamed to the demo's policy eval
        stage.evals = json.loads(json.dumps(stage.evals).replace('"policy"', '"policy_compliance"'))
    assert run_verdict(run) == "2 of 2 stages moved their own eval, no regressions; gate: SHIP"
