"""The record a finished stage leaves in `NN-kind/stage.json`: written by the runner, read by
`RunResult`, one typed class for both sides."""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from posttrain.types import JSONObject

RECORD = "stage.json"


@dataclass
class StageRecord:
    """What one completed stage was and did.

    `key` identifies its inputs (input model, kind, settings, data, LoRA, seed): a stage whose
    folder holds a record with the same key is done and is skipped on resume."""

    index: int
    kind: str
    key: str
    input_model: str
    output_dir: str
    model_dir: str
    data: JSONObject                  # source, format, rows, fingerprint
    settings: JSONObject
    lora: JSONObject | None
    seconds: float
    metrics: JSONObject
    resumed_from: str | None = None
    evals: dict[str, JSONObject | None] = field(default_factory=dict)   # {"before": suite dict, "after": suite dict}
    trl_overrides: JSONObject = field(default_factory=dict)  # trl_args keys that replaced ours
    choices: JSONObject = field(default_factory=dict)        # weights, precision, optimizer, checkpointing

    def to_json(self) -> JSONObject:
        loaded: JSONObject = json.loads(json.dumps(dataclasses.asdict(self), default=str))
        return loaded

    def write(self, folder: Path) -> None:
        """Write `stage.json` atomically (a reader never sees half a record)."""
        atomic_write_json(Path(folder) / RECORD, self.to_json())

    @classmethod
    def read(cls, folder: Path) -> StageRecord | None:
        """The record in `folder`, or None when there is none (the stage did not finish)."""
        path = Path(folder) / RECORD
        if not path.exists():
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def summary(self) -> JSONObject:
        """The fields the run manifest lists per stage."""
        return {"index": self.index, "kind": self.kind, "key": self.key, "output_dir": self.output_dir,
                "model_dir": self.model_dir, "seconds": self.seconds}


def folder_problems(out: Path, at: str) -> list:
    """Why a folder cannot be made or written at `out`: a file there or above it, or a folder this user
    cannot write (checked on the nearest part that exists). `at` names it in the Problem."""
    from posttrain.errors import Problem

    out = Path(out)
    probe = out
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        where = "is a file" if probe == out else f"is under {str(probe)!r}, which is a file"
        return [Problem(at, where, "choose a folder path none of whose parts is an existing file")]
    if not os.access(probe, os.W_OK | os.X_OK):
        return [Problem(at, f"cannot be written ({str(probe)!r} is not writable by this user)",
                        "choose a folder you can write to, or change its permissions")]
    return []


def atomic_write_json(path: Path, payload: object) -> None:
    """Write JSON to a temporary file beside `path`, flush it to disk, then rename it over `path`."""
    atomic_write_text(path, json.dumps(payload, indent=2, default=str))


def atomic_write_text(path: Path, text: str) -> None:
    """Write text to a temporary file beside `path`, flush it to disk, then rename it over `path`: a reader
    sees the old text or the new, never half of it."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(path)
