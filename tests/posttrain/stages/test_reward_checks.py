"""Rewards checked as training calls them (posttrain.stages.grpo): validate() calls each reward with the
completions the stage will produce, and a stage whose rewards give it nothing to learn from ends as failed,
with the first error and its traceback kept in the stage folder."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from posttrain import Trainer
from posttrain.errors import ConfigError, StageFailed
from posttrain.rewards import completion_text

PROMPTS = [{"prompt": f"Say hello to my friend ({i}).", "answer": "friend"} for i in range(4)]
SHORT = {"num_generations": 2, "batch_size": 2, "max_steps": 2, "max_completion_length": 4, "precision": "fp32",
         "learning_rate": 1e-3}


def ends_with_friend(completions, **_):
    """The newcomer's reward: written for strings, while a chat model's completions are message lists."""
    return [1.0 if c.strip().endswith("friend") else 0.0 for c in completions]


def as_strings(completions, **_):
    return ["1.0" for _ in completions]


def one_for_all(completions, **_):
    return [1.0]


def needs_a_column(completions, solution, **_):
    return [float(completion_text(c) == s) for c, s in zip(completions, solution)]


def length(completions, **_):
    return [float(len(completion_text(c))) for c in completions]


def constant(completions, **_):
    return [1.0 for _ in completions]


def test_validate_calls_rewards_with_chat_messages_when_the_model_has_a_chat_template(tiny_dir, tmp_path):
    trainer = Trainer(tiny_dir, output_dir=tmp_path / "run").grpo(
        PROMPTS, rewards=[ends_with_friend, as_strings, one_for_all, needs_a_column, length])
    with pytest.raises(ConfigError) as refused:
        trainer.validate()
    text = str(refused.value)
    assert "reward 'ends_with_friend': fails on row 1 given completions as chat messages" in text
    assert "'list' object has no attribute 'strip'" in text and "completion_text(c)" in text
    assert "reward 'as_strings': returned ['1.0', '1.0'] for 2 completions ('1.0' is a str, not a number)" in text
    assert "reward 'one_for_all': returned [1.0] for 2 completions (1 values)" in text
    assert "reward 'needs_a_column'" in text and "the columns ['answer']" in text
    assert "'length'" not in text                                      # the one written for messages passes
    assert not (tmp_path / "run").exists()                             # nothing written


def test_validate_calls_rewards_with_strings_for_a_model_without_a_chat_template(tiny_dir, tmp_path):
    import shutil

    plain = tmp_path / "plain-model"
    shutil.copytree(tiny_dir, plain)
    config = json.loads((plain / "tokenizer_config.json").read_text())
    config.pop("chat_template", None)
    (plain / "tokenizer_config.json").write_text(json.dumps(config))
    (plain / "chat_template.jinja").unlink(missing_ok=True)
    Trainer(plain, output_dir=tmp_path / "run").grpo(PROMPTS, rewards=[ends_with_friend]).validate()


def test_a_constant_reward_ends_the_stage_as_failed_unless_allowed(tiny_dir, tmp_path):
    trainer = Trainer(tiny_dir, output_dir=tmp_path / "run").grpo(PROMPTS, rewards=[constant], **SHORT)
    with pytest.raises(StageFailed, match="never differed within a group.*allow_no_learning=True"):
        trainer.run(progress=False)
    folder = tmp_path / "run" / "01-grpo"
    assert "never differed" in json.loads((folder / "failed.json").read_text())["reason"]
    assert not (folder / "model").exists() and not (folder / "stage.json").exists()
    allowed = Trainer(tiny_dir, output_dir=tmp_path / "run").grpo(PROMPTS, rewards=[constant], allow_no_learning=True,
                                                                   **SHORT)
    assert allowed.run(progress=False).stages[0].kind == "grpo"        # kept as done, and it says so
    assert not (folder / "failed.json").exists()


def _planted(failing_at: int, working: int, fault: str):
    """Rewards: `working` that score messages, with one at `failing_at` that fails on every completion in
    the way `fault` names (each kind of failure the guard counts)."""
    def broken(completions, **_):
        if fault == "raises":
            return [c.strip() for c in completions]                     # AttributeError on messages
        if fault == "wrong_length":
            return [0.5]
        return [float("nan") for _ in completions]

    def works(completions, **_):
        return [float(len(completion_text(c))) for c in completions]

    funcs = [works] * working
    funcs.insert(failing_at, broken)
    return funcs


@settings(max_examples=4, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_a_reward_failing_among_working_ones_is_reported_and_fails_the_stage(data, tiny_dir, tmp_path_factory):
    """Property: wherever a reward that fails on every completion sits among working ones, and however it
    fails, a run of two steps counts its failures, keeps its first error in the stage folder, and ends the
    stage as failed naming it; the working rewards alone do not hide it."""
    working = data.draw(st.integers(1, 2), label="working rewards")
    failing_at = data.draw(st.integers(0, working), label="position of the failing one")
    fault = data.draw(st.sampled_from(["raises", "wrong_length", "non_finite"]), label="fault")
    out = tmp_path_factory.mktemp("planted") / "run"
    funcs = _planted(failing_at, working, fault)
    # validate() would refuse the ones that fail on its row; the run must catch them on its own as well
    from posttrain.pipeline.compile import CompiledRun
    trainer = Trainer(tiny_dir, output_dir=out).grpo(PROMPTS, rewards=funcs, **SHORT)
    CompiledRun.check, original = (lambda self: self), CompiledRun.check
    try:
        with pytest.raises(StageFailed) as failed:
            trainer.run(progress=False)
    finally:
        CompiledRun.check = original
    assert "reward 'broken' failed on" in str(failed.value)
    log = (out / "01-grpo" / "reward_errors.txt").read_text()
    assert log.count("reward 'broken'") == 1                           # the first failure, once
    if fault == "raises":
        assert "Traceback" in log and "AttributeError" in log
    assert not (out / "01-grpo" / "model").exists()


def test_a_lone_failing_reward_is_said_once_and_trls_per_step_warning_is_not_shown(tiny_dir, tmp_path, capfd,
                                                                                    monkeypatch):
    from posttrain.pipeline.compile import CompiledRun

    monkeypatch.setattr(CompiledRun, "check", lambda self: self)       # as if validate() had let it through
    trainer = Trainer(tiny_dir, output_dir=tmp_path / "run").grpo(PROMPTS, rewards=[ends_with_friend], **SHORT)
    with pytest.raises(StageFailed, match="reward 'ends_with_friend' failed on 8 of 8 completions"):
        trainer.run(progress=False)
    err = capfd.readouterr().err
    assert err.count("01-grpo: reward 'ends_with_friend' failed: error: AttributeError") == 1, err
    assert "All reward functions returned None" not in err
