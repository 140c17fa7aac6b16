"""Progress shown while a stage trains: a rich bar with the latest loss or reward."""

from __future__ import annotations

from typing import TYPE_CHECKING

from transformers import TrainerCallback

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

SHOWN = ("loss", "reward", "rewards/margins", "learning_rate")


class ProgressCallback(TrainerCallback):
    """A progress bar per stage (steps done / total) with the latest logged metrics."""

    def __init__(self, label: str, enabled: bool = True) -> None:
        self.label, self.enabled = label, enabled
        self.progress: Progress | None = None
        self.task: TaskID | None = None

    def on_train_begin(self, args, state, control, **kwargs):
        if not self.enabled:
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeRemainingColumn(), TextColumn("{task.fields[metrics]}"), transient=False)
        self.progress.start()
        self.task = self.progress.add_task(self.label, total=state.max_steps, completed=state.global_step,
                                           metrics="")

    def on_step_end(self, args, state, control, **kwargs):
        if self.progress is not None and self.task is not None:
            self.progress.update(self.task, completed=state.global_step)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.progress is not None and self.task is not None and logs:
            shown = "  ".join(f"{k}={logs[k]:.4g}" for k in SHOWN if isinstance(logs.get(k), (int, float)))
            self.progress.update(self.task, metrics=shown)

    def on_train_end(self, args, state, control, **kwargs):
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


def quiet_libraries() -> None:
    """Our progress bars and eval lines are what a run shows: turn off the per-dataset-map and
    weight-loading bars of `datasets` and transformers, TRL's tqdm bars (`TQDM_DISABLE`, which TRL reads
    before each: DPO's "Computing reference log probs"; tqdm itself, in processes started after; a
    value the user set is kept), and a transformers deprecation notice that TRL's trainers trigger on
    every stage (not ours to act on), transformers' note on ordering checkpoints saved within a second,
    and TRL's "All reward functions returned None" (repeated at every step
    with a whole row; the stage says once which reward failed and why, `posttrain.reward_guard`). Warnings and
    errors still show."""
    import logging
    import os
    import warnings

    import datasets
    from transformers.utils import logging as hf_logging

    os.environ.setdefault("TQDM_DISABLE", "1")
    datasets.disable_progress_bars()
    hf_logging.disable_progress_bar()
    warnings.filterwarnings("ignore", message=r".*is_gradient_checkpointing.*is deprecated", category=FutureWarning)
    for name in ("trl.trainer.grpo_trainer", "trl.trainer.rloo_trainer"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _RewardsSaidElsewhere) for f in logger.filters):
            logger.addFilter(_RewardsSaidElsewhere())
    trainer_logger = logging.getLogger("transformers.trainer")
    if not any(isinstance(f, _TiedHeadOnResume) for f in trainer_logger.filters):
        trainer_logger.addFilter(_TiedHeadOnResume())
    utils_logger = logging.getLogger("transformers.trainer_utils")
    if not any(isinstance(f, _CheckpointOrder) for f in utils_logger.filters):
        utils_logger.addFilter(_CheckpointOrder())


class _RewardsSaidElsewhere:
    """Drops TRL's per-step note that no reward scored a completion (see `quiet_libraries`)."""

    def filter(self, record: object) -> bool:
        return not str(getattr(record, "msg", "")).startswith("All reward functions returned None")


class _CheckpointOrder:
    """Drops transformers' notice that file times "may not be reliable" when two checkpoints were saved
    within a second of each other (frequent saves of a fast model): it then orders them by step, which is
    what a stage's checkpoints are numbered by anyway (see `quiet_libraries`)."""

    def filter(self, record: object) -> bool:
        return not str(getattr(record, "msg", "")).startswith("mtime may not be reliable")


class _TiedHeadOnResume:
    """Drops transformers' warning, on resuming from a checkpoint, that `lm_head.weight` is missing: a
    model whose head is tied to its embeddings saves it once, so every resumed run of such a model
    (the default one among them) said so (see `quiet_libraries`). Any other missing key still shows."""

    def filter(self, record: object) -> bool:
        return str(getattr(record, "msg", "")) != ("There were missing keys in the checkpoint model loaded: "
                                                   "['lm_head.weight'].")
