"""A run's final model made ready to serve: one folder with the merged safetensors model, its tokenizer and
chat template, a model card (the chain and every stage's before/after evals), GGUF files for llama.cpp and
an Ollama `Modelfile`.

    run = RunResult.from_dir("runs/math")
    run.export("exports/math")                       # model-f16.gguf, model-q8_0.gguf, Modelfile, README.md
    run.export("exports/math", gguf=(), ollama=False)   # safetensors and the card only
    run.export("exports/math", gguf=("f16", "q4_k_m"))  # a k-quant, by llama.cpp's quantizer when installed

The folder is written beside its destination under a temporary name and renamed into place at the end,
so a reader never sees half an export; every file is mode 0644. GGUF files are written by
`posttrain.pipeline.gguf_file` (llama.cpp's `gguf` package; Llama, Mistral, Qwen2/2.5, Qwen3, Gemma 2/3,
Phi-3). The export is the run's: its GGUF `general.*` metadata and card header name the run, the base
model and its license; the Modelfile's SYSTEM is the system prompt the run trained with (none when it
set none, never the base model's default); a chain that did not finish is exported only on request
(`last_finished=True`), and its card says so. Nothing is pushed anywhere.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from posttrain.errors import ConfigError, Problem
from posttrain.pipeline.records import folder_problems
from posttrain.pipeline.gguf_file import (GGUF_TYPES, LLAMA_CPP_INSTALL, LLAMA_CPP_TYPES, SUPPORTED_GGUF,  # noqa: F401
                                          GGUFInfo, gguf_problems, llama_cpp_available, permute_qk, quantize,
                                          write_gguf)
from posttrain.pipeline.run_data import RunData, StageResult

MODEL_FILES = ("*.json", "*.safetensors", "*.jinja", "*.txt", "*.model")   # what a model folder serves with
# the default model's hub id and license (its folder is converted from a GGUF and holds no card)
DEFAULT_BASE = ("HuggingFaceTB/SmolLM2-135M-Instruct", "apache-2.0")
# generation_config.json keys -> Ollama Modelfile PARAMETERs
SAMPLING = {"temperature": "temperature", "top_p": "top_p", "top_k": "top_k", "min_p": "min_p",
            "repetition_penalty": "repeat_penalty"}


@dataclass(frozen=True)
class Export:
    """What an export wrote: its folder, every file in it, and the GGUF files by type."""

    folder: Path
    files: tuple[Path, ...]
    gguf: dict[str, Path] = field(default_factory=dict)
    modelfile: Path | None = None


def export_run(run: RunData, out_dir: str | Path, *, gguf: tuple[str, ...] | list[str] = ("f16", "q8_0"),
               ollama: bool = True, last_finished: bool = False) -> Export:
    """Write `run`'s final model as a serving folder at `out_dir` (see the module's docstring).

    A GGUF or Modelfile this model cannot have (another architecture, a chat template that is not
    ChatML) is left out: the rest is written, then a ConfigError names what was left out and why.
    A run whose chain did not finish is refused unless `last_finished=True`, which exports its last
    finished stage's model and says so in the card.

    Example:
        >>> export_run(RunResult.from_dir("runs/math"), "exports/math", gguf=("q8_0",))
    """
    out, types = Path(out_dir), tuple(dict.fromkeys(gguf))
    _check_request(run, out, types, ollama, last_finished)
    source = Path(run.model_dir)
    gguf_skipped = gguf_problems(source) if types else []
    template = _chat_template(source)
    ollama_skipped = [] if not ollama or gguf_skipped or _is_chatml(template) else [Problem(
        "export, ollama=True", "the model's chat template is not ChatML (<|im_start|> ... <|im_end|>), the only "
        "one the Modelfile's TEMPLATE is translated from", "write the Modelfile by hand, or pass ollama=False "
        "(--no-ollama)")]
    skipped = gguf_skipped + ollama_skipped
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.export-", dir=out.parent))
    try:
        copy_model(source, tmp)
        written = {} if gguf_skipped else _write_ggufs(source, tmp, types, gguf_info(run))
        modelfile = None
        if ollama and written and not ollama_skipped:
            modelfile = tmp / "Modelfile"
            modelfile.write_text(modelfile_text(_ollama_gguf(written), template or "", _stop_tokens(source),
                                                system=run_system_prompt(run), parameters=sampling_parameters(source)),
                                 encoding="utf-8")
        (tmp / "README.md").write_text(model_card(run, tmp, run_name(run), skipped), encoding="utf-8")
        for file in tmp.iterdir():
            file.chmod(0o644)                 # readable by a serving account, as any checkpoint
        tmp.chmod(0o755)
        if out.exists():
            out.rmdir()                       # checked empty up front
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    result = Export(out, tuple(sorted(out.iterdir())), {k: out / p.name for k, p in written.items()},
                    out / "Modelfile" if modelfile else None)
    if skipped:
        raise ConfigError(skipped, title=f"exported to {out} without some files")
    return result


def _write_ggufs(source: Path, folder: Path, types: tuple[str, ...], info: GGUFInfo) -> dict[str, Path]:
    """Each requested GGUF: f32/f16/q8_0 written directly, k-quants by llama.cpp's quantizer from the f16
    file (written for it, and removed after when f16 was not asked for)."""
    written = {kind: write_gguf(source, folder / f"model-{kind}.gguf", kind, info)
               for kind in types if kind not in LLAMA_CPP_TYPES}
    quants = [kind for kind in types if kind in LLAMA_CPP_TYPES]
    if quants:
        f16 = written.get("f16") or write_gguf(source, folder / ".model-f16.gguf", "f16", info)
        for kind in quants:
            written[kind] = quantize(f16, folder / f"model-{kind}.gguf", kind)
        if "f16" not in written:
            f16.unlink()
    return {kind: written[kind] for kind in types}


def _check_request(run: RunData, out: Path, types: tuple[str, ...], ollama: bool, last_finished: bool) -> None:
    """Every problem with the request itself, before anything is written."""
    problems = [Problem("export, gguf", f"unknown GGUF type {kind!r}", f"use some of {', '.join(GGUF_TYPES)}")
                for kind in types if kind not in GGUF_TYPES]
    quants = [kind for kind in types if kind in LLAMA_CPP_TYPES]
    if quants and not llama_cpp_available():
        problems.append(Problem("export, gguf", f"{', '.join(quants)} need llama.cpp's quantizer (llama-cpp-python), "
                                "which is not installed", f"{LLAMA_CPP_INSTALL}; or ask for f16 or q8_0 instead"))
    if ollama and not types:
        problems.append(Problem("export, ollama=True", "the Modelfile needs a GGUF file and gguf=() writes none",
                                "pass gguf=('q8_0',) (--gguf q8_0), or ollama=False (--no-ollama)"))
    if out.is_dir() and any(out.iterdir()):
        problems.append(Problem(f"export folder {out}", "already exists and is not empty",
                                "choose a new folder, or remove this one first"))
    else:                                     # a file there or above it, or a folder that cannot be written
        problems += folder_problems(out, f"export folder {out}")
    unfinished = run.unfinished()
    if unfinished and not last_finished:
        last = run.stages[-1].output_dir.name if run.stages else "none"
        problems.append(Problem(f"run {run.output_dir}", f"did not finish: {', '.join(unfinished)} "
                                f"{'has' if len(unfinished) == 1 else 'have'} no finished stage, so its model is "
                                f"not the run's result (last finished stage: {last})",
                                "finish the run (posttrain train PIPELINE.yaml resumes it), or export the last "
                                "finished stage's model with last_finished=True (--last-finished)"))
    source = Path(run.model_dir)
    if not (source / "config.json").is_file() or not list(source.glob("*.safetensors")):
        problems.append(Problem(f"model folder {source}", "holds no config.json and safetensors weights",
                                "export a run whose stages finished (RunResult.from_dir(run folder))"))
    if problems:
        raise ConfigError(problems, title="cannot export")


def base_model(run: RunData) -> tuple[str, str | None]:
    """(hub id or folder of the model the run started from, its license when its card names one)."""
    from posttrain.models import DEFAULT_ALIASES

    if run.model.lower() in DEFAULT_ALIASES:
        return DEFAULT_BASE
    card = Path(run.model) / "README.md"
    if not card.is_file():
        try:
            from huggingface_hub import try_to_load_from_cache

            cached = try_to_load_from_cache(run.model, "README.md")
            card = Path(cached) if isinstance(cached, str) else card
        except ValueError:              # not a hub id
            pass
    license_name = _card_header(card).get("license") if card.is_file() else None
    return run.model, license_name if isinstance(license_name, str) else None


def _is_hub_id(name: str) -> bool:
    return re.fullmatch(r"[\w.-]+/[\w.-]+", name) is not None and not Path(name).exists()


def _card_header(card: Path) -> dict[str, Any]:
    import yaml

    text = card.read_text(encoding="utf-8", errors="replace")
    if not text.startswith("---"):
        return {}
    try:
        header = yaml.safe_load(text.split("---", 2)[1])
    except (yaml.YAMLError, IndexError):
        return {}
    return header if isinstance(header, dict) else {}


def run_name(run: RunData) -> str:
    """The name a runtime lists the model as: the run folder's name."""
    return Path(run.output_dir).resolve().name or "model"


def gguf_info(run: RunData) -> GGUFInfo:
    """general.* of the run's GGUF files: its name, the chain as the fine-tune, the base model, its license."""
    name = run_name(run)
    base, license_name = base_model(run)
    chain = "-".join(s.kind for s in run.stages) or None
    return GGUFInfo(name=name, finetune=chain, base_model=base, license=license_name, base_on_hub=_is_hub_id(base),
                    description=f"{base} post-trained with posttrain ({' -> '.join(s.kind for s in run.stages) or 'no training'})")


def copy_model(source: Path, target: Path) -> None:
    """The model's safetensors, config, tokenizer and chat template (no training leftovers)."""
    for pattern in MODEL_FILES:
        for file in source.glob(pattern):
            shutil.copy2(file, target / file.name)


# --- the model card -------------------------------------------------------------------------------------------------

def model_card(run: RunData, folder: Path, title: str, skipped: list[Problem]) -> str:
    """README.md: a metadata header in the Hub's format (base model, license, tags, the final model's evals
    as model-index results), what the model is, the chain that trained it, every stage's evals as the run
    report shows them, the files and how to serve them."""
    from posttrain.pipeline.report import regression_lines, stage_table

    chain = " → ".join(s.kind for s in run.stages) or "no training"
    base, _ = base_model(run)
    lines = ["---", card_header(run, title, bool(list(folder.glob("*.gguf")))).rstrip(), "---", "",
             f"# {title}", "",
             f"Post-trained from `{base}` with posttrain: {chain}. Run folder: `{run.output_dir}`.", ""]
    unfinished = run.unfinished()
    if unfinished:
        lines += [f"**Not the whole run:** exported on request (`--last-finished`) from its last finished stage, "
                  f"`{run.stages[-1].output_dir.name if run.stages else 'none'}`; {', '.join(unfinished)} did not "
                  "finish.", ""]
    system = run_system_prompt(run)
    lines += [f"System prompt it trained with: `{system}`." if system else
              "It trained with no system prompt of its own (the Modelfile sets none).", "", "## Chain", ""]
    lines += _chain_table(run) + ["Training, as the run report shows it:", ""] + stage_table(run)
    lines += ["## Evals, before and after each stage", ""]
    for stage in run.stages:
        lines += _stage_evals(stage)
    lines += regression_lines(run)
    lines += ["## Files", "", "| file | size |", "|---|---|"]
    lines += [f"| `{p.name}` | {_size(p.stat().st_size)} |" for p in sorted(folder.iterdir()) if p.is_file()
              and not p.name.startswith(".")]
    lines += ["", "## Use", "", "```python", "from transformers import AutoModelForCausalLM, AutoTokenizer",
              'model = AutoModelForCausalLM.from_pretrained("<this folder>")',
              'tokenizer = AutoTokenizer.from_pretrained("<this folder>")', "```", ""]
    if (folder / "Modelfile").exists():
        lines += ["With Ollama: `ollama create my-model -f Modelfile`, then `ollama run my-model`.", ""]
    ggufs = sorted(p.name for p in folder.glob("model-*.gguf"))
    if ggufs:
        lines += [(f"With llama.cpp: `llama-cli -m {ggufs[-1]} -cnv`. With transformers, load a GGUF from a "
                   "folder holding only it (`from_pretrained(folder, gguf_file=name)`): beside `tokenizer.json`, "
                   "transformers reads that file instead of the GGUF's tokenizer."), ""]
    if skipped:
        lines += ["## Left out", ""] + [f"- {p}" for p in skipped] + [""]
    return "\n".join(lines)


def card_header(run: RunData, title: str, gguf: bool) -> str:
    """The card's YAML metadata as the Hub reads it: base_model, license, library, tags, and the final
    model's scores on the run's evals as `model-index` results."""
    import yaml

    base, license_name = base_model(run)
    header: dict[str, Any] = {"base_model": base} if _is_hub_id(base) else {}
    if license_name:
        header["license"] = license_name
    header["library_name"] = "transformers"
    header["pipeline_tag"] = "text-generation"
    header["tags"] = ["posttrain", *dict.fromkeys(s.kind for s in run.stages), *(["gguf"] if gguf else [])]
    final = run.stages[-1].evals.get("after") if run.stages else None
    results = [{"task": {"type": "text-generation"}, "dataset": {"name": name, "type": name},
                "metrics": [{"type": name, "value": round(float(result["score"]), 4), "name": name}]}
               for name, result in ((final or {}).get("results") or {}).items() if isinstance(result, dict)
               and isinstance(result.get("score"), (int, float))]
    if results:
        header["model-index"] = [{"name": title, "results": results}]
    return str(yaml.safe_dump(header, sort_keys=False, allow_unicode=True))


def _chain_table(run: RunData) -> list[str]:
    lines = ["| stage | method | data | format | rows | LoRA | settings |", "|---|---|---|---|---|---|---|"]
    for s in run.stages:
        lora = ", ".join(f"{k}={v}" for k, v in (s.lora or {}).items()) if s.lora else "no (full fine-tuning)"
        lines.append(f"| {s.output_dir.name} | {s.kind} | `{s.data.get('source', '')}` | {s.data.get('format', '')} "
                     f"| {s.data.get('rows', '')} | {lora} | {_settings_text(s.kind, s.settings)} |")
    return lines + [""]


def _settings_text(kind: str, settings: Mapping[str, object]) -> str:
    """The settings that differ from the method's defaults (the record holds them all)."""
    from posttrain.errors import PosttrainError
    from posttrain.stages import get_stage

    try:
        fields = get_stage(kind).settings.model_fields
    except PosttrainError:
        fields = {}
    shown = {k: v for k, v in settings.items() if (k not in fields or fields[k].default != v)
             and v not in ({}, [], None, "")}    # an empty trl_args or mix is the default, whatever its field says
    return ", ".join(f"{k}={v}" for k, v in shown.items()).replace("|", "\\|") or "defaults"


def _stage_evals(stage: StageResult) -> list[str]:
    """A stage's before/after table, its reading and its groups, with the run report's own functions."""
    from posttrain.pipeline.report import group_lines, what_this_shows

    deltas = stage.eval_deltas()
    lines = [f"### {stage.output_dir.name}", "", f"**What this shows:** {what_this_shows(stage.output_dir.name, deltas)}", ""]
    if deltas:
        from posttrain.evals import deltas_table

        lines += [deltas_table(deltas), ""] + group_lines(stage.evals)
    return lines


def _size(count: int) -> str:
    size = float(count)
    for unit in ("B", "KB", "MB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size / 1024:.1f} GB"


# --- Ollama ---------------------------------------------------------------------------------------------------------

CHATML_TEMPLATE = """{{- if .System }}<|im_start|>system
{{ .System }}<|im_end|>
{{ end }}
{{- range $i, $_ := .Messages }}
{{- $last := eq (len (slice $.Messages $i)) 1 }}
{{- if ne .Role "system" }}<|im_start|>{{ .Role }}
{{ .Content }}{{ if or (ne .Role "assistant") (not $last) }}<|im_end|>
{{ end }}
{{- end }}
{{- if and (ne .Role "assistant") $last }}<|im_start|>assistant
{{ end }}
{{- end }}"""


def modelfile_text(gguf_file: Path, chat_template: str, stops: list[str], *, system: str | None = None,
                   parameters: Mapping[str, object] | None = None) -> str:
    """An Ollama Modelfile: the GGUF, the ChatML template in Go's template language, `system` as SYSTEM
    (none when None: never the chat template's default, which names the base model), the sampling
    parameters given and a stop parameter per end-of-turn token."""
    lines = [f"FROM ./{gguf_file.name}", "", f'TEMPLATE """{CHATML_TEMPLATE}"""', ""]
    if system:
        lines += [f'SYSTEM """{system}"""', ""]
    lines += [f"PARAMETER {name} {value}" for name, value in (parameters or {}).items()]
    lines += [f'PARAMETER stop "{stop}"' for stop in stops]
    return "\n".join(lines) + "\n"


def run_system_prompt(run: RunData) -> str | None:
    """The system prompt the run trained with: the last stage's that set one, else None."""
    for stage in reversed(run.stages):
        system = stage.settings.get("system")
        if isinstance(system, str) and system.strip():
            return system.strip()
    return None


def sampling_parameters(source: Path) -> dict[str, object]:
    """The Modelfile's sampling parameters from the model's generation_config.json (those it sets)."""
    config = source / "generation_config.json"
    data = json.loads(config.read_text(encoding="utf-8")) if config.is_file() else {}
    return {ollama: data[key] for key, ollama in SAMPLING.items() if isinstance(data.get(key), (int, float))
            and not isinstance(data.get(key), bool)}


def _is_chatml(template: str | None) -> bool:
    return template is not None and "<|im_start|>" in template and "<|im_end|>" in template


def _chat_template(source: Path) -> str | None:
    file = source / "chat_template.jinja"
    if file.is_file():
        return file.read_text(encoding="utf-8")
    config = source / "tokenizer_config.json"
    template = json.loads(config.read_text(encoding="utf-8")).get("chat_template") if config.is_file() else None
    return template if isinstance(template, str) else None


def _stop_tokens(source: Path) -> list[str]:
    """The end-of-turn tokens (ChatML's <|im_end|> always among them)."""
    from posttrain.models import load_tokenizer, stop_token_ids

    tokenizer = load_tokenizer(source)
    stops = [tokenizer.convert_ids_to_tokens(i) for i in stop_token_ids(tokenizer)]
    return list(dict.fromkeys(["<|im_end|>", *stops]))


def _ollama_gguf(written: dict[str, Path]) -> Path:
    """The file the Modelfile serves: q8_0 when written (small, near f16's answers), else the first."""
    return written.get("q8_0") or next(iter(written.values()))
