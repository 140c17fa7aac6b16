"""Experiment trackers (`report_to`) and the watch on the training numbers.

`Trainer(report_to=["tensorboard"])` sends every stage's log to the trackers TRL supports, with one
run name per stage (`<chain>/<NN-kind>`) grouped under the chain's name. Offline by default: files go
under `output_dir/logs/` unless the user's environment already says otherwise (WANDB_MODE,
TENSORBOARD_LOGGING_DIR, MLFLOW_TRACKING_URI, ...).
"""

from __future__ import annotations

import math
import os
import signal
import threading
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from posttrain.errors import ConfigError, PosttrainError, Problem, short

if TYPE_CHECKING:
    from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

# Trackers TRL reaches through transformers' integrations, and the package each one needs.
TRACKERS = {"tensorboard": "tensorboard or tensorboardX", "wandb": "wandb", "trackio": "trackio",
            "mlflow": "mlflow", "comet_ml": "comet_ml", "clearml": "clearml", "dvclive": "dvclive",
            "swanlab": "swanlab", "neptune": "neptune", "codecarbon": "codecarbon", "azure_ml": "azureml-core",
            "dagshub": "dagshub", "flyte": "flytekit"}
WATCHED = ("loss", "grad_norm", "reward")


def normalise_report_to(value: object, where: str = "Trainer(report_to=...)") -> tuple[str, ...]:
    """`report_to` as a tuple of tracker names; None, "none" and [] mean no tracker."""
    if value is None or value == "none":
        return ()
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
        raise ConfigError(Problem(where, f"got {short(value)}", "give a tracker name or a list, "
                                  f"e.g. ['tensorboard'] (known: {', '.join(TRACKERS)})"))
    unknown = [n for n in names if n not in TRACKERS]
    if unknown:
        raise ConfigError([Problem(where, f"unknown tracker {name!r}", _did_you_mean(name)) for name in unknown])
    return tuple(dict.fromkeys(n for n in names if n != "none"))


def _did_you_mean(name: str) -> str:
    import difflib

    close = difflib.get_close_matches(name, TRACKERS, n=1)
    return (f"did you mean {close[0]!r}? " if close else "") + f"use one of {', '.join(TRACKERS)}"


def check_trackers(names: tuple[str, ...]) -> list[Problem]:
    """Trackers whose package is not installed (found before training, not after the first step)."""
    from transformers.integrations import get_available_reporting_integrations

    available = set(get_available_reporting_integrations())
    return [Problem(f"report_to {name!r}", "is not installed", f"pip install {TRACKERS[name].split(' or ')[0]}")
            for name in names if name not in available]


@contextmanager
def tracker_environment(names: Collection[str], output_dir: Path, stage: str) -> Iterator[None]:
    """Set where each tracker writes, offline, for one stage; the user's own settings win."""
    defaults: dict[str, str] = {}
    logs = Path(output_dir).resolve() / "logs"
    if "tensorboard" in names:
        defaults["TENSORBOARD_LOGGING_DIR"] = str(logs / "tensorboard" / stage)
    if "wandb" in names:
        defaults.update(WANDB_MODE="offline", WANDB_DIR=str(logs), WANDB_RUN_GROUP=Path(output_dir).name)
    if "mlflow" in names:
        defaults.update(MLFLOW_TRACKING_URI=(logs / "mlruns").as_uri(), MLFLOW_EXPERIMENT_NAME=Path(output_dir).name)
    if "trackio" in names:
        defaults["TRACKIO_PROJECT"] = Path(output_dir).name
    added = {key: value for key, value in defaults.items() if key not in os.environ}
    if added:
        logs.mkdir(parents=True, exist_ok=True)
    os.environ.update(added)
    try:
        yield
    finally:
        for key in added:
            os.environ.pop(key, None)


class TrainingDiverged(PosttrainError):
    """A loss, gradient norm or reward became NaN or infinite."""


# Set by the Ctrl-C handler of `stop_on_ctrl_c`; a stage's `interrupt_callback` raises at the next step.
INTERRUPTED = threading.Event()


@contextmanager
def stop_on_ctrl_c() -> Iterator[None]:
    """Ctrl-C raises KeyboardInterrupt as usual and is also remembered, so a stage stops at its next
    step even where a library caught the first KeyboardInterrupt and went on. Main thread only."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupted(signum: int, frame: object) -> None:
        INTERRUPTED.set()
        raise KeyboardInterrupt

    INTERRUPTED.clear()
    previous = signal.signal(signal.SIGINT, interrupted)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        INTERRUPTED.clear()


def interrupt_callback() -> TrainerCallback:
    """A TrainerCallback that raises KeyboardInterrupt at the end of a step once Ctrl-C was pressed
    (`stop_on_ctrl_c`)."""
    from transformers import TrainerCallback

    class Interrupt(TrainerCallback):
        def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                        **kwargs: object) -> None:
            if INTERRUPTED.is_set():
                raise KeyboardInterrupt

    return Interrupt()


ELAPSED = "posttrain_elapsed.json"     # in checkpoints written before the time went into trainer_state.json
ELAPSED_STATE = "PosttrainElapsed"    # the key, under trainer_state.json's "stateful_callbacks", of that time


def elapsed_callback(before: float) -> TrainerCallback:
    """A TrainerCallback that records, in each checkpoint, the stage's training seconds so far: `before`
    (what earlier attempts trained, `elapsed_before`) plus this attempt's, so that a resumed stage
    reports its whole training time rather than the part after its last checkpoint.

    The time is part of the checkpoint's `trainer_state.json` (transformers saves an `ExportableState`
    callback's `state()` with it), so a checkpoint whose training state was written has its time too: a
    run killed between the two could otherwise resume from a checkpoint that had no time yet."""
    import time

    from transformers import TrainerCallback
    from transformers.trainer_callback import ExportableState

    start = time.time()

    class PosttrainElapsed(TrainerCallback, ExportableState):
        def state(self) -> dict:
            return {"args": {}, "attributes": {"seconds": round(before + time.time() - start, 2)}}

        def on_train_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                           **kwargs: object) -> None:
            # a state resumed from a checkpoint written without this callback has no entry to update
            state.stateful_callbacks.setdefault(ELAPSED_STATE, self.state())

    assert PosttrainElapsed.__name__ == ELAPSED_STATE
    return PosttrainElapsed()


def checkpoint_state(checkpoint: str | Path) -> dict | None:
    """A checkpoint's `trainer_state.json`, or None when it is missing or was cut off mid-write."""
    import json

    try:
        state = json.loads((Path(checkpoint) / "trainer_state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None


def elapsed_before(checkpoint: str | None) -> float:
    """The training seconds a stage had spent when `checkpoint` was written (0 for none, or for a
    checkpoint written without `elapsed_callback`)."""
    import json

    if checkpoint is None:
        return 0.0
    recorded = (checkpoint_state(checkpoint) or {}).get("stateful_callbacks", {})
    try:
        entry = recorded.get(ELAPSED_STATE) if isinstance(recorded, dict) else None
        if entry is not None:
            seconds = entry["attributes"]["seconds"]
        else:
            seconds = json.loads((Path(checkpoint) / ELAPSED).read_text(encoding="utf-8"))["seconds"]
    except (OSError, ValueError, KeyError, TypeError):
        return 0.0
    return float(seconds) if isinstance(seconds, (int, float)) and seconds >= 0 else 0.0


def finite_loss_callback(label: str) -> TrainerCallback:
    """A TrainerCallback that stops the stage when a watched number is NaN or infinite.

    It raises at the log of the bad step, before that step's checkpoint is written, so the stage's
    `checkpoints/` keeps the last good one."""
    from transformers import TrainerCallback

    class FiniteLoss(TrainerCallback):
        def on_log(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                   logs: dict | None = None, **kwargs: object) -> None:
            bad = {k: v for k, v in (logs or {}).items()
                   if k in WATCHED and isinstance(v, (int, float)) and not math.isfinite(v)}
            if bad:
                names = ", ".join(f"{k}={v}" for k, v in bad.items())
                raise TrainingDiverged(
                    f"{label}: {names} at step {state.global_step}; training stopped. The last good checkpoint "
                    f"(if any) is kept in {args.output_dir}. Fix: lower the learning rate, check the data for "
                    "empty or very long rows, or use precision='fp32'")

    return FiniteLoss()
