"""The report's regressions section (posttrain.pipeline.report): each regression is followed by the stage `mix` that
would address it: the earlier stage's data replayed, general data of the stage's format, or a larger share."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from posttrain.evals.compare import EvalDelta
from posttrain.pipeline.report import regression_lines


@dataclass
class Stage:
    output_dir: Path
    data: dict = field(default_factory=dict)
    kind: str = "sft"


@dataclass
class Run:
    stages: list
    regressed: list

    def regressions(self):
        return self.regressed


def delta(name="qa"):
    return EvalDelta(name, 0.8, 0.6, -0.2, regressed=True, improved=False)


SFT = Stage(Path("runs/x/01-sft"), {"source": "general.jsonl", "format": "prompt_completion", "rows": 100})


def test_a_regression_names_the_earlier_stages_data_to_replay():
    skill = Stage(Path("runs/x/02-sft"), {"source": "skill.jsonl", "format": "prompt_completion", "rows": 50})
    lines = regression_lines(Run([SFT, skill], [("02-sft", delta())]))
    assert lines[2].startswith("- **02-sft**: qa went from 0.800 to 0.600")
    assert lines[3] == ("  - to keep it, replay other data while this stage trains: mix=[{'data': 'general.jsonl', "
                        "'share': 0.2}] (the data of 01-sft, never the eval's own items)")


def test_a_stage_of_another_format_is_told_to_mix_general_data_of_its_own():
    dpo = Stage(Path("runs/x/02-dpo"), {"source": "pairs.jsonl", "format": "preference", "rows": 50}, "dpo")
    [hint] = [line for line in regression_lines(Run([SFT, dpo], [("02-dpo", delta())])) if line.startswith("  - ")]
    assert "mix=[{'data': '<general preference data>', 'share': 0.2}]" in hint


def test_a_stage_that_already_mixes_is_told_to_raise_the_share():
    mixed = Stage(Path("runs/x/02-sft"), {"source": "skill.jsonl", "format": "prompt_completion", "rows": 50, "mix": [
        {"data": "skill.jsonl", "share": 0.9, "rows": 45}, {"data": "general.jsonl", "share": 0.1, "rows": 5}]})
    [hint] = [line for line in regression_lines(Run([SFT, mixed], [("02-sft", delta())])) if line.startswith("  - ")]
    assert hint == "  - to keep it, raise the share of this stage's mix from 10% to 20%"


def test_no_regression_no_section():
    assert regression_lines(Run([SFT], [])) == []
