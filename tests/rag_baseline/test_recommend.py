"""The comparison report's costs and its recommendation: which arm to deploy, on cases whose answer is known."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

FACTS = Path(__file__).resolve().parents[2] / "examples" / "data" / "fictional_facts"
QA = [json.loads(line) for line in (FACTS / "qa.jsonl").read_text().splitlines() if line.strip()]


def synthetic(marks: dict[str, list[bool]], costs: dict[str, dict] | None = None):
    """A ComparisonReport whose arms answered the same questions right/wrong as `marks` says."""
    from posttrain.evals.base import accuracy_result
    from rag_baseline.costs import ArmCost
    from rag_baseline.report import ComparisonReport

    results = {arm: {"qa_accuracy": accuracy_result("qa_accuracy", right, [{"prompt": f"q{i}", "correct": c}
                                                                           for i, c in enumerate(right)])}
               for arm, right in marks.items()}
    return ComparisonReport.from_results(results, {arm: arm for arm in marks}, {"k": 3},
                                         {arm: ArmCost(**c) for arm, c in (costs or {}).items()})


def right(n: int, of: int = 40, start: int = 0) -> list[bool]:
    return [start <= i < start + n for i in range(of)]


COSTS = {"base": {"seconds_per_answer": 0.2},
         "rag": {"index_seconds": 2.0, "seconds_per_answer": 0.25},
         "ft": {"train_seconds": 600.0, "seconds_per_answer": 0.2},
         "ft+rag": {"train_seconds": 600.0, "index_seconds": 2.0, "seconds_per_answer": 0.3}}


@pytest.mark.parametrize("wins, losses, p", [(9, 0, 2 / 2 ** 9), (3, 1, 2 * 5 / 16), (0, 0, 1.0), (1, 1, 1.0),
                                             (0, 6, 2 / 64)])
def test_sign_test_against_hand_worked_values(wins, losses, p):
    from rag_baseline.recommend import sign_test

    assert sign_test(wins, losses) == pytest.approx(p)


def test_a_costlier_arm_that_is_not_significantly_better_is_not_recommended():
    # ft scores best (29/40) against rag's 28: 4 questions only ft got right, 3 only rag: p = 1
    marks = {"base": right(2), "rag": right(28), "ft": right(29, start=3), "ft+rag": right(27)}
    report = synthetic(marks, COSTS)
    rec = report.recommendation()
    assert rec.best == "ft" and rec.arm == "rag"
    assert rec.order == ["base", "rag", "ft", "ft+rag"]          # 2000 < 2502 < 2600 < 3602 s at 10k answers
    evidence = {p.other: p for p in rec.evidence}
    assert (evidence["rag"].wins, evidence["rag"].losses) == (4, 3) and not evidence["rag"].significant()
    assert evidence["base"].significant()
    assert "Recommendation: `rag`" in report.to_markdown()
    assert "not significantly better than `rag`" in report.to_markdown()


def test_the_best_arm_is_recommended_when_it_beats_every_cheaper_arm():
    marks = {"base": right(2), "rag": right(24), "ft": right(20), "raft": right(38)}
    costs = {**COSTS, "raft": {"train_seconds": 50.0, "index_seconds": 2.0, "seconds_per_answer": 0.25}}
    rec = synthetic(marks, costs).recommendation()
    assert rec.arm == rec.best == "raft" and rec.order == ["base", "rag", "raft", "ft"]
    assert [p.other for p in rec.evidence] == ["base", "rag"] and all(p.significant() for p in rec.evidence)
    assert "significantly better than every cheaper arm" in rec.to_markdown()


def test_equal_arms_recommend_the_cheapest_and_serving_volume_changes_the_order():
    marks = {"rag": right(20), "ft": right(20)}
    costs = {"rag": {"index_seconds": 1.0, "seconds_per_answer": 1.0}, "ft": {"train_seconds": 100.0,
                                                                             "seconds_per_answer": 0.5}}
    report = synthetic(marks, costs)
    assert report.recommendation(answers=10).arm == "rag"        # 11 s vs 105 s
    assert report.recommendation(answers=10_000).arm == "ft"      # 10 001 s vs 5 100 s


def test_without_costs_the_arms_order_is_taken_as_cheapest_first():
    rec = synthetic({"a": right(10), "b": right(12), "c": right(30)}).recommendation()
    assert rec.order == ["a", "b", "c"] and rec.arm == "c"
    rec = synthetic({"a": right(10), "b": right(12, start=2)}).recommendation()      # 4 / 2 questions
    assert rec.arm == "a" and rec.best == "b"


def test_arm_costs_add_up_and_survive_the_json_round_trip():
    from rag_baseline.costs import ArmCost
    from rag_baseline.report import ComparisonReport

    cost = ArmCost(train_seconds=600.0, index_seconds=2.0, seconds_per_answer=0.5)
    assert cost.build_seconds == 602.0 and cost.total_seconds(100) == 652.0
    assert ArmCost().total_seconds(100) == 0.0 and math.isnan(ArmCost().latency_seconds)
    report = synthetic({"base": right(2), "rag": right(20)}, {"base": {}, "rag": {"index_seconds": 2.0}})
    again = ComparisonReport.from_dict(json.loads(report.to_json()))
    assert again.costs["rag"].index_seconds == 2.0 and math.isnan(again.costs["base"].seconds_per_answer)
    assert again.recommendation().arm == report.recommendation().arm == "rag"


class FakeRun:
    def __init__(self, folder):
        self.model_dir = folder
        self.stages = [type("Stage", (), {"seconds": 12.5})(), type("Stage", (), {"seconds": 7.5})()]


def test_compare_measures_build_and_serving_costs(tiny, tiny_dir):
    from rag_baseline import RAGBaseline, compare

    rag = RAGBaseline.from_files([FACTS / "docs"], chunk_size=300, chunk_overlap=30)
    rows = [row for row in QA if "options" not in row][:3] + [row for row in QA if "options" in row][:1]
    run = FakeRun(tiny_dir)
    report = compare(rows, {"base": tiny, "ft": run, "ft+rag": rag.with_model(run)}, k=2, max_new_tokens=2,
                     latency_samples=2)
    base, ft, both = (report.costs[name] for name in ("base", "ft", "ft+rag"))
    assert base.train_seconds is None and ft.train_seconds == both.train_seconds == 20.0
    assert rag.build_seconds > 0 and both.index_seconds == rag.build_seconds and ft.index_seconds is None
    assert base.chunks_per_answer == 0 and both.chunks_per_answer == 2.0
    assert both.retrieval_seconds_per_answer > 0 and base.retrieval_seconds_per_answer == 0
    assert both.prompt_tokens_per_answer > base.prompt_tokens_per_answer + 50    # the context is paid for
    assert all(c.seconds_per_answer > 0 and c.latency_seconds > 0 for c in report.costs.values())
    markdown = report.to_markdown()
    assert markdown.index("| prompt tokens / answer |") < markdown.index("**Recommendation: `")


def test_latency_samples_must_be_a_whole_number(tiny):
    from posttrain.errors import ConfigError
    from rag_baseline import compare

    with pytest.raises(ConfigError, match="latency_samples"):
        compare(QA[:1], {"base": tiny}, latency_samples=-1)


def test_the_report_judges_open_answers_three_ways_and_pairs_arms_by_exact_match():
    from posttrain.evals import QAAccuracy
    from rag_baseline.recommend import paired
    from rag_baseline.report import ComparisonReport

    rows = [{"question": f"q{i}", "answer": f"answer {i}"} for i in range(4)]
    ev = QAAccuracy(rows)
    replies = {"lister": [f"answer {i}, answer {i + 1} or answer {i + 2}" for i in range(4)],
               "reader": [f"Answer {i}." if i < 3 else "no idea" for i in range(4)]}
    report = ComparisonReport.from_results({arm: {"qa_accuracy": ev.score(out)} for arm, out in replies.items()},
                                           {arm: arm for arm in replies}, {"k": 3, "match": "contains"})
    judged = report.open_answers()
    assert judged["lister"]["appears"] == 1.0 and judged["lister"]["exact_match"] == 0.0
    assert judged["reader"] == {"appears": 0.75, "exact_match": 0.75, "f1": 0.75}
    assert "| lister | 1.000 | 0.000 |" in report.to_markdown()
    assert (paired(report, "lister", "reader").wins, paired(report, "lister", "reader").losses) == (1, 0)
    strict = paired(report, "reader", "lister", judged="exact")
    assert (strict.wins, strict.losses) == (3, 0)
