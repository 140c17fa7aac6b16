"""GRPO's loss variants (posttrain.stages.grpo): each trains the tiny model by its name from Python and YAML,
reaches TRL's config, raises the reward it is trained on, and the combinations that contradict each other are
refused with the fix."""

from __future__ import annotations

import math

import pytest
import torch

from posttrain import Trainer
from posttrain.errors import ConfigError

PROMPTS = [{"prompt": f"Say a word ({i})."} for i in range(4)]


def long_answers(completions, **_):
    """More characters, more reward: a signal the random tiny model can follow."""
    return [float(len(str(c))) for c in completions]


# name -> the settings that select it (GSPO is a ratio level, not a loss of its own)
VARIANTS = {
    "grpo": {"loss_type": "grpo"},
    "dr_grpo": {"loss_type": "dr_grpo", "scale_rewards": "none"},
    "dapo": {"loss_type": "dapo", "epsilon_high": 0.28, "mask_truncated_completions": False},
    "bnpo": {"loss_type": "bnpo"},
    "gspo": {"loss_type": "grpo", "importance_sampling_level": "sequence"},
    "cispo": {"loss_type": "cispo", "epsilon_high": 5.0},
    "sapo": {"loss_type": "sapo"},
    "luspo": {"loss_type": "luspo", "importance_sampling_level": "sequence"},
    "vespo": {"loss_type": "vespo"},
    "two_sided": {"loss_type": "dapo", "delta": 4.0, "num_iterations": 2},
}


@pytest.mark.parametrize("name", list(VARIANTS))
def test_each_loss_variant_trains_by_name_from_python_and_yaml(name, tiny_dir, tmp_path):
    from posttrain.models import load_model

    settings = {**VARIANTS[name], "num_generations": 4, "batch_size": 2, "max_steps": 2,
                "max_completion_length": 6, "learning_rate": 1e-3, "precision": "fp32"}
    chained = Trainer(tiny_dir, output_dir=tmp_path / "run").grpo(PROMPTS, rewards=[long_answers], **settings)
    from_yaml = Trainer.from_dict({"model": str(tiny_dir), "output_dir": str(tmp_path / "run"), "stages": [
        {"kind": "grpo", "data": PROMPTS, "rewards": [long_answers], **settings}]})
    assert chained == from_yaml
    [job] = chained.compile().check().jobs
    for key, value in VARIANTS[name].items():
        assert job.context.trl_args[key] == value                       # what TRL's config receives

    run = chained.run(progress=False)
    losses = [entry["loss"] for entry in run.stages[0].history if "loss" in entry]
    assert losses and all(math.isfinite(loss) for loss in losses)
    trained, base = load_model(run.model_dir)[0].state_dict(), load_model(tiny_dir)[0].state_dict()
    assert any(not torch.equal(trained[k], base[k]) for k in base)     # the variant's update reached the weights


# learning rates at which 32 steps move the random tiny model: the variants without the group's spread in the
# advantage (Dr. GRPO, RLOO) take a larger one to move within that budget; the two-sided variant samples every
# second step (num_iterations=2), so it gets 48 steps. At 16 steps the rise depended on the sampling stream,
# not the method: plain GRPO rose by more than 10 characters at 2 of 7 seeds (torch.multinomial's draw); at
# 32 steps it rose at all 7 (17 to 75 characters).
RISING = {**{name: ("grpo", settings, 5e-2) for name, settings in VARIANTS.items()},
          "dr_grpo": ("grpo", VARIANTS["dr_grpo"], 1e-1), "rloo": ("rloo", {}, 1e-1),
          "two_sided": ("grpo", {**VARIANTS["two_sided"], "max_steps": 48}, 1e-1)}


@pytest.mark.parametrize("name", list(RISING))
def test_each_variant_raises_the_reward_it_is_trained_on(name, tiny_dir, tmp_path):
    """The mean reward the stage logs over its last three logged steps is well above the first three: the
    model learnt to write longer tokens (the completions are 6 tokens long). Untrained, the logged reward
    wanders by about 5 characters around 78."""
    kind, variant, lr = RISING[name]
    settings = {"num_generations": 4, "batch_size": 4, "max_steps": 32, "max_completion_length": 6,
                "precision": "fp32", **variant, "learning_rate": lr}
    run = Trainer(tiny_dir, output_dir=tmp_path / "run").add_stage(kind, PROMPTS, rewards=[long_answers],
                                                                   **settings).run(progress=False)
    rewards = [entry["reward"] for entry in run.stages[0].history if "reward" in entry]
    assert len(rewards) >= 6, rewards
    first, last = sum(rewards[:3]) / 3, sum(rewards[-3:]) / 3
    assert last > first + 10, rewards                                   # characters per completion


@pytest.mark.parametrize("settings, fragment", [
    ({"loss_type": "luspo"}, "set importance_sampling_level='sequence'"),
    ({"loss_type": "vespo", "importance_sampling_level": "sequence"}, "set importance_sampling_level='token'"),
    ({"importance_sampling_level": "sequence"}, "for GSPO use loss_type='grpo'"),
    ({"loss_type": "cispo"}, "ScaleRL uses 5.0"),
    ({"epsilon_high": 0.1}, "use epsilon_high >= epsilon"),
    ({"loss_type": "sapo", "delta": 4.0}, "has no effect with loss_type='sapo'"),
    ({"delta": 1.1}, "use delta > 1.2"),
])
def test_contradicting_variant_settings_are_refused_by_validate(settings, fragment, tiny_dir, tmp_path):
    with pytest.raises(ConfigError) as err:
        Trainer(tiny_dir, output_dir=tmp_path / "run").grpo(PROMPTS, rewards=[long_answers], **settings).validate()
    assert fragment in str(err.value) and "stage 1 (grpo)" in str(err.value)
    assert not (tmp_path / "run").exists()


def test_an_unknown_loss_type_is_refused_when_the_stage_is_added(tiny_dir):
    with pytest.raises(ConfigError) as err:
        Trainer(tiny_dir).grpo(PROMPTS, rewards=[long_answers], loss_type="ppo")
    assert "setting 'loss_type'" in str(err.value) and "dr_grpo" in str(err.value)


@pytest.mark.filterwarnings("ignore:`gradient_checkpointing` is deprecated:FutureWarning")   # TRL's own default
def test_the_defaults_are_trls():
    from trl import GRPOConfig

    from posttrain.stages.grpo import GRPOSettings

    ours, theirs = GRPOSettings(rewards=[long_answers]), GRPOConfig(output_dir="x", use_cpu=True)
    for key in ("loss_type", "importance_sampling_level", "epsilon", "epsilon_high", "delta", "scale_rewards",
                "mask_truncated_completions", "num_iterations"):
        assert getattr(ours, key) == getattr(theirs, key), key


def test_rloo_is_its_own_stage_and_trains_from_python_and_yaml(tiny_dir, tmp_path):
    from posttrain.models import load_model

    settings = {"num_generations": 4, "batch_size": 2, "max_steps": 2, "max_completion_length": 6,
                "learning_rate": 1e-3, "precision": "fp32", "normalize_advantages": True}
    chained = Trainer(tiny_dir, output_dir=tmp_path / "run").rloo(PROMPTS, rewards=[long_answers], **settings)
    assert chained == Trainer.from_dict({"model": str(tiny_dir), "output_dir": str(tmp_path / "run"), "stages": [
        {"kind": "rloo", "data": PROMPTS, "rewards": [long_answers], **settings}]})
    [job] = chained.compile().check().jobs
    assert job.folder.name == "01-rloo" and job.context.trl_args["beta"] == 0.05      # TRL's RLOO default
    assert job.context.trl_args["normalize_advantages"] is True

    run = chained.run(progress=False)
    rewards = [entry["reward"] for entry in run.stages[0].history if "reward" in entry]
    assert len(rewards) == 2 and all(math.isfinite(r) for r in rewards)
    trained, base = load_model(run.model_dir)[0].state_dict(), load_model(tiny_dir)[0].state_dict()
    assert any(not torch.equal(trained[k], base[k]) for k in base)
    with pytest.raises(ConfigError) as err:
        Trainer(tiny_dir).rloo(PROMPTS, rewards=[long_answers], loss_type="dapo")     # a GRPO-only setting
    assert "setting 'loss_type'" in str(err.value)
