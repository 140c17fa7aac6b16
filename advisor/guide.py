"""The decision guide (docs/decision-guide.md), rendered from the rules table so the two cannot drift."""

from __future__ import annotations

from advisor.rules import (APPROACH_PRECEDENCE, CHECK_RULES, CPT_MIN_TOKENS, MANY_INSTRUCTIONS, MIN_EXAMPLES,
                           NEED_RULES, PAIR_TOKENS, RL_PROMPTS, RULES, SCALE_RULES, STAGE_RULES, STAGES, Rule,
                           decide, fired)
from advisor.spec import TaskSpec

GUIDE_EXAMPLES = (
    ("Follow a 25-point policy, 8,000 examples", {"num_instructions": 25, "labeled_examples": 8000}),
    ("Avoid three sensitive topics", {"num_instructions": 3}),
    ("Answer from a live database", {"needs_live_data": True}),
    ("Better SQL over a live database (conflict)", {"needs_live_data": True, "target_skills": ["sql"],
                                                    "labeled_examples": 5000}),
    ("Medical model, 2B tokens of text, 3,000 Q&A pairs", {"new_domain": True,
                                                           "domain_corpus_tokens": 2_000_000_000,
                                                           "labeled_examples": 3000}),
    ("Math with a checker: SFT, then GRPO", {"target_skills": ["math"], "labeled_examples": 2000,
                                             "rl_prompts": 5000, "verifiable_reward": True}),
    ("Data but no reason to train (conflict)", {"labeled_examples": 5000}),
    ("Empty spec", {}),
)


def render() -> str:
    """The whole guide, in Markdown."""
    sections = [_guide_intro(), _guide_thresholds()]
    groups = (("Choosing the approach", NEED_RULES), ("Choosing the stages", STAGE_RULES),
              ("Checks", CHECK_RULES), ("Data scale", SCALE_RULES))
    sections += [_guide_rules(title, rules) for title, rules in groups]
    sections += [_guide_examples(), _guide_evals(), _guide_sources()]
    return "\n\n".join(sections) + "\n"


def _guide_intro() -> str:
    return f"""# Decision guide: prompt, retrieve, or train?

Generated from the rules table in `advisor/rules.py` (`python -m advisor.rules > docs/decision-guide.md`);
a test keeps the two identical. `advise(task)` applies exactly these rules.

## How a decision is made

1. Every rule whose condition holds for the task spec fires; each fired rule gives a reason (citing the
   spec's values) or a warning, and most recommend an approach and/or a stage.
2. The approach is the most demanding one recommended, in this order:
   {" > ".join(f"`{a}`" for a in APPROACH_PRECEDENCE)}.
   The other recommendations stay as stages, so conflicting signals combine: changing data *and* a
   skill to train gives `post_training` with a `rag` stage in front of the training stages.
3. Stages are listed in this order: {", ".join(f"`{s}`" for s in STAGES)}. Training stages come from the
   data available (co-design of data and algorithm), and chain: SFT, then DPO, then GRPO.
4. The task decides *whether* to train; the data decides *how*. Data alone never triggers training."""


def _guide_thresholds() -> str:
    rows = [("Many instructions", f"{MANY_INSTRUCTIONS} or more"),
            ("Continued pre-training", f"at least {CPT_MIN_TOKENS:,} tokens of domain text"),
            ("SFT / DPO data", f"{PAIR_TOKENS[0]:,} to {PAIR_TOKENS[1]:,} tokens"),
            ("SFT / DPO examples (tokens unknown)", f"at least {MIN_EXAMPLES:,}"),
            ("Online RL (GRPO) prompts", f"{RL_PROMPTS[0]:,} to {RL_PROMPTS[1]:,}")]
    return "## Thresholds\n\n| Signal | Threshold |\n| :--- | :--- |\n" + \
        "\n".join(f"| {name} | {value} |" for name, value in rows)


def _guide_rules(title: str, rules: tuple[Rule, ...]) -> str:
    parts = [f"## {title}"]
    for rule in rules:
        recommends = ", ".join(f"`{x}`" for x in (rule.approach, rule.stage) if x) or "a warning only"
        lines = [f"### `{rule.id}`", "", f"- **When:** {rule.when}", f"- **Recommends:** {recommends}",
                 f"- **Why:** {rule.why}", f"- **Source:** {rule.source}"]
        if rule.warning and (rule.approach or rule.stage):
            lines.insert(4, "- **Also warns:** what data to collect")
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def _guide_examples() -> str:
    lines = ["## Worked examples", "", "| Task | Spec | Approach | Stages | Warnings |",
             "| :--- | :--- | :--- | :--- | :--- |"]
    for name, fields in GUIDE_EXAMPLES:
        rules = fired(TaskSpec(**fields))
        approach, stages = decide(rules)
        warnings = ", ".join(f"`{r.id}`" for r in rules if r.warning) or "none"
        spec = ", ".join(f"{key}={_shown(value)}" for key, value in fields.items()) or "(empty)"
        lines.append(f"| {name} | {spec} | `{approach}` | {', '.join(stages)} | {warnings} |")
    return "\n".join(lines)


def _shown(value: object) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def _guide_evals() -> str:
    from advisor.benchmarks import OFFLINE, PUBLIC, SOURCE

    lines = ["## Evaluations suggested", "", "Per skill (and per need: knowledge for retrieval, domain for a new "
             "domain, regression whenever training), the public benchmarks to watch and the offline "
             f"`posttrain.evals` that measure the same on your data. Source: {SOURCE}.", "",
             "| Topic | Public benchmarks | Offline evals |", "| :--- | :--- | :--- |"]
    for topic in dict.fromkeys([*PUBLIC, *OFFLINE]):
        public = ", ".join(PUBLIC.get(topic, ())) or "-"
        offline = ", ".join(f"`{name}`" for name in OFFLINE.get(topic, ())) or "-"
        lines.append(f"| {topic} | {public} | {offline} |")
    return "\n".join(lines)


def _guide_sources() -> str:
    sources = dict.fromkeys(part.strip() for rule in RULES for part in rule.source.split(";"))
    return "## Sources\n\n" + "\n".join(f"- {source}" for source in sources)

