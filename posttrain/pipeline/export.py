"""A run's final model made ready to serve: one folder with the merged safetensors model, its tokenizer and
chat template, a model card (the chain and every stage's before/after evals), GGUF files for llama.cpp and
an Ollama `Modelfile`.

    run = RunResult.from_dir("runs/math")
    run.export("exports/math")                       # model-f16.gguf, model-q8_0.gguf, Modelfile, README.md
    run.export("exports/math", gguf=(), ollama=False)   # safetensors and the card only

The folder is written beside its destination under a temporary name and renamed into place at the end,
so a reader never sees half an export. GGUF files are written with the `gguf` library for the Llama
architecture (`SUPPORTED_GGUF`), with llama.cpp's tensor names and Q/K row order; nothing is pushed anywhere.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from posttrain.errors import ConfigError, Problem
from posttrain.pipeline.records import folder_problems
from posttrain.pipeline.report import RunResult as ReportedRun
from posttrain.pipeline.report import StageResult as ReportedStage

if TYPE_CHECKING:
    import numpy as np

SUPPORTED_GGUF = {"LlamaForCausalLM": "llama"}        # transformers architecture -> GGUF architecture
GGUF_TYPES = ("f32", "f16", "q8_0")
MODEL_FILES = ("*.json", "*.safetensors", "*.jinja", "*.txt", "*.model")   # what a model folder serves with
# pre-tokenizers llama.cpp knows by name, by the tokenizer.json shape that splits text the same way
PRE_TOKENIZERS = {"ByteLevel": "gpt-2", "Digits+ByteLevel": "smollm", "Split+ByteLevel": "llama-bpe"}
QK_ROW = 32                                           # Q8_0 quantizes rows in blocks of 32 values


class ExportedStage(ReportedStage, Protocol):
    """What an export reads of a stage: what the report reads, its settings and its LoRA."""

    @property
    def settings(self) -> Mapping[str, object]: ...
    @property
    def lora(self) -> Mapping[str, object] | None: ...


class RunResult(ReportedRun, Protocol):
    """What an export reads of a run (`posttrain.pipeline.result.RunResult`, which imports this module)."""

    @property
    def stages(self) -> Sequence[ExportedStage]: ...


@dataclass(frozen=True)
class Export:
    """What an export wrote: its folder, every file in it, and the GGUF files by type."""

    folder: Path
    files: tuple[Path, ...]
    gguf: dict[str, Path] = field(default_factory=dict)
    modelfile: Path | None = None


def export_run(run: RunResult, out_dir: str | Path, *, gguf: tuple[str, ...] | list[str] = ("f16", "q8_0"),
               ollama: bool = True) -> Export:
    """Write `run`'s final model as a serving folder at `out_dir` (see the module's docstring).

    A GGUF or Modelfile this model cannot have (another architecture, a chat template that is not
    ChatML) is left out: the rest is written, then a ConfigError names what was left out and why.

    Example:
        >>> export_run(RunResult.from_dir("runs/math"), "exports/math", gguf=("q8_0",))
    """
    out, types = Path(out_dir), tuple(dict.fromkeys(gguf))
    _check_request(run, out, types, ollama)
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
        written = {} if gguf_skipped else {kind: write_gguf(source, tmp / f"model-{kind}.gguf", kind, out.name)
                                           for kind in types}
        modelfile = None
        if ollama and written and not ollama_skipped:
            modelfile = tmp / "Modelfile"
            modelfile.write_text(modelfile_text(_ollama_gguf(written), template or "", _stop_tokens(source)),
                                 encoding="utf-8")
        (tmp / "README.md").write_text(model_card(run, tmp, out.name, skipped), encoding="utf-8")
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


def _check_request(run: RunResult, out: Path, types: tuple[str, ...], ollama: bool) -> None:
    """Every problem with the request itself, before anything is written."""
    problems = [Problem("export, gguf", f"unknown GGUF type {kind!r}", f"use some of {', '.join(GGUF_TYPES)}")
                for kind in types if kind not in GGUF_TYPES]
    if ollama and not types:
        problems.append(Problem("export, ollama=True", "the Modelfile needs a GGUF file and gguf=() writes none",
                                "pass gguf=('q8_0',) (--gguf q8_0), or ollama=False (--no-ollama)"))
    if out.is_dir() and any(out.iterdir()):
        problems.append(Problem(f"export folder {out}", "already exists and is not empty",
                                "choose a new folder, or remove this one first"))
    else:                                     # a file there or above it, or a folder that cannot be written
        problems += folder_problems(out, f"export folder {out}")
    source = Path(run.model_dir)
    if not (source / "config.json").is_file() or not list(source.glob("*.safetensors")):
        problems.append(Problem(f"model folder {source}", "holds no config.json and safetensors weights",
                                "export a run whose stages finished (RunResult.from_dir(run folder))"))
    if problems:
        raise ConfigError(problems, title="cannot export")


def copy_model(source: Path, target: Path) -> None:
    """The model's safetensors, config, tokenizer and chat template (no training leftovers)."""
    for pattern in MODEL_FILES:
        for file in source.glob(pattern):
            shutil.copy2(file, target / file.name)


# --- the model card -------------------------------------------------------------------------------------------------

def model_card(run: RunResult, folder: Path, title: str, skipped: list[Problem]) -> str:
    """README.md: what the model is, the chain that trained it, every stage's evals as the run report shows
    them, the files and how to serve them."""
    from posttrain.pipeline.report import regression_lines, stage_table

    chain = " → ".join(s.kind for s in run.stages) or "no training"
    lines = ["---", "library_name: transformers", "tags: [posttrain" + "".join(f", {s.kind}" for s in run.stages)
             + (", gguf" if any(folder.glob("*.gguf")) else "") + "]", "---", "",
             f"# {title}", "",
             f"Post-trained from `{run.model}` with posttrain: {chain}. Run folder: `{run.output_dir}`.", "",
             "## Chain", ""]
    lines += _chain_table(run) + ["Training, as the run report shows it:", ""] + stage_table(run)
    lines += ["## Evals, before and after each stage", ""]
    for stage in run.stages:
        lines += _stage_evals(stage)
    lines += regression_lines(run)
    lines += ["## Files", "", "| file | size |", "|---|---|"]
    lines += [f"| `{p.name}` | {_size(p.stat().st_size)} |" for p in sorted(folder.iterdir()) if p.is_file()]
    lines += ["", "## Use", "", "```python", "from transformers import AutoModelForCausalLM, AutoTokenizer",
              'model = AutoModelForCausalLM.from_pretrained("<this folder>")',
              'tokenizer = AutoTokenizer.from_pretrained("<this folder>")', "```", ""]
    if (folder / "Modelfile").exists():
        lines += ["With Ollama: `ollama create my-model -f Modelfile`, then `ollama run my-model`.", ""]
    if any(folder.glob("*.gguf")):
        lines += [("With llama.cpp: `llama-cli -m model-q8_0.gguf -cnv`. With transformers, load a GGUF from a "
                   "folder holding only it (`from_pretrained(folder, gguf_file=name)`): beside `tokenizer.json`, "
                   "transformers reads that file instead of the GGUF's tokenizer."), ""]
    if skipped:
        lines += ["## Left out", ""] + [f"- {p}" for p in skipped] + [""]
    return "\n".join(lines)


def _chain_table(run: RunResult) -> list[str]:
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
    shown = {k: v for k, v in settings.items() if k not in fields or fields[k].default != v}
    return ", ".join(f"{k}={v}" for k, v in shown.items()).replace("|", "\\|") or "defaults"


def _stage_evals(stage: ExportedStage) -> list[str]:
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


# --- GGUF -----------------------------------------------------------------------------------------------------------

def gguf_problems(source: Path) -> list[Problem]:
    """Why this model cannot be written as GGUF here (empty when it can)."""
    config = json.loads((source / "config.json").read_text(encoding="utf-8"))
    where = f"export of {source}, GGUF"
    arch = (config.get("architectures") or ["?"])[0]
    fix = "pass gguf=() (--gguf '') to export without GGUF, or convert with llama.cpp's convert_hf_to_gguf.py"
    if arch not in SUPPORTED_GGUF:
        return [Problem(where, f"architecture {arch} is not supported (supported: {', '.join(SUPPORTED_GGUF)})", fix)]
    rope = config.get("rope_parameters") or config.get("rope_scaling") or {}
    problems = []
    if rope.get("rope_type", "default") != "default":
        problems.append(Problem(where, f"rope scaling {rope.get('rope_type')!r} is not written (only plain RoPE)", fix))
    if config.get("attention_bias") or config.get("mlp_bias"):
        problems.append(Problem(where, "attention or MLP biases are not written", fix))
    head_dim = config.get("head_dim") or config["hidden_size"] // config["num_attention_heads"]
    if head_dim * config["num_attention_heads"] != config["hidden_size"]:
        problems.append(Problem(where, f"head_dim {head_dim} x heads is not the hidden size", fix))
    tokenizer = json.loads((source / "tokenizer.json").read_text(encoding="utf-8")) \
        if (source / "tokenizer.json").is_file() else {}
    if (tokenizer.get("model") or {}).get("type") != "BPE" or _pre_name(tokenizer) is None:
        problems.append(Problem(where, "its tokenizer is not a byte-level BPE whose pre-tokenizer llama.cpp "
                                f"knows by name ({', '.join(PRE_TOKENIZERS.values())})", fix))
    return problems


def _pre_name(tokenizer: dict[str, Any]) -> str | None:
    """llama.cpp's name for how the tokenizer splits text before BPE, or None when it has none."""
    pre = tokenizer.get("pre_tokenizer") or {}
    parts = pre.get("pretokenizers", []) if pre.get("type") == "Sequence" else [pre]
    shape = "+".join(p.get("type", "?") for p in parts)
    if shape == "Digits+ByteLevel" and not parts[0].get("individual_digits"):
        return None
    return PRE_TOKENIZERS.get(shape)


def write_gguf(source: Path, path: Path, kind: str, name: str = "model") -> Path:
    """One GGUF file of a Llama model folder: llama.cpp's metadata, tokenizer and tensor names; Q and K rows
    permuted as llama.cpp's converter does; 2-D weights in `kind` ("f32", "f16" or "q8_0"; a row not a
    multiple of 32 stays f16), norms in f32."""
    import gguf as gg

    config = json.loads((source / "config.json").read_text(encoding="utf-8"))
    writer = gg.GGUFWriter(path, SUPPORTED_GGUF[config["architectures"][0]])
    _write_metadata(writer, config, kind, name)
    _write_tokenizer(writer, source, config["vocab_size"])
    for tensor, data, qtype in _tensors(source, config, kind):
        writer.add_tensor(tensor, data, raw_dtype=qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file(progress=False)
    writer.close()
    return path


def _write_metadata(writer: Any, config: dict[str, Any], kind: str, name: str) -> None:
    import gguf as gg

    heads = config["num_attention_heads"]
    rope = config.get("rope_parameters") or {}
    file_type = {"f32": gg.LlamaFileType.ALL_F32, "f16": gg.LlamaFileType.MOSTLY_F16,
                 "q8_0": gg.LlamaFileType.MOSTLY_Q8_0}[kind]
    writer.add_name(name)
    writer.add_type("model")
    writer.add_context_length(config["max_position_embeddings"])
    writer.add_embedding_length(config["hidden_size"])
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_head_count(heads)
    writer.add_head_count_kv(config.get("num_key_value_heads") or heads)
    writer.add_rope_dimension_count(config.get("head_dim") or config["hidden_size"] // heads)
    writer.add_rope_freq_base(float(rope.get("rope_theta", config.get("rope_theta", 10000.0))))
    writer.add_layer_norm_rms_eps(float(config["rms_norm_eps"]))
    writer.add_vocab_size(config["vocab_size"])
    writer.add_file_type(file_type)
    if kind == "q8_0":
        writer.add_quantization_version(gg.GGML_QUANT_VERSION)


def _write_tokenizer(writer: Any, source: Path, vocab_size: int) -> None:
    """The BPE vocabulary (token ids as the model's rows; unused rows padded), merges, token types,
    special ids, whether BOS is added, and the chat template."""
    import gguf as gg
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(source)
    spec = json.loads(tokenizer.backend_tokenizer.to_str())
    by_id = {index: token for token, index in tokenizer.get_vocab().items()}
    added = tokenizer.added_tokens_decoder
    tokens, types = [], []
    for index in range(vocab_size):
        token = by_id.get(index)
        tokens.append(token if token is not None else f"[PAD{index}]")
        types.append(gg.TokenType.UNUSED if token is None else
                     (gg.TokenType.CONTROL if added[index].special else gg.TokenType.USER_DEFINED) if index in added
                     else gg.TokenType.NORMAL)
    merges = [m if isinstance(m, str) else " ".join(m) for m in spec["model"]["merges"]]
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(_pre_name(spec) or "default")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    for token_id, add in ((tokenizer.bos_token_id, writer.add_bos_token_id), (tokenizer.eos_token_id, writer.add_eos_token_id),
                          (tokenizer.unk_token_id, writer.add_unk_token_id), (tokenizer.pad_token_id, writer.add_pad_token_id)):
        if token_id is not None:
            add(token_id)
    encoded = tokenizer("a")["input_ids"]
    writer.add_add_bos_token(bool(encoded) and encoded[0] == tokenizer.bos_token_id)
    writer.add_add_space_prefix(False)
    if tokenizer.chat_template:
        writer.add_chat_template(tokenizer.chat_template)


def _tensors(source: Path, config: dict[str, Any], kind: str):
    """(GGUF name, data, raw type) per weight, read one at a time from the safetensors files."""
    import gguf as gg
    from safetensors import safe_open

    heads = config["num_attention_heads"]
    kv_heads = config.get("num_key_value_heads") or heads
    names = gg.get_tensor_name_map(gg.MODEL_ARCH.LLAMA, config["num_hidden_layers"])
    for file in sorted(source.glob("*.safetensors")):
        with safe_open(file, framework="pt") as handle:
            for key in handle.keys():  # noqa: SIM118 - safe_open is not a mapping
                if key.endswith("rotary_emb.inv_freq") or (key == "lm_head.weight" and config.get("tie_word_embeddings")):
                    continue
                base, _, suffix = key.rpartition(".")
                mapped = names.get_name(base)
                if mapped is None:
                    raise ConfigError(Problem(f"export of {source}, GGUF", f"tensor {key!r} has no GGUF name",
                                              "pass gguf=() to export without GGUF"))
                data = handle.get_tensor(key).float().numpy()
                if base.endswith("self_attn.q_proj"):
                    data = permute_qk(data, heads, heads)
                elif base.endswith("self_attn.k_proj"):
                    data = permute_qk(data, heads, kv_heads)
                yield (f"{mapped}.{suffix}", *_encode(data, kind))


def permute_qk(weights: np.ndarray, heads: int, kv_heads: int) -> np.ndarray:
    """Q/K rows from transformers' rotate-half order into llama.cpp's interleaved pairs (its converter's
    `permute`; transformers' GGUF loader undoes it with `_reverse_permute_weights`)."""
    count = kv_heads if kv_heads != heads else heads
    return (weights.reshape(count, 2, weights.shape[0] // count // 2, *weights.shape[1:])
            .swapaxes(1, 2).reshape(weights.shape))


def _encode(data: np.ndarray, kind: str) -> tuple[np.ndarray, Any]:
    """The tensor as stored: 1-D in f32; 2-D in the file's type (q8_0 rows must be whole blocks of 32)."""
    import gguf as gg
    import numpy as np

    if data.ndim < 2 or kind == "f32":
        return data.astype(np.float32), gg.GGMLQuantizationType.F32
    if kind == "q8_0" and data.shape[-1] % QK_ROW == 0:
        return gg.quants.quantize(data, gg.GGMLQuantizationType.Q8_0), gg.GGMLQuantizationType.Q8_0
    return data.astype(np.float16), gg.GGMLQuantizationType.F16


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


def modelfile_text(gguf_file: Path, chat_template: str, stops: list[str]) -> str:
    """An Ollama Modelfile: the GGUF, the ChatML template in Go's template language (the chat template's
    default system prompt as SYSTEM), and a stop parameter per end-of-turn token."""
    lines = [f"FROM ./{gguf_file.name}", "", f'TEMPLATE """{CHATML_TEMPLATE}"""', ""]
    system = default_system(chat_template)
    if system:
        lines += [f'SYSTEM """{system}"""', ""]
    lines += [f'PARAMETER stop "{stop}"' for stop in stops]
    return "\n".join(lines) + "\n"


def default_system(chat_template: str) -> str | None:
    """The system prompt a ChatML template writes when the conversation has none (SmolLM2's), if any."""
    match = re.search(r"<\|im_start\|>system(?:\n|\\n)([^{}]*?)<\|im_end\|>", chat_template)
    return match.group(1).strip() or None if match else None


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
