"""The decision table: every rule, the thresholds, conflicting signals and the empty spec."""

from __future__ import annotations

from pathlib import Path

import pytest

from advisor import advise
from advisor.rules import RULES, fired, render_decision_guide
from advisor.spec import TaskSpec

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "decision-guide.md"
MATH = {"target_skills": ["math"], "verifiable_reward": True}
SQL = {"target_skills": ["sql"]}

# (case, spec, approach, stages, warns)
CASES = [
    ("empty spec", {}, "prompt_engineering", ["prompt"], True),
    ("description only", {"description": "Summarise tickets"}, "prompt_engineering", ["prompt"], True),
    ("3 instructions", {"num_instructions": 3}, "prompt_engineering", ["prompt"], False),
    ("19 instructions", {"num_instructions": 19}, "prompt_engineering", ["prompt"], False),
    ("20 instructions, no data", {"num_instructions": 20}, "post_training", ["sft"], True),
    ("20 instructions with data", {"num_instructions": 20, "labeled_examples": 5000}, "post_training", ["sft"],
     False),
    ("few instructions but reliable", {"num_instructions": 5, "must_be_reliable": True, "labeled_examples": 2000},
     "post_training", ["sft"], False),
    ("live data", {"needs_live_data": True}, "rag", ["rag"], False),
    ("private knowledge", {"needs_private_knowledge": True}, "rag", ["rag"], False),
    ("live data and instructions", {"needs_live_data": True, "num_instructions": 3}, "rag", ["prompt", "rag"],
     False),
    ("domain text 999,999,999", {"new_domain": True, "domain_corpus_tokens": 999_999_999}, "rag", ["rag"], False),
    ("domain text 1e9, no labels", {"new_domain": True, "domain_corpus_tokens": 1_000_000_000},
     "continued_pretraining", ["cpt", "sft"], True),
    ("domain text 2e9 with labels", {"new_domain": True, "domain_corpus_tokens": 2_000_000_000,
                                     "labeled_examples": 3000}, "continued_pretraining", ["cpt", "sft"], False),
    ("corpus but not a new domain", {"domain_corpus_tokens": 2_000_000_000}, "prompt_engineering", ["prompt"],
     False),
    ("sql skill", {**SQL, "labeled_examples": 2000}, "post_training", ["sft"], False),
    ("function calling, SFT then DPO", {"target_skills": ["function calling"], "labeled_examples": 3000,
                                       "preference_pairs": 1500}, "post_training", ["sft", "dpo"], False),
    ("math, SFT then GRPO", {**MATH, "labeled_examples": 2000, "rl_prompts": 5000}, "post_training",
     ["sft", "grpo"], False),
    ("math, GRPO only", {**MATH, "rl_prompts": 5000}, "post_training", ["grpo"], False),
    ("code, all three stages", {"target_skills": ["code"], "labeled_examples": 2000, "preference_pairs": 2000,
                                "rl_prompts": 2000, "verifiable_reward": True}, "post_training",
     ["sft", "dpo", "grpo"], False),
    ("RL prompts without a verifier", {"target_skills": ["reasoning"], "rl_prompts": 5000}, "post_training",
     ["sft"], True),
    ("verifier without prompts", MATH, "post_training", ["grpo"], True),
    ("live data and a skill", {"needs_live_data": True, **SQL, "labeled_examples": 5000}, "post_training",
     ["rag", "sft"], True),
    ("private knowledge, must be reliable", {"needs_private_knowledge": True, "must_be_reliable": True,
                                            "labeled_examples": 2000}, "post_training", ["rag", "sft"], True),
    ("new domain, small corpus, a skill", {"new_domain": True, "domain_corpus_tokens": 5_000_000, **SQL,
                                           "labeled_examples": 3000}, "post_training", ["rag", "sft"], True),
    ("big new domain and private docs", {"new_domain": True, "domain_corpus_tokens": 2_000_000_000,
                                         "needs_private_knowledge": True, "labeled_examples": 3000},
     "continued_pretraining", ["rag", "cpt", "sft"], True),
    ("data without a need", {"labeled_examples": 5000}, "prompt_engineering", ["prompt"], True),
    ("RL prompts without a need", {"rl_prompts": 5000}, "prompt_engineering", ["prompt"], True),
    ("identity by prompt", {"target_skills": ["identity"]}, "prompt_engineering", ["prompt"], False),
    ("identity, reliable, DPO", {"target_skills": ["identity"], "must_be_reliable": True,
                                 "preference_pairs": 3000}, "post_training", ["dpo"], False),
    ("999 examples", {**SQL, "labeled_examples": 999}, "post_training", ["sft"], True),
    ("1000 examples", {**SQL, "labeled_examples": 1000}, "post_training", ["sft"], False),
    ("999 SFT tokens", {**SQL, "labeled_examples": 5, "sft_tokens": 999}, "post_training", ["sft"], True),
    ("1000 SFT tokens", {**SQL, "labeled_examples": 5, "sft_tokens": 1000}, "post_training", ["sft"], False),
    ("1e9 SFT tokens", {**SQL, "labeled_examples": 10**6, "sft_tokens": 10**9}, "post_training", ["sft"], False),
    ("1e9+1 SFT tokens", {**SQL, "labeled_examples": 10**6, "sft_tokens": 10**9 + 1}, "post_training", ["sft"],
     True),
    ("999 preference pairs", {"target_skills": ["tone"], "must_be_reliable": True, "preference_pairs": 999},
     "post_training", ["dpo"], True),
    ("500 preference tokens", {"target_skills": ["tone"], "must_be_reliable": True, "preference_pairs": 2000,
                               "preference_tokens": 500}, "post_training", ["dpo"], True),
    ("2e9 preference tokens", {"target_skills": ["tone"], "must_be_reliable": True, "preference_pairs": 10**6,
                               "preference_tokens": 2 * 10**9}, "post_training", ["dpo"], True),
    ("999 RL prompts", {**MATH, "rl_prompts": 999}, "post_training", ["grpo"], True),
    ("1000 RL prompts", {**MATH, "rl_prompts": 1000}, "post_training", ["grpo"], False),
    ("10M RL prompts", {**MATH, "rl_prompts": 10_000_000}, "post_training", ["grpo"], False),
    ("10M+1 RL prompts", {**MATH, "rl_prompts": 10_000_001}, "post_training", ["grpo"], True),
]


@pytest.mark.parametrize("spec, approach, stages, warns", [case[1:] for case in CASES],
                         ids=[case[0] for case in CASES])
def test_decision_table(spec, approach, stages, warns):
    rec = advise(spec)
    assert (rec.approach, rec.stages) == (approach, stages), [r.rule for r in rec.reasons]
    assert bool(rec.warnings) is warns, rec.warnings


def test_every_rule_is_exercised_by_the_table():
    seen = {rule.id for _, spec, *_ in CASES for rule in fired(TaskSpec(**spec))}
    assert seen == {rule.id for rule in RULES}


def test_rule_ids_are_unique_and_have_sources():
    ids = [rule.id for rule in RULES]
    assert len(ids) == len(set(ids))
    assert all(rule.source and rule.why and (rule.message or rule.warning) for rule in RULES)


@pytest.mark.parametrize("spec, rule, cited", [
    ({"num_instructions": 25}, "many-instructions", "25 instructions"),
    ({"num_instructions": 7}, "few-instructions", "7 instruction"),
    ({"new_domain": True, "domain_corpus_tokens": 999_999_999}, "domain-too-small", "999,999,999 tokens"),
    ({"target_skills": ["function calling", "math"]}, "skill-to-improve", "function_calling, math"),
    ({**MATH, "rl_prompts": 4321}, "grpo-from-verifier", "4,321 prompts"),
])
def test_reasons_cite_the_values_that_triggered_them(spec, rule, cited):
    reasons = {reason.rule: reason for reason in advise(spec).reasons}
    assert cited in reasons[rule].message
    assert reasons[rule].source


def test_warnings_name_their_rule_and_what_to_collect():
    warnings = advise({"num_instructions": 30}).warnings
    assert len(warnings) == 1 and warnings[0].endswith("[sft-needs-data]")
    assert "1,000 prompt-response" in warnings[0]
    rl = advise({"target_skills": ["reasoning"], "rl_prompts": 5000}).warnings
    assert any("5,000 RL prompts but no verifiable reward" in w for w in rl)


def test_suggested_evals_follow_the_skills():
    rec = advise({"target_skills": ["function_calling", "math"], "num_instructions": 3})
    assert {"BFCL", "NexusBench", "TauBench", "ToolSandbox", "AIME", "IFEval"} <= set(rec.suggested_evals)
    assert {"posttrain.evals.MathAccuracy", "posttrain.evals.InstructionFollowing"} <= set(rec.suggested_evals)
    assert rec.evals_by_topic["math"] == ["AIME", "posttrain.evals.MathAccuracy"]
    assert "regression" in rec.evals_by_topic
    assert "regression" not in advise({"num_instructions": 3}).evals_by_topic


def test_str_and_dict_show_the_decision():
    rec = advise({"needs_live_data": True, **SQL, "labeled_examples": 5000})
    text = str(rec)
    assert "Approach: post_training" in text and "rag -> sft" in text and "[live-data]" in text
    data = rec.to_dict()
    assert data["stages"] == ["rag", "sft"] and data["reasons"][0]["rule"] == "skill-to-improve"
    assert data["spec"]["labeled_examples"] == 5000


def test_rich_rendering_holds_reasons_and_warnings():
    from rich.console import Console

    console = Console(record=True, width=120)
    console.print(advise({"num_instructions": 20}))
    text = console.export_text()
    assert "post_training" in text and "many-instructions" in text and "Warnings" in text


def test_decision_guide_is_in_sync_with_the_rules():
    assert GUIDE.read_text(encoding="utf-8") == render_decision_guide(), \
        "regenerate: python -m advisor.rules > docs/decision-guide.md"


def test_decision_guide_covers_every_rule():
    guide = render_decision_guide()
    assert all(f"### `{rule.id}`" in guide for rule in RULES)
