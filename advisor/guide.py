"""The decision guide (docs/decision-guide.md), rendered from the rules and runner-up tables so they
cannot drift: `python -m advisor.guide > docs/decision-guide.md`.

>>> render_decision_guide().startswith("# Decision guide")
True
"""

from __future__ import annotations

import re

from advisor.alternatives import FALLBACKS
from advisor.benchmarks import OFFLINE, PUBLIC, SOURCE
from advisor.decide import advise
from advisor.guide_compute import compute_section, compare_section
from advisor.rules import (APPROACH_PRECEDENCE, CHECK_RULES, CPT_MIN_TOKENS, HELD_MIN, MANY_INSTRUCTIONS,
                           MIN_EXAMPLES, NEED_RULES, PAIR_TOKENS, RL_PROMPTS, SCALE_RULES, SMALL_MODEL_PARAMS, Rule,
                           all_rules, stage_order, stage_rules)

GUIDE_EXAMPLES: tuple[tuple[str, dict[str, object]], ...] = (
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
    ("Warmer tone, 6,000 preference pairs held", {"target_skills": ["tone"], "preference_pairs": 6000}),
    ("Warmer tone, 50 preference pairs held", {"target_skills": ["tone"], "preference_pairs": 50}),
    ("Base model, 40,000 instruction pairs", {"model_kind": "base", "labeled_examples": 40_000}),
    ("Base model, preference pairs only", {"model_kind": "base", "target_skills": ["tone"],
                                           "preference_pairs": 8000}),
    ("Data but no goal stated (conflict)", {"labeled_examples": 5000}),
    ("Empty spec", {}),
)


def render_decision_guide() -> str:
    """The decision guide in Markdown, generated from the rules (docs/decision-guide.md holds its output)."""
    sections = [_guide_intro(), _guide_thresholds()]
    groups = (("Choosing the approach", NEED_RULES), ("Choosing the stages", stage_rules()),
              ("Checks", CHECK_RULES), ("Data scale", SCALE_RULES))
    sections += [_guide_rules(title, rules) for title, rules in groups]
    sections += [_guide_runner_up(), _guide_model(), _guide_agents(), _guide_examples(), compute_section(), compare_section(),
                 _guide_evals(), _guide_sources()]
    return "\n\n".join(sections) + "\n"


def _guide_intro() -> str:
    return f"""# Decision guide: prompt, retrieve, or train?

Generated from the rules table in `advisor/rules.py`, the runner-up table in `advisor/alternatives.py`
and the compute model in `advisor/compute.py` (`python -m advisor.guide > docs/decision-guide.md`); a
test keeps them identical. `advise(task)` applies exactly these rules.

## How a decision is made

1. Every rule whose condition holds for the task spec fires; each fired rule gives a reason (citing the
   spec's values) or a warning, and most recommend an approach and/or a stage.
2. The approach is the most demanding one recommended, in this order:
   {" > ".join(f"`{a}`" for a in APPROACH_PRECEDENCE)}.
   The other recommendations stay as stages, so conflicting signals combine: changing data *and* a
   skill to train gives `post_training` with a `rag` stage in front of the training stages.
3. Stages are listed in this order: {", ".join(f"`{s}`" for s in stage_order())}. Training stages come from the
   data available (co-design of data and algorithm), and chain: SFT, then DPO, then GRPO.
4. What you hold weighs in: data for a method, at the scale that reliably changes behaviour (about
   {HELD_MIN:,} examples or preference pairs, {RL_PROMPTS[0]:,} prompts with a verifier), makes training
   the answer for a stated goal (skills, instructions or reliability), even where a prompt would fit.
   Data with no goal stated does not: it becomes the prompt's eval set. A base model is trained (SFT)
   whatever the task, since no prompt turns it into an assistant.
5. The runner-up is the next reasonable approach, with why it is not first (table below); there is
   none for live data (weights cannot track changing facts) or an empty spec.
6. A plan that trains gets a compute estimate: memory for full, LoRA and QLoRA per stage on your
   hardware, the method that fits, and the tokens to process (section "Compute" below). When
   retrieval and training are both plausible, the advice points to `rag_baseline.compare()`.

## Retrieval: which reader, which arm

When the advice is retrieval, `route(documents=...)` builds the RAG baseline, and what answers from the
retrieved passages decides most of the score (`compare()` reports retrieval recall and reader accuracy
apart, so the report shows which part fails):

- **A reader** (rule `rag-reader`) when retrieval finds the passage but the model misreads it (recall
  high, reader accuracy low): with the default model, route() serves the shipped reader adapter
  (`rag_baseline.reader`), trained on passages that share nothing with yours; with another model,
  `route(reader="train")` trains one by the same recipe.
- **RAFT** (rule `rag-fixed-documents`) when the documents are fixed and known and questions about them
  are held: `raft_pipeline` trains the reader on those very documents (retrain when they change).
- **A search agent** (rule `rag-multi-hop`) when questions need more than one lookup (a fact found, then
  another that depends on it): one retrieval for the whole question cannot know what the second lookup
  needs. `rag_baseline.search` trains one (`search_pipeline`: a cold start on worked searches, then GRPO in
  `search_environment(rag)`) and `compare()` scores it as the arm `SearchAgent(rag, model)`, with searches
  per answer in its cost. Measured here with the default model (docs/results.md): after an 18-minute cold start on passages of several facts it read the answer when it stopped (0.42 of the open questions when made to answer at a repeated search, against 0.76 for RAG + the reader) but did not write the second query a two-hop question needs, and answered 0 of 12 two-hop questions against 5 for RAG + the reader; until a longer run beats it there, RAG + the reader is the arm to deploy and the search agent the one to measure on your own two-hop questions.

The measurements behind these are in `docs/results.md`."""


def _guide_thresholds() -> str:
    rows = [("Many instructions", f"{MANY_INSTRUCTIONS} or more"),
            ("Continued pre-training", f"at least {CPT_MIN_TOKENS:,} tokens of domain text"),
            ("SFT / DPO data", f"{PAIR_TOKENS[0]:,} to {PAIR_TOKENS[1]:,} tokens"),
            ("SFT / DPO examples (tokens unknown)", f"at least {MIN_EXAMPLES:,}"),
            ("Held data that replaces a prompt", f"{HELD_MIN:,} examples or preference pairs; "
                                                f"{RL_PROMPTS[0]:,} prompts with a verifier"),
            ("Small model for a capability skill", f"under {SMALL_MODEL_PARAMS:,} parameters (a warning)"),
            ("Online RL (GRPO) prompts", f"{RL_PROMPTS[0]:,} to {RL_PROMPTS[1]:,}")]
    return "## Thresholds\n\n| Signal | Threshold |\n| :--- | :--- |\n" + \
        "\n".join(f"| {name} | {value} |" for name, value in rows)


def _guide_rules(title: str, rules: tuple[Rule, ...]) -> str:
    parts = [f"## {title}"]
    for rule in rules:
        recommends = ", ".join(f"`{x}`" for x in (rule.approach, rule.stage) if x) \
            or ("a reason only" if rule.message and not rule.warning else "a warning only")
        lines = [f"### `{rule.id}`", "", f"- **When:** {rule.when}", f"- **Recommends:** {recommends}",
                 f"- **Why:** {rule.why}", f"- **Source:** {rule.source}"]
        if rule.warning and (rule.approach or rule.stage):
            lines.insert(4, "- **Also warns:** what data to collect")
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def _guide_runner_up() -> str:
    lines = ["## The runner-up", "", "The first row that fits the primary approach and the spec gives the "
             "runner-up shown with every recommendation.", "",
             "| Id | Primary | When | Runner-up | Why not first | Source |",
             "| :--- | :--- | :--- | :--- | :--- | :--- |"]
    for fb in FALLBACKS:
        why_not = re.sub(r"\{(\w+)(?::[^}]*)?\}", r"<\1>", fb.why_not)
        lines.append(f"| `{fb.id}` | `{fb.primary}` | {fb.when} | `{fb.approach}` | {why_not} | {fb.source} |")
    return "\n".join(lines)


def _guide_model() -> str:
    return """## The starting model

`model` names it ("default", a hub id or a local folder). Its files are read when they are on this
machine, never downloaded: the folder itself, the Hugging Face cache, or the library's converted
default model. A chat template (`chat_template.jinja`, or `chat_template` in `tokenizer_config.json`)
marks an instruction-tuned model; a name with a marker (`Instruct`, `chat`, `-it`, `base`) decides
when it says which, since some base models ship a chat template. The parameter count comes from the
safetensors headers, else from `config.json`, else from the name (`1.5B`, `135M`). `model_kind` and
`model_params` in the spec win over anything read; what was found is `rec.model_info`."""


def _guide_agents() -> str:
    return """## Agents: tools and environments

A spec says the model must call tools with `tools` (dotted paths to typed, documented functions) or act in
an `environment` (a class with `reset(**row)`, tool methods and optionally `get_reward()`), whether
episodes take several turns (`multi_turn`), whether success can be checked (`verifiable_reward`) and
whether the model already calls the tools well (`calls_tools_well`, measured with the `function_calling`
or `tool_episodes` evals). Three rules follow, each citing its source:

- `tools-by-prompt`: a model that already calls well gets the tools' descriptions in its prompt (the chat
  template renders their schemas); that prompt is the baseline training must beat.
- `tool-sft-cold-start`: otherwise SFT on a few hundred worked tool-call chats comes first, so that RL
  starts from episodes that sometimes succeed.
- `environment-grpo`: where success can be checked, GRPO in the environment (`.grpo(..., tools=[...])` or
  `.grpo(..., environment=...)`): each episode calls the tools (up to `max_tool_turns` rounds), each call
  limited by `tool_timeout_s`, and the checked outcome is the reward.

`template-drops-tools` warns when the model's own chat template drops tool definitions and calls (the
default model's does); `route()` then sets `chat_template='chatml-tools'` on the SFT and GRPO stages and
hands the spec's tools and environment to the GRPO stage. `examples/calculator_agent.py` runs the whole
path on arithmetic word problems with a calculator tool."""


def _guide_examples() -> str:
    lines = ["## Worked examples", "", "| Task | Spec | Approach | Stages | Runner-up | Warnings |",
             "| :--- | :--- | :--- | :--- | :--- | :--- |"]
    for name, fields in GUIDE_EXAMPLES:
        rec = advise(fields)
        warnings = ", ".join(f"`{w.rsplit('[', 1)[1].rstrip(']')}`" for w in rec.warnings) or "none"
        spec = ", ".join(f"{key}={_shown(value)}" for key, value in fields.items()) or "(empty)"
        alt = f"`{rec.runner_up.approach}`" if rec.runner_up else "none"
        lines.append(f"| {name} | {spec} | `{rec.approach}` | {', '.join(rec.stages)} | {alt} | {warnings} |")
    return "\n".join(lines)


def _shown(value: object) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def _guide_evals() -> str:
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
    cited = [rule.source for rule in all_rules()] + [fallback.source for fallback in FALLBACKS]
    sources = dict.fromkeys(part.strip() for source in cited for part in source.split(";"))
    return "## Sources\n\n" + "\n".join(f"- {source}" for source in sources)


if __name__ == "__main__":
    print(render_decision_guide(), end="")

