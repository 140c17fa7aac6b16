"""The ship gate: whether a run's model should ship, as a CI step reads it (an exit status and a reason).

A run passes when every stage's own eval improved significantly (the paired test the report uses,
p < 0.05) and no eval of any stage regressed significantly by more than `max_drop`. A stage's own eval
is the one `targets` names for it (stage kind or folder name -> eval name, as the report's chain
section takes them), else the eval it improved most. An own eval that rose without reaching
significance leaves the run undecided, with the number of items that would settle it at the same
effect; one that did not rise blocks it.

    result = gate_run(RunResult.from_dir("runs/math"), targets={"grpo": "math_avg@4"}, max_drop="5%")
    print(result.text())            # first line: "gate: SHIP ..." / "gate: BLOCKED ..." / "gate: UNDECIDED ..."
    sys.exit(result.exit_code)      # 0 ship, 1 blocked, 3 undecided

`max_drop`: a number is an absolute drop in the eval's score (0.02: two points of a 0-1 score); a string
ending in % is relative to the score before the stage ("5%"). Default 0.02: a significant regression of
more than two points blocks; smaller ones are listed and tolerated.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from posttrain.errors import ConfigError, Problem
from posttrain.pipeline.run_data import RunData, StageResult

if TYPE_CHECKING:
    from posttrain.evals import EvalDelta

DEFAULT_MAX_DROP = 0.02
EXIT_CODES = {"ship": 0, "blocked": 1, "undecided": 3}
ALPHA = 0.05


@dataclass(frozen=True)
class GateCheck:
    """One finding: the stage, the eval, whether it is the stage's own, its outcome and why."""

    stage: str
    eval: str
    own: bool
    outcome: str            # "pass", "blocked", "undecided", "tolerated"
    reason: str


@dataclass(frozen=True)
class GateResult:
    """The gate's verdict ("ship", "blocked", "undecided"), its findings and its threshold."""

    verdict: str
    checks: tuple[GateCheck, ...]
    max_drop: float | str

    @property
    def passed(self) -> bool:
        return self.verdict == "ship"

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]

    def headline(self) -> str:
        """One line: the verdict and its main reason (what a report's first line carries)."""
        stopping = [c for c in self.checks if c.outcome == self.verdict] if not self.passed else []
        if self.passed:
            own = [c for c in self.checks if c.own]
            return (f"gate: SHIP: {len(own)} of {len(own)} stages improved their own eval, no regression past "
                    f"{_threshold_text(self.max_drop)}")
        first = stopping[0] if stopping else None
        more = f" (+{len(stopping) - 1} more)" if len(stopping) > 1 else ""
        return f"gate: {self.verdict.upper()}: " + (f"{first.stage} {first.eval}: {first.reason}{more}" if first else "")

    def text(self) -> str:
        """The headline, then every finding (a CI log shows it as is)."""
        lines = [self.headline()]
        lines += [f"  [{c.outcome}] {c.stage} {c.eval}{' (own eval)' if c.own else ''}: {c.reason}" for c in self.checks]
        return "\n".join(lines)


def gate_run(run: RunData, targets: Mapping[str, str] | None = None,
             max_drop: float | str = DEFAULT_MAX_DROP) -> GateResult:
    """The gate's verdict on `run` (see the module's docstring). A run with no finished stage, a stage
    without evals, an unfinished chain, an unknown target or a bad threshold is a ConfigError."""
    targets = dict(targets or {})
    _check(run, targets, max_drop)
    checks: list[GateCheck] = []
    for stage in run.stages:
        name, deltas = stage.output_dir.name, stage.eval_deltas()
        own = _own_eval(stage, deltas, targets)
        for delta in deltas:
            n = _items(stage, delta.name)
            checks.append(_own_check(name, delta, n) if delta.name == own else _other_check(name, delta, n, max_drop))
    outcomes = {c.outcome for c in checks}
    verdict = "blocked" if "blocked" in outcomes else "undecided" if "undecided" in outcomes else "ship"
    return GateResult(verdict, tuple(checks), max_drop)


def _check(run: RunData, targets: Mapping[str, str], max_drop: float | str) -> None:
    problems = []
    if not run.stages:
        problems.append(Problem(f"run {run.output_dir}", "has no finished stage", "gate a run after training it"))
    unfinished = run.unfinished()
    if unfinished:
        problems.append(Problem(f"run {run.output_dir}", f"did not finish ({', '.join(unfinished)})",
                                "finish the run (posttrain train PIPELINE.yaml resumes it), then gate it"))
    for stage in run.stages:
        if not stage.eval_deltas():
            problems.append(Problem(f"stage {stage.output_dir.name}", "has no before/after evals to gate on",
                                    "give the pipeline evals (Trainer(evals=...) or `evals:` in the YAML) and rerun"))
    names = {s.kind for s in run.stages} | {s.output_dir.name for s in run.stages}
    for key, eval_name in targets.items():
        found = next((s for s in run.stages if key in (s.kind, s.output_dir.name)), None)
        if found is None:
            problems.append(Problem(f"gate, targets[{key!r}]", f"names no stage of this run ({', '.join(sorted(names))})",
                                    "key targets by a stage's kind or folder name"))
        elif found.eval_deltas() and eval_name not in {d.name for d in found.eval_deltas()}:
            problems.append(Problem(f"gate, targets[{key!r}]", f"eval {eval_name!r} is not among the stage's evals "
                                    f"({', '.join(d.name for d in found.eval_deltas())})", "name one of them"))
    try:
        _drop_limit(1.0, max_drop)
    except ValueError:
        problems.append(Problem("gate, max_drop", f"{max_drop!r} is neither a number nor a percentage",
                                "pass 0.02 (an absolute drop) or '5%' (relative to the score before)"))
    if problems:
        raise ConfigError(problems, title="cannot gate")


def _own_eval(stage: StageResult, deltas: list[EvalDelta], targets: Mapping[str, str]) -> str | None:
    for key in (stage.output_dir.name, stage.kind):
        if key in targets:
            return targets[key]
    if not deltas:
        return None
    gain = [d for d in deltas if _gain(d) > 0]
    if not gain:
        return None
    return min(gain, key=lambda d: (not d.improved, d.p_value if d.p_value is not None else 1.0, -_gain(d))).name


def _items(stage: StageResult, name: str) -> int | None:
    """How many items the eval scored after the stage."""
    result = ((stage.evals.get("after") or {}).get("results") or {}).get(name) or {}
    n = result.get("n")
    return n if isinstance(n, int) and n > 0 else None


def _gain(delta: EvalDelta) -> float:
    return delta.delta if delta.higher_is_better else -delta.delta


def _own_check(stage: str, delta: EvalDelta, n: int | None) -> GateCheck:
    move = f"{delta.before:.3f} -> {delta.after:.3f}{_evidence(delta)}"
    if delta.improved:
        return GateCheck(stage, delta.name, True, "pass", f"improved significantly, {move}")
    if _gain(delta) <= 0:
        return GateCheck(stage, delta.name, True, "blocked", f"did not improve, {move}")
    return GateCheck(stage, delta.name, True, "undecided",
                     f"rose without reaching significance, {move}; {items_to_settle(delta, n)}")


def _other_check(stage: str, delta: EvalDelta, n: int | None, max_drop: float | str) -> GateCheck:
    drop = -_gain(delta)
    move = f"{delta.before:.3f} -> {delta.after:.3f}{_evidence(delta)}"
    limit = _drop_limit(delta.before, max_drop)
    if delta.regressed and drop > limit:
        return GateCheck(stage, delta.name, False, "blocked",
                         f"regressed past {_threshold_text(max_drop)}, {move}")
    if delta.regressed:
        return GateCheck(stage, delta.name, False, "tolerated",
                         f"regressed within {_threshold_text(max_drop)}, {move}")
    if drop > limit:
        return GateCheck(stage, delta.name, False, "tolerated",
                         f"fell past {_threshold_text(max_drop)} but not significantly, {move}; {items_to_settle(delta, n)}")
    return GateCheck(stage, delta.name, False, "pass", f"{'improved' if delta.improved else 'held'}, {move}")


def _evidence(delta: EvalDelta) -> str:
    return f" (items fixed / broken {delta.paired})" if delta.paired else ""


def _drop_limit(before: float, max_drop: float | str) -> float:
    """The largest tolerated drop in score units."""
    if isinstance(max_drop, str):
        text = max_drop.strip()
        if text.endswith("%"):
            return abs(before) * float(text[:-1]) / 100
        return float(text)
    return float(max_drop)


def _threshold_text(max_drop: float | str) -> str:
    return f"{max_drop} of its score before" if isinstance(max_drop, str) and max_drop.strip().endswith("%") \
        else f"a drop of {float(max_drop):g}"


def items_to_settle(delta: EvalDelta, n: int | None) -> str:
    """How many items of the same kind would settle the change at the effect seen (`n`: items now): for
    paired results, the exact sign test on the fixed / broken counts scaled up; otherwise the
    before-interval narrowed to the change (it shrinks as 1/sqrt(items))."""
    scale = _paired_scale(delta) if delta.fixed is not None and delta.broken is not None else _interval_scale(delta)
    if scale is None or n is None:
        return "more items would not settle it at this effect"
    return f"about {math.ceil(n * scale)} items (now {n}) would settle it at this effect"


def _paired_scale(delta: EvalDelta) -> float | None:
    """The factor on the items that brings the same fixed / broken split to p < 0.05."""
    fixed, broken = delta.fixed or 0, delta.broken or 0
    if fixed == broken:
        return None
    for scale in [1 + step / 4 for step in range(1, 400)]:
        if _sign_p(round(fixed * scale), round(broken * scale)) < ALPHA:
            return scale
    return None


def _sign_p(a: int, b: int) -> float:
    """Exact two-sided sign test of a changes one way and b the other."""
    n, k = a + b, min(a, b)
    total: int = 2 ** n                                  # exact integers: 2.0 ** n overflows past ~1,000 items
    return min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / total)


def _interval_scale(delta: EvalDelta) -> float | None:
    low, high = delta.before_ci
    if math.isnan(low) or math.isnan(high) or not delta.delta:
        return None
    return max(1.0, ((high - low) / 2 / abs(delta.delta)) ** 2)
