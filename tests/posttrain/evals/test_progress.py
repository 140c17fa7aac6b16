"""A line per eval, with its score and time, as each finishes: from `EvalSuite.run(progress=True)` and
from a pipeline run with progress on; nothing when progress is off."""

from __future__ import annotations

import re

import pytest

from posttrain.evals import EvalResult, EvalSuite, QAAccuracy

QA = [{"question": "Capital of France?", "answer": "Paris"}, {"question": "2+2?", "answer": "4"}]
LINE = re.compile(r"^  eval (\S+): (\d\.\d{3}|–) \(n=(\d+), (\d+\.\d) s\)$")


class Fixed:
    """An eval with a known score, so the printed line can be checked to the digit."""

    def __init__(self, name: str, score: float, n: int, skipped: str | None = None) -> None:
        self.name, self.score, self.n, self.skipped = name, score, n, skipped

    def run(self, model, tokenizer) -> EvalResult:
        if self.skipped:
            return EvalResult.skip(self.name, self.skipped)
        return EvalResult(self.name, self.score, self.n, (0.0, 1.0))


class Model:
    training = False

    def eval(self):
        return self

    def train(self, mode=True):
        return self


@pytest.mark.parametrize("evals, lines", [
    ([Fixed("math_accuracy", 0.42, 50)], ["  eval math_accuracy: 0.420 (n=50, "]),
    ([Fixed("a", 1.0, 3), Fixed("b", 0.0, 7)], ["  eval a: 1.000 (n=3, ", "  eval b: 0.000 (n=7, "]),
    ([Fixed("mmlu", 0.0, 0, skipped="lm_eval is not installed")], ["  eval mmlu: skipped, lm_eval is not installed ("]),
])
def test_each_eval_prints_its_line_in_order_when_progress_is_on(evals, lines, capsys):
    result = EvalSuite(evals).run(Model(), None, progress=True)
    printed = capsys.readouterr().err.splitlines()
    assert len(printed) == len(lines)
    for line, start, name in zip(printed, lines, result):
        assert line.startswith(start) and line.endswith(f"{result.seconds[name]:.1f} s)")


def test_no_lines_without_progress(capsys):
    EvalSuite([Fixed("a", 1.0, 3)]).run(Model(), None)
    assert capsys.readouterr().err == ""


def test_a_pipeline_run_prints_each_eval_before_and_after_the_stage(tiny_dir, tmp_path, capsys):
    from posttrain import Trainer

    suite = EvalSuite([QAAccuracy(QA, max_new_tokens=2)])
    rows = [{"prompt": f"Say {i}.", "completion": f"{i}"} for i in range(4)]
    Trainer(tiny_dir, output_dir=tmp_path / "on", evals=suite).sft(rows, max_steps=1, batch_size=2).run()
    lines = [LINE.match(line) for line in capsys.readouterr().err.splitlines() if line.startswith("  eval ")]
    assert [(m.group(1), m.group(3)) for m in lines] == [("qa_accuracy", "2"), ("qa_accuracy", "2")]
    Trainer(tiny_dir, output_dir=tmp_path / "off", evals=suite).sft(rows, max_steps=1, batch_size=2).run(progress=False)
    assert "  eval " not in capsys.readouterr().err
