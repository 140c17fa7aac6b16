"""GRPO: the model samples a group of answers per prompt, reward functions score them, and each
answer is pushed up or down by how it compares with its group."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

from pydantic import Field, ValidationInfo, field_validator, model_validator

from posttrain.config import StageSettings, resolve_callable, settings_as
from posttrain.data import Data, DataFormat
from posttrain.data.templates import resolve_template
from posttrain.errors import ConfigError, PosttrainError, Problem, ProblemsError, short
from posttrain.reward_guard import TimeLimit
from posttrain.stages.common import (StageContext, base_args, load_input, peft_config, save_model, stage_optimizers,
                                     train)
from posttrain.stages.spec import (METHODS_SOURCE, REWARD_PLOT, Advice, Cost, RowsCheck, StageOutcome, StageSpec,
                                   build_trl_config)
from posttrain.stages.trl_hooks import generation_returns_logprobs, wrap_generation
from posttrain.tools import EpisodeWatch, ToolCounter

if TYPE_CHECKING:
    from transformers import Trainer as HFTrainer

    from posttrain.types import Tokenizer


class SampledRLSettings(StageSettings):
    """What online RL from groups of sampled answers shares (GRPO, RLOO): the model samples
    `num_generations` answers per prompt, rewards score them."""

    rewards: list[Any] = Field(default_factory=list, description="Reward functions or dotted import paths "
                               "(may be left out when `environment` scores episodes with its own get_reward).")
    reward_weights: list[float] | None = None
    num_generations: int = Field(4, ge=2, description="Samples per prompt (the group).")
    max_completion_length: int = Field(128, gt=0)
    temperature: float = Field(1.0, gt=0)
    beta: float = Field(0.0, ge=0, description="KL penalty toward the input model. 0 (TRL's default) "
                        "loads no reference model; use e.g. 0.04 to stay closer to it.")
    reward_timeout_s: float = Field(10.0, gt=0, description="Per-call limit on a reward function.")
    use_vllm: bool = Field(False, description="Generate with vLLM (GPU); needs vllm installed.")
    vllm_mode: Literal["colocate", "server"] = "colocate"
    micro_batch_size: int | None = Field(None, gt=0, description="Completions per forward/backward pass: a "
                                         "step's batch_size * num_generations completions are sampled together, "
                                         "then trained on in chunks of this size with gradients accumulated (the "
                                         "same update, less memory). Default: 4 on CPU, the whole batch on GPU.")
    system: str | None = None
    epsilon: float = Field(0.2, gt=0, description="Lower clipping range of the importance ratio.")
    epsilon_high: float | None = Field(None, gt=0, description="Upper clipping range (DAPO's clip-higher: 0.28); "
                                       "None: epsilon. Under 'cispo', the cap on the ratio (ScaleRL: 5.0).")
    mask_truncated_completions: bool = Field(False, description="Leave answers cut at max_completion_length "
                                             "out of the loss (DAPO).")
    num_iterations: int = Field(1, ge=1, description="Updates per generated batch (the paper's mu); > 1 makes "
                                "the clipping take effect.")
    allow_no_learning: bool = Field(False, description="Keep the stage as done even when it could not learn: a "
                                    "reward failed on (nearly) every completion, or the rewards never differed "
                                    "within a group. Off: such a stage fails with the reason.")
    tools: list[Any] = Field(default_factory=list, description="Functions (or dotted paths) the model may call "
                             "during an episode: typed, with a docstring describing each argument.")
    environment: Any = Field(None, description="A class (or factory, or dotted path) whose instances have "
                             "reset(**row), tool methods and optionally get_reward(): one per episode.")
    max_tool_turns: int = Field(4, ge=1, description="Tool-calling rounds an episode may take before its "
                                "answer must stand.")
    tool_timeout_s: float = Field(10.0, gt=0, description="Per-call limit on a tool; a call past it (or that "
                                  "raises) gets an error message as the tool's reply.")
    chat_template: str | None = Field(None, description="Chat template to sample (and save) with: "
                                      "'chatml-tools' (built in) for a model whose own drops tools, a .jinja "
                                      "path or Jinja text. None: the model's own.")

    @model_validator(mode="after")
    def _has_reward_source(self) -> SampledRLSettings:
        if not self.rewards and self.environment is None:
            raise ValueError("rewards is empty and there is no environment; fix: give rewards=[...] (e.g. "
                             "posttrain.rewards.math_accuracy), or an environment with a get_reward() method")
        return self

    @field_validator("tools")
    @classmethod
    def _tools_are_callables_or_paths(cls, value: list[object]) -> list[object]:
        for item in value:
            if isinstance(item, type) or not (callable(item) or isinstance(item, str)):
                raise ValueError(f"tool {short(item)} is neither a function nor a dotted path like "
                                 "'posttrain.tools.calculator' (an environment class goes in environment=)")
        return value

    @property
    def uses_tools(self) -> bool:
        return bool(self.tools) or self.environment is not None

    @field_validator("micro_batch_size")
    @classmethod
    def _micro_batch_divides(cls, value: int | None, info: ValidationInfo) -> int | None:
        batch, group = info.data.get("batch_size"), info.data.get("num_generations")
        if value is not None and batch and group and (batch * group) % value:
            raise ValueError(f"micro_batch_size {value} does not divide the {batch * group} completions of a step "
                             f"(batch_size {batch} x num_generations {group}); fix: use a divisor of {batch * group}")
        return value

    @field_validator("rewards", "tools", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        """A single reward or tool stands for a list of one; a tuple is a list."""
        if callable(value) or isinstance(value, str):
            return [value]
        return list(value) if isinstance(value, tuple) else value

    @field_validator("rewards")
    @classmethod
    def _rewards_are_callables_or_paths(cls, value: list[object]) -> list[object]:
        for item in value:
            if not (callable(item) or isinstance(item, str)):
                raise ValueError(f"reward {short(item)} is neither a function nor a dotted path "
                                 "like 'posttrain.rewards.math_accuracy'")
        return value


class GRPOSettings(SampledRLSettings):
    """GRPO: each answer's advantage is its reward against its group's; the loss variant is named."""

    kind: Literal["grpo"] = "grpo"
    # The loss variant (TRL's names and defaults; docs/api.md says when to use which, with the papers).
    loss_type: Literal["grpo", "dr_grpo", "dapo", "bnpo", "cispo", "sapo", "luspo", "vespo"] = Field(
        "dapo", description="How token losses are weighted and summed: 'dapo' (TRL's default), 'grpo', 'dr_grpo', "
        "'bnpo', 'cispo', 'sapo', 'luspo' (needs importance_sampling_level='sequence'), 'vespo'.")
    importance_sampling_level: Literal["token", "sequence"] = Field(
        "token", description="'sequence': one importance ratio per answer (GSPO, with loss_type='grpo').")
    delta: float | None = Field(None, gt=1, description="Two-sided clipping: cap on the ratio for negative "
                                "advantages (INTELLECT-2); > 1 + epsilon.")
    scale_rewards: Literal["group", "batch", "none"] = Field(
        "group", description="Divide advantages by the std of the group, of the batch, or not at all (Dr. GRPO).")


def reward_functions(settings: SampledRLSettings, where: str) -> list:
    """The stage's reward functions, resolved from dotted paths where needed; every reward that cannot be
    is reported at once (one ProblemsError), and none is called before all of them resolve."""
    functions, problems = [], []
    for i, spec in enumerate(settings.rewards):
        try:
            functions.append(resolve_callable(spec, f"{where}, rewards[{i}]"))
        except ProblemsError as err:
            problems += err.problems
    if problems:
        raise ConfigError(problems)
    return functions


def check(settings: GRPOSettings, data: object, where: str) -> list[Problem]:
    """Before training: the sampling checks (`sampling_problems`), the loss variant's and the tools'."""
    return sampling_problems(settings, data, where) + variant_problems(settings, where) + agent_problems(settings, where)


# --- tools and environments: multi-turn episodes ---------------------------------------------------------------

def agent_tools(settings: SampledRLSettings, where: str,
                counter: ToolCounter | None = None) -> tuple[list[Callable], Callable[[], Any] | None]:
    """The stage's tools and environment factory, resolved from dotted paths where needed (under the
    pipeline file's trust rules) and guarded: a tool that raises or runs past `tool_timeout_s` replies
    with an error message instead of ending the run (`posttrain.tools.guard_tool`)."""
    from posttrain.config import resolve_factory
    from posttrain.tools import guard_environment, guard_tool

    tools, problems = [], []
    for i, spec in enumerate(settings.tools):
        try:
            tools.append(guard_tool(resolve_callable(spec, f"{where}, tools[{i}]"), settings.tool_timeout_s, counter))
        except ProblemsError as err:
            problems += err.problems
    factory = None
    if settings.environment is not None:
        try:
            factory = guard_environment(resolve_factory(settings.environment, f"{where}, setting 'environment'"),
                                        settings.tool_timeout_s, counter)
        except ProblemsError as err:
            problems += err.problems
    if problems:
        raise ConfigError(problems)
    return tools, factory


def agent_problems(settings: SampledRLSettings, where: str) -> list[Problem]:
    """Each tool is a typed, documented function the chat template can render; an environment builds,
    has reset() and tools of that kind, and is a reward source when `rewards` is empty."""
    from posttrain.tools import environment_problems, tool_problems

    if not settings.uses_tools:
        return []
    try:
        tools, factory = agent_tools(settings, where)
    except ProblemsError as err:
        return err.problems
    problems = tool_problems(tools, where)
    if factory is not None:
        found, _ = environment_problems(factory, where)
        problems += found
        if not found and not settings.rewards and not callable(getattr(factory(), "get_reward", None)):
            problems.append(Problem(f"{where}, setting 'rewards'", "is empty and the environment has no "
                                    "get_reward()", "give rewards=[...] that score the episode, or define "
                                    "get_reward(self) -> float on the environment"))
    if settings.chat_template is not None:
        try:
            resolve_template(settings.chat_template, f"{where}, setting 'chat_template'")
        except ConfigError as err:
            problems += err.problems
    return problems


def check_model(settings: SampledRLSettings, model: str, where: str) -> list[Problem]:
    """With tools: the chat template the stage samples with (its `chat_template` setting, else the model's
    own) renders tool definitions, calls and results, and TRL can read calls back from replies."""
    from posttrain.data.templates import check_tool_template, use_tool_parser
    from posttrain.models import load_tokenizer

    if not settings.uses_tools:
        return []
    try:
        tokenizer = load_tokenizer(model)
    except (OSError, ValueError, PosttrainError):
        return []                          # the model's own problem is reported where it is resolved
    at = f"{where}, setting 'chat_template'"
    try:
        if settings.chat_template is not None:
            tokenizer.chat_template = resolve_template(settings.chat_template, at)
        check_tool_template(tokenizer, tools=True, calls=True, model=model)
    except ConfigError as err:
        return [Problem(at if settings.chat_template else f"{where}, model {model}", p.message,
                        "set chat_template='chatml-tools' on this stage (built in: ChatML with Hermes-style "
                        "<tool_call> tags; use the same on an SFT cold start before it), a .jinja file, or "
                        "start from a model whose own template renders tools (Qwen2.5, Llama 3.1)")
                for p in err.problems]
    if not use_tool_parser(tokenizer):
        return [Problem(at, "renders tools, but neither the tokenizer nor TRL knows how to read tool calls "
                        "back from its replies", "use chat_template='chatml-tools', or set the tokenizer's "
                        "response_template (transformers' response parsing)")]
    return []


def sampling_problems(settings: SampledRLSettings, data: object, where: str) -> list[Problem]:
    """Before training: vLLM is installed when asked for, one weight per reward, and each reward
    function resolves (`reward_call_problems` calls them, with the model's tokenizer)."""
    import importlib.util

    problems = []
    if settings.use_vllm and importlib.util.find_spec("vllm") is None:
        problems.append(Problem(f"{where}, setting 'use_vllm'", "is on but vllm is not installed",
                                "pip install vllm on a GPU machine, or set use_vllm=False"))
    if settings.reward_weights is not None and len(settings.reward_weights) != len(settings.rewards):
        problems.append(Problem(f"{where}, setting 'reward_weights'", f"has {len(settings.reward_weights)} "
                                f"weights for {len(settings.rewards)} reward functions", "give one weight per reward"))
    try:
        reward_functions(settings, where)
    except ProblemsError as err:
        problems += err.problems
    return problems


CLIPPED_LOSSES = ("grpo", "dr_grpo", "dapo", "bnpo", "luspo")      # PPO's clipped ratio (TRL's grouping)
TOKEN_SUM_LOSSES = ("dr_grpo", "dapo", "bnpo", "cispo")            # normalise a sum over the batch's tokens


def variant_problems(settings: GRPOSettings, where: str) -> list[Problem]:
    """Loss-variant settings that contradict each other: those TRL warns about (LUSPO without sequence-level
    ratios, VESPO with them, sequence-level ratios under a token-sum loss, which weights each answer by its
    length instead of GSPO's per-answer objective) and those that silently do nothing or break the loss
    (CISPO's cap left at epsilon, a clip range or two-sided cap that the loss does not use)."""
    at = f"{where}, setting"
    loss, level, problems = settings.loss_type, settings.importance_sampling_level, []
    if loss == "luspo" and level != "sequence":
        problems.append(Problem(f"{at} 'loss_type'", "is 'luspo', a sequence-level loss (GSPO scaled by answer "
                                "length), with importance_sampling_level='token'",
                                "set importance_sampling_level='sequence'"))
    if loss == "vespo" and level != "token":
        problems.append(Problem(f"{at} 'loss_type'", "is 'vespo', which weights whole answers itself, with "
                                "importance_sampling_level='sequence'", "set importance_sampling_level='token'"))
    if level == "sequence" and loss in TOKEN_SUM_LOSSES:
        problems.append(Problem(f"{at} 'importance_sampling_level'", f"is 'sequence' with loss_type={loss!r}, "
                                "which sums token losses and so weights each answer by its length",
                                "for GSPO use loss_type='grpo' (or 'luspo'); or importance_sampling_level='token'"))
    if loss == "cispo" and settings.epsilon_high is None:
        problems.append(Problem(f"{at} 'epsilon_high'", "is unset with loss_type='cispo', so the importance "
                                f"weights would be capped at epsilon={settings.epsilon:g} (below 1)",
                                "set epsilon_high, the cap on the weights (ScaleRL uses 5.0)"))
    if loss in CLIPPED_LOSSES and settings.epsilon_high is not None and settings.epsilon_high < settings.epsilon:
        problems.append(Problem(f"{at} 'epsilon_high'", f"is {settings.epsilon_high:g}, below epsilon="
                                f"{settings.epsilon:g}", "use epsilon_high >= epsilon (DAPO: 0.28 with 0.2)"))
    if settings.delta is not None:
        if loss not in CLIPPED_LOSSES:
            problems.append(Problem(f"{at} 'delta'", f"has no effect with loss_type={loss!r}",
                                    f"drop delta, or use one of {', '.join(CLIPPED_LOSSES)}"))
        elif settings.delta <= 1 + (settings.epsilon_high or settings.epsilon):
            upper = 1 + (settings.epsilon_high or settings.epsilon)
            problems.append(Problem(f"{at} 'delta'", f"is {settings.delta:g}, inside the clip range (1 + "
                                    f"epsilon_high = {upper:g})", f"use delta > {upper:g} (INTELLECT-2: 4)"))
    return problems


def reward_problems(settings: SampledRLSettings, data: Data | None, tokenizer: Any, where: str) -> RowsCheck:
    """The stage's rows check (`StageSpec.check_rows`): `reward_call_problems`."""
    return RowsCheck(reward_call_problems(settings, data, tokenizer, where))


def reward_call_problems(settings: SampledRLSettings, data: Data | None, tokenizer: Any,
                         where: str) -> list[Problem]:
    """Each reward function called as training will call it, on the first row: completions in the shape the
    stage produces (chat messages when the model has a chat template, else strings), the prompt as the
    stage renders it, the row's other columns and TRL's keywords, two completions at once; the return must
    be one number (or None) per completion. A missing column, a wrong signature, text handled as a string
    where messages come, or a return of the wrong shape shows up now rather than as a run that learns
    nothing. Rewards that read a tool environment are left to the run."""
    if data is None or not len(data) or any(getattr(settings, name, None) for name in ENVIRONMENT_SETTINGS):
        return []
    try:
        functions = reward_functions(settings, where)
    except ProblemsError:
        return []                                   # reported by `sampling_problems`
    conversational = bool(getattr(tokenizer, "chat_template", None))
    row = (data.as_conversational(settings.system) if conversational else data.rows)[0]
    texts = ["42", "The answer is 42."]
    completions: list[Any] = [[{"role": "assistant", "content": t}] for t in texts] if conversational else texts
    shape = "chat messages (the model has a chat template)" if conversational else "strings"
    given = ("completions as chat messages, [{'role': 'assistant', 'content': '42'}] each (read the text with "
             "posttrain.rewards.completion_text(c))" if conversational else "completions as strings")
    columns = {key: [value] * len(texts) for key, value in row.items() if key not in ("prompt", "completion")}
    keywords = {"prompts": [row["prompt"]] * len(texts), "completion_ids": [[0]] * len(texts),
                "trainer_state": _trainer_state(), "log_extra": _ignore, "log_metric": _ignore}
    problems = []
    for fn in functions:
        at = f"{where}, reward {getattr(fn, '__name__', None) or type(fn).__name__!r}"
        limit = TimeLimit(settings.reward_timeout_s)
        try:
            with limit:
                scores = fn(completions=completions, **columns, **keywords)
        except Exception as err:  # noqa: BLE001 - any failure of user code is reported, not raised
            problems.append(Problem(at, f"fails on row 1 given completions as {shape} ({type(err).__name__}: "
                                    f"{short(str(err), 120)})", f"training calls it with {given}, prompts, the "
                                    f"columns {sorted(columns)} as lists and TRL's trainer_state, log_extra and "
                                    "log_metric (take **kwargs); fix the function or the data columns"))
            continue
        if limit.expired:
            problems.append(Problem(at, f"ran past reward_timeout_s={settings.reward_timeout_s:g} on row 1",
                                    "make it faster, or raise reward_timeout_s"))
            continue
        wrong = _wrong_rewards(scores, len(texts))
        if wrong:
            problems.append(Problem(at, f"returned {short(scores)} for {len(texts)} completions ({wrong})",
                                    "return a list with one number (or None) per completion, in order"))
    return problems


# Settings through which a stage hands rewards a tool environment: such rewards are checked by the run.
ENVIRONMENT_SETTINGS = ("environment", "environment_factory", "environments")


def _wrong_rewards(scores: object, size: int) -> str | None:
    """What is wrong with a reward function's return for `size` completions, or None."""
    import numbers

    if isinstance(scores, (str, bytes, dict)) or not hasattr(scores, "__len__") or not hasattr(scores, "__iter__"):
        return f"a {type(scores).__name__}, not a list"
    if len(scores) != size:
        return f"{len(scores)} values"
    bad = [v for v in scores if v is not None and not isinstance(v, numbers.Real)]     # bools count, as in TRL
    return f"{short(bad[0], 30)} is a {type(bad[0]).__name__}, not a number" if bad else None


def _trainer_state() -> object:
    from transformers import TrainerState

    return TrainerState()


def _ignore(*args: object, **kwargs: object) -> None:
    """Stands in for TRL's `log_extra` / `log_metric` in the check."""


def run(ctx: StageContext) -> StageOutcome:
    """Sample, score and update with TRL's GRPOTrainer; save the full model."""
    from trl import GRPOTrainer

    return train_sampled(ctx, SPEC, GRPOTrainer)


def train_sampled(ctx: StageContext, spec: StageSpec, trainer_class: type) -> StageOutcome:
    """Sample, score and update with a TRL trainer that takes reward functions (GRPOTrainer, RLOOTrainer);
    save the full model. Reward-function failures cost only their samples' rewards and are counted in the
    metrics (`reward_failures/<name>[/<cause>]`); the first failure of each is written with its traceback to
    `reward_errors.txt` in the stage folder and said once. A stage that could not learn (a reward failed on
    nearly every completion, or no group's rewards ever differed) fails with `StageFailed`, unless
    `allow_no_learning`."""
    from posttrain.rewards import reward_metrics, safe_rewards

    s = ctx.settings_as(SampledRLSettings)
    model, tokenizer = load_input(ctx)
    if s.chat_template is not None:
        tokenizer.chat_template = resolve_template(s.chat_template)
    dataset = ctx.in_memory().to_dataset(conversational=bool(tokenizer.chat_template), system=s.system)
    errors = ctx.output_dir / REWARD_ERRORS
    errors.unlink(missing_ok=True)
    guarded = safe_rewards(reward_functions(s, spec.kind), timeout_s=s.reward_timeout_s, error_log=errors,
                           notify=_notify(ctx.output_dir.name))
    counter = ToolCounter()
    agent = agent_arguments(s, spec.kind, tokenizer, counter)
    # with tools, the first reward also counts episodes whose last call's result TRL dropped for length
    watch = EpisodeWatch(guarded[0], s.max_tool_turns) if agent and guarded else None
    args = build_trl_config(spec, ctx, len(dataset))
    funcs = [watch, *guarded[1:]] if watch is not None else list(guarded)
    trainer = trainer_class(model=model, reward_funcs=funcs, args=args, train_dataset=dataset,
                            processing_class=tokenizer, peft_config=peft_config(ctx.lora), callbacks=ctx.callbacks,
                            optimizers=stage_optimizers(ctx, model), **agent)
    if not s.use_vllm:
        # Multi-turn tool episodes keep TRL's sampling until measured on a real agent: on the tiny model's ping
        # environment (7 seeds, 10 steps) the call's probability after training was alike with either sampler
        # (medians 0.474 and 0.483), but one seed in 7 drifted to 0.12 with posttrain's decoder, none with TRL's.
        if not agent:
            generate_without_waiting(trainer, ctx.choices.device)
        generate_with_merged_adapter(trainer)
        if ctx.choices.sample_bf16:
            generate_with_bf16_weights(trainer)
    metrics = train(trainer, ctx)
    metrics.update(reward_metrics(guarded))
    if s.uses_tools:
        metrics.update({"tool_calls": counter.calls, **{f"tool_failures/{cause}": n
                                                        for cause, n in counter.failed.items()}})
    if watch is not None:
        metrics["tool_replies_dropped"] = watch.dropped
        if watch.dropped:
            _notify(ctx.output_dir.name)(
                f"{watch.dropped} of {watch.episodes} episodes ended on a tool call whose result did not fit "
                f"max_completion_length={s.max_completion_length} (TRL drops it, so the episode could not go on); "
                "raise max_completion_length to hold every call, its result and the answer")
    _check_learned(guarded, trainer.state.log_history, s, ctx, errors)
    save_model(trainer, tokenizer, ctx)
    return {"metrics": metrics, "history": trainer.state.log_history}


REWARD_ERRORS = "reward_errors.txt"        # in the stage folder: each reward's first failure, with its traceback


def _check_learned(guarded: list, history: list[dict[str, Any]], s: SampledRLSettings, ctx: StageContext,
                   errors: Path) -> None:
    """Raise `StageFailed` when the stage could not learn (`posttrain.reward_guard.learning_problem`), unless
    the settings allow it; then it is said once."""
    from posttrain.errors import StageFailed
    from posttrain.reward_guard import learning_problem

    reason = learning_problem(guarded, history)
    if reason is None:
        return
    where = f"stage {ctx.output_dir.name}"
    if s.allow_no_learning:
        _notify(ctx.output_dir.name)(f"{reason}; kept as done (allow_no_learning=True)")
        return
    if reason.startswith("reward"):
        fix = (f"fix the reward (its first error and traceback are in {errors}); completions reach rewards as "
               "chat messages when the model has a chat template, posttrain.rewards.completion_text(c) gives "
               "the text; or set allow_no_learning=True to keep such a stage")
    else:
        fix = ("give rewards that tell a group's answers apart (partial credit rather than all-or-nothing), raise "
               "num_generations or temperature, or set allow_no_learning=True to keep such a stage")
    raise StageFailed(Problem(where, f"{reason}; it learned nothing and its model is not kept", fix))


def _notify(label: str) -> Callable[[str], None]:
    """A one-line note on stderr from the main process, for what a stage's rewards did."""
    def say(text: str) -> None:
        from accelerate import PartialState
        from rich.console import Console

        if PartialState().is_main_process:
            Console(stderr=True, soft_wrap=True).print(f"{label}: {text}", markup=False, highlight=False)
    return say


def agent_arguments(settings: SampledRLSettings, where: str, tokenizer: Tokenizer,
                    counter: ToolCounter) -> dict[str, object]:
    """The trainer's `tools` and `environment_factory` (guarded), with the tokenizer set to read tool calls
    from replies; {} for a stage without tools. TRL runs the episodes: after each reply that calls tools,
    their results go back as `tool` messages and the model goes on, up to `max_tool_turns` rounds; reward
    functions receive each episode whole (the assistant's calls, the tool replies and the final answer, as
    a message list) and, with an environment, `environments=` (one instance per episode)."""
    import os

    from posttrain.data.templates import use_tool_parser

    if not settings.uses_tools:
        return {}
    tools, factory = agent_tools(settings, where, counter)
    if not use_tool_parser(tokenizer):           # validate() names the fix (check_model); a last guard
        raise ConfigError(Problem(f"{where}, setting 'chat_template'", "does not let TRL read tool calls",
                                  "use chat_template='chatml-tools'"))
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")     # TRL's notice that environments are new
    arguments: dict[str, object] = {}
    if tools:
        arguments["tools"] = tools
    if factory is not None:
        arguments["environment_factory"] = factory
    return arguments


# What `sample_token_ids` reproduces of TRL's generation config; any other setting keeps TRL's own sampling.
PLAIN_SAMPLING = {"max_new_tokens", "do_sample", "temperature", "top_p", "top_k", "min_p", "repetition_penalty",
                  "pad_token_id", "bos_token_id", "eos_token_id", "cache_implementation", "disable_compile",
                  "transformers_version"}


def plain_sampling(config: object) -> bool:
    """Whether TRL's generation config asks only for temperature / top-p sampling (no top-k, min-p,
    repetition penalty or other logits processors), which `sample_token_ids` draws the same way."""
    diff: dict[str, object] = getattr(config, "to_diff_dict", dict)()
    return (getattr(config, "do_sample", False) and set(diff) <= PLAIN_SAMPLING and not getattr(config, "top_k", 0)
            and getattr(config, "min_p", None) is None and getattr(config, "repetition_penalty", 1.0) in (None, 1.0)
            and (getattr(config, "temperature", None) or 0) > 0)


def generate_without_waiting(trainer: HFTrainer, device: str) -> None:
    """On CPU, sample GRPO's and RLOO's completions with posttrain's decoder, where each answer leaves the
    batch when it ends instead of being decoded until the longest one ends, and each prompt's group of
    completions shares one pass over the prompt. Same temperature, top-p, stop tokens and length cap as
    TRL's generation config; anything else (images, top-k, min-p, a repetition penalty, a GPU) keeps
    TRL's own `model.generate`. Seeded from torch's global generator, so a seeded run repeats.
    `device`: where the stage trains (`Choices.device`)."""
    import torch

    from posttrain.generation import sample_token_ids

    config: Any = getattr(trainer, "generation_config", None)
    if device != "cpu" or not plain_sampling(config):
        return
    pair = generation_returns_logprobs(trainer)

    def ours(generate: Callable[..., object]) -> Callable[..., object]:
        def call(prompt_ids: list[list[int]], images: object = None, multimodal_fields: object = None,
                 *rest: object, **kwargs: object) -> object:
            if images and any(i is not None for i in cast("list", images)) or multimodal_fields:
                return generate(prompt_ids, images, multimodal_fields, *rest, **kwargs)
            copies = _group_size(prompt_ids, getattr(trainer, "num_generations", 1) or 1)
            seed = int(torch.randint(0, 2**62, (1,)).item())
            model = trainer.accelerator.unwrap_model(trainer.model)
            completions = sample_token_ids(
                model, prompt_ids, max_new_tokens=config.max_new_tokens, temperature=config.temperature,
                top_p=config.top_p if config.top_p is not None else 1.0, stops=_as_list(config.eos_token_id),
                pad_token_id=config.pad_token_id, generator=torch.Generator().manual_seed(seed), copies=copies)
            return (completions, None) if pair else completions
        return call

    wrap_generation(trainer, ours, "every completion is decoded until the longest ends (slower on CPU)")


def _group_size(prompt_ids: list[list[int]], size: int) -> int:
    """`size` when the rows come in consecutive groups of `size` identical prompts (TRL's repeated
    prompts), else 1."""
    if size > 1 and len(prompt_ids) % size == 0 and all(
            prompt_ids[i] == prompt_ids[i - i % size] for i in range(len(prompt_ids))):
        return size
    return 1


def _as_list(value: object) -> list[int]:
    if value is None:
        return []
    return [int(v) for v in cast("list", value)] if isinstance(value, (list, tuple)) else [int(cast("int", value))]


def generate_with_merged_adapter(trainer: HFTrainer) -> None:
    """Sample from the LoRA model with its adapter merged into the base weights, then unmerge.

    An unmerged adapter adds two small matrix products to every linear layer at every decoding
    step (about a third more time on CPU); merged, each step is a plain forward of the policy,
    without the LoRA dropout that sampling in training mode would otherwise apply. TRL does the
    same merge/unmerge when it syncs weights to vLLM. Training steps see the unmerged adapter."""
    model = trainer.model
    if not (hasattr(model, "merge_adapter") and hasattr(model, "unmerge_adapter")):
        return

    def merged(generate: Callable[..., object]) -> Callable[..., object]:
        def call(*args: object, **kwargs: object) -> object:
            model.merge_adapter()
            try:
                return generate(*args, **kwargs)
            finally:
                model.unmerge_adapter()
        return call

    wrap_generation(trainer, merged, "sampling runs the unmerged LoRA adapter (slower on CPU)")


def generate_with_bf16_weights(trainer: HFTrainer) -> None:
    """Sample with a bf16 copy of the weights, then put the fp32 weights back untouched
    (`posttrain.generation.bf16_weights`; the stage's `Choices.sample_bf16` says when).

    Decoding a small model on CPU is bound by reading its weights once per token; bf16 halves that.
    Only `.data` is swapped, so the optimizer's parameters and their fp32 values are unchanged;
    the update's log-probabilities are computed in the training precision, as with vLLM sampling."""
    from posttrain.generation import bf16_weights

    model = trainer.model

    def in_bf16(generate: Callable[..., object]) -> Callable[..., object]:
        def call(*args: object, **kwargs: object) -> object:
            with bf16_weights(model):
                return generate(*args, **kwargs)
        return call

    wrap_generation(trainer, in_bf16, "sampling runs in fp32 (slower on CPUs with native bf16)")


def micro_batch(settings: SampledRLSettings, cuda: bool) -> int:
    """Completions per forward/backward pass (`posttrain.device.default_micro_batch`): the one asked for,
    else at most 4 on CPU and the whole step's batch on GPU. `cuda`: whether it trains on a GPU."""
    from posttrain.device import default_micro_batch

    return default_micro_batch(settings.batch_size * settings.num_generations, settings.micro_batch_size,
                               "cuda" if cuda else "cpu")


def grpo_args(ctx: StageContext, prompts: int) -> dict[str, object]:
    """GRPOConfig arguments: the sampling ones (`sampling_args`) and the loss variant."""
    s = ctx.settings_as(GRPOSettings)
    return {**sampling_args(ctx, prompts), "loss_type": s.loss_type,
            "importance_sampling_level": s.importance_sampling_level, "delta": s.delta,
            "scale_rewards": s.scale_rewards, "max_tool_calling_iterations": s.max_tool_turns}


def sampling_args(ctx: StageContext, prompts: int) -> dict[str, object]:
    """TRL arguments: `batch_size` counts prompts, so a step samples batch_size * num_generations
    completions (TRL counts completions) in one generation batch, then trains on them in micro-batches
    with the gradients accumulated: TRL normalises the loss over the whole generation batch, so the
    update is the same as one pass over all of them."""
    s = ctx.settings_as(SampledRLSettings)
    args = base_args(ctx, prompts)
    micro = ctx.choices.micro_batch or micro_batch(s, ctx.choices.device == "cuda")
    chunks = s.batch_size * s.num_generations // micro
    args.update(per_device_train_batch_size=micro, gradient_accumulation_steps=s.grad_accum * chunks,
                steps_per_generation=s.grad_accum * chunks, num_generations=s.num_generations,
                max_completion_length=s.max_completion_length, temperature=s.temperature, beta=s.beta,
                reward_weights=s.reward_weights, use_vllm=s.use_vllm, vllm_mode=s.vllm_mode,
                log_completions=False, epsilon=s.epsilon, epsilon_high=s.epsilon_high,
                mask_truncated_completions=s.mask_truncated_completions, num_iterations=s.num_iterations)
    return args


def sampled(settings: StageSettings) -> SampledRLSettings:
    """A sampling stage's settings (GRPO's, RLOO's) as the class their shared code reads."""
    return settings_as(settings, SampledRLSettings)


# What a sampling stage costs: a group of answers per prompt, trained in micro-batches; a frozen copy of
# the input model only for a KL term (beta > 0) in full fine-tuning. GRPO and RLOO share it.
SAMPLED_COST = Cost(sequences_per_row=lambda s: sampled(s).num_generations,
                    tokens_per_pass=lambda s, cuda: micro_batch(sampled(s), cuda=cuda) * s.max_length,
                    reference_copy=lambda s, lora: not lora and sampled(s).beta > 0, prefer=("lora", "qlora"),
                    micro_batch=lambda s, cuda: micro_batch(sampled(s), cuda=cuda))


SPEC = StageSpec(
    kind="grpo", summary="online RL: sample a group of answers per prompt, score them with rewards, update",
    settings=GRPOSettings, formats=(DataFormat.PROMPT_ONLY,), trl_config="GRPOConfig", default_lr=(1e-6, 1e-5),
    trl_args=grpo_args, run=run, check=check, check_model=check_model, check_rows=reward_problems,
    cost=SAMPLED_COST,
    advice=Advice(
        claims=(DataFormat.PROMPT_ONLY,), count="rl_prompts", order=30,
        wants=lambda task: task.rows_for("grpo") > 0 and bool(getattr(task, "verifiable_reward", False)),
        rule="grpo-from-verifier", when="training, rl_prompts > 0 and verifiable_reward",
        message="{rl_prompts:,} prompts with a verifiable reward: online RL (GRPO) maximises the reward on the "
                "model's own answers",
        why="Online RL needs prompts and a reward function; a verifier (math checker, unit tests, SQL execution) "
            "gives a reward that cannot be gamed by style.", source=METHODS_SOURCE, scale="1,000 to 10M prompts",
        call='.grpo("prompts.jsonl", rewards=[your_reward])'),
    report_metrics=("reward", "loss"), plots=(REWARD_PLOT,),
    data_hint="prompt rows with a reference answer like {'prompt': 'What is 3*4?', 'answer': '12'}")
