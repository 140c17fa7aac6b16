"""GGUF files of a transformers model folder, for llama.cpp and the runtimes built on it (Ollama, LM Studio).

Built on llama.cpp's own Python package, `gguf` (gguf-py, maintained in the llama.cpp repository): its
architecture names and per-architecture tensor lists (`MODEL_ARCH`, `MODEL_TENSORS`), its map from
transformers' tensor names to llama.cpp's (`get_tensor_name_map`), its metadata keys (`GGUFWriter.add_*`),
its Q8_0 quantizer and its size labels. What differs between families follows llama.cpp's own converter,
`convert_hf_to_gguf.py`, which is not installable as a package (`FAMILIES` below says what each family adds).
The k-quants (Q4_K_M, Q5_K_M) are llama.cpp's own quantizer, reached through llama-cpp-python when it is
installed (`quantize`); nothing else here needs llama.cpp.

    write_gguf(Path("model"), Path("model-f16.gguf"), "f16", GGUFInfo(name="math", finetune="sft-dpo"))
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from posttrain.errors import ConfigError, Problem

if TYPE_CHECKING:
    import numpy as np

WRITTEN_TYPES = ("f32", "f16", "q8_0")        # written here with the gguf package
LLAMA_CPP_TYPES = {"q4_k_m": 15, "q5_k_m": 17}   # llama.cpp's LLAMA_FTYPE_MOSTLY_Q4_K_M, _Q5_K_M (llama.h)
GGUF_TYPES = WRITTEN_TYPES + tuple(LLAMA_CPP_TYPES)
LLAMA_CPP_INSTALL = "pip install llama-cpp-python (or bash bench/llama_cpp_check.sh, which installs it into its own venv and checks the export in it)"
QK_ROW = 32                                   # Q8_0 quantizes rows in blocks of 32 values


@dataclass(frozen=True)
class Family:
    """How one transformers architecture is written, as llama.cpp's converter writes it.

    arch: llama.cpp's architecture (a `gguf.MODEL_ARCH` name); permute_qk: Q/K rows from rotate-half
    into interleaved order (Llama's RoPE layout in llama.cpp); norm_shift: added to every RMSNorm weight
    (Gemma stores w - 1 and multiplies by 1 + w); sliding_window: Gemma's sliding window, its per-layer
    pattern (from `layer_types`), its RoPE base and final logit softcapping; softcapping: attention logit
    softcapping (Gemma 2's graph has it, Gemma 3's has not); pre_attn_27b: the layer count of the 27B model, whose query scale llama.cpp derives
    from the hidden size (every other size: 1/sqrt(head_dim))."""

    arch: str
    permute_qk: bool = False
    norm_shift: float = 0.0
    sliding_window: bool = False
    softcapping: bool = False
    head_dims: bool = False              # writes key_length/value_length (head_dim apart from hidden/heads)
    pre_attn_27b: int | None = None


FAMILIES = {
    "LlamaForCausalLM": Family("LLAMA", permute_qk=True),
    "MistralForCausalLM": Family("LLAMA", permute_qk=True),          # llama.cpp reads Mistral as Llama
    "Qwen2ForCausalLM": Family("QWEN2"),                            # + q/k/v biases
    "Qwen3ForCausalLM": Family("QWEN3", head_dims=True),            # + q_norm/k_norm
    "Gemma2ForCausalLM": Family("GEMMA2", norm_shift=1.0, sliding_window=True, softcapping=True, head_dims=True,
                                pre_attn_27b=46),
    "Gemma3ForCausalLM": Family("GEMMA3", norm_shift=1.0, sliding_window=True, head_dims=True, pre_attn_27b=62),
    "Phi3ForCausalLM": Family("PHI3"),                              # fused qkv and gate_up, as transformers has them
}
SUPPORTED_GGUF = {arch: family.arch.lower() for arch, family in FAMILIES.items()}
# llama.cpp's pre-tokenizer names by how the tokenizer.json splits text before BPE: the shape of its
# pre_tokenizer, then (for a regex Split) the digit rule that tells Llama 3's from Qwen2's
PRE_TOKENIZERS = {"ByteLevel": "gpt-2", "Digits+ByteLevel": "smollm", "Split+ByteLevel": "llama-bpe"}
SPLIT_DIGITS = {r"\p{N}{1,3}": "llama-bpe", r"\p{N}": "qwen2"}


@dataclass(frozen=True)
class GGUFInfo:
    """The `general.*` metadata: what a runtime lists the model as."""

    name: str = "model"
    finetune: str | None = None
    base_model: str | None = None        # hub id (or folder) of the model it was trained from
    base_on_hub: bool = False
    license: str | None = None
    description: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def family_of(config: dict[str, Any]) -> Family | None:
    return FAMILIES.get((config.get("architectures") or ["?"])[0])


def gguf_problems(source: Path) -> list[Problem]:
    """Why this model cannot be written as GGUF here (empty when it can)."""
    config = _config(source)
    where = f"export of {source}, GGUF"
    arch = (config.get("architectures") or ["?"])[0]
    fix = "pass gguf=() and ollama=False (--gguf '' --no-ollama) to export without GGUF, or convert with llama.cpp's convert_hf_to_gguf.py"
    family = family_of(config)
    if family is None:
        return [Problem(where, f"architecture {arch} is not supported (supported: {', '.join(FAMILIES)})", fix)]
    problems = []
    for rope in _ropes(config):
        kind = rope.get("rope_type", "default")
        if kind not in ("default", "llama3") or (kind == "llama3" and family.arch != "LLAMA"):
            problems.append(Problem(where, f"rope scaling {kind!r} is not written (plain RoPE, and Llama 3's)", fix))
    if config.get("mlp_bias") or (config.get("attention_bias") and family.arch != "QWEN2"):
        problems.append(Problem(where, "attention or MLP biases are not written for this family", fix))
    if family.arch == "GEMMA3" and config.get("attn_logit_softcapping"):
        problems.append(Problem(where, "Gemma 3 with attention softcapping (llama.cpp's Gemma 3 graph has none)", fix))
    if family.pre_attn_27b and config.get("query_pre_attn_scalar", _head_dim(config)) != _head_dim(config) \
            and config["num_hidden_layers"] != family.pre_attn_27b:
        problems.append(Problem(where, f"query_pre_attn_scalar {config.get('query_pre_attn_scalar')} is not head_dim "
                                f"{_head_dim(config)} (llama.cpp scales queries by head_dim)", fix))
    tokenizer = json.loads((source / "tokenizer.json").read_text(encoding="utf-8")) \
        if (source / "tokenizer.json").is_file() else {}
    if tokenizer_model(tokenizer) is None:
        problems.append(Problem(where, "its tokenizer.json is neither a byte-level BPE whose pre-tokenizer llama.cpp "
                                f"knows by name ({', '.join(sorted({*PRE_TOKENIZERS.values(), *SPLIT_DIGITS.values()}))}) "
                                "nor a SentencePiece BPE with byte fallback", fix))
    return problems


def tokenizer_model(tokenizer: dict[str, Any]) -> str | None:
    """llama.cpp's tokenizer model for a tokenizer.json: "gpt2" (byte-level BPE: Llama 3, Qwen, SmolLM),
    "llama" (SentencePiece converted to BPE with byte fallback: Llama 2, Mistral 7B, Gemma, Phi-3), or None."""
    model = tokenizer.get("model") or {}
    if model.get("type") != "BPE":
        return None
    if model.get("byte_fallback"):
        return "llama"
    return "gpt2" if _pre_name(tokenizer) else None


def _space_prefix(tokenizer: dict[str, Any]) -> bool:
    """Whether a SentencePiece tokenizer puts "▁" before the text (Llama 2, Mistral; not Gemma). llama.cpp
    then puts it before each piece of text after a special token too, as transformers' legacy Metaspace
    (prepend_scheme "always") does; a tokenizer with prepend_scheme "first" puts it only before the first,
    so text right after a special token can split differently in llama.cpp (no key of llama.cpp says "first")."""
    parts: list[dict[str, Any]] = []
    for key in ("normalizer", "pre_tokenizer"):
        step = tokenizer.get(key) or {}
        parts += step.get("normalizers") or step.get("pretokenizers") or [step]
    for part in parts:
        if part.get("type") == "Prepend" and part.get("prepend") == "\u2581":
            return True
        if part.get("type") == "Metaspace" and (part.get("prepend_scheme") in ("first", "always")
                                                or part.get("add_prefix_space")):
            return True
    return False


def _config(source: Path) -> dict[str, Any]:
    config: dict[str, Any] = json.loads((source / "config.json").read_text(encoding="utf-8"))
    return config


def _ropes(config: dict[str, Any]) -> list[dict[str, Any]]:
    """The model's RoPE settings, one per layer type (Gemma 3 has two) or one."""
    rope = config.get("rope_parameters") or config.get("rope_scaling") or {}
    if rope and all(isinstance(v, dict) for v in rope.values()):
        return list(rope.values())
    return [rope]


def _rope_theta(config: dict[str, Any]) -> float:
    rope = config.get("rope_parameters") or {}
    if "full_attention" in rope and isinstance(rope["full_attention"], dict):
        rope = rope["full_attention"]
    return float(rope.get("rope_theta", config.get("rope_theta", 10000.0)))


def _sliding_theta(config: dict[str, Any]) -> float | None:
    rope = (config.get("rope_parameters") or {}).get("sliding_attention")
    if isinstance(rope, dict):
        return float(rope.get("rope_theta", 10000.0))
    local = config.get("rope_local_base_freq")
    return float(local) if local is not None else None


def _head_dim(config: dict[str, Any]) -> int:
    return int(config.get("head_dim") or config["hidden_size"] // config["num_attention_heads"])


def _pre_name(tokenizer: dict[str, Any]) -> str | None:
    """llama.cpp's name for how the tokenizer splits text before BPE, or None when it has none."""
    pre = tokenizer.get("pre_tokenizer") or {}
    parts = pre.get("pretokenizers", []) if pre.get("type") == "Sequence" else [pre]
    shape = "+".join(p.get("type", "?") for p in parts)
    if shape == "Digits+ByteLevel" and not parts[0].get("individual_digits"):
        return None
    if shape == "Split+ByteLevel":
        regex = (parts[0].get("pattern") or {}).get("Regex", "")
        for digits, name in SPLIT_DIGITS.items():            # longest rule first: {1,3} before a single digit
            if digits + "|" in regex or regex.endswith(digits):
                return name
        return None
    return PRE_TOKENIZERS.get(shape)


# --- writing --------------------------------------------------------------------------------------------------------

def write_gguf(source: Path, path: Path, kind: str, info: GGUFInfo | None = None) -> Path:
    """One GGUF file of a model folder of a supported family (`gguf_problems` empty): llama.cpp's metadata,
    tokenizer and tensor names; 2-D weights in `kind` ("f32", "f16" or "q8_0"; a row not a multiple of 32
    stays f16), norms and biases in f32. The k-quants are made from an f16 file by `quantize`."""
    import gguf as gg

    config = _config(source)
    family = FAMILIES[config["architectures"][0]]
    info = info or GGUFInfo()
    writer = gg.GGUFWriter(path, gg.MODEL_ARCH_NAMES[gg.MODEL_ARCH[family.arch]])
    tensors = list(_tensors(source, config, family, kind))
    _write_general(writer, info, sum(_count(config, name, data) for name, data, _ in tensors))
    _write_hparams(writer, config, family, kind)
    _write_tokenizer(writer, source, config["vocab_size"])
    for tensor, data, qtype in tensors:
        writer.add_tensor(tensor, data, raw_dtype=qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file(progress=False)
    writer.close()
    path.chmod(0o644)
    return path


def _count(config: dict[str, Any], name: str, data: np.ndarray) -> int:
    """Parameters of one stored tensor (a quantized one counts its values, not its bytes)."""
    import gguf as gg
    import numpy as np

    if data.dtype == np.uint8:             # Q8_0 blocks: 34 bytes per 32 values
        block, size = gg.GGML_QUANT_SIZES[gg.GGMLQuantizationType.Q8_0]
        return int(data.size // size * block)
    return int(data.size)


def _write_general(writer: Any, info: GGUFInfo, parameters: int) -> None:
    """general.*: name, fine-tune, size label, license, base model (gguf's own keys)."""
    from gguf.utility import size_label

    writer.add_type("model")
    writer.add_name(info.name)
    if info.finetune:
        writer.add_finetune(info.finetune)
    writer.add_size_label(size_label(parameters, 0, 0, 0))
    if info.license:
        writer.add_license(info.license)
    if info.description:
        writer.add_description(info.description)
    if info.base_model:
        writer.add_base_model_count(1)
        writer.add_base_model_name(0, info.base_model.rsplit("/", 1)[-1])
        if info.base_on_hub:
            writer.add_base_model_organization(0, info.base_model.split("/", 1)[0])
            writer.add_base_model_repo_url(0, f"https://huggingface.co/{info.base_model}")
    for key, value in info.extra.items():
        writer.add_string(key, str(value))


def _write_hparams(writer: Any, config: dict[str, Any], family: Family, kind: str) -> None:
    """The architecture's keys, as llama.cpp's converter writes them for this family."""
    import gguf as gg

    heads, head_dim = config["num_attention_heads"], _head_dim(config)
    file_type = {"f32": gg.LlamaFileType.ALL_F32, "f16": gg.LlamaFileType.MOSTLY_F16,
                 "q8_0": gg.LlamaFileType.MOSTLY_Q8_0}[kind]
    writer.add_context_length(config["max_position_embeddings"])
    writer.add_embedding_length(config["hidden_size"])
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_head_count(heads)
    writer.add_head_count_kv(config.get("num_key_value_heads") or heads)
    rotary = (config.get("rope_parameters") or {}).get("partial_rotary_factor") or config.get("partial_rotary_factor") or 1.0
    writer.add_rope_dimension_count(int(head_dim * float(rotary)))
    writer.add_rope_freq_base(_rope_theta(config))
    writer.add_layer_norm_rms_eps(float(config["rms_norm_eps"]))
    writer.add_vocab_size(config["vocab_size"])
    writer.add_file_type(file_type)
    if family.head_dims or head_dim * heads != config["hidden_size"]:
        writer.add_key_length(head_dim)
        writer.add_value_length(head_dim)
    if family.sliding_window and config.get("sliding_window"):
        writer.add_sliding_window(int(config["sliding_window"]))
        layer_types = config.get("layer_types")
        if isinstance(layer_types, list) and len(layer_types) == config["num_hidden_layers"]:
            writer.add_sliding_window_pattern([kind == "sliding_attention" for kind in layer_types])
        sliding_theta = _sliding_theta(config)
        if sliding_theta is not None:
            writer.add_rope_freq_base_swa(sliding_theta)
    if family.softcapping and config.get("attn_logit_softcapping"):
        writer.add_attn_logit_softcapping(float(config["attn_logit_softcapping"]))
    if family.sliding_window and config.get("final_logit_softcapping"):      # Gemma 2 and 3
        writer.add_final_logit_softcapping(float(config["final_logit_softcapping"]))
    if family.arch == "PHI3":
        writer.add_rope_scaling_orig_ctx_len(int(config.get("original_max_position_embeddings")
                                                 or config["max_position_embeddings"]))
    if kind == "q8_0":
        writer.add_quantization_version(gg.GGML_QUANT_VERSION)


def _write_tokenizer(writer: Any, source: Path, vocab_size: int) -> None:
    """The vocabulary (token ids as the model's rows; unused rows padded), token types, special ids, whether
    BOS is added, and the chat template; for a byte-level BPE its merges and pre-tokenizer name, for a
    SentencePiece one its scores (by id: SentencePiece orders pieces by score, and transformers' conversion
    keeps that order) and whether a space is put first."""
    import re as regex

    import gguf as gg
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(source)
    spec = json.loads(tokenizer.backend_tokenizer.to_str())
    kind = tokenizer_model(spec)
    by_id = {index: token for token, index in tokenizer.get_vocab().items()}
    added = tokenizer.added_tokens_decoder
    tokens, types, scores = [], [], []
    for index in range(vocab_size):
        token = by_id.get(index)
        tokens.append(token if token is not None else f"[PAD{index}]")
        if token is None:
            kind_of = gg.TokenType.UNUSED
        elif index in added:
            kind_of = gg.TokenType.CONTROL if added[index].special else gg.TokenType.USER_DEFINED
        elif kind == "llama" and regex.fullmatch(r"<0x[0-9A-Fa-f]{2}>", token):
            kind_of = gg.TokenType.BYTE
        else:
            kind_of = gg.TokenType.NORMAL
        types.append(kind_of)
        scores.append(-float(index) if kind_of == gg.TokenType.NORMAL else 0.0)
    writer.add_tokenizer_model(kind or "gpt2")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    if kind == "llama":
        writer.add_tokenizer_pre("default")
        writer.add_token_scores(scores)
        writer.add_add_space_prefix(_space_prefix(spec))
    else:
        writer.add_tokenizer_pre(_pre_name(spec) or "default")
        writer.add_token_merges([m if isinstance(m, str) else " ".join(m) for m in spec["model"]["merges"]])
        writer.add_add_space_prefix(False)
    for token_id, add in ((tokenizer.bos_token_id, writer.add_bos_token_id), (tokenizer.eos_token_id, writer.add_eos_token_id),
                          (tokenizer.unk_token_id, writer.add_unk_token_id), (tokenizer.pad_token_id, writer.add_pad_token_id)):
        if token_id is not None:
            add(token_id)
    encoded = tokenizer("a")["input_ids"]
    writer.add_add_bos_token(bool(encoded) and encoded[0] == tokenizer.bos_token_id)
    if tokenizer.chat_template:
        writer.add_chat_template(tokenizer.chat_template)


def _tensors(source: Path, config: dict[str, Any], family: Family, kind: str) -> Iterator[tuple[str, Any, Any]]:
    """(GGUF name, data, raw type) per weight, read one at a time from the safetensors files, with the
    family's changes (Q/K order, norm shift) and Llama 3's RoPE factors."""
    import gguf as gg
    from safetensors import safe_open

    heads = config["num_attention_heads"]
    kv_heads = config.get("num_key_value_heads") or heads
    arch = gg.MODEL_ARCH[family.arch]
    names = gg.get_tensor_name_map(arch, config["num_hidden_layers"])
    tied = config.get("tie_word_embeddings", family.arch in ("GEMMA2", "GEMMA3"))
    for file in sorted(source.glob("*.safetensors")):
        with safe_open(file, framework="pt") as handle:
            for key in handle.keys():  # noqa: SIM118 - safe_open is not a mapping
                if key.endswith("rotary_emb.inv_freq") or (key == "lm_head.weight" and tied):
                    continue
                base, _, suffix = key.rpartition(".")
                mapped = names.get_name(base)
                if mapped is None:
                    raise ConfigError(Problem(f"export of {source}, GGUF", f"tensor {key!r} has no GGUF name",
                                              "pass gguf=() and ollama=False (--gguf '' --no-ollama) to export without GGUF"))
                data = handle.get_tensor(key).float().numpy()
                if family.permute_qk and base.endswith("self_attn.q_proj"):
                    data = permute_qk(data, heads, heads)
                elif family.permute_qk and base.endswith("self_attn.k_proj"):
                    data = permute_qk(data, heads, kv_heads)
                if family.norm_shift and key.endswith("norm.weight"):
                    data = data + family.norm_shift
                yield (f"{mapped}.{suffix}", *_encode(data, kind))
    factors = llama3_rope_factors(config)
    if factors is not None:
        yield (f"{gg.TENSOR_NAMES[gg.MODEL_TENSOR.ROPE_FREQS]}.weight", *_encode(factors, kind))


def llama3_rope_factors(config: dict[str, Any]) -> np.ndarray | None:
    """Llama 3.1's RoPE frequency factors, as llama.cpp's converter computes them (its `rope_freqs` tensor),
    or None for plain RoPE."""
    import numpy as np

    rope = _ropes(config)[0]
    if rope.get("rope_type") != "llama3":
        return None
    dim, base = _head_dim(config), _rope_theta(config)
    factor = float(rope.get("factor", 8.0))
    low, high = float(rope.get("low_freq_factor", 1.0)), float(rope.get("high_freq_factor", 4.0))
    old = float(rope.get("original_max_position_embeddings", 8192))
    factors = []
    for freq in 1.0 / (base ** (np.arange(0, dim, 2, dtype=np.float32) / dim)):
        wavelen = 2 * math.pi / freq
        if wavelen < old / high:
            factors.append(1.0)
        elif wavelen > old / low:
            factors.append(factor)
        else:
            smooth = (old / wavelen - low) / (high - low)
            factors.append(1 / ((1 - smooth) / factor + smooth))
    return np.array(factors, dtype=np.float32)


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


# --- llama.cpp's quantizer ------------------------------------------------------------------------------------------

def llama_cpp_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("llama_cpp") is not None


def quantize(f16: Path, path: Path, kind: str) -> Path:
    """`kind` ("q4_k_m", "q5_k_m") made from an f16 GGUF by llama.cpp's own quantizer (llama-cpp-python's
    `llama_model_quantize`, as the `llama-quantize` tool runs it). llama.cpp's log goes to a file, shown
    only when it fails."""
    if not llama_cpp_available():
        raise ConfigError(Problem("export, gguf", f"{kind} needs llama.cpp's quantizer, which is not installed",
                                  f"{LLAMA_CPP_INSTALL}, or leave {kind} out"))
    import llama_cpp

    from posttrain.device import usable_cores

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = LLAMA_CPP_TYPES[kind]
    params.nthread = usable_cores()
    with tempfile.TemporaryFile(mode="w+b") as log:
        saved = os.dup(2)
        os.dup2(log.fileno(), 2)
        try:
            llama_cpp.llama_backend_init()
            status = llama_cpp.llama_model_quantize(str(f16).encode(), str(path).encode(), params)
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        log.seek(0)
        tail = log.read().decode(errors="replace")[-2000:]
    if status != 0 or not path.is_file():
        raise ConfigError(Problem(f"export, gguf {kind}", f"llama.cpp's quantizer failed ({status}): {tail.strip()}",
                                  f"leave {kind} out, or quantize {f16.name} with llama.cpp's llama-quantize"))
    path.chmod(0o644)
    return path
