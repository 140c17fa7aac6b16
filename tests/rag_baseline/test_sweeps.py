"""Sweeps as one call: accuracy against retrieval depth k and against paraphrases per document."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from posttrain.errors import ConfigError

FACTS = Path(__file__).resolve().parents[2] / "examples" / "data" / "fictional_facts"
OPEN = [json.loads(line) for line in (FACTS / "qa.jsonl").read_text().splitlines() if "options" not in line]


def report_with(marks: dict[str, list[bool]]):
    from posttrain.evals.base import accuracy_result
    from rag_baseline.report import ComparisonReport

    return ComparisonReport.from_results(
        {arm: {"qa_accuracy": accuracy_result("qa_accuracy", m, [{"prompt": str(i), "correct": c}
                                                                for i, c in enumerate(m)])}
         for arm, m in marks.items()}, {}, {})


def test_sweep_report_table_trend_plot_and_round_trip(tmp_path):
    from rag_baseline.sweeps import SweepReport

    low = [True] * 2 + [False] * 18
    mid = [True] * 8 + [False] * 12
    high = [False] + [True] * 15 + [False] * 4          # gains 14 questions, loses question 0
    sweep = SweepReport("paraphrases", [0, 2, 4], [report_with({"ft": m}) for m in (low, mid, high)])
    assert [round(s[0], 2) for s in sweep.scores("ft")] == [0.1, 0.4, 0.75]
    trend = sweep.trend("ft")
    assert (trend.wins, trend.losses) == (14, 1) and trend.significant()
    markdown = sweep.to_markdown("sweep.png")
    assert "| paraphrases | ft |" in markdown and "| 4 | 0.750 [" in markdown
    assert "14 / 1 questions" in markdown and "![accuracy against paraphrases](sweep.png)" in markdown
    paths = sweep.write(tmp_path)
    assert paths["plot"].read_bytes().startswith(b"\x89PNG")
    again = SweepReport.from_dict(json.loads(paths["json"].read_text()))
    assert again.values == [0, 2, 4] and again.scores("ft") == sweep.scores("ft")


def test_sweep_k_compares_every_arm_at_each_depth_and_lands_in_the_report(tiny, tmp_path):
    from rag_baseline import RAGBaseline, compare, sweep_k

    rag = RAGBaseline.from_files([FACTS / "docs"], chunk_size=300, chunk_overlap=30)
    rows = OPEN[:2]
    sweep = sweep_k(rows, {"base": tiny, "rag": (rag, tiny)}, ks=[3, 1], max_new_tokens=2)
    assert sweep.parameter == "k" and sweep.values == [1, 3] and sweep.arms == ["base", "rag"]
    assert [r.settings["k"] for r in sweep.reports] == [1, 3]
    assert [r.costs["rag"].chunks_per_answer for r in sweep.reports] == [1.0, 3.0]
    assert [r.costs["base"].chunks_per_answer for r in sweep.reports] == [0.0, 0.0]
    assert math.isnan(sweep.reports[0].costs["rag"].latency_seconds)          # sweeps skip the latency runs
    report = compare(rows, {"base": tiny, "rag": (rag, tiny)}, max_new_tokens=2, latency_samples=0)
    paths = report.write(tmp_path, sweeps=[sweep])
    markdown = paths["markdown"].read_text()
    assert markdown.index("**Recommendation") < markdown.index("### Accuracy against k")
    assert "![accuracy against k](sweep_k.png)" in markdown and (tmp_path / "sweep_k.png").exists()


def test_sweep_paraphrases_trains_one_model_per_count_with_the_same_settings(tiny_dir, tmp_path, monkeypatch):
    import rag_baseline.knowledge as knowledge
    from rag_baseline import RAGBaseline, sweep_paraphrases

    planned = []

    class Plan:
        def __init__(self, **kwargs):
            planned.append(kwargs)

        def run(self):
            return type("Run", (), {"model_dir": tiny_dir, "stages": []})()

    monkeypatch.setattr(knowledge, "knowledge_pipeline", lambda documents, qa_rows, **kw: Plan(docs=documents, **kw))
    rag = RAGBaseline.from_texts(["Quellmoor's capital is Brannock Harbour."])
    sweep = sweep_paraphrases(["Quellmoor's capital is Brannock Harbour."], OPEN[:1], counts=[4, 0],
                              rag=rag, output_dir=tmp_path, pretrain={"epochs": 2}, max_new_tokens=2)
    assert [p["paraphrases"] for p in planned] == [0, 4]
    assert [p["output_dir"] for p in planned] == [tmp_path / "paraphrases-0", tmp_path / "paraphrases-4"]
    assert all(p["pretrain"] == {"epochs": 2} and p["model"] == "default" for p in planned)
    assert sweep.parameter == "paraphrases" and sweep.arms == ["fine-tuned", "fine-tuned+rag"]


@pytest.mark.parametrize("values", [[0, 1], [], [2, 2], ["3"], [True]])
def test_bad_sweep_values_are_errors(values):
    from rag_baseline import sweep_k

    with pytest.raises(ConfigError, match="ks: got"):
        sweep_k(OPEN[:1], {"base": "default"}, ks=values)
