"""Reward functions that cannot end a training run: time limits and per-sample failure isolation.

A reward function can fail in four ways; each costs only the rewards of the samples it touched
(set to None, which TRL ignores) and is counted by cause:

- `error`: it raised (the batch is retried sample by sample, so one bad sample costs only itself);
- `timeout`: it ran past `timeout_s` (the whole call's samples);
- `wrong_length`: it returned a number of rewards other than the number of completions, or no list
  at all (the whole call's samples: which reward belongs to which sample cannot be known);
- `non_finite`: it returned NaN or +-inf for a sample (that sample only).

>>> from posttrain.reward_guard import SafeReward
>>> safe = SafeReward(lambda completions, **columns: [1.0, float("nan")], timeout_s=5)
>>> safe(["a", "b"]), safe.failed_by_cause["non_finite"]
([1.0, None], 1)

A training stage also keeps the first failure of each function with its traceback (`error_log`, a file in
the stage folder), says so once (`notify`), and asks `learning_problem` whether the rewards could teach
anything at all: a function that failed on (nearly) every completion, or rewards that never differed
within a group, leave the stage nothing to learn from.
"""

from __future__ import annotations

import inspect
import math
import signal
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

RewardFn = Callable[..., list]
CAUSES = ("error", "timeout", "wrong_length", "non_finite")

# A function that lost its reward on at least this share of the completions it saw "failed on (nearly) every
# completion": the few it scored cannot steer the training.
DEAD_SHARE = 0.95

__all__ = ["SafeReward", "safe_rewards", "reward_metrics", "learning_problem", "TimeLimit", "TimeLimitExceeded",
           "CAUSES", "DEAD_SHARE"]


class TimeLimitExceeded(BaseException):
    """Raised inside code that ran past its `TimeLimit`. A BaseException, so the `except Exception`
    blocks of the timed code (math-verify has several) cannot swallow it."""


class TimeLimit:
    """Interrupt the `with` block after `seconds`; the overrun is swallowed and `expired` set.

    Uses SIGALRM, so it acts only in the main thread on POSIX (elsewhere the block runs unbounded).
    Limits nest: an inner limit longer than what is left of the outer one adds nothing, and the
    outer timer is re-armed when an inner one ends.

    >>> import time
    >>> limit = TimeLimit(0.05)
    >>> with limit:
    ...     time.sleep(1)
    >>> limit.expired
    True
    """

    def __init__(self, seconds: float | None) -> None:
        self.seconds, self.expired, self._armed = seconds, False, False

    def __enter__(self) -> TimeLimit:
        self.expired = False
        if not self.seconds or not _alarm_usable():
            return self
        outer, _ = signal.getitimer(signal.ITIMER_REAL)
        if outer and outer <= self.seconds:        # the enclosing limit fires first anyway
            return self
        self._outer, self._start = outer, time.monotonic()
        self._previous = signal.signal(signal.SIGALRM, self._fire)
        signal.setitimer(signal.ITIMER_REAL, self.seconds)
        self._armed = True
        return self

    def _fire(self, signum: int, frame: Any) -> None:
        raise TimeLimitExceeded(self)

    def __exit__(self, kind: Any, error: BaseException | None, traceback: Any) -> bool:
        if self._armed:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self._previous if self._previous is not None else signal.SIG_DFL)
            if self._outer:
                signal.setitimer(signal.ITIMER_REAL, max(1e-3, self._outer - (time.monotonic() - self._start)))
            self._armed = False
        self.expired = isinstance(error, TimeLimitExceeded) and error.args[0] is self
        return self.expired


def _alarm_usable() -> bool:
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


class SafeReward:
    """A reward function that cannot end a training run: a failure costs only its samples' rewards.

    Called like the function it wraps (same `__name__`, so TRL logs it the same). The four kinds of
    failure (see the module docstring) set the affected rewards to None. Counted: `calls`; failed
    calls by kind, `errors`, `timeouts`, `wrong_lengths`; samples whose reward was lost,
    `failed_samples`, and the same split by cause in `failed_by_cause`. `stats()` gives them all with
    the last error message, `metrics()` as flat numbers for a stage's metrics. Outside the main thread
    the call runs in a helper thread that is abandoned, not killed, when it hangs.

    `samples` counts the completions it was asked to score. The first failure is kept in `first_error`
    (what happened, on what input, and the traceback when it raised); with `error_log` it is also
    appended to that file, and `notify(text)` is called once with a one-line summary.

    >>> def flaky(completions, **columns):
    ...     return [1.0 / len(c) for c in completions]
    >>> safe = SafeReward(flaky, timeout_s=5)
    >>> safe(["ab", ""]), safe.errors, safe.failed_samples
    ([0.5, None], 2, 1)
    """

    def __init__(self, fn: RewardFn, timeout_s: float | None = 30.0, error_log: Path | None = None,
                 notify: Callable[[str], None] | None = None) -> None:
        self.fn, self.timeout_s, self.error_log, self.notify = fn, timeout_s, error_log, notify
        self.__name__ = getattr(fn, "__name__", type(fn).__name__)
        self.__doc__ = getattr(fn, "__doc__", None)
        self.calls = self.errors = self.timeouts = self.wrong_lengths = self.samples = 0
        self.failed_by_cause = dict.fromkeys(CAUSES, 0)
        self.last_error: str | None = None
        self.first_error: str | None = None
        self._trace: str | None = None

    @property
    def failed_samples(self) -> int:
        return sum(self.failed_by_cause.values())

    @property
    def failures(self) -> int:
        """Failed calls of any kind (non-finite values are counted per sample, not as calls)."""
        return self.errors + self.timeouts + self.wrong_lengths

    @property
    def failed_share(self) -> float:
        """The share of the completions it saw whose reward was lost (0 before any call)."""
        return self.failed_samples / self.samples if self.samples else 0.0

    def stats(self) -> dict:
        """Counts for reports: name, calls, samples, errors, timeouts, wrong_lengths, failed_samples,
        failed_by_cause, last_error, first_error."""
        return {"name": self.__name__, "calls": self.calls, "samples": self.samples, "errors": self.errors,
                "timeouts": self.timeouts, "wrong_lengths": self.wrong_lengths, "failed_samples": self.failed_samples,
                "failed_by_cause": dict(self.failed_by_cause), "last_error": self.last_error,
                "first_error": self.first_error}

    def metrics(self) -> dict[str, int]:
        """`reward_failures/<name>`: samples left without a reward; `reward_failures/<name>/<cause>`:
        the same split by cause, for the causes that occurred."""
        prefix = f"reward_failures/{self.__name__}"
        return {prefix: self.failed_samples,
                **{f"{prefix}/{cause}": n for cause, n in self.failed_by_cause.items() if n}}

    def __call__(self, completions: Sequence, **columns: Any) -> list[float | None]:
        self.calls += 1
        self.samples += len(completions)
        status, value = self._limited(completions, columns)
        if status == "ok":
            return self._finite(value)
        self._keep_first(status, completions)
        if status != "error":                               # timeout or wrong length: the whole call
            self.failed_by_cause[status] += len(completions)
            return [None] * len(completions)
        rewards: list[float | None] = []
        for index in range(len(completions)):
            if status != "timeout":                         # after one hang, waiting again is not worth it
                status, value = self._limited(completions[index:index + 1],
                                              _row(columns, index, len(completions)))
            if status == "ok":
                rewards += self._finite(value)
            else:
                self.failed_by_cause[status] += 1
                rewards.append(None)
        return rewards

    def _finite(self, values: list[float | None]) -> list[float | None]:
        bad = [v is not None and not math.isfinite(v) for v in values]
        if any(bad):
            self.failed_by_cause["non_finite"] += sum(bad)
            self.last_error = f"returned a non-finite reward ({next(v for v, b in zip(values, bad) if b)})"
            self._keep_first("non_finite", None)
        return [None if b else v for v, b in zip(values, bad)]

    def _keep_first(self, cause: str, completions: Sequence | None) -> None:
        """Keep the first failure (with its traceback), write it to `error_log` and `notify` once."""
        if self.first_error is not None:
            return
        self.first_error = f"{cause}: {self.last_error}"
        shown = f"\nfirst completion: {completions[0]!r:.300}" if completions else ""
        trace = f"\n{self._trace}" if cause == "error" and self._trace else ""
        if self.error_log is not None:
            try:
                self.error_log.parent.mkdir(parents=True, exist_ok=True)
                with self.error_log.open("a", encoding="utf-8") as handle:
                    handle.write(f"reward {self.__name__!r}, call {self.calls}: {self.first_error}{shown}{trace}\n")
            except OSError:                                 # the log is a courtesy; the count is what decides
                pass
        if self.notify is not None:
            where = f" (traceback in {self.error_log})" if self.error_log is not None else ""
            self.notify(f"reward {self.__name__!r} failed: {self.first_error}{where}; "
                        "its failures are counted in the stage's metrics")

    def _limited(self, completions: Sequence, columns: dict) -> tuple[str, Any]:
        """Run the function once under the time limit: (status, rewards), the status "ok" (with the
        rewards as floats or None), "error", "timeout" or "wrong_length" (with None)."""
        outcome: dict = {}

        def call() -> None:
            try:
                outcome["value"] = self.fn(completions=completions, **columns)
                outcome["value"] = _as_rewards(outcome["value"], len(completions))
            except _WrongLength as error:
                outcome["wrong_length"] = str(error)
            except Exception as error:                     # noqa: BLE001 - any failure costs rewards only
                outcome["error"] = f"{type(error).__name__}: {error}"
                outcome["trace"] = traceback.format_exc()

        if self._timed(call):
            self.timeouts += 1
            self.last_error = f"timed out after {self.timeout_s} s"
            return "timeout", None
        if "wrong_length" in outcome:
            self.wrong_lengths += 1
            self.last_error = outcome["wrong_length"]
            return "wrong_length", None
        if "error" in outcome:
            self.errors += 1
            self.last_error = outcome["error"]
            if self._trace is None:
                self._trace = outcome["trace"]
            return "error", None
        return "ok", outcome["value"]

    def _timed(self, call: Callable[[], None]) -> bool:
        """Run `call` under the time limit; True when it ran past it."""
        if _alarm_usable() or not self.timeout_s:
            limit = TimeLimit(self.timeout_s)
            with limit:
                call()
            return limit.expired
        worker = threading.Thread(target=call, daemon=True, name=f"reward-{self.__name__}")
        worker.start()
        worker.join(self.timeout_s)
        return worker.is_alive()


class _WrongLength(Exception):
    """A reward function returned no list, or a list of the wrong length."""


def _as_rewards(values: object, size: int) -> list[float | None]:
    if isinstance(values, (str, bytes, dict)) or not hasattr(values, "__iter__"):
        raise _WrongLength(f"returned {type(values).__name__} {values!r:.60}, not a list of {size} rewards")
    values = list(values)
    if len(values) != size:
        raise _WrongLength(f"returned {len(values)} rewards for {size} completions")
    return [None if v is None else float(v) for v in values]


def _row(columns: dict, index: int, size: int) -> dict:
    """The keyword arguments for one sample: per-sample lists cut to that sample, the rest as is."""
    return {key: value[index:index + 1] if isinstance(value, (list, tuple)) and len(value) == size else value
            for key, value in columns.items()}


def safe_rewards(funcs: RewardFn | Sequence[RewardFn], timeout_s: float | None = 30.0,
                 error_log: Path | None = None, notify: Callable[[str], None] | None = None) -> list:
    """Wrap reward functions in `SafeReward` (see there, also for `error_log` and `notify`); reward models
    (nn.Module), hub ids and async functions are passed through unchanged. Wrapping twice keeps one wrapper.

    >>> from posttrain.rewards import exact_match
    >>> wrapped = safe_rewards([exact_match], timeout_s=10)
    >>> [w.__name__ for w in wrapped], wrapped[0](["4"], answer=["4"])
    (['exact_match'], [1.0])
    """
    funcs = [funcs] if callable(funcs) or isinstance(funcs, str) else list(funcs)
    wrapped = []
    for fn in funcs:
        passthrough = isinstance(fn, str) or hasattr(fn, "parameters") or inspect.iscoroutinefunction(
            getattr(fn, "__call__", fn)) or inspect.iscoroutinefunction(fn)
        if isinstance(fn, SafeReward):
            fn = fn.fn
        wrapped.append(fn if passthrough else SafeReward(fn, timeout_s, error_log, notify))
    return wrapped


def reward_metrics(funcs: Sequence[Any]) -> dict[str, int]:
    """The failure counts of every `SafeReward` in `funcs`, for a stage's metrics (see `metrics()`)."""
    return {key: value for fn in funcs if isinstance(fn, SafeReward) for key, value in fn.metrics().items()}


def learning_problem(funcs: Sequence[Any], history: Sequence[Mapping[str, Any]]) -> str | None:
    """Why a sampling stage could not learn, or None when it could.

    Two reasons, in this order: a reward function lost its reward on at least `DEAD_SHARE` of the
    completions it saw (it failed on nearly every one, so it cannot steer the training); or the
    training log (TRL's `frac_reward_zero_std`, the share of groups whose rewards were all equal) says
    that in every logged step no group's rewards differed, so every advantage was zero and no update
    moved the model. A log without that number decides nothing.

    >>> dead = SafeReward(lambda completions, **columns: [c.strip() for c in completions], timeout_s=5)
    >>> _ = dead([["a message list"]])
    >>> learning_problem([dead], [])
    "reward '<lambda>' failed on 1 of 1 completions (error: AttributeError: 'list' object has no attribute 'strip')"
    >>> learning_problem([], [{"frac_reward_zero_std": 1.0}, {"frac_reward_zero_std": 1.0}])
    'the rewards never differed within a group of answers in 2 logged steps, so no update moved the model'
    """
    for fn in funcs:
        if isinstance(fn, SafeReward) and fn.samples and fn.failed_share >= DEAD_SHARE:
            return (f"reward {fn.__name__!r} failed on {fn.failed_samples} of {fn.samples} completions "
                    f"({fn.first_error})")
    flat = [entry["frac_reward_zero_std"] for entry in history
            if isinstance(entry.get("frac_reward_zero_std"), (int, float))]
    if flat and min(flat) >= 1.0 - 1e-6:
        return (f"the rewards never differed within a group of answers in {len(flat)} logged step"
                f"{'s' if len(flat) > 1 else ''}, so no update moved the model")
    return None
