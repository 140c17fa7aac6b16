"""posttrain.pipeline.report: each stage's curves come from its method's spec."""

from __future__ import annotations

from posttrain.pipeline.report import stage_plots


def test_each_method_titles_its_own_curves():
    titles = {kind: [plot.title for plot in stage_plots(kind)] for kind in ("sft", "dpo", "kto", "grpo", "rloo")}
    assert titles["sft"] == ["training loss", "learning rate"]
    assert "DPO reward margin / accuracy" in titles["dpo"] and "KTO reward margin / accuracy" in titles["kto"]
    assert "GRPO mean reward and spread" in titles["grpo"] and "RLOO mean reward and spread" in titles["rloo"]
    assert not any("DPO" in title or "GRPO" in title for title in titles["kto"] + titles["rloo"])
    assert [plot.name for plot in stage_plots("rloo")] == ["loss", "rloo_reward", "learning_rate"]


def test_a_kind_no_longer_registered_keeps_loss_and_learning_rate():
    assert [plot.name for plot in stage_plots("retired")] == ["loss", "learning_rate"]
