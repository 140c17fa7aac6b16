"""A method is one module: a plug-in registered by one line is known to the Trainer, YAML pipelines,
plan(), validate(), the runner, the report and the advisor, with no other edit."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

from posttrain import Trainer
from posttrain.data import DataFormat
from posttrain.errors import PosttrainError
from posttrain.stages import STAGES, unregister

ROWS = [{"prompt": f"Say {word}.", "completion": f"{word} {word} {word}."}
        for word in ("apple", "river", "stone", "cloud", "green", "seven", "north", "quiet")]


@pytest.fixture()
def imitate():
    """The plug-in module, imported (so registered) for one test and removed after it."""
    sys.modules.pop("tests.plugins.imitate", None)
    module = importlib.import_module("tests.plugins.imitate")
    yield module
    unregister("imitate")
    sys.modules.pop("tests.plugins.imitate", None)


def test_the_plugin_registers_with_one_line_and_leaves_with_one(imitate):
    assert STAGES["imitate"] is imitate.SPEC
    unregister("imitate")
    assert "imitate" not in STAGES
    STAGES["imitate"] = imitate.SPEC                 # the fixture removes it again


def test_a_plugin_method_runs_end_to_end_from_python_and_yaml(imitate, tiny_dir, tmp_path):
    chained = Trainer(tiny_dir, output_dir=tmp_path / "run").imitate(ROWS, max_steps=6, batch_size=4)
    from_yaml = Trainer.from_dict({"model": str(tiny_dir), "output_dir": str(tmp_path / "run"),
                                   "stages": [{"kind": "imitate", "data": ROWS, "max_steps": 6, "batch_size": 4}]})
    assert chained == from_yaml
    assert "kind: imitate" in chained.to_yaml()

    plan = chained.plan()
    assert [s.kind for s in plan.stages] == ["imitate"] and plan.stages[0].name == "01-imitate"
    assert "imitate" in str(plan)
    [data] = chained.validate()
    assert data.format is DataFormat.PROMPT_COMPLETION and len(data) == len(ROWS)

    run = chained.run(progress=False)
    [stage] = run.stages
    losses = [entry["loss"] for entry in stage.history if "loss" in entry]
    assert stage.kind == "imitate" and losses[-1] < losses[0]          # the default rate (1e-3) is its own
    assert (Path(run.model_dir) / "model.safetensors").exists()
    report = Path(run.report(tmp_path / "report.md")).read_text(encoding="utf-8")
    assert "01-imitate" in report and "| loss" in report                 # its stage row shows its main curve
    assert (tmp_path / "report_plots" / "01-imitate_loss.png").is_file()


def test_a_plugin_method_with_bad_settings_is_refused_like_a_builtin(imitate, tiny_dir, tmp_path):
    with pytest.raises(PosttrainError) as err:
        Trainer(tiny_dir, output_dir=tmp_path / "run").imitate(ROWS, epochs=-1)
    assert "stage 1 (imitate)" in str(err.value) and "epochs" in str(err.value)
    assert not (tmp_path / "run").exists()


def test_the_advisor_knows_a_plugin_method_from_its_registry_entry(imitate, tmp_path):
    from advisor import advise

    rec = advise({"description": "copy our answers", "must_be_reliable": True}, datasets=ROWS)
    assert rec.stages == ["imitate"]
    assert rec.datasets_info[0].stage == "imitate" and rec.spec.rows_for("imitate") == len(ROWS)
    assert any(reason.rule == "imitate-from-data" and "8 rows for imitate" in reason.message
               for reason in rec.reasons)
    assert rec.compute is not None and rec.compute.stages[0].stage == "imitate"
    trainer = rec.route(output_dir=tmp_path / "advised")
    assert [stage.kind for stage in trainer.stages] == ["imitate"]


def test_the_advisors_rule_tables_read_after_a_plugin_registers_include_it(imitate):
    import advisor
    from advisor import rules

    for table in (advisor.RULES, rules.RULES, rules.STAGE_RULES):
        assert "imitate-from-data" in {rule.id for rule in table}
    assert "imitate" in rules.stage_order()
    with pytest.warns(FutureWarning, match="renamed stage_order"):
        assert "imitate" in rules.STAGES
    unregister("imitate")
    assert "imitate-from-data" not in {rule.id for rule in advisor.RULES} and "imitate" not in rules.stage_order()
    STAGES["imitate"] = imitate.SPEC                 # the fixture removes it again


def test_without_the_plugin_the_same_rows_go_back_to_sft():
    from advisor import advise

    rec = advise({"description": "copy our answers", "must_be_reliable": True}, datasets=ROWS)
    assert rec.stages == ["sft"]
