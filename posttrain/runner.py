"""Running a pipeline: stage after stage, each from the previous stage's saved model, resumable.

Layout of `output_dir`:
    run.json                  manifest, rewritten atomically after every stage
    NN-kind/stage.json        settings, data fingerprint, timing, metrics, evals (written last)
    NN-kind/metrics.jsonl     the training log
    NN-kind/model/            the full model (safetensors, tokenizer, chat template)
    NN-kind/checkpoints/      while the stage runs; removed once it is complete
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from pathlib import Path
from typing import Any

from posttrain.plan import stage_dir
from posttrain.stages.common import StageContext, write_history


def run_pipeline(trainer: Any, resume: bool = True, progress: bool = True):
    """Validate the whole pipeline, then run or skip each stage; returns the RunResult."""
    from accelerate import PartialState

    from posttrain.models import resolve
    from posttrain.result import RunResult

    datasets = trainer.validate()           # raises before anything is written
    state = PartialState()
    out = Path(trainer.output_dir)
    if state.is_main_process:
        out.mkdir(parents=True, exist_ok=True)
    source, key = resolve(trainer.model), _hash({"model": trainer.model})
    records = []
    for index, (stage, data) in enumerate(zip(trainer.stages, datasets), start=1):
        folder = stage_dir(out, index, stage.kind)
        key = _hash({"input": key, "kind": stage.kind, "settings": _settings_json(stage.settings),
                     "data": data.fingerprint, "lora": _lora_json(trainer, stage), "seed": trainer.seed})
        record = _completed(folder, key) if resume else None
        if record is None:
            before = records[-1]["evals"].get("after") if records and records[-1].get("evals") else None
            record = _run_stage(trainer, stage, data, folder, key, source, index, progress, resume, before)
        else:
            _say(progress, f"[{index}/{len(trainer.stages)}] {stage.kind}: done before, skipped")
        records.append(record)
        if state.is_main_process:
            _write_manifest(out, trainer, records)
        state.wait_for_everyone()
        source = str(folder / "model")
    _drop_stale_stages(out, len(trainer.stages), state.is_main_process)
    return RunResult.from_dir(out)


def _run_stage(trainer, stage, data, folder: Path, key: str, source: str, index: int, progress: bool,
               resume: bool, evals_before: dict | None) -> dict[str, Any]:
    from accelerate import PartialState

    from posttrain.progress import ProgressCallback
    from posttrain.stages import stage_module
    from posttrain.trainer import stage_lora

    state = PartialState()
    resume_from = _checkpoint_to_resume(folder, key) if resume else None
    if state.is_main_process:
        if resume_from is None and folder.exists():
            shutil.rmtree(folder)             # stale: other settings, other data, or resume=False
        folder.mkdir(parents=True, exist_ok=True)
        (folder / ".key").write_text(key)
    state.wait_for_everyone()
    label = f"[{index}/{len(trainer.stages)}] {stage.kind}"
    _say(progress, f"{label}: from {source}" + (f", resuming {Path(resume_from).name}" if resume_from else ""))
    if evals_before is None:
        evals_before = _evaluate(trainer, source, folder.parent / ".evals" / f"{_hash(source)}.json")
    ctx = StageContext(settings=stage.settings, data=data, input_model=source, output_dir=folder,
                       lora=stage_lora(trainer, stage), seed=trainer.seed, resume_from=resume_from,
                       callbacks=[ProgressCallback(label, enabled=progress and state.is_main_process)])
    start = time.time()
    outcome = stage_module(stage.kind).run(ctx)
    seconds = time.time() - start
    evals_after = _evaluate(trainer, str(ctx.model_dir), None)
    record = {"index": index, "kind": stage.kind, "key": key, "input_model": source,
              "output_dir": str(folder), "model_dir": str(ctx.model_dir), "data": {
                  "source": data.source, "format": str(data.format), "rows": len(data),
                  "fingerprint": data.fingerprint},
              "settings": _settings_json(stage.settings), "lora": _lora_json(trainer, stage),
              "seconds": round(seconds, 2), "metrics": _jsonable(outcome["metrics"]),
              "resumed_from": Path(resume_from).name if resume_from else None,
              "evals": {"before": evals_before, "after": evals_after} if trainer.evals else {}}
    if state.is_main_process:
        write_history(_jsonable(outcome["history"]), folder / "metrics.jsonl")
        shutil.rmtree(ctx.checkpoints_dir, ignore_errors=True)
        _atomic_write(folder / "stage.json", record)
    state.wait_for_everyone()
    return record


def _completed(folder: Path, key: str) -> dict[str, Any] | None:
    """The stage's record when it finished with the same key (same input, settings, data)."""
    path = folder / "stage.json"
    if not path.exists():
        return None
    record = json.loads(path.read_text())
    ok = record.get("key") == key and (folder / "model" / "config.json").exists()
    return record if ok else None


def _checkpoint_to_resume(folder: Path, key: str) -> str | None:
    """The latest checkpoint of an interrupted stage started with the same key."""
    marker = folder / ".key"
    if not marker.exists() or marker.read_text() != key:
        return None
    checkpoints = sorted((folder / "checkpoints").glob("checkpoint-*"),
                         key=lambda p: int(p.name.split("-")[-1]) if p.name.split("-")[-1].isdigit() else -1)
    complete = [c for c in checkpoints if (c / "trainer_state.json").exists()]
    return str(complete[-1]) if complete else None


def _evaluate(trainer: Any, model_dir: str, cache: Path | None) -> dict | None:
    """Run the pipeline's eval suite on a model (main process only); cached per input model."""
    from accelerate import PartialState

    if trainer.evals is None or not PartialState().is_main_process:
        return None
    suite_key = _suite_key(trainer.evals)
    if cache is not None and cache.exists():
        cached = json.loads(cache.read_text())
        if cached.get("suite") == suite_key:
            return cached["result"]
    from posttrain.models import load_model

    model, tokenizer = load_model(model_dir)
    result = trainer.evals.run(model, tokenizer).to_dict()
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write(cache, {"suite": suite_key, "result": result})
    return result


def _suite_key(suite: Any) -> str:
    """What identifies a suite for caching: its config, or its evals' names for custom evals that
    cannot describe themselves."""
    try:
        return _hash(suite.to_config())
    except Exception:  # noqa: BLE001 - a custom eval without to_config() must not stop the run
        return _hash([getattr(e, "name", repr(e)) for e in suite.evals])


def _write_manifest(out: Path, trainer: Any, records: list[dict]) -> None:
    manifest = {"model": trainer.model, "output_dir": str(out), "seed": trainer.seed,
                "pipeline": _pipeline_or_none(trainer),
                "stages": [{k: r[k] for k in ("index", "kind", "key", "output_dir", "model_dir", "seconds")}
                           for r in records],
                "model_dir": records[-1]["model_dir"] if records else None, "updated": time.time()}
    _atomic_write(out / "run.json", manifest)


def _drop_stale_stages(out: Path, count: int, main: bool) -> None:
    """Stage folders beyond the pipeline's length belong to an older, longer pipeline."""
    if not main:
        return
    for folder in out.glob("[0-9][0-9]-*"):
        if folder.is_dir() and int(folder.name[:2]) > count:
            shutil.rmtree(folder)


def _pipeline_or_none(trainer: Any) -> dict | None:
    """The pipeline as data, or None when it holds something YAML cannot (a local reward function)."""
    try:
        return trainer.to_dict()
    except Exception:  # noqa: BLE001 - such a pipeline still runs; only its manifest copy is missing
        return None


def _atomic_write(path: Path, payload: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=str))
    tmp.replace(path)


def _settings_json(settings: Any) -> dict[str, Any]:
    data = settings.model_dump(exclude={"rewards"})
    if hasattr(settings, "rewards"):
        data["rewards"] = [r if isinstance(r, str) else f"{r.__module__}.{r.__qualname__}" for r in settings.rewards]
    return _jsonable(data)


def _lora_json(trainer: Any, stage: Any) -> dict | None:
    from posttrain.trainer import stage_lora

    lora = stage_lora(trainer, stage)
    return lora.model_dump() if lora else None


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _hash(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _say(enabled: bool, text: str) -> None:
    if enabled:
        from rich.console import Console

        Console(stderr=True).print(text)
