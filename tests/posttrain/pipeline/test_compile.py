"""Compile once, then execute: a run's facts are worked out once (device, model size, LoRA, merged TRL
arguments per stage) and the runner reads them; plan() and validate() are views of the same compile."""

from __future__ import annotations

import dataclasses
from collections import Counter

import pytest

from posttrain import Trainer
from posttrain.errors import ConfigError
from posttrain.pipeline.compile import CompiledRun, compile_run

SFT = [{"prompt": f"Say {w}.", "completion": f"{w}."} for w in ("one", "two", "three", "four")]
PREFS = [{"prompt": f"Say {w}.", "chosen": f"{w}.", "rejected": "no."} for w in ("one", "two", "three", "four")]


@pytest.fixture()
def calls(monkeypatch):
    """How often each decision is worked out during a call."""
    import posttrain.device
    import posttrain.pipeline.compile
    from posttrain.stages import STAGES

    counted: Counter[str] = Counter()

    def counting(name, fn):
        def wrapper(*args, **kwargs):
            counted[name] += 1
            return fn(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(posttrain.device.DeviceProfile, "detect",
                        classmethod(counting("device", posttrain.device.DeviceProfile.detect.__func__)))
    monkeypatch.setattr(posttrain.device, "model_size", counting("model_size", posttrain.device.model_size))
    monkeypatch.setattr(posttrain.pipeline.compile, "stage_lora", counting("lora", posttrain.pipeline.compile.stage_lora))
    for kind in ("sft", "dpo"):
        spec = STAGES[kind]
        monkeypatch.setitem(STAGES, kind, type(spec)(**{**spec.__dict__,
                                                        "trl_args": counting(f"trl_args:{kind}", spec.trl_args)}))
    return counted


def test_a_run_works_out_each_fact_once(calls, tiny_dir, tmp_path):
    trainer = (Trainer(tiny_dir, output_dir=tmp_path / "run").sft(SFT, max_steps=1, batch_size=2)
               .dpo(PREFS, max_steps=1, batch_size=2))
    run = trainer.run(progress=False)
    assert [s.kind for s in run.stages] == ["sft", "dpo"]
    assert calls == {"device": 1, "model_size": 1, "lora": 2, "trl_args:sft": 1, "trl_args:dpo": 1}


def test_plan_and_validate_are_views_of_one_compile(tiny_dir, tmp_path):
    trainer = Trainer(tiny_dir, output_dir=tmp_path / "run").sft(SFT, max_steps=1, trl_args={"logging_steps": 5})
    compiled = trainer.compile()
    assert isinstance(compiled, CompiledRun) and not compiled.problems
    [job] = compiled.jobs
    assert job.context.trl_args["logging_steps"] == 5 and job.overrides == {"logging_steps": (1, 5)}
    [planned] = trainer.plan().stages
    assert planned.output_dir == job.folder and planned.trl_overrides == job.overrides
    # the plan reads no data: its memory estimate is the bound (batch_size x max_length), the compile's is
    # sized by the tokenised rows; every other choice is the same
    sized = job.context.choices
    assert dataclasses.replace(planned.choices, estimated_gib=sized.estimated_gib, reasons=sized.reasons) == sized
    assert planned.choices.estimated_gib > sized.estimated_gib
    assert trainer.validate()[0].fingerprint == job.data.fingerprint
    assert not (tmp_path / "run").exists()                          # compiling writes nothing


def test_a_compiled_job_cannot_be_changed(tiny_dir, tmp_path):
    import dataclasses

    [job] = compile_run(Trainer(tiny_dir, output_dir=tmp_path).sft(SFT)).jobs
    with pytest.raises(dataclasses.FrozenInstanceError):
        job.context.learning_rate = 1.0                            # type: ignore[misc]


def test_every_problem_of_every_stage_is_gathered_before_anything_runs(tiny_dir, tmp_path):
    trainer = (Trainer(tiny_dir, output_dir=tmp_path / "run").sft([{"prompt": "Hi"}, *SFT])
               .dpo(PREFS, trl_args={"max_grad_norm": -1}))
    compiled = compile_run(trainer)
    assert [problem.where for problem in compiled.problems] == [
        "stage 1 (sft) data <5 rows in memory>, row 1", "stage 2 (dpo), trl_args key 'max_grad_norm'"]
    with pytest.raises(ConfigError):
        compiled.check()
    assert not (tmp_path / "run").exists()
