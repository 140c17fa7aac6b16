"""posttrain.stages.common: the TRL arguments every stage shares."""

from __future__ import annotations

import pytest

from posttrain import Trainer
from posttrain.pipeline.compile import compile_run
from posttrain.stages import get_stage

ROWS = [{"prompt": "Hi", "completion": "Hello!"}] * 4


@pytest.mark.parametrize("ratio, steps, warmup", [(0.25, 8, 2), (0.1, 30, 3), (0.0, 8, 0)])
def test_warmup_ratio_warms_up_that_share_of_the_steps(tmp_path, ratio, steps, warmup):
    trainer = Trainer("default", output_dir=tmp_path).sft(ROWS, warmup_ratio=ratio, max_steps=steps)
    job = compile_run(trainer, load=False).jobs[0]
    config = get_stage("sft").config_class()(**job.context.trl_args)
    assert config.get_warmup_steps(steps) == warmup


def test_the_optimizer_and_the_device_come_from_the_stages_choices(tmp_path):
    job = compile_run(Trainer("default", output_dir=tmp_path).sft(ROWS, max_steps=1), load=False).jobs[0]
    args, choices = job.context.trl_args, job.context.choices
    assert args["optim"] == choices.trl_optim
    assert args["use_cpu"] is (choices.device == "cpu")
