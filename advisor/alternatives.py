"""The runner-up: the next most reasonable approach after the primary one, and why it is not first.

A table like the rules: the first entry whose condition holds for (spec, primary approach) gives the
runner-up. No entry fits live data (weights cannot track changing facts) or an empty spec. A runner-up
that trains on data the spec does not hold says so ("needs data you do not have: ...").

>>> from advisor import advise
>>> rec = advise({"target_skills": ["tone"], "preference_pairs": 6000})
>>> rec.approach, rec.runner_up.approach
('post_training', 'prompt_engineering')
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from advisor.recommendation import Alternative
from advisor.rules import (BASE_MODEL, CODESIGN, MANY_INSTRUCTIONS, PROMPT_FIRST, RETRIEVAL, SCALES, SCENARIOS,
                           SMALL_SETS, TRAIN_IN_CONTEXT, TRAINING_RULES, behaviour_skills, enough_domain_text,
                           goal, held_data, is_base, skills_to_train, template_values)
from advisor.spec import TaskSpec

# The training rules that come from the task itself; the others come from the data held.
TASK_TRAINING = ("many-instructions", "reliability", "skill-to-improve", "domain-cpt", "base-model")


@dataclass(frozen=True)
class Fallback:
    """One runner-up: when it applies (given the primary approach), what it is, and why it is not first."""

    id: str
    primary: str
    when: str
    condition: Callable[[TaskSpec], bool]
    approach: str
    stages: Callable[[TaskSpec], list[str]]
    why_not: str
    source: str

    def alternative(self, spec: TaskSpec) -> Alternative:
        stages, why_not = self.stages(spec), self.why_not.format(**template_values(spec))
        lacking = missing_data(spec, stages)
        if lacking:
            why_not += f"; needs data you do not have: {', '.join(lacking)}"
        return Alternative(rule=self.id, approach=self.approach, stages=stages, why_not=why_not, source=self.source)


def missing_data(spec: TaskSpec, stages: list[str]) -> list[str]:
    """What the training stages among `stages` learn from and the spec does not hold, in words."""
    from posttrain.stages import find_stage

    nouns = {"labeled_examples": "prompt-response examples", "preference_pairs": "preference pairs",
             "rl_prompts": "RL prompts"}
    missing = []
    for stage in stages:
        method = find_stage(stage)
        if method is None:                     # a prompt, retrieval: no training data
            continue
        if method.advice.count is None and method.advice.tokens:      # text counted in tokens (CPT)
            held, noun = getattr(spec, method.advice.tokens) or 0, "domain text"
        else:
            held = spec.rows_for(stage)
            noun = method.advice.noun or nouns.get(method.advice.count or "", "rows")
        if not held:
            missing.append(f"{noun} for {stage.upper()}")
    return missing


def data_stages(spec: TaskSpec) -> list[str]:
    """The training stages the data held makes (SFT when none)."""
    from advisor.rules import training_methods

    stages = [method.advisor_name for method in training_methods() if method.wanted(spec)]
    return stages or ["sft"]


def trained_by_data_only(spec: TaskSpec) -> bool:
    fired = {rule.id for rule in TRAINING_RULES if rule.applies(spec)}
    return bool(fired) and not fired & set(TASK_TRAINING)


def _prompt(spec: TaskSpec) -> list[str]:
    return ["prompt", "rag"] if spec.needs_live_data or spec.needs_private_knowledge else ["prompt"]


FALLBACKS = (
    Fallback("instruct-model-instead", "post_training", "the starting model is a base model", is_base,
             "prompt_engineering", lambda s: ["prompt"],
             why_not="a base model cannot be prompted into following instructions; prompting works only after "
                     "switching to the instruction-tuned version of the model, which gives up your own SFT",
             source=BASE_MODEL),
    Fallback("prompt-before-held-data", "post_training", "training comes only from the data held",
             trained_by_data_only, "prompt_engineering", _prompt,
             why_not="a prompt fits the goal ({goal}) and costs nothing, but it is less stable and leaves the "
                     "{held} unused; run it first as the baseline the training must beat",
             source=f"{SCENARIOS}; {PROMPT_FIRST}"),
    Fallback("few-shot-for-skill", "post_training", "a capability skill to train",
             lambda s: bool(skills_to_train(s)), "prompt_engineering", _prompt,
             why_not="few-shot examples in a prompt are the baseline to beat, but prompting cannot add a skill "
                     "({skills_to_train}) the model lacks", source=SCENARIOS),
    Fallback("prompt-for-many-instructions", "post_training", f"{MANY_INSTRUCTIONS}+ instructions",
             lambda s: s.num_instructions >= MANY_INSTRUCTIONS, "prompt_engineering", _prompt,
             why_not="{num_instructions} instructions in one prompt are followed unevenly; keep the prompt as "
                     "the baseline and for the rules training misses", source=SCENARIOS),
    Fallback("prompt-for-reliability", "post_training", "must_be_reliable", lambda s: s.must_be_reliable,
             "prompt_engineering", _prompt,
             why_not="a prompt is simple but less stable, and the behaviour must hold every time",
             source=SCENARIOS),
    Fallback("rag-instead-of-cpt", "continued_pretraining", "a new domain with enough text", enough_domain_text,
             "rag", lambda s: ["rag"],
             why_not="retrieval over the same {domain_corpus_tokens:,} tokens answers at once and cites its "
                     "sources, but it does not teach the domain's language and reasoning; at {cpt_min:,}+ "
                     "tokens continued pre-training can", source=f"{SCENARIOS}; {RETRIEVAL}"),
    Fallback("cpt-for-small-domain", "rag", "a new domain with too little text, no live data",
             lambda s: s.new_domain and not enough_domain_text(s) and not s.needs_live_data, "continued_pretraining",
             lambda s: ["cpt", "sft"],
             why_not="{domain_corpus_tokens:,} tokens is below the ~{cpt_min:,} continued pre-training needs "
                     "to teach a domain; it would overfit and erode chat behaviour", source=SCENARIOS),
    Fallback("train-on-knowledge", "rag", "private knowledge, no live data",
             lambda s: s.needs_private_knowledge and not s.needs_live_data,
             "post_training", lambda s: ["rag", *data_stages(s)],
             why_not="facts trained into weights are hard to update and cannot be cited; train only if "
                     "retrieval measurably falls short, and then with retrieved passages in the prompts",
             source=f"{RETRIEVAL}; {TRAIN_IN_CONTEXT}"),
    Fallback("train-with-more-data", "prompt_engineering", "a goal and data below scale",
             lambda s: bool(goal(s)) and bool(held_data(s)), "post_training", data_stages,
             why_not="the data held ({held}) is below the ~{held_min:,} examples that reliably change "
                     "behaviour; collect more, and use what you have as the prompt's eval set",
             source=f"{SCALES}; {SMALL_SETS}"),
    Fallback("train-when-a-goal-is-stated", "prompt_engineering", "data held but no goal stated",
             lambda s: bool(held_data(s)) and not goal(s), "post_training", data_stages,
             why_not="the spec states no goal for training (target_skills, instructions or must_be_reliable); "
                     "state one to train on the {held}", source=CODESIGN),
    Fallback("train-when-the-prompt-falls-short", "prompt_engineering", "instructions or behaviours, no data",
             lambda s: bool(s.num_instructions or behaviour_skills(s)), "post_training", lambda s: ["sft"],
             why_not="no data to train on, and the task fits a prompt; collect ~1,000 examples and train (SFT, "
                     "or DPO on preference pairs) if evals show the prompt is not stable enough",
             source=f"{SCENARIOS}; {PROMPT_FIRST}"),
)


def runner_up(spec: TaskSpec, approach: str) -> Alternative | None:
    """The first fallback that fits the primary `approach` and the spec, or None."""
    return next((fb.alternative(spec) for fb in FALLBACKS if fb.primary == approach and fb.condition(spec)), None)
