"""Running a pipeline: stage after stage, each from the previous stage's saved model, resumable,
one run per output folder, and safe to kill at any moment.

Layout of `output_dir`:
    .lock                     held by the running process (released by the OS if it dies)
    run.json                  manifest, rewritten atomically after every stage (last)
    NN-kind/stage.json        the StageRecord: settings, data fingerprint, timing, metrics, evals
    NN-kind/metrics.jsonl     the training log
    NN-kind/model/            the full model (safetensors, tokenizer, chat template); appears whole:
                              it is saved to NN-kind/.model.partial/ and renamed when complete
    NN-kind/checkpoints/      while the stage runs; removed once it is complete
    NN-kind/failed.json       a stage that ran and failed (no reward signal): why; with reward_errors.txt
    logs/                     experiment-tracker files, when `report_to` names any
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from posttrain.config import settings_to_data
from posttrain.data import fingerprint
from posttrain.device import bound_kernel_caches
from posttrain.errors import ConfigError, Problem, StageFailed
from posttrain.pipeline.chain import Pipeline
from posttrain.pipeline.compile import CompiledRun, StageJob, compile_run
from posttrain.pipeline.records import StageRecord, atomic_write_json, atomic_write_text
from posttrain.pipeline.result import RunResult, StageResult
from posttrain.stages.common import write_history

if TYPE_CHECKING:
    from accelerate import PartialState

    from posttrain.evals import EvalSuite

PARTIAL = ".model.partial"
FAILED = "failed.json"          # a stage that ran and failed (StageFailed): the reason; the folder is kept


def run_pipeline(trainer: Pipeline, resume: bool = True, progress: bool = True) -> RunResult:
    """Compile and check the whole pipeline, then run or skip each stage; returns the RunResult, built
    from what the run holds."""
    from accelerate import PartialState

    from posttrain.progress import quiet_libraries

    compiled = compile_run(trainer, replace_run=not resume).check()       # raises before anything is written
    # before the run's first CPU matrix product (an eval or a stage): where oneDNN reads its caches' capacity
    bound_kernel_caches(next((job.context.choices.kernel_cache for job in compiled.jobs
                              if job.context.choices.kernel_cache), None))
    quiet_libraries()             # with progress or without, the libraries' own bars are not what a run shows
    state = PartialState()
    with run_lock(compiled.output_dir, state.is_main_process):     # progress lines: once, from the main process
        if not resume and state.is_main_process:        # replacing what is there: no stage folder of it is kept
            (compiled.output_dir / "run.json").unlink(missing_ok=True)
            _drop_stale_stages(compiled.output_dir, {job.folder.name for job in compiled.jobs}, True)
        state.wait_for_everyone()
        stages = _run_stages(trainer, compiled, state, resume, progress and state.is_main_process)
    return RunResult(compiled.output_dir, compiled.model, stages)


def _run_stages(trainer: Pipeline, compiled: CompiledRun, state: PartialState, resume: bool,
                progress: bool) -> list[StageResult]:
    out, count = compiled.output_dir, len(compiled.jobs)
    source, key = compiled.source, _hash({"model": compiled.model})
    records: list[StageRecord] = []
    results: list[StageResult] = []
    for job in compiled.jobs:
        lora = job.lora
        key = _hash({"input": key, "kind": job.kind, "settings": settings_to_data(job.settings, strict=False),
                     "data": job.loaded.fingerprint, "lora": lora.model_dump() if lora else None, "seed": trainer.seed})
        record = completed(job.folder, key) if resume else None
        if record is None:
            before = records[-1].evals.get("after") if records and records[-1].evals else None
            record, history = _run_stage(trainer, job, count, key, source, progress, resume, before)
            results.append(StageResult.from_record(record, job.folder, history))
        else:
            _say(progress, f"[{job.index}/{count}] {job.kind}: done before, skipped")
            if state.is_main_process:
                shutil.rmtree(job.folder / "checkpoints", ignore_errors=True)
            results.append(StageResult.from_record(record, job.folder))
        records.append(record)
        if state.is_main_process:
            _write_manifest(out, trainer, records)
        state.wait_for_everyone()
        source = record.model_dir
    _drop_stale_stages(out, {job.folder.name for job in compiled.jobs}, state.is_main_process)
    return results


def _run_stage(trainer: Pipeline, job: StageJob, count: int, key: str, source: str, progress: bool, resume: bool,
               evals_before: dict | None) -> tuple[StageRecord, list[dict[str, object]]]:
    from accelerate import PartialState

    from posttrain.progress import ProgressCallback
    from posttrain.tracking import (elapsed_before, elapsed_callback, finite_loss_callback, interrupt_callback,
                                    tracker_environment)

    state, folder, index, data = PartialState(), job.folder, job.index, job.loaded
    resume_from = _checkpoint_to_resume(folder, key) if resume else None
    label = f"[{index}/{count}] {job.kind}"
    why = _restart_reason(folder, key) if resume and resume_from is None else None
    if why:
        _say(progress, f"{label}: starting over: {why}")
    # every rank decides from the folder as the last run left it: the main process changes it (the key
    # rewritten, stale files removed) only once all have read it, or a rank reading late could start over
    # while the others resume, and the ranks would wait on each other's steps for ever
    state.wait_for_everyone()
    if state.is_main_process:
        _prepare_folder(folder, key, keep_checkpoints=resume_from is not None)
    state.wait_for_everyone()
    _say(progress, f"{label}: from {source}" + (f", resuming {Path(resume_from).name}" if resume_from else ""))
    if evals_before is None:
        evals_before = _evaluate(trainer, source, folder.parent / ".evals" / f"{_hash(source)}.json", progress)
    before = elapsed_before(resume_from)        # training seconds of the attempts before this one
    ctx = replace(job.context, input_model=source, resume_from=resume_from, save_dir=folder / PARTIAL,
                  callbacks=[ProgressCallback(label, enabled=progress and state.is_main_process),
                             finite_loss_callback(label), interrupt_callback(), elapsed_callback(before),
                             *trainer.callbacks])
    start = time.time()
    try:
        with tracker_environment(trainer.report_to, Path(trainer.output_dir), folder.name):
            outcome = job.spec.run(ctx)
    except StageFailed as err:
        if state.is_main_process:          # kept to read (reward_errors.txt, failed.json), never resumed
            shutil.rmtree(ctx.checkpoints_dir, ignore_errors=True)
            shutil.rmtree(folder / PARTIAL, ignore_errors=True)
            atomic_write_json(folder / FAILED, {"reason": str(err), "time": time.time()})
        raise
    except BaseException:
        if state.is_main_process and _checkpoint_to_resume(folder, key) is None:
            shutil.rmtree(folder, ignore_errors=True)     # nothing to resume from: leave no empty stage folder
        raise
    seconds = before + time.time() - start
    history = _jsonable(outcome["history"])
    if state.is_main_process:
        write_history(history, folder / "metrics.jsonl")
        _publish(folder / PARTIAL, ctx.model_dir)
    state.wait_for_everyone()
    record = StageRecord(
        index=index, kind=job.kind, key=key, input_model=source, output_dir=str(folder),
        model_dir=str(ctx.model_dir), data={"source": job.data_label, "format": str(data.format), "rows": len(data),
                                            "fingerprint": data.fingerprint, **({"mix": _jsonable(job.mix)} if job.mix else {})},
        settings=settings_to_data(job.settings, strict=False), lora=job.lora.model_dump() if job.lora else None,
        seconds=round(seconds, 2), metrics=_jsonable(outcome["metrics"]),
        resumed_from=Path(resume_from).name if resume_from else None,
        evals={"before": evals_before, "after": _evaluate(trainer, str(ctx.model_dir), None, progress)} if trainer.evals else {},
        trl_overrides=_jsonable(job.overrides), choices=_jsonable(asdict(ctx.choices)))
    if state.is_main_process:
        record.write(folder)                          # the stage counts as done from here on
        shutil.rmtree(ctx.checkpoints_dir, ignore_errors=True)
    state.wait_for_everyone()
    return record, history


def _prepare_folder(folder: Path, key: str, keep_checkpoints: bool) -> None:
    """A fresh stage folder, or the interrupted one with its checkpoints (and nothing half-written)."""
    if not keep_checkpoints and folder.exists():
        shutil.rmtree(folder)                 # stale: other settings, other data, or resume=False
    folder.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(folder / PARTIAL, ignore_errors=True)
    (folder / "stage.json").unlink(missing_ok=True)
    atomic_write_text(folder / ".key", key)   # another rank may be reading it


def _restart_reason(folder: Path, key: str) -> str | None:
    """Why an existing stage folder (not done, nothing to resume) is trained again from the start."""
    marker = folder / ".key"
    if not folder.is_dir():
        return None
    if not marker.exists() or marker.read_text() != key:
        return "its settings or data (or an earlier stage's) changed since the last run"
    if (folder / FAILED).exists():
        return f"it failed in the last run (the reason is in {folder / FAILED})"
    if any((folder / "checkpoints").glob("checkpoint-*")):
        return "its last checkpoint was incomplete (interrupted while saving)"
    return "the last run stopped before its first checkpoint"


def _publish(partial: Path, final: Path) -> None:
    """Move the saved model into place in one rename (a killed process leaves no half model)."""
    if final.exists():
        shutil.rmtree(final)
    partial.replace(final)


def completed(folder: Path, key: str) -> StageRecord | None:
    """The stage's record when it finished with the same key (same input, settings, data)."""
    record = StageRecord.read(folder)
    ok = record is not None and record.key == key and (folder / "model" / "config.json").exists()
    return record if ok else None


def _checkpoint_to_resume(folder: Path, key: str) -> str | None:
    """The latest complete checkpoint of an interrupted stage started with the same key."""
    marker = folder / ".key"
    if not marker.exists() or marker.read_text() != key:
        return None
    checkpoints = sorted((folder / "checkpoints").glob("checkpoint-*"),
                         key=lambda p: int(p.name.split("-")[-1]) if p.name.split("-")[-1].isdigit() else -1)
    from posttrain.tracking import checkpoint_state

    # trainer_state.json is the last file transformers writes into a checkpoint: one that parses marks
    # a whole checkpoint (a kill mid-write leaves it missing or cut off)
    complete = [c for c in checkpoints if checkpoint_state(c) is not None]
    return str(complete[-1]) if complete else None


def _evaluate(trainer: Pipeline, model_dir: str, cache: Path | None, progress: bool = False) -> dict | None:
    """Run the pipeline's eval suite on a model (main process only); cached per input model."""
    from accelerate import PartialState

    if trainer.evals is None or not PartialState().is_main_process:
        return None
    suite_key = _suite_key(trainer.evals)
    if cache is not None and cache.exists():
        cached = json.loads(cache.read_text())
        if cached.get("suite") == suite_key:
            result: dict[str, Any] = cached["result"]
            return result
    from posttrain.models import load_model

    model, tokenizer = load_model(model_dir)
    result = trainer.evals.run(model, tokenizer, progress=progress).to_dict()
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(cache, {"suite": suite_key, "result": result})
    return result


def _suite_key(suite: EvalSuite) -> str:
    """What identifies a suite for caching: its config, or its evals' names for custom evals that
    cannot describe themselves."""
    try:
        return _hash(suite.to_config())
    except Exception:  # noqa: BLE001 - a custom eval without to_config() must not stop the run
        return _hash([getattr(e, "name", repr(e)) for e in suite.evals])


def _write_manifest(out: Path, trainer: Pipeline, records: list[StageRecord]) -> None:
    manifest = {"model": trainer.model, "output_dir": str(out), "seed": trainer.seed,
                "pipeline": _pipeline_or_none(trainer), "stages": [r.summary() for r in records],
                "model_dir": records[-1].model_dir if records else None, "updated": time.time()}
    atomic_write_json(out / "run.json", manifest)


def _drop_stale_stages(out: Path, keep: set[str], main: bool) -> None:
    """Stage folders that are not the pipeline's (`keep`) belong to an older, longer pipeline, or to one it
    replaces."""
    if not main:
        return
    for folder in out.glob("[0-9][0-9]-*"):
        if folder.is_dir() and folder.name not in keep:
            shutil.rmtree(folder)


def _pipeline_or_none(trainer: Pipeline) -> dict | None:
    """The pipeline as data, or None when it holds something YAML cannot (a local reward function)."""
    from posttrain.pipeline.yamlspec import trainer_to_dict

    try:
        return trainer_to_dict(trainer)
    except Exception:  # noqa: BLE001 - such a pipeline still runs; only its manifest copy is missing
        return None


@contextmanager
def run_lock(out: Path, main: bool) -> Iterator[None]:
    """Hold `out/.lock` while a chain runs there: a second process is refused with a clear error.

    The lock is an OS file lock (flock), so a process that is killed releases it; the file itself is
    removed when the run ends in any way Python sees (done, failed, interrupted), while the lock is
    still held, and a process that locked a file just removed tries again on the new one. A `.lock` left
    by a killed process does not block the next run."""
    if not main:
        yield
        return
    out.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:                       # no flock on this platform: one run per folder is on the user
        yield
        return
    path = out / ".lock"
    while True:
        handle = path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise ConfigError(Problem(f"output_dir {str(out)!r}", f"is in use by a running chain ({holder})",
                                      "wait for it to finish, stop it, or choose another output_dir")) from None
        try:
            same = os.fstat(handle.fileno()).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        handle.close()                        # its holder removed it as we locked it: lock the new one
    try:
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}, started {time.strftime('%Y-%m-%d %H:%M:%S')}")
        handle.flush()
        yield
    finally:
        path.unlink(missing_ok=True)          # while still held: no one can lock the old file in between
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def kept_after_interrupt(out: Path) -> str:
    """What a run stopped part-way keeps in `out`, in words: finished stages (skipped when it runs again)
    and the last complete checkpoint of an unfinished one (continued from)."""
    done, resumable = [], []
    for folder in sorted(out.glob("[0-9][0-9]-*")) if out.is_dir() else []:
        if StageRecord.read(folder) is not None:
            done.append(folder.name)
            continue
        marker = folder / ".key"
        checkpoint = _checkpoint_to_resume(folder, marker.read_text()) if marker.exists() else None
        if checkpoint:
            resumable.append(f"{folder.name} at {Path(checkpoint).name}")
    if not done and not resumable:
        return f"nothing to keep in {out} yet (no stage finished or saved a checkpoint)"
    parts = ([f"finished {', '.join(done)}"] if done else []) + \
        ([f"unfinished {', '.join(resumable)}"] if resumable else [])
    return f"kept in {out}: {'; '.join(parts)}"


def _jsonable(value: object) -> Any:  # JSON of any shape, read back
    return json.loads(json.dumps(value, default=str))


def _hash(value: object) -> str:
    return fingerprint([value])


def _say(enabled: bool, text: str) -> None:
    if enabled:
        from rich.console import Console

        # paths may hold "[...]"; a line is not broken, so a log keeps each path and phrase whole
        Console(stderr=True, soft_wrap=True).print(text, markup=False, highlight=False)
