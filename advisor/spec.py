"""What the advisor needs to know about a task: `TaskSpec`, strict, loadable from a dict, YAML or JSON.

>>> from advisor.spec import TaskSpec
>>> TaskSpec(num_instructions=25, target_skills=["function calling"]).target_skills
['function_calling']
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from posttrain.errors import ConfigError, Problem, short

# Skills post-training is the most effective way to improve (course notes, scenarios table).
CAPABILITY_SKILLS = ("sql", "function_calling", "reasoning", "math", "code")
# Behaviours a system prompt can set first; training them needs a reliability requirement or 20+ rules.
BEHAVIOUR_SKILLS = ("instruction_following", "identity", "tone", "safety", "chat")
SKILLS = CAPABILITY_SKILLS + BEHAVIOUR_SKILLS

SKILL_ALIASES = {
    "text_to_sql": "sql", "text2sql": "sql", "tool_use": "function_calling", "tool_calling": "function_calling",
    "tools": "function_calling", "function_call": "function_calling", "maths": "math",
    "mathematics": "math", "coding": "code", "programming": "code", "instructions": "instruction_following",
    "persona": "identity", "style": "tone", "harmlessness": "safety", "dialogue": "chat",
}

COUNT_FIELDS = ("num_instructions", "domain_corpus_tokens", "labeled_examples", "preference_pairs",
                "rl_prompts", "sft_tokens", "preference_tokens", "labelled_answers", "labelled_tokens")


class TaskSpec(BaseModel):
    """A task described by the signals that decide between prompting, retrieval and training.

    Every field has a default, so an empty spec is valid (it leads to "start with a prompt").
    Counts are the data you have now; `advise(task, datasets=...)` fills them from real files.

    Example:
        >>> spec = TaskSpec(description="Answer in our house style", num_instructions=25,
        ...                 labeled_examples=8000)
        >>> spec.num_instructions
        25
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    description: str = Field("", description="What the model must do, in a sentence or two.")
    instructions: list[str] = Field(default_factory=list, description=(
        "The rules the model must follow, one per item; used for the prompt baseline's system prompt. "
        "num_instructions defaults to their number."))
    num_instructions: int = Field(0, ge=0, description="How many distinct instructions the model must follow.")
    needs_live_data: bool = Field(False, description=(
        "Answers depend on data that changes: databases, prices, news."))
    needs_private_knowledge: bool = Field(False, description=(
        "Stable facts the model cannot know: internal documents, product manuals."))
    multi_hop: bool = Field(False, description=(
        "Answers need facts from more than one document (a lookup, then another that depends on it)."))
    new_domain: bool = Field(False, description="A specialised field poorly covered by pre-training.")
    domain_corpus_tokens: int = Field(0, ge=0, description="Tokens of raw domain text available.")
    target_skills: list[str] = Field(default_factory=list, description=(
        f"Skills to improve, from: {', '.join(SKILLS)}."))
    labeled_examples: int = Field(0, ge=0, description="Prompt-response pairs (or chats) available.")
    sft_tokens: int | None = Field(None, ge=0, description="Tokens in those pairs, when known.")
    preference_pairs: int = Field(0, ge=0, description="Prompts with a chosen and a rejected answer.")
    preference_tokens: int | None = Field(None, ge=0, description="Tokens in those pairs, when known.")
    rl_prompts: int = Field(0, ge=0, description="Prompts without answers, for online RL.")
    labelled_answers: int = Field(0, ge=0, description=(
        "Single answers labelled good or bad (thumbs up/down), not paired: KTO's data."))
    labelled_tokens: int | None = Field(None, ge=0, description="Tokens in those answers, when known.")
    method_rows: dict[str, int] = Field(default_factory=dict, description=(
        "Rows of data for registered training methods that have no count field of their own, by method "
        "name (filled by advise(datasets=...))."))
    teacher_model: str | None = Field(None, description=(
        "A stronger model whose answers the model could learn (a hub id or local folder): with prompts, the "
        "plan distills it (a `distill` stage)."))
    verifiable_reward: bool = Field(False, description=(
        "A program can check an answer (math result, unit tests, SQL execution)."))
    tools: list[str] = Field(default_factory=list, description=(
        "Tools the model must call, as dotted paths to typed, documented functions (e.g. "
        "'posttrain.tools.calculator'); route() hands them to the GRPO stage."))
    environment: str | None = Field(None, description=(
        "An environment the model acts in: a dotted path to a class with reset(**row), tool methods and "
        "optionally get_reward() (e.g. 'posttrain.tools.Calculator'); route() hands it to the GRPO stage."))
    multi_turn: bool = Field(False, description=(
        "Episodes take several turns: the model calls a tool, reads its result and goes on."))
    calls_tools_well: bool | None = Field(None, description=(
        "The model already calls these tools correctly (measured, e.g. with the FunctionCalling eval); "
        "None: not known."))
    must_be_reliable: bool = Field(False, description=(
        "The behaviour must hold every time, not most of the time."))
    keep_skills: bool = Field(False, description=(
        "What the model does well now (general chat, an earlier stage's skill) must hold after training: "
        "the routed stages replay a share of earlier and general data."))
    model: str | None = Field(None, description=(
        "The starting model: 'default', a hub id or a local folder. Its files are read when they are on "
        "this machine (never downloaded) to tell base from instruct and count its parameters."))
    model_kind: Literal["base", "instruct"] | None = Field(None, description=(
        "'base' (pre-trained only) or 'instruct' (instruction-tuned); read from the model when not stated."))
    model_params: int | None = Field(None, gt=0, description=(
        "Parameters of the starting model, e.g. 1500000000 or '1.5B'; read from the model when not stated."))
    hardware: str | None = Field(None, description=(
        "Where training will run: 'cpu', a GPU name ('RTX 4090', 'A100 40GB', 'H100') or a GPU memory size "
        "('24GB'). This machine's GPU or CPU when not stated."))
    max_length: int | None = Field(None, gt=0, description=(
        "Tokens per training example (prompt + answer) for the compute estimate; the trainer's default "
        "(512) when not stated."))

    def rows_for(self, method: str) -> int:
        """Rows of data the task holds for a registered training method (its advisor name or kind)."""
        from posttrain.stages import find_stage

        spec = find_stage(method)
        if spec is not None and spec.advice.count:
            return int(getattr(self, spec.advice.count, 0) or 0)
        names = {method} | ({spec.kind, spec.advisor_name} if spec is not None else set())
        return sum(count for name, count in self.method_rows.items() if name in names)

    @field_validator("target_skills", mode="before")
    @classmethod
    def _normalise_skills(cls, value: Any) -> list[str]:
        if isinstance(value, str):
            value = [part for part in value.replace(";", ",").split(",") if part.strip()]
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"must be a list of skill names, got {short(value)}")
        return list(dict.fromkeys(normalise_skill(skill) for skill in value))

    @field_validator("model_params", mode="before")
    @classmethod
    def _parse_size(cls, value: Any) -> Any:
        if isinstance(value, str):
            from advisor.model_info import params_from_name

            size = params_from_name(value.strip())
            if size is None:
                raise ValueError(f"cannot read {value!r} as a parameter count; write e.g. 1500000000 or '1.5B'")
            return size
        return value

    @field_validator("hardware")
    @classmethod
    def _known_hardware(cls, value: str | None) -> str | None:
        if value is not None:
            from advisor.hardware import parse_hardware

            parse_hardware(value)
        return value

    @model_validator(mode="after")
    def _count_instructions(self) -> TaskSpec:
        if self.instructions and "num_instructions" not in self.model_fields_set:
            object.__setattr__(self, "num_instructions", len(self.instructions))
        return self

    @classmethod
    def load(cls, source: TaskSpec | dict | str | Path) -> TaskSpec:
        """A spec from a TaskSpec, a dict, or a .yaml/.yml/.json file; every problem in one ConfigError."""
        if isinstance(source, TaskSpec):
            return source
        label = "task"
        if isinstance(source, (str, Path)):
            label, source = str(source), read_spec_file(Path(source))
        if not isinstance(source, dict):
            raise ConfigError(Problem(label, f"is a {type(source).__name__} ({short(source)}), not a mapping "
                                      "of spec fields", "write fields like `num_instructions: 25`"))
        try:
            return cls(**source)
        except ValidationError as err:
            raise ConfigError(_problems(err, label), title="invalid task spec") from None


def normalise_skill(skill: Any) -> str:
    """'Function calling' -> 'function_calling'; unknown names raise with the closest known one."""
    if not isinstance(skill, str):
        raise ValueError(f"skill {short(skill)} must be a string; use one of {', '.join(SKILLS)}")
    key = "_".join(skill.strip().lower().replace("-", " ").split())
    key = SKILL_ALIASES.get(key, key)
    if key in SKILLS:
        return key
    close = difflib.get_close_matches(key, SKILLS + tuple(SKILL_ALIASES), n=1, cutoff=0.75)
    hint = f"did you mean '{SKILL_ALIASES.get(close[0], close[0])}'? " if close else ""
    raise ValueError(f"unknown skill {skill!r}; {hint}known skills: {', '.join(SKILLS)}")


def read_spec_file(path: Path) -> Any:
    """The mapping in a YAML or JSON spec file."""
    if not path.is_file():
        raise ConfigError(Problem(str(path), "spec file not found", "check the path"), title="invalid task spec")
    import yaml

    from posttrain.yamlfile import parse_file, syntax_problem

    try:
        return parse_file(path) or {}
    except (json.JSONDecodeError, yaml.YAMLError, UnicodeDecodeError) as err:
        raise ConfigError(syntax_problem(path, err, "a task spec"), title="invalid task spec") from None


def _problems(err: ValidationError, label: str) -> list[Problem]:
    problems = []
    for item in err.errors():
        field = ".".join(str(part) for part in item["loc"]) or "spec"
        where = f"{label}, field '{field}'"
        value = item.get("input")
        if item["type"] == "extra_forbidden":
            close = difflib.get_close_matches(str(item["loc"][0]), TaskSpec.model_fields, n=1)
            fix = f"did you mean '{close[0]}'?" if close else f"use one of: {', '.join(TaskSpec.model_fields)}"
            problems.append(Problem(where, f"is not a spec field (value {short(value)})", fix))
        elif item["type"] == "greater_than_equal":
            problems.append(Problem(where, f"must be a count of 0 or more, got {short(value)}",
                                    "give the number you have (0 if none)"))
        else:
            message = item["msg"].removeprefix("Value error, ")
            problems.append(Problem(where, f"{message} (got {short(value)})", _fix_for(field)))
    return problems


def _fix_for(field: str) -> str:
    if field.startswith("target_skills"):
        return "use the known skill names (case, spaces and hyphens do not matter)"
    info = TaskSpec.model_fields.get(field.split(".")[0])
    if info is None:
        return ""
    kind = getattr(info.annotation, "__name__", str(info.annotation))
    return f"give a {kind}: {info.description}"
