"""The decision table: every rule, each threshold from both sides, conflicting signals, the empty spec, and
the three failure classes of issue 16 (preference pairs held for a behaviour, a base model with
instruction data, a quality goal without a verifier but with preference pairs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from advisor import advise
from advisor.alternatives import FALLBACKS
from advisor.guide import render_decision_guide
from advisor.rules import RULES, fired
from advisor.spec import TaskSpec

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "decision-guide.md"
MATH = {"target_skills": ["math"], "verifiable_reward": True}
SQL = {"target_skills": ["sql"]}
TONE = {"target_skills": ["tone"]}
BASE = {"model_kind": "base"}

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
    ("private knowledge, multi-hop", {"needs_private_knowledge": True, "multi_hop": True}, "rag", ["rag"], False),
    ("private knowledge, questions held", {"needs_private_knowledge": True, "labeled_examples": 200}, "rag", ["rag"],
     True),
    ("live data and private knowledge", {"needs_live_data": True, "needs_private_knowledge": True}, "rag", ["rag"],
     False),
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
    ("sql skill, general skills must hold", {**SQL, "labeled_examples": 2000, "keep_skills": True}, "post_training",
     ["sft"], False),
    ("prompts held for RLOO", {"target_skills": ["reasoning"], "method_rows": {"rloo": 5000}}, "post_training",
     ["rloo"], False),
    ("small model, prompts and a teacher", {"target_skills": ["reasoning"], "model_params": 135_000_000,
                                            "rl_prompts": 5000, "teacher_model": "big-teacher"}, "post_training",
     ["distill"], True),
    ("prompts held for on-policy distillation", {"target_skills": ["reasoning"], "method_rows": {"gkd": 2000}},
     "post_training", ["gkd"], False),
    ("tone from thumbs up/down, KTO", {**TONE, "must_be_reliable": True, "labelled_answers": 3000}, "post_training",
     ["kto"], False),
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
    # Data held for a stated goal (failure classes 1 and 3), each threshold from both sides.
    ("tone, 6,000 preference pairs", {**TONE, "preference_pairs": 6000}, "post_training", ["dpo"], False),
    ("tone, 999 preference pairs", {**TONE, "preference_pairs": 999}, "prompt_engineering", ["prompt"], True),
    ("tone, 1,000 preference pairs", {**TONE, "preference_pairs": 1000}, "post_training", ["dpo"], False),
    ("tone, 1,000 pairs of 999 tokens", {**TONE, "preference_pairs": 1000, "preference_tokens": 999},
     "prompt_engineering", ["prompt"], True),
    ("tone, 1,000 pairs of 1,000 tokens", {**TONE, "preference_pairs": 1000, "preference_tokens": 1000},
     "post_training", ["dpo"], False),
    ("quality without a verifier, preference pairs", {"target_skills": ["chat"], "preference_pairs": 12_000},
     "post_training", ["dpo"], False),
    ("identity, 2,500 preference pairs", {"target_skills": ["identity"], "preference_pairs": 2500},
     "post_training", ["dpo"], False),
    ("safety, 3,000 preference pairs", {"target_skills": ["safety"], "preference_pairs": 3000},
     "post_training", ["dpo"], False),
    ("3 instructions, 999 examples", {"num_instructions": 3, "labeled_examples": 999}, "prompt_engineering",
     ["prompt"], True),
    ("3 instructions, 1,000 examples", {"num_instructions": 3, "labeled_examples": 1000}, "post_training",
     ["sft"], False),
    ("3 instructions, 1,000 examples of 999 tokens", {"num_instructions": 3, "labeled_examples": 1000,
                                                      "sft_tokens": 999}, "prompt_engineering", ["prompt"], True),
    ("19 instructions, 1,000 examples", {"num_instructions": 19, "labeled_examples": 1000}, "post_training",
     ["sft"], False),
    ("20 instructions, 999 examples", {"num_instructions": 20, "labeled_examples": 999}, "post_training",
     ["sft"], True),
    ("tone, 20,000 transcripts", {**TONE, "labeled_examples": 20_000}, "post_training", ["sft"], False),
    ("tone, demonstrations and pairs", {**TONE, "labeled_examples": 1000, "preference_pairs": 1000},
     "post_training", ["sft", "dpo"], False),
    ("verifier, 999 prompts, no skill", {"verifiable_reward": True, "rl_prompts": 999}, "prompt_engineering",
     ["prompt"], True),
    ("verifier, 1,000 prompts, no skill", {"verifiable_reward": True, "rl_prompts": 1000}, "post_training",
     ["grpo"], False),
    ("preference pairs, no goal", {"preference_pairs": 5000}, "prompt_engineering", ["prompt"], True),
    ("live data, tone pairs", {"needs_live_data": True, **TONE, "preference_pairs": 3000}, "post_training",
     ["rag", "dpo"], True),
    ("private docs, Q&A pairs, no goal", {"needs_private_knowledge": True, "labeled_examples": 3000}, "rag",
     ["rag"], True),
    ("private docs, instructions and examples", {"needs_private_knowledge": True, "num_instructions": 3,
                                                 "labeled_examples": 3000}, "post_training", ["rag", "sft"], True),
    ("small domain, tone pairs", {"new_domain": True, "domain_corpus_tokens": 5_000_000, **TONE,
                                  "preference_pairs": 2000}, "post_training", ["rag", "dpo"], True),
    ("safety, reliable, no data", {"target_skills": ["safety"], "must_be_reliable": True}, "post_training",
     ["sft"], True),
    ("function calling, SFT and DPO data", {"target_skills": ["function_calling"], "labeled_examples": 3000,
                                            "preference_pairs": 5000}, "post_training", ["sft", "dpo"], False),
    # The starting model (failure class 2): a base model gets SFT first.
    ("base model, nothing else", BASE, "post_training", ["sft"], True),
    ("base model, 40,000 instruction pairs", {**BASE, "labeled_examples": 40_000}, "post_training", ["sft"],
     False),
    ("base model, preference pairs only", {**BASE, **TONE, "preference_pairs": 8000}, "post_training",
     ["sft", "dpo"], True),
    ("base model, math with a verifier", {**BASE, **MATH, "rl_prompts": 5000}, "post_training", ["sft", "grpo"],
     True),
    ("base model, live data", {**BASE, "needs_live_data": True}, "post_training", ["rag", "sft"], True),
    ("base model, new domain", {**BASE, "new_domain": True, "domain_corpus_tokens": 2_000_000_000},
     "continued_pretraining", ["cpt", "sft"], True),
    ("base model, few instructions, 500 examples", {**BASE, "num_instructions": 2, "labeled_examples": 500},
     "post_training", ["sft"], True),
    ("instruct model, tone", {"model_kind": "instruct", **TONE}, "prompt_engineering", ["prompt"], False),
    ("instruct by name, 3 instructions", {"model": "Llama-3.1-8B-Instruct", "num_instructions": 3},
     "prompt_engineering", ["prompt"], False),
    ("base by name, examples", {"model": "acme/wren-7b-base", "labeled_examples": 3000}, "post_training",
     ["sft"], False),
    ("unknown kind, 2 instructions", {"model": "acme/wren-7b", "num_instructions": 2}, "prompt_engineering",
     ["prompt"], True),
    ("500M model, math", {"model_params": 500_000_000, **MATH, "rl_prompts": 5000}, "post_training", ["grpo"],
     True),
    ("999,999,999-parameter model, SQL", {"model_params": 999_999_999, **SQL, "labeled_examples": 2000},
     "post_training", ["sft"], True),
    ("1B model, SQL", {"model_params": 1_000_000_000, **SQL, "labeled_examples": 2000}, "post_training",
     ["sft"], False),
    ("500M model, tone only", {"model_params": 500_000_000, **TONE}, "prompt_engineering", ["prompt"], False),
    ("agent whose model calls its tools well", {"tools": ["posttrain.tools.calculator"], "calls_tools_well": True},
     "prompt_engineering", ["prompt"], True),
    ("agent in a checkable environment", {"environment": "posttrain.tools.Calculator", "verifiable_reward": True,
                                          "labeled_examples": 2000, "rl_prompts": 2000}, "post_training",
     ["sft", "grpo"], True),
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
        "regenerate: python -m advisor.guide > docs/decision-guide.md"


def test_decision_guide_covers_every_rule_and_runner_up():
    guide = render_decision_guide()
    assert all(f"### `{rule.id}`" in guide for rule in RULES)
    assert all(f"| `{fallback.id}` |" in guide for fallback in FALLBACKS)


def test_the_table_is_large():
    assert len(CASES) >= 80


# (spec, runner-up approach, its rule, cited in why-not)
RUNNER_UPS = [
    ({**TONE, "preference_pairs": 6000}, "prompt_engineering", "prompt-before-held-data", "6,000 preference pairs"),
    ({**TONE, "preference_pairs": 50}, "post_training", "train-with-more-data", "50 preference pairs"),
    ({"labeled_examples": 5000}, "post_training", "train-when-a-goal-is-stated", "5,000 prompt-response"),
    ({"num_instructions": 3}, "post_training", "train-when-the-prompt-falls-short", "no data"),
    ({**BASE, "labeled_examples": 40_000}, "prompt_engineering", "instruct-model-instead", "base model"),
    ({**SQL, "labeled_examples": 2000}, "prompt_engineering", "few-shot-for-skill", "sql"),
    ({"num_instructions": 25}, "prompt_engineering", "prompt-for-many-instructions", "25 instructions"),
    ({"must_be_reliable": True}, "prompt_engineering", "prompt-for-reliability", "less stable"),
    ({"new_domain": True, "domain_corpus_tokens": 2_000_000_000}, "rag", "rag-instead-of-cpt", "2,000,000,000"),
    ({"new_domain": True, "domain_corpus_tokens": 5_000_000}, "continued_pretraining", "cpt-for-small-domain",
     "5,000,000 tokens"),
    ({"needs_private_knowledge": True}, "post_training", "train-on-knowledge", "retrieved passages"),
    ({"needs_private_knowledge": True}, "post_training", "train-on-knowledge",
     "needs data you do not have: prompt-response examples for SFT"),
    ({"num_instructions": 3}, "post_training", "train-when-the-prompt-falls-short",
     "needs data you do not have: prompt-response examples for SFT"),
    ({"new_domain": True, "domain_corpus_tokens": 5_000_000, "labeled_examples": 2000}, "continued_pretraining",
     "cpt-for-small-domain", "erode chat behaviour"),
    ({"needs_live_data": True}, None, None, None),
    ({"needs_live_data": True, "needs_private_knowledge": True}, None, None, None),     # the guide: none for live data
    ({"needs_live_data": True, "new_domain": True, "domain_corpus_tokens": 5_000_000}, None, None, None),
    ({}, None, None, None),
]


@pytest.mark.parametrize("spec, approach, rule, cited", RUNNER_UPS)
def test_runner_up_and_why_not(spec, approach, rule, cited):
    alt = advise(spec).runner_up
    if approach is None:
        assert alt is None
        return
    assert (alt.approach, alt.rule) == (approach, rule)
    assert cited in alt.why_not and alt.source and alt.stages


def test_a_runner_up_names_only_the_data_the_spec_lacks():
    held = advise({"needs_private_knowledge": True, "labeled_examples": 2000}).runner_up
    assert held.rule == "train-on-knowledge" and "needs data you do not have" not in held.why_not
    small = advise({"new_domain": True, "domain_corpus_tokens": 5_000_000}).runner_up
    assert small.why_not.endswith("needs data you do not have: prompt-response examples for SFT")


def test_every_runner_up_is_exercised():
    assert {rule for _, _, rule, _ in RUNNER_UPS if rule} == {fallback.id for fallback in FALLBACKS}


def test_runner_up_is_shown_and_serialised():
    rec = advise({**TONE, "preference_pairs": 6000})
    assert "Runner-up: prompt_engineering (prompt): not first because" in str(rec)
    assert rec.to_dict()["runner_up"]["rule"] == "prompt-before-held-data"
