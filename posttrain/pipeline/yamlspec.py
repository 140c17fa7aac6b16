"""Pipelines as plain data: a Trainer to and from a dict (and so YAML)."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from posttrain.config import settings_to_data
from posttrain.errors import ConfigError, Problem, ProblemsError, short
from posttrain.stages import STAGES, find_stage
from posttrain.trust import mark_named
from posttrain.yamlfile import read_yaml as read_file

if TYPE_CHECKING:
    from posttrain.pipeline.chain import Pipeline, Stage

TOP_LEVEL = {"model", "output_dir", "lora", "seed", "evals", "report_to", "stages"}


def read_pipeline_file(path: str | Path) -> dict[str, Any]:
    """A pipeline's YAML file as a mapping (`posttrain.yamlfile.read_yaml` with the pipeline's expectations)."""
    spec: dict[str, Any] = read_file(path, what="pipeline YAML", expect=dict,
                                     example="write keys model:, output_dir:, stages: [...]")
    return spec


def trainer_to_dict(trainer: Pipeline) -> dict[str, object]:
    """Everything needed to rebuild the pipeline; in-memory datasets become inline rows."""
    spec: dict[str, object] = {"model": trainer.model, "output_dir": str(trainer.output_dir), "seed": trainer.seed}
    if trainer.lora is not None:
        spec["lora"] = trainer.lora.model_dump()
    if trainer.evals is not None:
        spec["evals"] = trainer.evals.to_config()
    if trainer.report_to:
        spec["report_to"] = list(trainer.report_to)
    spec["stages"] = [_stage_to_dict(stage) for stage in trainer.stages]
    return spec


def _stage_to_dict(stage: Stage) -> dict[str, object]:
    return {"kind": stage.kind, "data": _data_to_yaml(stage.data),
            **settings_to_data(stage.settings, exclude_defaults=True)}


def _data_to_yaml(data: object) -> object:
    if isinstance(data, (str, Path)):
        return str(data)
    rows = getattr(data, "rows", None)      # posttrain.data.Data
    if isinstance(rows, list):
        return list(rows)
    if isinstance(data, Iterable):
        return [dict(row) for row in data]
    return data


def trainer_from_dict(cls: type, spec: dict[str, Any], base_dir: Path | None, trust_file: bool = False) -> Any:
    """A Trainer from a pipeline's data. Callables it names resolve only from the allow-list of
    `posttrain.trust` (the library's, and modules in `base_dir`) unless `trust_file`.

    Every problem is found in one pass: a stage that cannot be built (an unknown kind, a bad setting) is
    reported and left out, the other stages are built and, when anything is wrong, checked as `validate()`
    checks them (data read, TRL arguments); one ConfigError lists it all. Nothing is written."""
    if not isinstance(spec, dict):
        raise ConfigError(Problem("pipeline", f"is a {type(spec).__name__}, not a mapping",
                                  "write keys model:, output_dir:, stages: [...]"))
    problems = [Problem(f"pipeline key '{key}'", "is not a pipeline setting", _did_you_mean(key, TOP_LEVEL)
                        + f"use only {sorted(TOP_LEVEL)}") for key in sorted(str(k) for k in set(spec) - TOP_LEVEL)]
    trainer = _trainer(cls, spec, base_dir, problems)
    numbers: dict[int, int] = {}               # a built stage's place in the Trainer -> its number in the file
    for number, stage in _stage_entries(spec.get("stages"), problems):
        built, found = _add_stage(trainer, stage, number, base_dir, trust_file)
        if len(built.stages) > len(trainer.stages):
            numbers[len(built.stages)] = number
        trainer, problems = built, problems + found
    if problems:                               # what validate() would say next, said now
        from posttrain.pipeline.compile import compile_run

        problems += [p for p in _renumbered(compile_run(trainer).problems, numbers)
                     if trainer.stages or not spec.get("stages") or p.where != "pipeline"]  # "has no stages"
        raise ConfigError(problems, title="invalid pipeline")
    return trainer


def _trainer(cls: type, spec: dict[str, Any], base_dir: Path | None, problems: list[Problem]) -> Any:
    """The Trainer of the top-level keys; with their problems added to `problems`, a stand-in built from
    what is usable, so the stages are still built and checked."""
    evals = spec.get("evals")
    if evals is not None:
        from posttrain.evals import EvalSuite

        try:
            evals = EvalSuite.from_config(evals, base_dir=base_dir)
        except ProblemsError as err:
            problems += [Problem(f"evals, {p.where}", p.message, p.fix) for p in err.problems]
            evals = None
    seed = spec.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        problems.append(Problem("pipeline key 'seed'", f"got {seed!r}", "use a whole number, e.g. seed: 0"))
        seed = 0
    model, output_dir = spec.get("model", "default"), spec.get("output_dir", "runs/posttrain")
    try:
        return cls(model, output_dir, lora=spec.get("lora"), seed=seed, evals=evals, report_to=spec.get("report_to"))
    except ProblemsError as err:
        problems += err.problems
    usable = [value if isinstance(value, (str, Path)) and str(value).strip() else fallback
              for value, fallback in ((model, "default"), (output_dir, "runs/posttrain"))]
    return cls(*usable, seed=seed, evals=evals)


def _stage_entries(stages: Any, problems: list[Problem]) -> list[tuple[int, dict[str, Any]]]:
    """The stage entries that are mappings (copies), each with its number in the file; a problem for
    anything else."""
    if stages is None:
        return []
    if not isinstance(stages, list):
        problems.append(Problem("pipeline key 'stages'", f"is a {type(stages).__name__}, not a list",
                                "write stages: [{kind: sft, data: ...}, ...]"))
        return []
    entries = []
    for number, stage in enumerate(stages, start=1):
        if isinstance(stage, dict):
            entries.append((number, dict(stage)))
        else:
            problems.append(Problem(f"stage {number}", f"is a {type(stage).__name__}, not a mapping",
                                    "write each stage as {kind: sft, data: ..., <settings>}"))
    return entries


def _add_stage(trainer: Any, stage: dict[str, Any], number: int, base_dir: Path | None,
               trust_file: bool) -> tuple[Any, list[Problem]]:
    """`trainer` with stage `number` of the file added, and every problem of the entry. A setting that
    cannot be used is reported and left out, so the stage's data and TRL arguments are still checked; a
    stage of no known kind, or without data, is reported and left out."""
    kind = stage.pop("kind", None)
    found = find_stage(kind) if isinstance(kind, str) else None
    if found is None:
        return trainer, [Problem(f"stage {number}, field 'kind'", f"{short(kind)} is not a stage kind",
                                 _did_you_mean(kind, STAGES) + f"use one of {', '.join(STAGES)}")]
    kind, where, problems, has_data = found.kind, f"stage {number} ({found.kind})", [], "data" in stage
    if not has_data:
        problems.append(Problem(where, "has no 'data'", "give a path to a data file or inline rows"))
    odd = [key for key in stage if not isinstance(key, str)]
    if odd:
        problems.append(Problem(where, f"has non-text setting names {odd!r}", "name each setting, e.g. max_steps: 10"))
    data = _from_folder(stage.pop("data", []), base_dir)
    if isinstance(stage.get("mix"), list):              # mixed-in data files are read from the file's folder too
        stage["mix"] = [{**entry, "data": _from_folder(entry.get("data"), base_dir)} if isinstance(entry, dict)
                        else entry for entry in stage["mix"]]
    # Text in the settings (and their lists) keeps the mark of this file, so any of it resolved as a
    # callable later passes the allow-list first; typed settings drop the mark when validated.
    marked = {key: value if key == "trl_args" else mark_named(value, base_dir, trust_file)
              for key, value in stage.items() if isinstance(key, str)}
    try:
        built = trainer.add_stage(kind, data, **marked)
    except ProblemsError as err:
        problems += _renumbered(err.problems, {len(trainer.stages) + 1: number})
        usable = {key: value for key, value in marked.items() if not any(
            p.where.startswith((f"{where}, setting '{key}'", f"{where}, setting '{key}.")) for p in problems)}
        try:
            built = trainer.add_stage(kind, data, **usable) if len(usable) < len(marked) else trainer
        except ProblemsError:
            built = trainer
    return (built if has_data else trainer), problems


def _from_folder(data: object, base_dir: Path | None) -> object:
    """A relative data path named in a pipeline file, as a path in the file's folder when one is there."""
    if isinstance(data, str) and base_dir is not None and not Path(data).is_absolute():
        return str(base_dir / data) if (base_dir / data).exists() else data
    return data


def _renumbered(problems: Sequence[Problem], numbers: dict[int, int]) -> list[Problem]:
    """Problems of the built Trainer's stages named by their number in the file (a stage left out for its
    problems shifts the ones after it)."""
    def place(where: str) -> str:
        found = re.match(r"stage (\d+) \(", where)
        if found is None or int(found[1]) not in numbers:
            return where
        return f"stage {numbers[int(found[1])]} (" + where[found.end():]
    return [Problem(place(p.where), p.message, p.fix) for p in problems]


def _did_you_mean(name: object, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(str(name), list(known), n=1)
    return f"did you mean '{close[0]}'? " if close else ""


def __getattr__(name: str) -> Any:
    """`read_yaml`, this module's name for `read_pipeline_file` before it had one of its own (docs/api.md,
    migration table)."""
    if name == "read_yaml":
        import warnings

        warnings.warn("posttrain.pipeline.yamlspec.read_yaml is renamed read_pipeline_file", FutureWarning,
                      stacklevel=2)
        return read_pipeline_file
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
