"""`Recommendation.route()`: from advice to something that runs. Heavy modules load only here."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from advisor.baseline import PromptBaseline
from advisor.recommendation_data import RecommendationData
from posttrain.errors import ConfigError, Problem

if TYPE_CHECKING:
    from posttrain.pipeline.builder import Trainer
    from rag_baseline import RAGBaseline

def needs(stage: str) -> str:
    """What to pass for a stage: the argument, the rows' shape and the scale (its registry entry)."""
    from posttrain.stages import get_stage

    method = get_stage(stage)
    scale = f" ({method.advice.scale})" if method.advice.scale else ""
    argument = f"data={{'{stage}': ...}}"
    return f"{argument} {method.data_hint}{scale}"


REPLAY_SHARE = 0.25      # the share of a stage's rows replayed when skills must hold (examples/keep_skills.py)


READERS = ("auto", "shipped", "train", "none")


def route(rec: RecommendationData, model: str, output_dir: Path, *, given: dict[str, Any], documents: Any, rewards: Any,
          system: str | None, lora: Any, seed: int, replay: Any = None, replay_share: float = REPLAY_SHARE,
          stage_settings: dict[str, Any] | None = None, reader: str = "auto") -> Trainer | RAGBaseline | PromptBaseline:
    """A Trainer when the advice trains, a RAGBaseline for retrieval, a PromptBaseline otherwise."""
    if rec.training_stages:
        return build_trainer(rec, model, output_dir, given=given, rewards=rewards, lora=lora, seed=seed,
                             replay=replay, replay_share=replay_share, stage_settings=stage_settings)
    if "rag" in rec.stages:
        return build_rag(rec, model, documents, reader=reader, output_dir=output_dir)
    return PromptBaseline.from_spec(rec.spec, model=model, system=system)


def build_trainer(rec: RecommendationData, model: str, output_dir: Path, *, given: dict[str, Any], rewards: Any, lora: Any,
                  seed: int, replay: Any = None, replay_share: float = REPLAY_SHARE,
                  stage_settings: dict[str, Any] | None = None) -> Trainer:
    """A Trainer with the recommended stages in order, each bound to its data (and, when skills must hold,
    its replay mix: `replay_mix`), with `stage_settings` (e.g. the training length) given to every stage."""
    from posttrain.stages import get_stage

    problems: list[Problem] = []
    data = {stage: _stage_data(rec, stage, given.get(stage), problems) for stage in rec.training_stages}
    rewarded = [stage for stage in data if "rewards" in get_stage(stage).settings.model_fields]
    if rewarded:
        rewards = _rewards(rec, rewards, problems, rewarded)
    if problems:
        raise ConfigError(problems, title="cannot build the training plan")
    from posttrain.pipeline.builder import Trainer

    trainer = Trainer(model, output_dir=output_dir, lora=lora, seed=seed)
    chosen = chosen_lora(rec) if lora is None else {}
    keep = rec.spec.keep_skills or replay is not None
    mixes = replay_mix(data, replay, replay_share) if keep else {}
    for stage in rec.training_stages:
        fields = get_stage(stage).settings.model_fields
        settings = {"rewards": rewards} if "rewards" in fields else {}
        settings.update(chosen.get(stage, {}))
        if mixes.get(stage):
            settings["mix"] = mixes[stage]
        if "chat_template" in fields:
            settings.update(tool_template(model, data[stage]))
        if "environment" in fields and (rec.spec.tools or rec.spec.environment):
            settings.update(agent_settings(rec.spec, model))
        settings.update(stage_settings or {})
        trainer = trainer.add_stage(stage, data[stage], **settings)
    return trainer


def replay_mix(data: dict[str, Any], replay: Any, share: float) -> dict[str, list[dict[str, Any]]]:
    """`{stage: [{"data": ..., "share": ...}]}`: what each stage replays so that skills hold.

    A stage replays the data of every earlier stage of a format it trains on (SFT's rows in a later
    distillation's prompts in a later on-policy distillation, say) and the `replay` data (general chat or
    text the model must keep) when its format fits; the shares are split evenly so that together they make
    `share` of the stage's rows. Online RL stages replay nothing: their rewards score their own prompts
    only. Data that cannot be read is left to the Trainer's own checks (validate() names it)."""
    from posttrain.data import Data, load_data
    from posttrain.errors import PosttrainError
    from posttrain.stages import get_stage

    def data_format(value: Any) -> Any:
        try:
            loaded = load_data(value)
        except PosttrainError:
            return None
        return loaded.format if isinstance(loaded, Data) else None

    stages = list(data)
    formats = {stage: data_format(data[stage]) for stage in stages}
    replay_format = None
    if replay is not None:
        try:
            loaded = load_data(replay)
        except PosttrainError as error:
            found = getattr(error, "problems", None) or [Problem("data", str(error))]
            raise ConfigError([Problem(f"route(replay=...): {p.where}", p.message, p.fix) for p in found],
                              title="cannot build the training plan") from None
        replay_format = loaded.format if isinstance(loaded, Data) else None
    mixes: dict[str, list[dict[str, Any]]] = {}
    for i, stage in enumerate(stages):
        method = get_stage(stage)
        if "rewards" in method.settings.model_fields:
            continue
        accepted = method.formats
        sources = [data[earlier] for earlier in stages[:i]
                   if formats[earlier] is not None and formats[earlier] in accepted]
        if replay is not None and replay_format is not None and replay_format in accepted:
            sources.append(replay)
        if sources:
            mixes[stage] = [{"data": source, "share": round(share / len(sources), 6)} for source in sources]
    if replay is not None and not any(replay is m["data"] for mix in mixes.values() for m in mix):
        kinds = ", ".join(f"{stage} ({'/'.join(f.value for f in get_stage(stage).formats)})" for stage in stages
                          if "rewards" not in get_stage(stage).settings.model_fields)
        shape = replay_format.value if replay_format is not None else "a stream"
        raise ConfigError(Problem("route(replay=...)", f"its rows ({shape}) fit none of the stages that replay "
                                  f"data: {kinds or 'none'}",
                                  "pass general data in the format of the stage whose skills must hold (e.g. "
                                  "prompt/completion rows for SFT, text for CPT), or leave replay out"),
                          title="cannot build the training plan")
    return mixes


def chosen_lora(rec: RecommendationData) -> dict[str, dict[str, Any]]:
    """`{stage: {"lora": ...}}` for each stage whose compute estimate chose LoRA or QLoRA (`advisor.compute.
    LORA_SETTING`: QLoRA is `{"quantize": "nf4"}`); a stage it trains in full, or without an estimate, keeps
    the Trainer's setting. A `lora=` given to route() wins over all of them."""
    from advisor.compute import LORA_SETTING

    stages = rec.compute.stages if rec.compute is not None else []
    return {s.stage: {"lora": LORA_SETTING[s.choice]} for s in stages if s.choice in ("lora", "qlora")}


def agent_settings(spec: Any, model: str) -> dict[str, Any]:
    """The sampling stage's tools and environment from the spec, and `chatml-tools` when the model's own
    template drops tools (the default model's does)."""
    from posttrain.data.templates import check_tool_template
    from posttrain.errors import PosttrainError
    from posttrain.models import load_tokenizer

    settings: dict[str, Any] = {}
    if spec.tools:
        settings["tools"] = list(spec.tools)
    if spec.environment:
        settings["environment"] = spec.environment
    try:
        check_tool_template(load_tokenizer(model), tools=True, calls=True)
    except ConfigError:
        settings["chat_template"] = "chatml-tools"
    except (PosttrainError, OSError, ValueError):        # a model that cannot be read: validate() says why
        pass
    return settings


def tool_template(model: str, data: Any) -> dict[str, str]:
    """`{"chat_template": "chatml-tools"}` when the SFT rows carry tools or tool calls that the model's
    own template drops (the default model's does), so the stage trains on what the model will see;
    else nothing. Data or a model that cannot be read is left to the Trainer's own checks."""
    from posttrain.data import Data, DataFormat, load_data
    from posttrain.data.formats import has_tool_calls
    from posttrain.data.templates import check_tool_template
    from posttrain.errors import PosttrainError
    from posttrain.models import load_tokenizer
    from posttrain.stages.tokens import row_messages, row_tools

    try:
        loaded = load_data(data)
    except PosttrainError:
        return {}
    if not isinstance(loaded, Data) or loaded.format not in (DataFormat.MESSAGES, DataFormat.PROMPT_COMPLETION):
        return {}
    tools = any(row_tools(row) for row in loaded.rows)
    calls = any(has_tool_calls(row_messages(row)) for row in loaded.rows)
    if not (tools or calls):
        return {}
    try:
        check_tool_template(load_tokenizer(model), tools=tools, calls=calls)
    except ConfigError:
        return {"chat_template": "chatml-tools"}
    except (PosttrainError, OSError, ValueError):        # a model that cannot be read: validate() says why
        return {}
    return {}


def _stage_data(rec: RecommendationData, stage: str, given: Any, problems: list[Problem]) -> Any:
    if given is not None:
        return given
    matches = [(info, data) for info, data in zip(rec.datasets_info, rec.data) if info.stage == stage]
    if len(matches) == 1:
        return matches[0][1]
    if matches:
        names = ", ".join(info.source for info, _ in matches)
        problems.append(Problem(f"stage '{stage}'", f"{len(matches)} datasets fit it ({names})",
                                f"choose one with data={{'{stage}': ...}}, or merge them into one file"))
    else:
        problems.append(Problem(f"stage '{stage}'", "has no data (none given, and no dataset of its format "
                                "was passed to advise())", f"pass {needs(stage)}"))
    return None


def _rewards(rec: RecommendationData, rewards: Any, problems: list[Problem], stages: list[str]) -> Any:
    if rewards is not None:
        return rewards
    answers = any(info.answer_column for info in rec.datasets_info if info.stage in stages)
    if "math" in rec.spec.target_skills or answers:
        from posttrain.rewards import math_accuracy

        return [math_accuracy]
    problems.append(Problem(f"stage '{stages[0]}'", "has no reward function, and the task is not math (no default "
                            "verifier fits)", "pass rewards=[fn] with fn(completions, **columns) -> "
                            "list[float | None], e.g. one that runs your unit tests or SQL"))
    return None


def is_default_model(model: object) -> bool:
    """Whether `model` names posttrain's default model (the one the shipped reader adapts)."""
    from posttrain.models import DEFAULT_ALIASES

    return isinstance(model, str) and model.strip().lower() in DEFAULT_ALIASES


def reader_generator(model: str, reader: str, output_dir: Path) -> str:
    """The generator a routed RAGBaseline answers with: the default model with the shipped reader
    (`reader="auto"` or `"shipped"`), a reader trained for `model` by `rag_baseline.reader.reader_pipeline`
    (`"train"`: ~40 min on 2 CPU cores for a 135M model), or `model` as it is (`"none"`, or `"auto"` with
    another model)."""
    if reader not in READERS:
        raise ConfigError(Problem("route(reader=...)", f"is {reader!r}",
                                  f"use one of {', '.join(READERS)} ('auto': the shipped reader with the default "
                                  "model; 'train': train one for another model)"),
                          title="cannot build the retrieval baseline")
    default = is_default_model(model)
    if reader == "shipped" and not default:
        raise ConfigError(Problem("route(reader='shipped')", f"the shipped reader adapts the default model, not "
                                  f"{model!r}", "use reader='train' to train a reader for this model, or "
                                  "model='default'"), title="cannot build the retrieval baseline")
    if reader == "none" or (reader == "auto" and not default):
        return model
    from rag_baseline.reader import reader_model, reader_pipeline

    if reader == "train":
        return str(reader_pipeline(model, output_dir / "reader").run().model_dir)
    return reader_model()


def build_rag(rec: RecommendationData, model: str, documents: Any, *, reader: str = "none",
              output_dir: Path = Path("runs/advised")) -> RAGBaseline:
    """A RAGBaseline over `documents` (texts or file paths), or over the text data given to advise(),
    answering with `reader_generator(model, reader, output_dir)`, its answers as short spans
    (`short_answers`: without the question's own noun in front, see `rag_baseline.answer.short_answer`)."""
    if documents is None:
        documents = [row["text"] for info, data in zip(rec.datasets_info, rec.data)
                     if info.format == "text" for row in data.rows]
    if isinstance(documents, (str, Path)):
        documents = [documents]
    if not documents:
        raise ConfigError(Problem("route(documents=...)", "retrieval needs documents and none were given",
                                  "pass documents=[text, ...] or documents=['docs/a.md', ...], or give "
                                  "text data (.txt/.md or {'text': ...} rows) to advise()"),
                          title="cannot build the retrieval baseline")
    generator = reader_generator(model, reader, output_dir)
    from rag_baseline import RAGBaseline

    if all(isinstance(d, Path) or (isinstance(d, str) and _is_file(d)) for d in documents):
        rag = RAGBaseline.from_files(list(documents), model=model)
    else:
        rag = RAGBaseline.from_texts([str(d) for d in documents], model=model)
    return rag.with_model(generator, short_answers=True)


def _is_file(text: str) -> bool:
    return "\n" not in text and len(text) < 1024 and Path(text).is_file()
