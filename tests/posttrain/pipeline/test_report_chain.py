"""The chain at a glance: every eval's score with its interval on the base model and after each stage, as a
picture and a table at the top of the report, each stage's own eval marked."""

from __future__ import annotations

from posttrain.evals import wilson_interval
from posttrain.pipeline.report import write_report
from posttrain.pipeline.report_chain import chain_points, chain_section
from tests.posttrain.pipeline.test_report_html import fake_run


def test_points_are_the_base_model_then_each_stage():
    run = fake_run(__import__("pathlib").Path("/nowhere"))
    points = chain_points(run)
    assert [(p.label, p.kind) for p in points] == [("base model", ""), ("after 01-sft", "sft"),
                                                   ("after 02-dpo", "dpo")]
    assert [p.results["identity"]["score"] for p in points] == [0.0, 0.0, 0.45]


def test_table_holds_every_eval_with_its_interval_and_bolds_each_stages_own(tmp_path):
    targets = {"sft": "policy", "dpo": "identity"}
    lines = chain_section(fake_run(tmp_path), tmp_path / "plots", tmp_path, targets=targets)
    assert lines[0].startswith("![") and lines[0].endswith("(plots/chain.png)")
    assert (tmp_path / "plots" / "chain.png").read_bytes()[:4] == b"\x89PNG"
    table = {line.split(" | ")[0].lstrip("| "): line for line in lines if line.startswith("| ")}
    low, high = wilson_interval(18, 20)
    assert table["policy ↑"] == (f"| policy ↑ | 0.00 [0.00, {wilson_interval(0, 20)[1]:.2f}] | "
                                 f"**0.90 [{low:.2f}, {high:.2f}]** | 0.90 [{low:.2f}, {high:.2f}] |")
    assert table["identity ↑"].endswith(f"| **0.45 [{wilson_interval(9, 20)[0]:.2f}, "
                                        f"{wilson_interval(9, 20)[1]:.2f}]** |")
    assert "| eval | base model | after 01-sft | after 02-dpo |" in lines
    assert any("sft → policy, dpo → identity" in line for line in lines)


def test_a_run_report_opens_with_the_chain(tmp_path):
    report = write_report(fake_run(tmp_path), tmp_path / "report.md")
    text = report.read_text(encoding="utf-8")
    assert text.index("report_plots/chain.png") < text.index("\n## 01-sft")
    assert report.with_suffix(".html").read_text(encoding="utf-8").count("<img ") == text.count("![")


def test_a_run_without_evals_has_no_chain(tmp_path):
    run = fake_run(tmp_path)
    for stage in run.stages:
        stage.evals = {}
    assert chain_section(run, tmp_path, tmp_path) == []
