"""The advisor on agents: tools or an environment in the spec lead to a prompt with the tools' descriptions,
a tool SFT cold start, or environment GRPO, each reason citing its rule; route() builds the GRPO stage with
the tools, the environment and a template that renders them."""

from __future__ import annotations

from pathlib import Path

from advisor import advise
from advisor.rules import RULES

DATA = Path(__file__).resolve().parents[1] / "data" / "advisor"
CHATS, PROBLEMS = DATA / "chats.jsonl", DATA / "problems.jsonl"
AGENT = {"description": "book tables and check the weather by calling our API tools, over several turns",
         "environment": "posttrain.tools.Calculator", "multi_turn": True}


def _reasons(rec) -> str:
    return "\n".join(f"[{r.rule}] {r.message}" for r in rec.reasons)


def test_a_model_that_calls_well_gets_the_tools_in_its_prompt():
    rec = advise({**AGENT, "calls_tools_well": True})
    assert rec.approach == "prompt_engineering" and rec.stages == ["prompt"]
    assert "[tools-by-prompt]" in _reasons(rec) and "posttrain.tools.Calculator" in _reasons(rec)


def test_a_model_not_known_to_call_well_gets_a_tool_sft_cold_start_then_environment_grpo():
    rec = advise({**AGENT, "verifiable_reward": True, "labeled_examples": 2000, "rl_prompts": 2000})
    assert rec.approach == "post_training" and rec.stages == ["sft", "grpo"]
    reasons = _reasons(rec)
    assert "[tool-sft-cold-start]" in reasons and "[environment-grpo]" in reasons
    assert any("chatml-tools" in w and "[template-drops-tools]" in w for w in rec.warnings)
    without_checker = advise({**AGENT, "labeled_examples": 2000})
    assert without_checker.stages == ["sft"] and "[environment-grpo]" not in _reasons(without_checker)


def test_route_builds_the_environment_grpo_stage_with_a_template_that_renders_tools(tiny_dir, tmp_path):
    rec = advise({**AGENT, "verifiable_reward": True, "rl_prompts": 2000, "labeled_examples": 2000,
                  "target_skills": ["math"]})
    trainer = rec.route(model=str(tiny_dir), output_dir=tmp_path / "run", data={"sft": CHATS, "grpo": PROBLEMS})
    grpo = trainer.stages[-1].settings
    assert trainer.stages[-1].kind == "grpo"
    assert grpo.environment == "posttrain.tools.Calculator" and grpo.chat_template == "chatml-tools"
    assert [f.__name__ for f in grpo.rewards] == ["math_accuracy"]


def test_every_agent_rule_is_in_the_table_and_cites_a_source():
    ids = {rule.id: rule for rule in RULES}
    for name in ("tools-by-prompt", "tool-sft-cold-start", "environment-grpo", "template-drops-tools"):
        assert name in ids and ids[name].source
