"""A training method from outside the library: this one module and its one registration line are all it
takes for the Trainer, YAML pipelines, plan(), validate(), the runner, the report and the advisor to know it.

It is SFT under another name with its own settings class and defaults, so a test can train it on the
tiny model in seconds; a real plug-in brings its own `run`.
"""

from __future__ import annotations

from typing import Any, Literal

from posttrain.data import DataFormat
from posttrain.stages import register
from posttrain.stages.common import StageContext
from posttrain.stages.sft import SFTSettings, build_dataset, train_tokenized, trl_args
from posttrain.stages.spec import Advice, StageSpec


class ImitateSettings(SFTSettings):
    """Imitation with a higher default rate."""

    kind: Literal["imitate"] = "imitate"  # type: ignore[assignment]  # a subclass names its own kind


def run(ctx: StageContext) -> dict[str, Any]:
    return train_tokenized(ctx, build_dataset, SPEC)


SPEC = register(StageSpec(
    kind="imitate", summary="imitation: copy the answers (a plug-in method)", settings=ImitateSettings,
    formats=(DataFormat.PROMPT_COMPLETION,), trl_config="SFTConfig", default_lr=(1e-3, 1e-3), trl_args=trl_args,
    run=run, advice=Advice(claims=(DataFormat.PROMPT_COMPLETION,), order=15, noun="rows to imitate"),
    data_hint="rows like {'prompt': 'Hi', 'completion': 'Hello!'}"))
