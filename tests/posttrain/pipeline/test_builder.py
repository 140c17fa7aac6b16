"""The fluent Trainer: immutability, validation, YAML, stage outputs, LoRA merge, resume (tiny model)."""

from __future__ import annotations

import json

import pytest
import torch

from posttrain import Trainer, rewards
from posttrain.errors import ConfigError

SFT = [{"prompt": f"What is {i} plus {i}?", "completion": f"{2 * i}"} for i in range(8)]
PREFS = [{"prompt": f"Who are you? ({i})", "chosen": "I am Ava.", "rejected": "I am a bot."} for i in range(4)]
PROMPTS = [{"prompt": f"What is {i} times 3?", "answer": str(3 * i)} for i in range(4)]


def test_each_call_returns_a_new_trainer_and_leaves_the_original_unchanged(tiny_dir, tmp_path):
    base = Trainer(tiny_dir, output_dir=tmp_path)
    one = base.sft(SFT)
    two = one.dpo(PREFS, beta=0.2)
    assert base.stages == () and [s.kind for s in one.stages] == ["sft"]
    assert [s.kind for s in two.stages] == ["sft", "dpo"]
    assert two.stages[1].settings.beta == 0.2


def test_plan_lists_stages_with_their_data_and_folders(tiny_dir, tmp_path):
    plan = Trainer(tiny_dir, output_dir=tmp_path).sft("sft.jsonl").grpo(PROMPTS, rewards=[rewards.math_accuracy]).plan()
    assert [(s.kind, s.data) for s in plan.stages] == [("sft", "sft.jsonl"), ("grpo", "<4 rows in memory>")]
    assert [s.output_dir.name for s in plan.stages] == ["01-sft", "02-grpo"]
    text = str(plan)
    assert "1. sft" in text and "2. grpo" in text and "math_accuracy" in text and "01-sft/model" in text


def test_the_plan_prints_a_bracketed_system_prompt_as_text(tiny_dir, tmp_path):
    import io

    from rich.console import Console

    plan = Trainer(tiny_dir, output_dir=tmp_path / "[v2]").sft(SFT, system="Wrap code in [code]...[/code].").plan()
    out = io.StringIO()
    Console(file=out, width=1000, color_system=None).print(plan)
    assert "Wrap code in [code]...[/code]." in out.getvalue() and "[v2]" in out.getvalue()


@pytest.mark.parametrize("kind, settings, fragment", [
    ("sft", {"beta": 0.1}, "setting 'beta'"),
    ("sft", {"epoch": 2}, "did you mean 'epochs'"),
    ("dpo", {"beta": -1}, "greater than 0"),
    ("sft", {"precision": "int3"}, "setting 'precision'"),
    ("sft", {"lora": {"rank": 8}}, "'rank'"),
    ("dpo", {"loss_type": ["sigmoid", "sfft"]}, "Fix: did you mean 'sft'?"),
    ("dpo", {"loss_type": ["sigmoid", "sft"], "loss_weights": [1.0]}, "1 weight(s) for 2 loss(es)"),
])
def test_bad_settings_are_refused_when_the_stage_is_added(tiny_dir, kind, settings, fragment):
    with pytest.raises(ConfigError) as err:
        getattr(Trainer(tiny_dir), kind)(SFT, **settings)
    assert fragment in str(err.value) and "stage 1" in str(err.value)


def test_validate_reports_every_problem_of_every_stage_and_writes_nothing(tiny_dir, tmp_path):
    out = tmp_path / "run"
    bad_sft = SFT[:2] + [{"prompt": "p", "completion": ""}]
    trainer = (Trainer(tiny_dir, output_dir=out)
               .sft(bad_sft, trl_args={"max_lenght": 10})
               .dpo(SFT)                                              # wrong format for DPO
               .grpo([{"prompt": "2+2?"}], rewards=[rewards.math_accuracy]))   # no `answer` column
    with pytest.raises(ConfigError) as err:
        trainer.run()
    message = str(err.value)
    assert "stage 1 (sft) data" in message and "row 3" in message and "'completion'" in message
    assert "trl_args key 'max_lenght'" in message and "did you mean 'max_length'" in message
    assert "stage 2 (dpo)" in message and "format 'prompt_completion'" in message
    assert "stage 3 (grpo), reward 'math_accuracy'" in message and "answer" in message
    assert not out.exists()


def test_reward_paths_that_do_not_import_are_problems(tiny_dir):
    with pytest.raises(ConfigError, match="cannot import 'posttrain.rewards.nope'"):
        Trainer(tiny_dir).grpo(PROMPTS, rewards=["posttrain.rewards.nope"]).validate()


def test_yaml_round_trip(tiny_dir, tmp_path):
    data = tmp_path / "sft.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in SFT))
    trainer = (Trainer(tiny_dir, output_dir=tmp_path / "run", lora={"r": 4}, seed=3)
               .sft(str(data), epochs=2, learning_rate=1e-4, trl_args={"max_grad_norm": 0.5})
               .dpo(PREFS, beta=0.3)
               .grpo(PROMPTS, rewards=[rewards.math_accuracy], num_generations=2))
    path = tmp_path / "pipeline.yaml"
    trainer.to_yaml(path)
    again = Trainer.from_yaml(path)
    assert again == trainer
    assert again.stages[2].settings.rewards == ["posttrain.rewards.math_accuracy"]
    assert again.lora.r == 4 and again.seed == 3
    assert again.to_yaml() == trainer.to_yaml()


def test_yaml_with_a_local_function_is_a_clear_error(tiny_dir):
    def mine(completions, **kwargs):
        return [1.0] * len(completions)

    with pytest.raises(ConfigError, match="not importable"):
        Trainer(tiny_dir).grpo(PROMPTS, rewards=[mine]).to_yaml()


def test_unknown_yaml_keys_are_named(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("model: default\nstagez: []\n")
    with pytest.raises(ConfigError, match="pipeline key 'stagez'"):
        Trainer.from_yaml(path)


def _weights(folder):
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


def test_sft_stage_writes_model_metrics_and_manifest(tiny_dir, tmp_path):
    run = Trainer(tiny_dir, output_dir=tmp_path).sft(SFT, max_steps=3, batch_size=4, learning_rate=1e-3).run(progress=False)
    stage = tmp_path / "01-sft"
    assert run.model_dir == stage / "model"
    assert {"model.safetensors", "config.json", "tokenizer.json", "chat_template.jinja"} <= {
        p.name for p in (stage / "model").iterdir()}
    record = json.loads((stage / "stage.json").read_text())
    assert record["data"]["rows"] == 8 and record["settings"]["learning_rate"] == 1e-3
    assert len([json.loads(l) for l in (stage / "metrics.jsonl").read_text().splitlines()]) >= 3
    assert json.loads((tmp_path / "run.json").read_text())["model_dir"] == str(stage / "model")
    assert not (stage / "checkpoints").exists()
    before, after = _weights(tiny_dir), _weights(stage / "model")
    assert any(not torch.equal(before[k], after[k]) for k in before)
    assert run.stages[0].series("loss")[1]


def test_lora_stage_merges_a_low_rank_update_and_freezes_the_base(tiny_dir, tmp_path):
    Trainer(tiny_dir, output_dir=tmp_path, lora={"r": 2, "alpha": 4, "dropout": 0.0}).sft(
        SFT, max_steps=4, learning_rate=5e-2).run(progress=False)
    before, after = _weights(tiny_dir), _weights(tmp_path / "01-sft" / "model")
    assert set(before) == set(after)                                 # merged: no adapter weights left
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert changed and all("proj" in k for k in changed)             # only adapted linear layers moved
    assert torch.equal(before["model.embed_tokens.weight"], after["model.embed_tokens.weight"])
    for key in changed:
        assert torch.linalg.matrix_rank(after[key] - before[key], atol=1e-6) <= 2


def test_resume_skips_completed_stages_and_reruns_changed_ones(tiny_dir, tmp_path):
    base = Trainer(tiny_dir, output_dir=tmp_path).sft(SFT, max_steps=2)
    base.dpo(PREFS, max_steps=2).run(progress=False)
    first = (tmp_path / "01-sft" / "stage.json").stat().st_mtime_ns
    second = (tmp_path / "02-dpo" / "stage.json").stat().st_mtime_ns
    run = base.dpo(PREFS, max_steps=2).run(progress=False)            # same pipeline: nothing re-runs
    assert (tmp_path / "01-sft" / "stage.json").stat().st_mtime_ns == first
    assert (tmp_path / "02-dpo" / "stage.json").stat().st_mtime_ns == second
    run = base.dpo(PREFS, max_steps=2, beta=0.5).run(progress=False)  # changed DPO: only DPO re-runs
    assert (tmp_path / "01-sft" / "stage.json").stat().st_mtime_ns == first
    assert (tmp_path / "02-dpo" / "stage.json").stat().st_mtime_ns != second
    assert [s.kind for s in run.stages] == ["sft", "dpo"]
    assert run.stages[1].settings["beta"] == 0.5


def test_bf16_sampling_restores_the_exact_fp32_weights(tiny):
    from types import SimpleNamespace

    from posttrain.stages.grpo import generate_with_bf16_weights

    model, _ = tiny
    before = {k: v.clone() for k, v in model.state_dict().items()}
    seen = []
    trainer = SimpleNamespace(model=model, _generate_single_turn=lambda: seen.append(
        {p.dtype for p in model.parameters()}) or "sampled")
    generate_with_bf16_weights(trainer)
    assert trainer._generate_single_turn() == "sampled"
    assert seen == [{torch.bfloat16}]
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_dpo_can_combine_losses_with_an_nll_term_on_chosen(tiny_dir, tmp_path):
    def first_loss(**settings):
        run = Trainer(tiny_dir, output_dir=tmp_path / str(len(settings))).dpo(PREFS, max_steps=1, batch_size=4,
                                                                             **settings).run(progress=False)
        rows = [json.loads(line) for line in (run.stages[0].output_dir / "metrics.jsonl").read_text().splitlines()]
        logged = next(r for r in rows if "loss" in r)
        return logged["loss"], logged["logps/chosen"]

    dpo_only, _ = first_loss()
    combined, chosen_logp = first_loss(loss_type=["sigmoid", "sft"], loss_weights=[1.0, 0.5])
    # policy == reference at step 1: the DPO part is ln 2 and the NLL part is the mean token NLL of chosen
    assert dpo_only == pytest.approx(0.6931, abs=1e-3)
    assert combined > dpo_only + 0.5 and chosen_logp < 0


def test_dpo_with_precomputed_reference_log_probs_loads_no_second_copy_and_trains_the_same(tiny_dir, tmp_path):
    from types import SimpleNamespace

    from transformers import AutoModelForCausalLM

    from posttrain.stages.dpo import DPOSettings
    from posttrain.stages.dpo import reference_model

    assert reference_model(SimpleNamespace(lora=None, settings=DPOSettings())) is None

    def trained(precompute: bool) -> tuple[dict, list]:
        run = Trainer(tiny_dir, output_dir=tmp_path / str(precompute), seed=0).dpo(
            PREFS, max_steps=2, batch_size=4, learning_rate=1e-3, precompute_ref=precompute).run(progress=False)
        steps = [(e["loss"], e["rewards/margins"]) for e in run.stages[0].history if "loss" in e]
        return run.load()[0].state_dict(), steps

    (precomputed, steps), (with_copy, copy_steps) = trained(True), trained(False)
    start = AutoModelForCausalLM.from_pretrained(tiny_dir).state_dict()
    assert any(not torch.equal(precomputed[k], start[k]) for k in start)          # it trained
    assert len(steps) == 2 and torch.allclose(torch.tensor(steps), torch.tensor(copy_steps), atol=1e-5)
    # the same update, up to rounding: the reference's log-probabilities, computed in another pass, differ in
    # their last bits (bf16 kernels pick by shape), and Adam turns a near-zero gradient's rounding into a
    # step of up to the learning rate for that element, so the weights are compared as a whole
    gap = sum(float(((precomputed[k] - with_copy[k]).float() ** 2).sum()) for k in start) ** 0.5
    update = sum(float(((precomputed[k] - start[k]).float() ** 2).sum()) for k in start) ** 0.5
    assert gap < 1e-2 * update, (gap, update)                                      # 1e-4 of it measured


def _chars(completions, **_):
    return [float(len(str(c))) for c in completions]


def test_grpo_micro_batches_give_the_same_update_as_one_pass(tiny_dir, tmp_path, monkeypatch):
    from trl import GRPOTrainer

    from posttrain.models import load_model

    passes = []
    original = GRPOTrainer.training_step

    def counted(self, model, inputs, *args, **kwargs):
        passes.append(1)
        return original(self, model, inputs, *args, **kwargs)

    monkeypatch.setattr(GRPOTrainer, "training_step", counted)

    def trained(micro):
        passes.clear()
        run = (Trainer(tiny_dir, output_dir=tmp_path / str(micro))
               .grpo(PROMPTS, rewards=[_chars], num_generations=4, batch_size=2, max_steps=1, max_completion_length=6,
                     micro_batch_size=micro, precision="fp32", learning_rate=1e-3).run(progress=False))
        return load_model(run.model_dir)[0].state_dict(), list(passes)

    (whole, whole_passes), (split, split_passes) = trained(8), trained(2)
    assert (len(whole_passes), len(split_passes)) == (1, 4)         # one step of 8 completions: 1 pass, or 4 of 2
    base = load_model(tiny_dir)[0].state_dict()
    assert any(not torch.equal(whole[k], base[k]) for k in base)          # the step did change the weights
    # Adam's first step moves each weight by about lr = 1e-3; the sums over 8 completions or 4 x 2
    # differ only in the order of fp32 additions (~1e-6 with AVX-512 kernels).
    for key in whole:
        assert torch.allclose(whole[key], split[key], atol=1e-5), (key, (whole[key] - split[key]).abs().max())


@pytest.mark.parametrize("batch_size, group, asked, expected", [(4, 8, None, 4), (3, 2, None, 3), (1, 2, None, 2),
                                                                (4, 8, 16, 16)])
def test_grpo_micro_batch_defaults_to_a_divisor_of_at_most_4_on_cpu(batch_size, group, asked, expected):
    from posttrain.stages import make_settings
    from posttrain.stages.grpo import micro_batch

    settings = make_settings("grpo", "stage 1 (grpo)", rewards=[_chars], batch_size=batch_size,
                             num_generations=group, micro_batch_size=asked)
    assert micro_batch(settings, cuda=False) == expected


def test_user_callbacks_see_every_step_of_every_stage(tiny_dir, tmp_path):
    from transformers import TrainerCallback

    class Steps(TrainerCallback):
        seen: list[int] = []

        def on_step_end(self, args, state, control, **kwargs):
            self.seen.append(state.global_step)

    steps = Steps()
    Trainer(tiny_dir, output_dir=tmp_path, callbacks=[steps]).sft(SFT, max_steps=2, batch_size=4).sft(
        SFT, max_steps=3, batch_size=4).run(progress=False)
    assert steps.seen == [1, 2, 1, 2, 3]


def test_a_callback_that_is_not_a_trainer_callback_is_named():
    from transformers import TrainerCallback

    with pytest.raises(ConfigError, match=r"callbacks=\.\.\.\), item 2.*TrainerCallback"):
        Trainer("default", callbacks=[TrainerCallback, print])
