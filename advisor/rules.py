"""The decision rules, as data: each has an id, a condition over the spec, what it recommends, a message
citing the spec's values, why it holds, and where it comes from. `docs/decision-guide.md` is rendered
from this table by `advisor.guide.render_decision_guide()`.

>>> from advisor.rules import fired
>>> from advisor.spec import TaskSpec
>>> [rule.id for rule in fired(TaskSpec(num_instructions=3))]
['few-instructions']
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from advisor.spec import BEHAVIOUR_SKILLS, CAPABILITY_SKILLS, TaskSpec

MANY_INSTRUCTIONS = 20
CPT_MIN_TOKENS = 1_000_000_000
PAIR_TOKENS = (1_000, 1_000_000_000)      # SFT and DPO data scale
RL_PROMPTS = (1_000, 10_000_000)          # online RL data scale
MIN_EXAMPLES = 1_000                      # when tokens are unknown, the example count is the check
# Held data replaces a prompt from this many examples (pairs, preference pairs; RL prompts: RL_PROMPTS[0]).
HELD_MIN = MIN_EXAMPLES
SMALL_MODEL_PARAMS = 1_000_000_000        # below it, capability gains from training are small

APPROACHES = ("prompt_engineering", "rag", "continued_pretraining", "post_training")
BASELINES = ("prompt", "rag")


def training_methods() -> list[Any]:
    """The registered training methods (`posttrain.stages`), in chain order: the advisor knows what the
    trainer knows."""
    from posttrain.stages import by_order

    return by_order()


def stage_order() -> tuple[str, ...]:
    """Every stage name the advice can hold, in the order a plan lists them: the baselines, then the
    registered training methods under their advisor names ("cpt" for pretrain)."""
    return BASELINES + tuple(method.advisor_name for method in training_methods())


def training_names() -> tuple[str, ...]:
    """The advisor's names of the registered training methods."""
    return tuple(method.advisor_name for method in training_methods())


# When rules recommend several approaches, the one needing the most work wins; the others stay as stages.
APPROACH_PRECEDENCE = ("continued_pretraining", "post_training", "rag", "prompt_engineering")

SCENARIOS = "Course notes, 'LLM Post-training Scenarios' table"
SCALES = "Course notes, 'Deep Dive into Post-Training Methods' table (data scale column)"
METHODS = "Course notes, 'Overview of Post-Training Methods' table (data required)"
CODESIGN = "Course notes, 'Key Ingredients': co-design of data and algorithms"
PROMPT_FIRST = ("Public guidance: start with prompting and evals, train only when a measured baseline "
                "falls short (e.g. OpenAI's 'Optimizing LLM accuracy' guide)")
RETRIEVAL = ("Public guidance: knowledge that changes, or that the model never saw, belongs in retrieval "
             "(Lewis et al., 2020, 'Retrieval-Augmented Generation')")
TRAIN_IN_CONTEXT = ("Public guidance: fine-tuning without the documents in context can hurt later RAG, so "
                    "train with retrieved passages in the prompt (Zhang et al., 2024, 'RAFT')")
SMALL_SETS = "Public guidance: about 1,000 curated examples can be enough (Zhou et al., 2023, 'LIMA')"
BASE_MODEL = ("Course notes, 'Introduction to Post-training Concepts': a base model becomes an instruction "
              "model through initial post-training on selected response data")
DISTILL = ("Public guidance: on small models, SFT on a stronger model's answers beats RL for reasoning "
           "(DeepSeek-AI, 2025, 'DeepSeek-R1', distillation section)")

TOOL_USE = ("Public guidance: describe tools in the prompt (their schemas) when the model already calls them "
            "(Schick et al., 2023, 'Toolformer'; the chat templates' tool support); a short SFT cold start on "
            "worked traces before RL (DeepSeek-AI, 2025, 'DeepSeek-R1', cold start); RL on checked outcomes of "
            "tool-using episodes (Qian et al., 2025, 'ToolRL: Reward is All Tool Learning Needs')")

RAFT = ("Public guidance: a model trained on questions about a fixed set of documents, asked with retrieved "
        "passages among distractors, reads them better (Zhang et al., 2024, 'RAFT')")
READER = (f"{RAFT}; measured here: docs/results.md, 'The routed RAG reader' (rag_baseline.reader, trained on "
          "examples/data/reading only)")
SEARCH = ("Public guidance: models trained with RL to call a search engine, read and search again answer "
          "multi-hop questions better than one retrieval (Jin et al., 2025, 'Search-R1'; Song et al., 2025, "
          "'R1-Searcher')")
CALCULATOR = ("measured here: docs/results.md, 'A calculator agent' (examples/calculator_agent.py: one call "
              "with the whole expression against a call per step)")
#: What the shipped reader gave on held-out documents (docs/results.md, 'The routed RAG reader').
READER_GAIN = ("held-out open answers by exact match 0.00 -> 0.76 and 0.00 -> 0.88 on two corpora, "
               "paired p < 1e-9, at no serving cost")

REPLAY = ("Public guidance: replaying a small share of earlier or general data during fine-tuning limits "
          "forgetting (Scialom et al., 2022, 'Fine-tuned Language Models are Continual Learners'; "
          "Ouyang et al., 2022, 'Training language models to follow instructions', pretraining mix)")


@dataclass(frozen=True)
class Rule:
    """One decision rule. `message` becomes a reason, `warning` a warning; both are templates over
    the spec's fields (and the derived values of `template_values`)."""

    id: str
    when: str
    condition: Callable[[TaskSpec], bool]
    why: str
    source: str
    approach: str | None = None
    stage: str | None = None
    message: str = ""
    warning: str = ""

    def applies(self, spec: TaskSpec) -> bool:
        return bool(self.condition(spec))

    def explain(self, spec: TaskSpec) -> str:
        return self.message.format(**template_values(spec))

    def warn(self, spec: TaskSpec) -> str:
        return self.warning.format(**template_values(spec))


def template_values(spec: TaskSpec) -> dict[str, Any]:
    """The spec's fields plus derived values the messages cite."""
    return {**spec.model_dump(), "skills_to_train": ", ".join(skills_to_train(spec)),
            "behaviour_skills": ", ".join(behaviour_skills(spec)),
            "many": MANY_INSTRUCTIONS, "cpt_min": CPT_MIN_TOKENS, "rl_min": RL_PROMPTS[0],
            "rl_max": RL_PROMPTS[1], "held_min": HELD_MIN, "goal": ", ".join(goal(spec)),
            "held": ", ".join(held_data(spec)) or "no data", "model_named": f" ({spec.model})" if spec.model else "",
            "small": f"{SMALL_MODEL_PARAMS / 1e9:g}B",
            "distill_hint": distill_hint(spec), "agent_target": agent_target(spec),
            **{f"rows_{method.kind}": spec.rows_for(method.kind) for method in training_methods()},
            "params": f"{spec.model_params / 1e9:.2g}B" if spec.model_params else "unknown"}


# --- predicates the conditions are made of -------------------------------------------------------------

def distill_hint(spec: TaskSpec) -> str:
    """Where the distillation advice leads: the `distill` stage when a teacher is named, else how to get one."""
    if spec.teacher_model:
        return (f" (a `distill` stage from {spec.teacher_model} is in the plan)" if spec.rl_prompts
                else f" (give prompts, rl_prompts, for a `distill` stage from {spec.teacher_model})")
    return " (name a teacher_model, and give prompts, for a `distill` stage)"


def skills_to_train(spec: TaskSpec) -> list[str]:
    return [skill for skill in spec.target_skills if skill in CAPABILITY_SKILLS]


def behaviour_skills(spec: TaskSpec) -> list[str]:
    return [skill for skill in spec.target_skills if skill in BEHAVIOUR_SKILLS]


def enough_domain_text(spec: TaskSpec) -> bool:
    return spec.new_domain and spec.domain_corpus_tokens >= CPT_MIN_TOKENS


def needs_retrieval(spec: TaskSpec) -> bool:
    return spec.needs_live_data or spec.needs_private_knowledge or (spec.new_domain and not enough_domain_text(spec))


def goal(spec: TaskSpec) -> list[str]:
    """What the spec asks to improve, in words; empty when it states no goal a method could serve."""
    parts = list(spec.target_skills)
    if spec.num_instructions:
        parts.append(f"{spec.num_instructions} instruction(s)")
    if spec.must_be_reliable:
        parts.append("reliability")
    return parts


def held_at_scale(spec: TaskSpec, stage: str) -> bool:
    """The data a stage learns from is held at the scale that reliably changes behaviour: ~1,000
    examples or preference pairs (and at least the course's 1,000 tokens when counted), or ~1,000 RL
    prompts with a verifier (the low end of the course's online-RL scale)."""
    if stage == "sft":
        return spec.labeled_examples >= HELD_MIN and (spec.sft_tokens is None or spec.sft_tokens >= PAIR_TOKENS[0])
    if stage == "dpo":
        return spec.preference_pairs >= HELD_MIN and \
            (spec.preference_tokens is None or spec.preference_tokens >= PAIR_TOKENS[0])
    return spec.verifiable_reward and spec.rl_prompts >= RL_PROMPTS[0]


def held_data(spec: TaskSpec) -> list[str]:
    """The training data the spec holds, in words."""
    held = [(spec.labeled_examples, "prompt-response examples"), (spec.preference_pairs, "preference pairs"),
            (spec.rl_prompts if spec.verifiable_reward else 0, "RL prompts with a verifier")]
    held += [(spec.rows_for(method.kind), method.advice.noun or f"rows for {method.advisor_name}")
             for method in training_methods()
             if method.advice.count not in ("labeled_examples", "preference_pairs", "rl_prompts")
             and method.advice.wants is None]
    return [f"{count:,} {noun}" for count, noun in held if count]


def is_base(spec: TaskSpec) -> bool:
    return spec.model_kind == "base"


def too_small(spec: TaskSpec) -> bool:
    return bool(spec.model_params and spec.model_params < SMALL_MODEL_PARAMS and skills_to_train(spec))


def has_training_data(spec: TaskSpec) -> bool:
    """Rows for any registered training method (RL prompts count, verifier or not)."""
    return any(spec.rows_for(method.kind) for method in training_methods())


def stage_data(spec: TaskSpec) -> bool:
    """Some data (or a verifier) that makes a training stage."""
    return spec.verifiable_reward or any(method.wanted(spec) for method in training_methods())


def acts(spec: TaskSpec) -> bool:
    """The model must call tools or act in an environment."""
    return bool(spec.tools) or spec.environment is not None


def agent_target(spec: TaskSpec) -> str:
    """The tools and environment, as the messages cite them."""
    named = list(spec.tools) + ([f"environment {spec.environment}"] if spec.environment else [])
    return ", ".join(named) + (", over several turns" if spec.multi_turn else "")


def template_drops_tools(spec: TaskSpec) -> bool:
    """The starting model's own chat template does not render tools (the default model's does not); a model
    that cannot be read here counts as not dropping them (validate() checks it when the stage is built)."""
    from posttrain.data.templates import check_tool_template
    from posttrain.errors import ConfigError, PosttrainError
    from posttrain.models import load_tokenizer

    try:
        check_tool_template(load_tokenizer(spec.model or "default"), tools=True, calls=True)
    except ConfigError:
        return True
    except (PosttrainError, OSError, ValueError):
        return False
    return False


def is_empty(spec: TaskSpec) -> bool:
    """No task signal: only the description, or the hardware and sequence length for the compute estimate."""
    return spec.model_copy(update={"hardware": None, "max_length": None}) == TaskSpec(description=spec.description)


# --- the rules ----------------------------------------------------------------------------------------

TRAINING_RULES = (
    Rule("many-instructions", f"num_instructions >= {MANY_INSTRUCTIONS}",
         lambda s: s.num_instructions >= MANY_INSTRUCTIONS, approach="post_training",
         message="{num_instructions} instructions to follow strictly ({many} or more): post-training changes "
                 "the behaviour reliably, a prompt that long does not",
         why="Prompts holding many rules are followed unevenly; training on examples that obey all of them "
             "makes the behaviour part of the model.", source=SCENARIOS),
    Rule("reliability", "must_be_reliable", lambda s: s.must_be_reliable, approach="post_training",
         message="the behaviour must be reliable (must_be_reliable: true): post-training is more stable "
                 "than a prompt",
         why="Prompt engineering is simple but less stable; post-training reliably changes behaviour.",
         source=SCENARIOS),
    Rule("skill-to-improve", f"target_skills include one of {', '.join(CAPABILITY_SKILLS)}",
         lambda s: bool(skills_to_train(s)), approach="post_training",
         message="target skills to improve ({skills_to_train}): post-training is the most effective way "
                 "to boost a specific capability",
         why="Capabilities such as SQL, function calling, reasoning, math and code improve with training on "
             "them; prompting cannot add a skill the model lacks. Watch other benchmarks for regressions.",
         source=SCENARIOS),
    Rule("domain-cpt", f"new_domain and domain_corpus_tokens >= {CPT_MIN_TOKENS:,}", enough_domain_text,
         approach="continued_pretraining", stage="cpt",
         message="new domain with {domain_corpus_tokens:,} tokens of domain text (at least {cpt_min:,}): "
                 "continued pre-training to learn the domain, then post-training to restore instruction "
                 "following",
         why="A model learns a domain's knowledge from next-token prediction over a large corpus (at least "
             "~1B tokens); continued pre-training erodes chat behaviour, so standard post-training follows.",
         source=SCENARIOS),
    Rule("base-model", "model_kind == 'base'", is_base, approach="post_training", stage="sft",
         message="the starting model{model_named} is a base model: it continues text rather than follows "
                 "instructions, so no prompt makes it an assistant; SFT on instruction-response pairs comes "
                 "first, before any DPO or GRPO",
         why="Post-training starts from a base model: learning response patterns from selected data turns it "
             "into an instruction model; preference learning and online RL then refine an instruction model.",
         source=BASE_MODEL),
    Rule("demonstrations-held", f"a goal is stated and labeled_examples >= {HELD_MIN:,}",
         lambda s: bool(goal(s)) and held_at_scale(s, "sft"), approach="post_training",
         message="{labeled_examples:,} prompt-response examples (at least {held_min:,}) for the stated goal "
                 "({goal}): SFT on them is more stable than a prompt, which stays the baseline to beat",
         why="The data decides the method (co-design): demonstrations of the wanted behaviour at the scale "
             "that reliably changes it (~1,000 examples, within SFT's 1K-1B tokens) are what SFT learns from; "
             "a prompt is simple but less stable.", source=f"{CODESIGN}; {SCALES}; {SMALL_SETS}"),
    Rule("preferences-held", f"a goal is stated and preference_pairs >= {HELD_MIN:,}",
         lambda s: bool(goal(s)) and held_at_scale(s, "dpo"), approach="post_training",
         message="{preference_pairs:,} preference pairs (at least {held_min:,}) for the stated goal ({goal}): "
                 "DPO learns directly from them, where a prompt would leave them unused",
         why="Preference pairs (a chosen and a rejected answer) are exactly DPO's data; they fit goals without "
             "a verifier, such as tone, identity and answer quality.", source=f"{METHODS}; {SCALES}"),
    Rule("tool-sft-cold-start", "tools or an environment, and the model is not known to call them well",
         lambda s: acts(s) and s.calls_tools_well is not True, approach="post_training", stage="sft",
         message="the model must call tools ({agent_target}) and is not known to call them well: SFT on a few "
                 "hundred worked tool-call chats first (a cold start), in a template that renders tools",
         why="RL learns only from episodes that sometimes succeed; a model that never writes a well-formed "
             "call gets no signal, and a short SFT on worked traces (question, call, result, answer) teaches "
             "the format. Keep the decisions an episode must make few: where a tool takes a whole "
             "expression, one call with it beats a call per step whose count the model must guess (measured "
             "here on 100 held-out word problems: 0.91 against 0.64).", source=f"{TOOL_USE}; {CALCULATOR}"),
    Rule("environment-grpo", "tools or an environment, and verifiable_reward",
         lambda s: acts(s) and s.verifiable_reward, approach="post_training", stage="grpo",
         message="success can be checked (verifiable_reward: true) with tools at hand ({agent_target}): GRPO "
                 "in the environment, each episode calling the tools and rewarded by the checked outcome "
                 "(.grpo(..., tools=[...] or environment=...))",
         why="A checkable outcome rewards whole episodes (calls, results, final answer), so the model learns "
             "when and how to call from its own attempts rather than from imitation alone.", source=TOOL_USE),
    Rule("verifier-held", f"verifiable_reward and rl_prompts >= {RL_PROMPTS[0]:,}", lambda s: held_at_scale(s, "grpo"),
         approach="post_training",
         message="{rl_prompts:,} prompts with a verifiable reward (at least {rl_min:,}): online RL improves the "
                 "checked skill directly",
         why="A verifier defines what better means; with prompts at the course's online-RL scale, GRPO can "
             "maximise it.", source=f"{METHODS}; {SCALES}"),
)


def trains(spec: TaskSpec) -> bool:
    """True when some rule asks for training (continued pre-training or post-training)."""
    return any(rule.applies(spec) for rule in TRAINING_RULES)


NEED_RULES = TRAINING_RULES + (
    Rule("tools-by-prompt", "tools or an environment, and calls_tools_well",
         lambda s: acts(s) and s.calls_tools_well is True, approach="prompt_engineering", stage="prompt",
         message="the model already calls its tools well (calls_tools_well: true): describe the tools ("
                 "{agent_target}) in the prompt through the chat template's tool schemas, and measure episodes "
                 "with evals before training",
         why="A model that already calls tools correctly needs only their descriptions; training adds cost "
             "and can erode other skills, so the prompt is the baseline to beat.", source=f"{TOOL_USE}; "
         f"{PROMPT_FIRST}"),
    Rule("domain-too-small", f"new_domain and domain_corpus_tokens < {CPT_MIN_TOKENS:,}",
         lambda s: s.new_domain and not enough_domain_text(s), approach="rag", stage="rag",
         message="new domain but only {domain_corpus_tokens:,} tokens of domain text, below the ~{cpt_min:,} "
                 "continued pre-training needs: retrieve from the domain documents instead of pre-training "
                 "on them",
         why="Below ~1B tokens continued pre-training does not teach a domain and risks overfitting and "
             "forgetting; retrieval uses the same documents at once.", source=SCENARIOS),
    Rule("live-data", "needs_live_data", lambda s: s.needs_live_data, approach="rag", stage="rag",
         message="answers depend on data that changes (needs_live_data: true): retrieve it at question time",
         why="Weights are frozen at training time; changing facts (databases, prices, news) must be looked "
             "up, so retrieval or search, not training, supplies them.", source=f"{SCENARIOS}; {RETRIEVAL}"),
    Rule("private-knowledge", "needs_private_knowledge", lambda s: s.needs_private_knowledge,
         approach="rag", stage="rag",
         message="the model needs private knowledge (needs_private_knowledge: true): try retrieval over "
                 "the documents first",
         why="Retrieval adds knowledge without training, cites its sources and updates when the documents "
             "do; train for knowledge only if retrieval measurably falls short.", source=RETRIEVAL),
    Rule("few-instructions", f"0 < num_instructions < {MANY_INSTRUCTIONS} and nothing asks for training",
         lambda s: 0 < s.num_instructions < MANY_INSTRUCTIONS and not trains(s),
         approach="prompt_engineering", stage="prompt",
         message="{num_instructions} instruction(s), fewer than {many}, and no reliability requirement: a "
                 "system prompt is the simplest fix (simple but less stable)",
         why="A few instructions fit in a system prompt at no training cost; measure it with evals and "
             "train only if it is not stable enough.", source=f"{SCENARIOS}; {PROMPT_FIRST}"),
    Rule("behaviour-by-prompt", f"target_skills include one of {', '.join(BEHAVIOUR_SKILLS)} and nothing "
         "asks for training", lambda s: bool(behaviour_skills(s)) and not trains(s),
         approach="prompt_engineering", stage="prompt",
         message="behaviours to set ({behaviour_skills}) without a reliability requirement: describe them "
                 "in a system prompt first",
         why="Identity, tone, safety and instruction following can be set by a prompt; when they must hold "
             "every time, set must_be_reliable and train (SFT, or DPO on preference pairs).",
         source=f"{SCENARIOS}; {PROMPT_FIRST}"),
    Rule("start-with-prompting", "nothing asks for training, retrieval, instructions or behaviours",
         lambda s: not (trains(s) or needs_retrieval(s) or s.num_instructions or behaviour_skills(s)),
         approach="prompt_engineering", stage="prompt",
         message="nothing in the spec calls for retrieval or training: start with a prompt and evals",
         why="Prompting is the cheapest baseline and the evals built for it tell whether anything more "
             "is needed.", source=PROMPT_FIRST),
)

def method_rule(method: Any) -> Rule:
    """The rule that recommends one registered training method, from its registry entry's `Advice`."""
    advice, name = method.advice, method.advisor_name
    return Rule(advice.rule or f"{name}-from-data", advice.when or f"training, and rows for {name} > 0",
                lambda s: trains(s) and method.wanted(s), stage=name,
                message=advice.message or f"{{rows_{method.kind}:,}} rows for {name}: {method.summary}",
                why=advice.why or method.summary, source=advice.source or f"posttrain.stages: {method.kind}")


def stage_rules() -> tuple[Rule, ...]:
    """The registered methods' rules (in chain order), then the advisor's own rules about stage data."""
    return tuple(method_rule(m) for m in training_methods() if m.advice.wants is None or m.advice.message) \
        + DATA_RULES


DATA_RULES = (
    Rule("grpo-needs-prompts", "training, verifiable_reward and rl_prompts == 0",
         lambda s: trains(s) and s.verifiable_reward and s.rl_prompts == 0, stage="grpo",
         message="a verifiable reward exists (verifiable_reward: true): GRPO can use it once there are prompts",
         warning="GRPO has a verifier but no prompts (rl_prompts: 0): collect {rl_min:,} to {rl_max:,} "
                 "prompts with reference answers (an `answer` column); the prompts of labeled examples "
                 "can serve", why="Online RL learns from the model's answers to prompts; without prompts "
                 "there is nothing to reward.", source=SCALES),
    Rule("sft-needs-data", "training, and no labeled examples, preference pairs or verifier",
         lambda s: trains(s) and not stage_data(s), stage="sft",
         message="post-training is called for but no training data is given: SFT is the first stage to "
                 "collect data for",
         warning="no data for the SFT stage (labeled_examples: 0): collect at least ~1,000 prompt-response "
                 "examples (1K to 1B tokens), e.g. from the desired outputs written or reviewed by people",
         why="Every post-training stage is defined by its data (co-design); SFT on demonstrations is the "
             "usual start.", source=f"{CODESIGN}; {SCALES}"),
)

CHECK_RULES = (
    Rule("rl-without-verifier", "rl_prompts > 0 and not verifiable_reward",
         lambda s: s.rl_prompts > 0 and not s.verifiable_reward,
         warning="{rl_prompts:,} RL prompts but no verifiable reward: no GRPO stage. Add a reward function "
                 "(e.g. posttrain.rewards.math_accuracy with an `answer` column) and set verifiable_reward, "
                 "or write reference answers and use the prompts for SFT",
         why="Online RL is only as good as its reward; without a verifier the prompts cannot be scored.",
         source=f"{METHODS}; {CODESIGN}"),
    Rule("keep-skills", "training, and keep_skills", lambda s: trains(s) and s.keep_skills,
         message="skills must hold (keep_skills: true): route() has each stage replay a quarter of its rows "
                 "from the earlier stages' data of its format, and from general data passed as replay=...; "
                 "the report flags any eval that still regresses",
         why="A stage trained on its own data alone can erode what the model did before (catastrophic "
             "forgetting); replaying a small share of earlier and general data keeps it at little cost "
             "(examples/keep_skills.py: house style 0.97 -> 0.07 without replay, 0.93 with a quarter "
             "replayed, the new skill learnt either way).", source=REPLAY),
    Rule("template-drops-tools", "tools or an environment, and the model's own chat template drops tools",
         lambda s: acts(s) and template_drops_tools(s),
         warning="the model's own chat template drops tool definitions and calls (the default model's does): "
                 "train and sample with chat_template='chatml-tools' (route() sets it on the SFT and GRPO stages)",
         why="A template that drops tools shows the model neither the schemas nor its own calls, so it trains "
             "on turns it cannot see.", source=TOOL_USE),
    Rule("rag-reader", "retrieval recommended and nothing asks for training",
         lambda s: needs_retrieval(s) and not trains(s),
         message="retrieval usually finds the passage but a small model misreads it (another document's "
                 "year or name): route(documents=...) answers with a reader. With the default model it is the "
                 "shipped reader adapter (rag_baseline.reader, trained to read retrieved passages on documents "
                 "that share nothing with yours; " + READER_GAIN + "); with another model, route(reader='train') "
                 "trains one by the same recipe (about 40 min for a 135M model on 2 CPU cores)",
         why="Reading is a skill that transfers across documents: a reader trained on unrelated passages "
             "reads the user's better, at no serving cost, with nothing to train per corpus.", source=READER),
    Rule("rag-fixed-documents", "retrieval recommended, the documents are fixed (no live data) and questions "
         "about them are held", lambda s: needs_retrieval(s) and not s.needs_live_data and s.labeled_examples > 0,
         message="the documents are fixed and {labeled_examples:,} questions about them are held: RAFT "
                 "(rag_baseline.raft_pipeline) trains the reader on your own documents' questions, which beat "
                 "the shipped reader on the fictional facts (0.96 against 0.92 with the questions' answers "
                 "appearing in the reply); retrain when the documents change",
         why="RAFT teaches reading on the very documents and question kinds the model will serve; the "
             "shipped reader needs no questions but knows neither.", source=RAFT),
    Rule("rag-multi-hop", "retrieval recommended and multi_hop",
         lambda s: needs_retrieval(s) and s.multi_hop,
         message="answers need facts from more than one document (multi_hop: true): one retrieval for the "
                 "question may miss the second fact. A search agent (the model calls search(query) as often "
                 "as it needs, trained with GRPO on answer correctness: rag_baseline.search) is the arm made for this; "
                 "measured here after an 18-minute cold start on 2 CPU cores it answered 0 of 12 two-hop "
                 "questions against 5 for RAG + the reader (it searched the question again instead of the name "
                 "the first result gave), so serve RAG + the reader with more chunks (k) and score a search "
                 "agent (rag_baseline.search.SearchAgent) with compare() on your own two-hop questions",
         why="A second lookup depends on the first one's answer, which a single retrieval for the whole "
             "question cannot know.", source=SEARCH),
    Rule("retrieval-with-training", "retrieval and training both recommended",
         lambda s: needs_retrieval(s) and trains(s),
         warning="retrieval and training are both recommended: put retrieved documents in the training "
                 "prompts, since fine-tuning without the documents in context can hurt later RAG",
         why="A model fine-tuned to answer from memory learns to ignore context; training with retrieved "
             "passages keeps it using them.", source=TRAIN_IN_CONTEXT),
    Rule("base-model-without-demonstrations", "model_kind == 'base', no labeled examples, other stage data",
         lambda s: is_base(s) and s.labeled_examples == 0 and stage_data(s),
         warning="a base model gets SFT before DPO or GRPO, and no SFT data is given (labeled_examples: 0): "
                 "collect ~1,000+ instruction-response examples, or start from the instruction-tuned version "
                 "of the same model", why="Preference learning and online RL refine an instruction model; on "
         "a base model they have no response pattern to refine.", source=BASE_MODEL),
    Rule("model-kind-unknown", "a model is named but base vs instruct is unknown",
         lambda s: bool(s.model) and s.model_kind is None,
         warning="cannot tell whether {model} is base or instruction-tuned (no local files, no marker in "
                 "its name): assumed instruction-tuned; set model_kind: base if it is not",
         why="A base model needs SFT first; the advice differs.", source=BASE_MODEL),
    Rule("model-too-small", f"model_params < {SMALL_MODEL_PARAMS:,} and a capability skill to train",
         too_small,
         warning="a {params}-parameter model is small for {skills_to_train} (under ~{small}): expect modest "
                 "gains; a larger model, or SFT on a stronger model's answers (distillation), usually beats RL "
                 "at this size{distill_hint}",
         why="Skills that need reasoning grow with model size; small models gain more "
         "from imitating a stronger model than from their own rewarded samples.", source=DISTILL),
    Rule("data-below-scale", f"a goal, training data below ~{HELD_MIN:,}, and nothing else asks for training",
         lambda s: bool(goal(s)) and bool(held_data(s)) and not trains(s),
         warning="the data held ({held}) is below the ~{held_min:,} examples that reliably change behaviour: "
                 "start with the prompt and use the data as its eval set; collect more to train",
         why="Too little data overfits and barely moves the model; a prompt costs nothing to try.",
         source=f"{SCALES}; {SMALL_SETS}"),
    Rule("data-without-need", "training data given but no goal stated",
         lambda s: has_training_data(s) and not trains(s) and not goal(s),
         warning="training data is given but nothing in the spec calls for training: use it as an eval set "
                 "for the baseline first; set must_be_reliable: true (or list the skills to improve) to get "
                 "a training plan", why="Data decides how to train, not whether to; the task decides that.",
         source=f"{PROMPT_FIRST}; {CODESIGN}"),
    Rule("empty-spec", "no field set beyond the description", is_empty,
         warning="the spec gives no signal (no instructions, skills, data or knowledge needs): fill in "
                 "num_instructions, target_skills, needs_live_data or the data you have for a real decision",
         why="Without signals the advice falls back to the cheapest baseline.", source=PROMPT_FIRST),
)


def _scale_rules(stage: str, count: str, tokens: str, noun: str) -> tuple[Rule, ...]:
    low, high = PAIR_TOKENS
    used = lambda s: trains(s) and getattr(s, count) > 0  # noqa: E731
    return (
        Rule(f"{stage}-tokens-low", f"{count} > 0 and {tokens} < {low:,}",
             lambda s: used(s) and getattr(s, tokens) is not None and getattr(s, tokens) < low,
             warning=f"{stage.upper()} data has {{{tokens}:,}} tokens, below the ~{low:,} to {high:,} tokens "
                     f"{stage.upper()} works with: collect more {noun}", why="Too little data overfits "
             "and barely moves the model.", source=SCALES),
        Rule(f"{stage}-tokens-high", f"{count} > 0 and {tokens} > {high:,}",
             lambda s: used(s) and getattr(s, tokens) is not None and getattr(s, tokens) > high,
             warning=f"{stage.upper()} data has {{{tokens}:,}} tokens, above the ~{low:,} to {high:,} tokens "
                     f"typical for {stage.upper()}: deduplicate and filter for quality, or subsample",
             why="Past ~1B tokens this is pre-training scale; quality matters more than volume.",
             source=SCALES),
        Rule(f"{stage}-few-examples", f"{tokens} unknown and 0 < {count} < {MIN_EXAMPLES:,}",
             lambda s: used(s) and getattr(s, tokens) is None and getattr(s, count) < MIN_EXAMPLES,
             warning=f"only {{{count}:,}} {noun} for {stage.upper()} (fewer than ~{MIN_EXAMPLES:,}): "
                     f"collect more, or pass the data to advise() to count its tokens",
             why="About a thousand curated examples is the smallest set that reliably changes behaviour.",
             source=f"{SCALES}; {SMALL_SETS}"),
    )


SCALE_RULES = _scale_rules("sft", "labeled_examples", "sft_tokens", "prompt-response examples") + \
    _scale_rules("dpo", "preference_pairs", "preference_tokens", "preference pairs") + (
    Rule("rl-prompts-low", f"GRPO stage and rl_prompts < {RL_PROMPTS[0]:,}",
         lambda s: trains(s) and s.verifiable_reward and 0 < s.rl_prompts < RL_PROMPTS[0],
         warning="only {rl_prompts:,} RL prompts, below the ~{rl_min:,} to {rl_max:,} online RL works with: "
                 "collect more prompts with reference answers", why="Few prompts give few distinct "
         "rewards to learn from and overfit quickly.", source=SCALES),
    Rule("rl-prompts-high", f"GRPO stage and rl_prompts > {RL_PROMPTS[1]:,}",
         lambda s: trains(s) and s.verifiable_reward and s.rl_prompts > RL_PROMPTS[1],
         warning="{rl_prompts:,} RL prompts, above the ~{rl_max:,} typical for online RL: budget the "
                 "generation compute, or subsample", why="Each prompt costs several generations per step; "
         "beyond ~10M prompts compute, not data, is the limit.", source=SCALES),
)

def all_rules() -> tuple[Rule, ...]:
    """The table as it stands now: a method registered after import has its rule here too."""
    return NEED_RULES + stage_rules() + CHECK_RULES + SCALE_RULES


# Names that were tuples built once at import, so a method registered later was missing from them: each is now
# worked out when it is read (`RULES` is `all_rules()`, `STAGE_RULES` is `stage_rules()`). `STAGES`, a second
# name beside the stage registry `posttrain.stages.STAGES`, is `stage_order()` (docs/api.md, migration table).
_LIVE = {"RULES": all_rules, "STAGE_RULES": stage_rules, "STAGES": stage_order}


def __getattr__(name: str) -> Any:
    if name == "STAGES":
        import warnings

        warnings.warn("advisor.rules.STAGES is renamed stage_order() (posttrain.stages.STAGES is the stage "
                      "registry)", FutureWarning, stacklevel=2)
    if name in _LIVE:
        return _LIVE[name]()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def fired(spec: TaskSpec) -> list[Rule]:
    """The rules whose condition holds for `spec`, in table order."""
    return [rule for rule in all_rules() if rule.applies(spec)]


def decide(rules: list[Rule]) -> tuple[str, list[str]]:
    """The approach (by precedence) and the ordered stages the fired rules recommend."""
    wanted = {rule.approach for rule in rules if rule.approach}
    approach = next(name for name in APPROACH_PRECEDENCE if name in wanted)
    stages = {rule.stage for rule in rules if rule.stage}
    return approach, [stage for stage in stage_order() if stage in stages]
