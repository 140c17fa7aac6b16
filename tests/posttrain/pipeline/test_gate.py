"""The ship gate (posttrain.pipeline.gate): a run like the demo's ships (exit 0); a planted regression blocks it
(exit 1) unless the threshold tolerates it; an own eval that rose without significance is undecided (exit 3)
and the number of items it names settles it; the report's first line carries the verdict; `posttrain gate`
and `posttrain train --gate` exit with it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from posttrain.errors import ConfigError
from posttrain.evals import EvalResult, SuiteResult, wilson_interval
from posttrain.pipeline.records import StageRecord
from posttrain.pipeline.result import RunResult

# item-level results as the demo's evals leave them: greedy pass/fail per held-out item, and GRPO's avg@4 per
# problem (right answers of 4 samples); counts as the demo measured them (docs/results.md), items in a fixed order
ITEMS = {"policy_compliance": 40, "identity": 32, "math_accuracy": 24, "math_avg@4": 40}
DEMO = {  # eval -> right items (avg@4: right samples in all) on the base model and after each stage
    "policy_compliance": [4, 39, 39, 38],
    "identity": [0, 1, 30, 30],
    "math_accuracy": [3, 6, 6, 9],
    "math_avg@4": [20, 61, 62, 114],
}
TARGETS = {"sft": "policy_compliance", "dpo": "identity", "grpo": "math_avg@4"}


def _greedy(name: str, right: int) -> dict:
    n = ITEMS[name]
    details = [{"prompt": f"{name} {i}", "correct": i < right} for i in range(n)]
    return EvalResult(name, right / n, n, wilson_interval(right, n), details=details).to_dict()


def _sampled(name: str, right: int) -> dict:
    n, k = ITEMS[name], 4
    per_item = [min(k, max(0, right - k * i)) for i in range(n)]       # the first items right most often
    details = [{"prompt": f"{name} {i}", "right": r, "k": k, "mean": r / k} for i, r in enumerate(per_item)]
    return EvalResult(name, right / (n * k), n, wilson_interval(right, n * k), details=details).to_dict()


def _suite(counts: dict[str, int]) -> dict:
    return {"results": {name: (_sampled if name.endswith("@4") else _greedy)(name, right)
                        for name, right in counts.items()}, "seconds": {}}


def write_run(root: Path, scores: dict[str, list[int]] = DEMO, kinds=("sft", "dpo", "grpo"), planned=None) -> RunResult:
    """A finished run on disk (no model weights: the gate reads only the records)."""
    records = []
    for index, kind in enumerate(kinds, start=1):
        folder = root / f"0{index}-{kind}"
        points = [_suite({name: counts[i] for name, counts in scores.items()}) for i in (index - 1, index)]
        record = StageRecord(index=index, kind=kind, key=f"k{index}", input_model="default", output_dir=str(folder),
                             model_dir=str(folder / "model"), data={"source": f"{kind}.jsonl", "rows": 40},
                             settings={}, lora=None, seconds=1.0, metrics={},
                             evals={"before": points[0], "after": points[1]})
        folder.mkdir(parents=True)
        record.write(folder)
        records.append(record)
    pipeline = {"stages": [{"kind": k} for k in (planned or kinds)]}
    (root / "run.json").write_text(json.dumps({"model": "default", "output_dir": str(root), "pipeline": pipeline,
                                               "stages": [r.summary() for r in records]}))
    return RunResult.from_dir(root)


def planted(eval_name: str, after_last: int) -> dict[str, list[int]]:
    scores = {name: list(counts) for name, counts in DEMO.items()}
    scores[eval_name][-1] = after_last
    return scores


def test_a_run_like_the_demo_s_ships(tmp_path):
    result = write_run(tmp_path).gate(targets=TARGETS)
    assert result.verdict == "ship" and result.exit_code == 0, result.text()
    own = {(c.stage, c.eval) for c in result.checks if c.own}
    assert own == {("01-sft", "policy_compliance"), ("02-dpo", "identity"), ("03-grpo", "math_avg@4")}
    assert result.text().startswith("gate: SHIP: 3 of 3 stages improved their own eval")


def test_without_targets_each_stage_s_own_eval_is_the_one_it_improved_most(tmp_path):
    result = write_run(tmp_path).gate()
    assert {(c.stage, c.eval) for c in result.checks if c.own} == \
        {("01-sft", "policy_compliance"), ("02-dpo", "identity"), ("03-grpo", "math_avg@4")}
    assert result.passed


def test_a_planted_regression_blocks_and_names_the_stage_and_eval(tmp_path):
    result = write_run(tmp_path, planted("policy_compliance", 20)).gate(targets=TARGETS)    # 39 -> 20 of 40 in GRPO
    assert result.verdict == "blocked" and result.exit_code == 1
    assert result.headline().startswith("gate: BLOCKED: 03-grpo policy_compliance: regressed past a drop of 0.02")


@pytest.mark.parametrize(("max_drop", "verdict"), [(0.5, "ship"), ("60%", "ship"), ("40%", "blocked"), (0.4, "blocked")])
def test_the_threshold_is_absolute_or_relative(tmp_path, max_drop, verdict):
    # 39 -> 20 of 40: a drop of 0.475, 49% of the score before
    result = write_run(tmp_path, planted("policy_compliance", 20)).gate(targets=TARGETS, max_drop=max_drop)
    assert result.verdict == verdict, result.text()


def test_an_own_eval_that_rose_without_significance_is_undecided_and_the_items_it_names_settle_it(tmp_path):
    scores = planted("identity", 4)
    scores["identity"][2] = 4                          # DPO: identity 1 -> 4 of 32 (3 fixed, 0 broken: p=0.25)
    result = write_run(tmp_path / "small", scores).gate(targets=TARGETS)
    assert result.verdict == "undecided" and result.exit_code == 3, result.text()
    [check] = [c for c in result.checks if c.eval == "identity" and c.own]
    assert "about 64 items (now 32) would settle it" in check.reason
    # followed: twice the items at the same effect (2 -> 8 of 64) settles it
    ITEMS["identity"] = 64
    try:
        bigger = {**scores, "identity": [0, 2, 8, 8]}
        assert write_run(tmp_path / "big", bigger).gate(targets=TARGETS).passed
    finally:
        ITEMS["identity"] = 32


def test_an_own_eval_that_did_not_rise_blocks(tmp_path):
    scores = planted("identity", 1)
    scores["identity"][2] = 1
    result = write_run(tmp_path, scores).gate(targets=TARGETS)
    assert result.verdict == "blocked"
    assert "02-dpo identity: did not improve" in result.headline()


def test_bad_requests_are_refused_with_the_fix(tmp_path):
    run = write_run(tmp_path / "run")
    with pytest.raises(ConfigError) as err:
        run.gate(targets={"dpo": "nope", "kto": "identity"}, max_drop="a lot")
    message = str(err.value)
    assert "eval 'nope' is not among the stage's evals" in message
    assert "targets['kto']: names no stage of this run" in message
    assert "max_drop: 'a lot' is neither a number nor a percentage" in message
    unfinished = write_run(tmp_path / "unfinished", kinds=("sft", "dpo"), planned=("sft", "dpo", "grpo"))
    with pytest.raises(ConfigError, match="did not finish"):
        unfinished.gate()


def test_the_report_s_first_line_carries_the_verdict(tmp_path):
    run = write_run(tmp_path / "ship")
    ship = run.report()
    blocked = write_run(tmp_path / "blocked", planted("policy_compliance", 20)).report()
    assert ship.read_text().splitlines()[0].endswith(run.gate().headline())
    assert "gate: SHIP" in ship.read_text().splitlines()[0]
    assert "gate: BLOCKED: 03-grpo policy_compliance" in blocked.read_text().splitlines()[0]


def _posttrain(args, capsys):
    from posttrain.cli import main

    with pytest.raises(SystemExit) as done:
        main([str(a) for a in args])
    captured = capsys.readouterr()
    return done.value.code, captured.out, " ".join(captured.err.split())


def test_the_command_exits_0_on_the_demo_s_run_and_1_on_a_planted_regression(tmp_path, capsys):
    write_run(tmp_path / "ship")
    write_run(tmp_path / "blocked", planted("math_accuracy", 0))       # 6 -> 0 of 24 in GRPO
    code, out, _ = _posttrain(["gate", tmp_path / "ship", "--target", "grpo=math_avg@4"], capsys)
    assert code == 0 and out.startswith("gate: SHIP")
    code, out, _ = _posttrain(["gate", tmp_path / "blocked"], capsys)
    assert code == 1 and out.startswith("gate: BLOCKED: 03-grpo math_accuracy")
    code, out, _ = _posttrain(["gate", tmp_path / "blocked", "--max-drop", "100%"], capsys)
    assert code == 0
    code, _, err = _posttrain(["gate", tmp_path / "ship", "--target", "grpo"], capsys)
    assert code == 2 and "'grpo' is not STAGE=EVAL" in err
    code, _, err = _posttrain(["gate", tmp_path / "nowhere"], capsys)
    assert code == 2 and "holds no run.json" in err


def test_train_with_gate_gates_the_run_it_trained(tiny_dir, tmp_path, capsys):
    import yaml

    rows = [{"prompt": f"Say the number {i}.", "completion": f"{i}"} for i in range(8)]
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(yaml.safe_dump({"model": str(tiny_dir), "output_dir": str(tmp_path / "run"),
                                        "stages": [{"kind": "sft", "data": "rows.jsonl", "max_steps": 1,
                                                    "batch_size": 4}]}))
    code, out, err = _posttrain(["train", pipeline, "--gate"], capsys)
    assert (tmp_path / "run" / "01-sft" / "stage.json").is_file()          # trained first
    assert code == 2 and "stage 01-sft: has no before/after evals to gate on" in err and "Fix: give the pipeline evals" in err


def test_items_to_settle_a_near_tie_does_not_overflow():
    """A near tie (15 fixed / 13 broken) needs thousands of items: the sign test's exact sums stay integers
    (2.0 ** n overflowed a float past about a thousand items and crashed the run's report)."""
    from posttrain.evals.compare import EvalDelta
    from posttrain.pipeline.gate import _sign_p, items_to_settle

    tie = EvalDelta("calculator_episodes", 0.62, 0.64, 0.02, False, False, fixed=15, broken=13)
    assert "items (now 100)" in items_to_settle(tie, 100)
    assert _sign_p(1500, 1300) < 0.05 < _sign_p(15, 13)
