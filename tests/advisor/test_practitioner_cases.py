"""Task specs written as a practitioner would, each with the call a practitioner would make.

The table was written before the advisor's second edition (issue 16), from how teams describe their
situation (what they want and what they hold), not from the advisor's rules. The advisor must agree on
the approach in every case; stage agreement is checked too. Fields a spec states that an older advisor
did not know (the starting model) are part of how the practitioner describes the task.
"""

from __future__ import annotations

import pytest

from advisor import advise

# (case, spec, expected approach, expected stages)
PRACTITIONER = [
    ("warmer, shorter tone from rated replies", {
        "description": "Replies should be warmer and shorter; thumbs-up/down ratings give preference pairs",
        "target_skills": ["tone"], "preference_pairs": 6000}, "post_training", ["dpo"]),
    ("base model with instruction data", {
        "description": "Turn our base checkpoint into an assistant", "model": "Qwen2.5-1.5B",
        "model_kind": "base", "labeled_examples": 40_000}, "post_training", ["sft"]),
    ("open-ended answer quality, preference pairs, no verifier", {
        "description": "Better answers to open-ended customer questions", "target_skills": ["chat"],
        "preference_pairs": 12_000}, "post_training", ["dpo"]),
    ("avoid two sensitive topics", {
        "description": "Do not discuss politics or competitors", "num_instructions": 2},
     "prompt_engineering", ["prompt"]),
    ("stock levels from the warehouse database", {
        "description": "Tell store staff how many units are in stock", "needs_live_data": True}, "rag", ["rag"]),
    ("HR handbook questions", {
        "description": "Answer employees' questions from the HR handbook", "needs_private_knowledge": True},
     "rag", ["rag"]),
    ("medical model from a large corpus", {
        "description": "A clinical assistant", "new_domain": True, "domain_corpus_tokens": 3_000_000_000,
        "labeled_examples": 10_000}, "continued_pretraining", ["cpt", "sft"]),
    ("legal domain, small corpus", {
        "description": "Questions on maritime law", "new_domain": True, "domain_corpus_tokens": 40_000_000},
     "rag", ["rag"]),
    ("text-to-SQL with execution checks", {
        "description": "Write SQL for our warehouse schema", "target_skills": ["sql"],
        "labeled_examples": 5000, "verifiable_reward": True}, "post_training", ["sft", "grpo"]),
    ("math word problems with answers", {
        "description": "Solve grade-school word problems", "target_skills": ["math"], "rl_prompts": 8000,
        "verifiable_reward": True}, "post_training", ["grpo"]),
    ("tool calls from recorded traces", {
        "description": "Call our booking API correctly", "target_skills": ["function calling"],
        "labeled_examples": 3000}, "post_training", ["sft"]),
    ("25-point house policy with examples", {
        "description": "Follow the editorial policy", "num_instructions": 25, "labeled_examples": 6000},
     "post_training", ["sft"]),
    ("30 rules, no data yet", {
        "description": "Follow the compliance checklist", "num_instructions": 30}, "post_training", ["sft"]),
    ("a name and a persona, nothing else", {
        "description": "Introduce itself as Ava from Northwind", "target_skills": ["identity"]},
     "prompt_engineering", ["prompt"]),
    ("a persona with preference pairs", {
        "description": "Always present as Ava from Northwind", "target_skills": ["identity"],
        "preference_pairs": 2500}, "post_training", ["dpo"]),
    ("JSON ticket summaries, 200 examples", {
        "description": "Summarise support tickets as JSON", "num_instructions": 2, "labeled_examples": 200},
     "prompt_engineering", ["prompt"]),
    ("friendlier tone, 50 pairs", {
        "description": "Sound friendlier", "target_skills": ["tone"], "preference_pairs": 50},
     "prompt_engineering", ["prompt"]),
    ("base model, 500 instruction pairs", {
        "description": "A chat model from our base checkpoint", "model_kind": "base", "target_skills": ["chat"],
        "labeled_examples": 500}, "post_training", ["sft"]),
    ("code with unit tests", {
        "description": "Write Python functions that pass our tests", "target_skills": ["code"],
        "rl_prompts": 20_000, "verifiable_reward": True}, "post_training", ["grpo"]),
    ("today's news", {"description": "Summarise today's headlines", "needs_live_data": True}, "rag", ["rag"]),
    ("live prices and 25 format rules", {
        "description": "Quote current prices in our report format", "needs_live_data": True,
        "num_instructions": 25, "labeled_examples": 5000}, "post_training", ["rag", "sft"]),
    ("reasoning from worked solutions", {
        "description": "Reason step by step on logic puzzles", "target_skills": ["reasoning"],
        "labeled_examples": 10_000}, "post_training", ["sft"]),
    ("refuse harmful requests every time", {
        "description": "Refuse harmful requests", "target_skills": ["safety"], "must_be_reliable": True,
        "preference_pairs": 3000}, "post_training", ["dpo"]),
    ("a general staff assistant", {"description": "A general assistant for our staff"},
     "prompt_engineering", ["prompt"]),
    ("support transcripts in the agents' style", {
        "description": "Answer like our best support agents", "target_skills": ["tone"],
        "labeled_examples": 20_000}, "post_training", ["sft"]),
    ("base model with preference pairs only", {
        "description": "A polite assistant from a base checkpoint", "model_kind": "base",
        "target_skills": ["tone"], "preference_pairs": 8000}, "post_training", ["sft", "dpo"]),
    ("product docs and some Q&A pairs", {
        "description": "Answer questions about our product manuals", "needs_private_knowledge": True,
        "labeled_examples": 3000}, "rag", ["rag"]),
    ("live exchange rates in a friendly voice", {
        "description": "Give today's exchange rates, friendly", "needs_live_data": True, "num_instructions": 2},
     "rag", ["prompt", "rag"]),
    ("math from written solutions, no checker", {
        "description": "Explain algebra solutions", "target_skills": ["math"], "labeled_examples": 2000},
     "post_training", ["sft"]),
]


@pytest.mark.parametrize("spec, approach, stages", [case[1:] for case in PRACTITIONER],
                         ids=[case[0] for case in PRACTITIONER])
def test_practitioner_call(spec, approach, stages):
    rec = advise(spec)
    assert (rec.approach, rec.stages) == (approach, stages), [r.rule for r in rec.reasons]


def agreement(advise_fn=advise, known_fields=None) -> tuple[int, int, int]:
    """(approach agreements, stage agreements, cases); fields the advisor does not know are left out."""
    approaches = stages = 0
    for _, spec, approach, expected_stages in PRACTITIONER:
        given = {k: v for k, v in spec.items() if known_fields is None or k in known_fields}
        rec = advise_fn(given)
        approaches += rec.approach == approach
        stages += (rec.approach, rec.stages) == (approach, expected_stages)
    return approaches, stages, len(PRACTITIONER)
