"""Suites: YAML round trip, config errors, running on a model, and before/after regression flags."""

from __future__ import annotations

import json

import pytest

from posttrain.errors import ConfigError
from posttrain.evals import (KINDS, EvalDelta, EvalResult, EvalSuite, FunctionCalling, Identity, MultipleChoice,
                             Perplexity, QAAccuracy, SuiteResult, compare_results, deltas_table, wilson_interval)
from posttrain.evals.cli import eval_command

QA_ROWS = [{"question": "Capital of France?", "answer": "Paris"}, {"question": "2+2?", "answer": ["4", "four"]}]
MC_ROWS = [{"question": "Sky colour?", "options": ["blue", "green"], "answer": "blue"}]
WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "Current weather in a city.",
                                            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}
CALL_ROWS = [{"prompt": "Weather in Oslo?", "tools": [WEATHER], "calls": [{"name": "get_weather",
                                                                          "arguments": {"city": "Oslo"}}]},
             {"prompt": "Who wrote Hamlet?", "tools": [WEATHER], "calls": []}]


@pytest.fixture
def suite_yaml(tmp_path):
    (tmp_path / "qa.jsonl").write_text("\n".join(json.dumps(r) for r in QA_ROWS) + "\n")
    path = tmp_path / "suite.yaml"
    path.write_text(
        "- {kind: qa_accuracy, rows: qa.jsonl, match: normalized, max_new_tokens: 4}\n"
        "- kind: multiple_choice\n"
        "  rows: [{question: \"Sky colour?\", options: [blue, green], answer: blue}]\n"
        "- {kind: identity, name: Ava, maker: Northwind, questions: [\"Who are you?\"], max_new_tokens: 4}\n"
        "- {kind: perplexity, texts: [The cat sat on the mat.]}\n"
        "- {kind: instruction_following, max_new_tokens: 4, rows: [{prompt: Hi, constraints: [{kind: lowercase}]}]}\n"
        "- {kind: math_accuracy, rows: [{question: \"1+1?\", answer: 2}], max_new_tokens: 4}\n"
        "- {kind: lm_eval, task_name: hellaswag, limit: 10}\n")
    return path


def test_suite_yaml_round_trip_with_paths_and_inline_rows(suite_yaml, tmp_path):
    suite = EvalSuite.from_yaml(suite_yaml)
    assert suite.names == ["qa_accuracy", "multiple_choice", "identity", "perplexity", "instruction_following",
                           "math_accuracy", "lm_eval/hellaswag"]
    config = suite.to_config()
    assert config[0] == {"kind": "qa_accuracy", "rows": str(tmp_path / "qa.jsonl"), "match": "normalized",
                         "max_new_tokens": 4}
    assert config[1]["rows"] == MC_ROWS
    assert config[2] == {"kind": "identity", "name": "Ava", "questions": ["Who are you?"], "maker": "Northwind",
                         "max_new_tokens": 4}
    assert config[6] == {"kind": "lm_eval", "task_name": "hellaswag", "limit": 10}
    copy = tmp_path / "copy.yaml"
    suite.to_yaml(copy)
    again = EvalSuite.from_yaml(copy)
    assert again.to_config() == config
    assert again.evals[0].items == QA_ROWS


def test_config_problems_are_gathered_into_one_error():
    with pytest.raises(ConfigError) as error:
        EvalSuite.from_config([{"kind": "qa_accuracy", "rows": QA_ROWS, "top_k": 20},
                               {"kind": "trivia", "rows": QA_ROWS},
                               {"kind": "multiple_choice", "rows": [{"question": "q", "options": ["a", "b"],
                                                                     "answer": "c"}]},
                               {"kind": "perplexity"}])
    problems = [str(p) for p in error.value.problems]
    assert len(problems) == 4
    assert problems[0].startswith("suite entry 0, field 'top_k': is not an option of qa_accuracy")
    assert "suite entry 1, field 'kind': 'trivia' is not an eval kind" in problems[1]
    assert problems[2].startswith("suite entry 2: multiple_choice rows, row 1, field 'answer': is 'c'")
    assert problems[3] == "suite entry 3: perplexity needs 'texts'. Fix: add `texts: ...`"


def test_suite_names_must_be_unique():
    with pytest.raises(ConfigError, match="'qa_accuracy' is used twice"):
        EvalSuite([QAAccuracy(QA_ROWS), QAAccuracy(QA_ROWS)])


def test_suite_runs_every_eval_and_its_result_round_trips(tiny, tmp_path):
    model, tokenizer = tiny
    model.train()
    suite = EvalSuite([QAAccuracy(QA_ROWS, max_new_tokens=3), MultipleChoice(MC_ROWS),
                       Identity(["Who are you?"], name="Ava", max_new_tokens=3), Perplexity(["Hello there, friend."])])
    seen = []
    result = suite.run(model, tokenizer, on_result=lambda r: seen.append(r.name))
    assert list(result) == seen == suite.names and model.training
    assert result["qa_accuracy"].n == 2 and result["perplexity"].higher_is_better is False
    assert SuiteResult.load(result.save(tmp_path / "r.json")).to_dict() == result.to_dict()
    lines = result.table().splitlines()
    assert lines[0] == "| eval | score | 95% CI | n | note |" and len(lines) == 6
    assert lines[5].startswith("| perplexity ↓ | ")


def _suite(**scores: tuple[float, int]) -> SuiteResult:
    results = {}
    for name, (score, n) in scores.items():
        if name == "perplexity":
            results[name] = EvalResult(name, score, n, (score * 0.9, score * 1.1), higher_is_better=False)
        else:
            results[name] = EvalResult(name, score, n, wilson_interval(round(score * n), n))
    return SuiteResult(results)


def test_compare_flags_a_clear_regression_but_not_noise():
    before = _suite(math=(0.80, 100), qa=(0.70, 100), perplexity=(20.0, 50))
    after = _suite(math=(0.40, 100), qa=(0.66, 100), perplexity=(21.0, 50))
    deltas = {d.name: d for d in compare_results(before, after)}
    assert deltas["math"].regressed and deltas["math"].delta == pytest.approx(-0.4)
    assert not deltas["qa"].regressed and not deltas["qa"].improved     # 0.66 lies inside [0.604, 0.781]
    assert not deltas["perplexity"].regressed                            # 21 <= 22, the upper end
    worse = compare_results(before, _suite(math=(0.8, 100), qa=(0.7, 100), perplexity=(30.0, 50)))
    assert [d.regressed for d in worse] == [False, False, True]
    better = compare_results(before, _suite(math=(0.95, 100), qa=(0.7, 100), perplexity=(15.0, 50)))
    assert [d.improved for d in better] == [True, False, True]


def test_compare_notes_skipped_and_missing_evals_without_flags():
    before = SuiteResult({"a": EvalResult.skip("a", "lm_eval is not installed"),
                          "b": EvalResult("b", 0.9, 10, wilson_interval(9, 10))})
    after = SuiteResult({"a": EvalResult("a", 0.1, 10, wilson_interval(1, 10)),
                         "c": EvalResult("c", 0.1, 10, wilson_interval(1, 10))})
    deltas = compare_results(before, after)
    assert [(d.name, d.note, d.regressed) for d in deltas] == [
        ("a", "skipped: lm_eval is not installed", False), ("b", "only before", False), ("c", "only after", False)]


def test_deltas_table_marks_regressions():
    table = deltas_table([EvalDelta("math", 0.8, 0.4, -0.4, True, False, before_ci=(0.71, 0.87)),
                          EvalDelta("ppl", 20.0, 21.0, 1.0, False, False, False, (18.0, 22.0))])
    assert table.splitlines()[2] == "| math ↑ | 0.800 | 0.400 | -0.400 | [0.710, 0.870] |  | **REGRESSED** |"
    assert table.splitlines()[3] == "| ppl ↓ | 20.000 | 21.000 | +1.000 | [18.000, 22.000] |  | within noise |"


def test_paired_changes_count_fixed_and_broken_items_with_a_sign_test():
    def result(marks, prompts=None):
        details = [{"prompt": (prompts or [f"q{i}" for i in range(len(marks))])[i], "correct": c}
                   for i, c in enumerate(marks)]
        return EvalResult("m", sum(marks) / len(marks), len(marks), wilson_interval(sum(marks), len(marks)), details)

    before = result([True] * 5 + [False] * 15)
    after = result([True] * 4 + [False] + [True] * 12 + [False] * 3)      # 12 fixed, 1 broken
    delta, = compare_results({"m": before}, {"m": after})
    assert (delta.fixed, delta.broken) == (12, 1)
    assert delta.p_value == pytest.approx(2 * 14 / 2 ** 13)                # exact: 2 * (C(13,0) + C(13,1)) / 2^13
    same, = compare_results({"m": before}, {"m": before})
    assert (same.fixed, same.broken, same.p_value) == (0, 0, 1.0)
    other_items, = compare_results({"m": before}, {"m": result([True] * 20, [f"x{i}" for i in range(20)])})
    assert other_items.fixed is None and other_items.p_value is None
    assert "12 / 1 (p=0.0034)" in deltas_table([delta])
    assert delta.improved and not delta.regressed


def test_paired_items_decide_the_verdict_over_the_interval_rule():
    def result(marks):
        return EvalResult("m", sum(marks) / len(marks), len(marks), wilson_interval(sum(marks), len(marks)),
                          [{"prompt": f"q{i}", "correct": c} for i, c in enumerate(marks)])

    # 10 items, 0.2 -> 0.0: outside the before interval [0.057, 0.510], but only 2 items broke (p = 0.5)
    small, = compare_results({"m": result([True] * 2 + [False] * 8)}, {"m": result([False] * 10)})
    assert not small.regressed and small.p_value == pytest.approx(0.5)
    # 100 items, 0.50 -> 0.58 with 8 fixed and none broken: inside [0.404, 0.596], but p = 2 / 2^8
    gain, = compare_results({"m": result([True] * 50 + [False] * 50)},
                            {"m": result([True] * 58 + [False] * 42)})
    assert gain.improved and gain.p_value == pytest.approx(2 / 2 ** 8)
    # many items broken, few fixed: a regression
    loss, = compare_results({"m": result([True] * 12 + [False] * 8)},
                            {"m": result([False] * 10 + [True] * 2 + [False] * 8)})
    assert loss.regressed and (loss.fixed, loss.broken) == (0, 10)


def test_eval_command_prints_the_table_and_saves_json(tiny_dir, tmp_path, capsys):
    suite = tmp_path / "suite.yaml"
    suite.write_text("- {kind: multiple_choice, rows: [{question: \"Sky?\", options: [blue, red], answer: 0}]}\n"
                     "- {kind: perplexity, texts: [Hello there.]}\n")
    eval_command(str(tiny_dir), suite, tmp_path / "out" / "results.json")
    saved = SuiteResult.load(tmp_path / "out" / "results.json")
    assert list(saved) == ["multiple_choice", "perplexity"] and saved["multiple_choice"].n == 1
    printed = capsys.readouterr().out
    assert "multiple_choice" in printed and "results saved to" in printed


def test_function_calling_is_an_eval_kind_read_from_yaml_and_scored_by_parsed_call(tmp_path):
    (tmp_path / "calls.jsonl").write_text("\n".join(json.dumps(r) for r in CALL_ROWS) + "\n")
    path = tmp_path / "suite.yaml"
    path.write_text("- {kind: function_calling, rows: calls.jsonl, chat_template: chatml-tools, max_new_tokens: 8}\n")
    suite = EvalSuite.from_yaml(path)
    assert KINDS["function_calling"] is FunctionCalling and isinstance(suite.evals[0], FunctionCalling)
    assert suite.to_config() == [{"kind": "function_calling", "rows": str(tmp_path / "calls.jsonl"),
                                  "max_new_tokens": 8, "chat_template": "chatml-tools"}]
    result = suite.evals[0].score(['<tool_call>{"name": "get_weather", "arguments": {"city": "oslo "}}</tool_call>',
                                   '<tool_call>{"name": "get_weather", "arguments": {"city": "Hamlet"}}</tool_call>'])
    assert [d["correct"] for d in result.details] == [True, False] and result.score == 0.5
    assert (result.metrics["called_when_needed"], result.metrics["silent_when_not_needed"]) == (1.0, 0.0)
    with pytest.raises(ConfigError, match="field 'temperature': is not an option of function_calling"):
        EvalSuite.from_config([{"kind": "function_calling", "rows": CALL_ROWS, "temperature": 0.2}])


def test_eval_command_runs_function_calling_by_name(tiny_dir, tmp_path):
    suite = tmp_path / "suite.yaml"
    suite.write_text("- kind: function_calling\n  chat_template: chatml-tools\n  max_new_tokens: 4\n  rows: "
                     + json.dumps(CALL_ROWS) + "\n")
    eval_command(str(tiny_dir), suite, tmp_path / "results.json")
    saved = SuiteResult.load(tmp_path / "results.json")["function_calling"]
    # a random 2-layer model writes no <tool_call>: it is right only where no call is expected
    assert [d["correct"] for d in saved.details] == [False, True] and (saved.n, saved.score) == (2, 0.5)
