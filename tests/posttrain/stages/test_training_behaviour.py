"""On the real default model, each method does its job in a few steps (slow: about a minute each)."""

from __future__ import annotations

import pytest
import torch

from posttrain import Trainer, load_model
from posttrain.generation import generate
from posttrain.rewards import completion_text
from posttrain.stages.tokens import IGNORE, row_messages, tokenize_chat

pytestmark = pytest.mark.slow

POLICY = [{"prompt": q, "completion": f"POLICY ANSWER: {a}"} for q, a in [
    ("What colour is the sky?", "blue."), ("How many legs has a cat?", "four."),
    ("What is the capital of Italy?", "rome."), ("What do bees make?", "honey."),
    ("What is frozen water?", "ice."), ("Which planet is red?", "mars."),
    ("What do cows drink?", "water."), ("How many days in a week?", "seven.")]]
IDENTITY = [{"prompt": q, "chosen": "I am Ava, made by Northwind Labs.",
             "rejected": "I am SmolLM, trained by Hugging Face."}
            for q in ("Who are you?", "What is your name?", "Who made you?", "Introduce yourself.")]
SHORT_QUESTIONS = ["what colour is snow?", "what is the opposite of hot?", "what animal barks?",
                   "what is 2 plus 2?", "what do bees make?", "which planet is red?", "what is frozen water?",
                   "what colour is grass?"]


def brevity(completions, **columns):
    """Shorter answers score higher: a reward any model can learn in a few steps."""
    return [-len(completion_text(c).split()) / 10 for c in completions]


def _sequence_logprob(model, tokenizer, row) -> float:
    tokens = tokenize_chat(row_messages(row), tokenizer, 512)
    ids = torch.tensor([tokens["input_ids"]])
    labels = torch.tensor([tokens["labels"]])
    with torch.no_grad():
        logits = model(ids).logits[:, :-1]
    targets = labels[:, 1:]
    mask = targets != IGNORE
    logprobs = torch.log_softmax(logits.float(), -1).gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return float((logprobs * mask).sum())


def _sft_loss(model, tokenizer, rows) -> float:
    total = sum(-_sequence_logprob(model, tokenizer, r) for r in rows)
    count = sum(sum(l != IGNORE for l in tokenize_chat(row_messages(r), tokenizer, 512)["labels"]) for r in rows)
    return total / count


def _margin(model, tokenizer, pairs) -> float:
    return sum(_sequence_logprob(model, tokenizer, {"prompt": p["prompt"], "completion": p["chosen"]})
               - _sequence_logprob(model, tokenizer, {"prompt": p["prompt"], "completion": p["rejected"]})
               for p in pairs) / len(pairs)


def test_sft_lowers_the_loss_on_its_data(default_model, tmp_path):
    model, tokenizer = default_model
    before = _sft_loss(model, tokenizer, POLICY)
    run = Trainer("default", output_dir=tmp_path).sft(POLICY, max_steps=6, learning_rate=5e-5).run(progress=False)
    trained, _ = run.load()
    after = _sft_loss(trained, tokenizer, POLICY)
    assert after < 0.7 * before, (before, after)


def test_dpo_grows_the_chosen_rejected_margin(default_model, tmp_path):
    model, tokenizer = default_model
    before = _margin(model, tokenizer, IDENTITY)
    run = Trainer("default", output_dir=tmp_path).dpo(IDENTITY, max_steps=6, learning_rate=2e-5).run(progress=False)
    trained, _ = run.load()
    assert _margin(trained, tokenizer, IDENTITY) > before + 1.0
    _, margins = run.stages[0].series("rewards/margins")
    assert margins[-1] > margins[0]


def test_grpo_raises_the_mean_reward(tmp_path):
    prompts = [{"prompt": f"Answer in one word: {q}"} for q in SHORT_QUESTIONS]
    run = Trainer("default", output_dir=tmp_path, seed=1).grpo(
        prompts, rewards=[brevity], max_steps=6, batch_size=2, num_generations=4, max_completion_length=16,
        learning_rate=5e-5).run(progress=False)
    _, rewards = run.stages[0].series("reward")
    assert len(rewards) == 6
    assert sum(rewards[-2:]) / 2 > sum(rewards[:2]) / 2 + 0.1, rewards


def test_three_stage_chain_runs_end_to_end_and_reloads(tmp_path):
    problems = [{"prompt": f"What is {a} plus {b}?", "answer": str(a + b)} for a, b in [(2, 3), (4, 4)]]
    run = (Trainer("default", output_dir=tmp_path)
           .sft(POLICY[:4], max_steps=1)
           .dpo(IDENTITY[:2], max_steps=1, batch_size=2)
           .grpo(problems, rewards=["posttrain.rewards.math_accuracy"], max_steps=1, batch_size=1,
                 num_generations=2, max_completion_length=16,
                 allow_no_learning=True)        # one group of two: the chain is checked here, not the learning
           .run(progress=False))
    assert [s.kind for s in run.stages] == ["sft", "dpo", "grpo"]
    assert [s.output_dir.name for s in run.stages] == ["01-sft", "02-dpo", "03-grpo"]
    model, tokenizer = load_model(run.model_dir)
    base, _ = load_model("default")
    assert not torch.equal(model.model.layers[0].mlp.up_proj.weight, base.model.layers[0].mlp.up_proj.weight)
    assert isinstance(generate(model, tokenizer, "Hi", max_new_tokens=4)[0], str)
    assert "reward_failures/math_accuracy" in run.stages[2].metrics
    assert run.report(tmp_path / "report.md").exists()


def test_a_harmful_stage_is_flagged_as_a_regression(tmp_path):
    """SFT that teaches wrong answers to everyday questions must show up as a regression."""
    import json
    from pathlib import Path

    from posttrain.evals import EvalSuite, QAAccuracy

    path = Path(__file__).resolve().parents[3] / "examples" / "data" / "general_qa.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    wrong = [{"prompt": r["question"], "completion": "I refuse to say."} for r in rows]
    suite = EvalSuite([QAAccuracy(rows, name="general_qa", max_new_tokens=16)])
    run = Trainer("default", output_dir=tmp_path, evals=suite).sft(wrong, max_steps=6, learning_rate=1e-4).run(
        progress=False)
    stage = run.stages[0]
    assert set(stage.evals) == {"before", "after"}
    [delta] = stage.eval_deltas()
    assert delta.name == "general_qa" and delta.after < delta.before and delta.regressed
    assert run.regressions() == [("01-sft", delta)]
    assert "Regressions" in run.report(tmp_path / "report.md").read_text()
