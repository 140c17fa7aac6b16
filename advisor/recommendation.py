"""What `advise()` returns: a `Recommendation`, the advice's data (`advisor.recommendation_data`) with `route()`,
which turns it into something that runs (`advisor.routing`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from advisor.recommendation_data import (Alternative, Approach, Reason, RecommendationData,  # noqa: F401 - re-exported
                                         StageName)
from posttrain.errors import ConfigError, Problem

if TYPE_CHECKING:
    from advisor.baseline import PromptBaseline
    from posttrain.pipeline.builder import Trainer
    from rag_baseline import RAGBaseline


class Recommendation(RecommendationData):
    """The advice for one task. `route()` turns it into something that runs.

    Example:
        >>> from advisor import advise
        >>> rec = advise({"num_instructions": 25, "labeled_examples": 8000})
        >>> rec.approach, rec.stages
        ('post_training', ['sft'])
    """

    def route(self, model: str = "default", output_dir: str | Path = "runs/advised", *,
              documents: Any = None, data: dict[str, Any] | None = None, rewards: Any = None,
              system: str | None = None, lora: Any = None, seed: int = 0, replay: Any = None,
              replay_share: float = 0.25, stage_settings: dict[str, Any] | None = None,
              reader: str = "auto", **deprecated: Any) -> Trainer | RAGBaseline | PromptBaseline:
        """Turn the advice into something that runs.

        - `prompt_engineering` -> a `PromptBaseline` (system prompt from the spec, or `system=`);
        - `rag` -> a `RAGBaseline` over `documents=` (texts or file paths) or the text data given to advise(),
          answering with a reader (rule `rag-reader`): with the default model, `reader="auto"` serves it with
          the shipped reader adapter (`rag_baseline.reader`, trained to answer from retrieved passages on a
          corpus that shares nothing with yours); `reader="train"` trains one for another model with the same
          recipe (into `output_dir/reader`); `reader="none"` keeps the model as it is;
        - training -> a `posttrain.Trainer` with the stages in order, each bound to its data in
          `data={"sft": rows, "dpo": "pairs.jsonl", ...}` (any registered method, by its name or the advisor's:
          "cpt" or "pretrain") or to the dataset of the matching format given to advise(). The older
          `sft_data=`, `dpo_data=`, `grpo_data=` and `cpt_data=` still work, with a FutureWarning
          (docs/api.md, migration table). Missing data is a ConfigError
          naming every stage's need. SFT rows with tools or tool calls that the model's own chat
          template drops are trained with the built-in `chat_template="chatml-tools"`. A stage the compute
          estimate trains with LoRA gets `lora=True`, with QLoRA `lora={"quantize": "nf4"}` (a CUDA GPU
          with bitsandbytes); `lora=` given here applies to every stage instead.
        - skills must hold (the spec's `keep_skills: true`, or `replay=` given): each stage replays
          `replay_share` of its rows (0.25 unless told) from the earlier stages' data of its format and from
          `replay=` (general data the model must keep, a path or rows) where its format fits; `plan()`
          shows the rows from each source.
        - `stage_settings` (e.g. `{"max_steps": 50}` or `{"epochs": 1}`) go to every training stage.

        Example:
            >>> from advisor import advise
            >>> trainer = advise({"num_instructions": 25}).route(data={"sft": "policy.jsonl"})  # doctest: +SKIP
            >>> [stage.kind for stage in trainer.plan().stages]                           # doctest: +SKIP
            ['sft']
        """
        from advisor.routing import route

        from advisor.rules import training_names
        from posttrain.stages import find_stage

        if isinstance(replay_share, bool) or not isinstance(replay_share, (int, float)) or not 0 < replay_share < 1:
            raise ConfigError(Problem("route(replay_share=...)", f"is {replay_share!r}",
                                      "give the share of each stage's rows to replay, between 0 and 1 (e.g. 0.25)"))
        given: dict[str, Any] = _deprecated_data(deprecated, data or {})
        for name, value in (data or {}).items():
            method = find_stage(str(name))
            if method is None:
                raise ConfigError(Problem(f"route(data={{{name!r}: ...}})", "names no registered training method",
                                          f"use one of {', '.join(training_names())}"))
            given[method.advisor_name] = value
        return route(self, model, Path(output_dir), given=given, documents=documents, rewards=rewards,
                             system=system, lora=lora, seed=seed, replay=replay, replay_share=replay_share,
                     stage_settings=stage_settings, reader=reader)


# route()'s keywords before `data={kind: ...}` took every method: the method each stood for.
DEPRECATED_DATA = {"sft_data": "sft", "dpo_data": "dpo", "grpo_data": "grpo", "cpt_data": "cpt"}


def _deprecated_data(keywords: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """`{method: data}` from route()'s older `*_data=` keywords, each with a FutureWarning naming its `data=`
    form; any other keyword, or one method given both ways, is a ConfigError."""
    import warnings

    from posttrain.stages import find_stage

    given: dict[str, Any] = {}
    for keyword, value in keywords.items():
        method = DEPRECATED_DATA.get(keyword)
        if method is None:
            raise ConfigError(Problem(f"route({keyword}=...)", "is not an argument of route()",
                                      "give each method's data as data={'sft': ..., 'dpo': ...}"))
        if value is None:
            continue
        spec = find_stage(method)
        if any(find_stage(str(name)) is spec for name in data):
            raise ConfigError(Problem(f"route({keyword}=...)", f"gives {method}'s data a second time, beside data=",
                                      f"give it once, as data={{'{method}': ...}}"))
        warnings.warn(f"route({keyword}=...) is deprecated; use route(data={{'{method}': ...}})", FutureWarning,
                      stacklevel=3)
        given[method] = value
    return given
