"""Exported GGUF files checked in a real runtime: llama.cpp, through llama-cpp-python.

    python -m bench.llama_cpp --families            # a tiny random model of each family: layout
    python -m bench.llama_cpp --default --out r.json # the default model, f16 and quants, on 24 prompts

Each GGUF is loaded in llama.cpp and compared with the transformers model it was exported from: the
tokens of each prompt (llama.cpp's tokenizer against transformers'), the logits at every prompt position
(largest difference, top-1 agreement), and greedy continuations token by token. The k-quants are also
compared with the f16 file (their quality cost). `bench/llama_cpp_check.sh` installs llama-cpp-python
into its own environment and runs this.

On CPUs that advertise AMX but cannot run it (some virtual machines), llama.cpp's repacked weight
buffers die with "Illegal instruction": `load` turns them off (`use_extra_bufts=False`), which costs
speed, not results.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

# 24 prompts of the kinds the default model is asked: chat, arithmetic, facts, code, lists, identity
PROMPTS = [
    "What is 2 + 3?", "Name a colour.", "Write a haiku about the sea.", "Who are you?", "List three fruits.",
    "What is the capital of France?", "Translate 'good morning' into Spanish.", "Give me a synonym for happy.",
    "How many legs does a spider have?", "Write a Python function that adds two numbers.",
    "Explain photosynthesis in one sentence.", "What is 12 times 7?", "Suggest a name for a pet cat.",
    "What day comes after Monday?", "Summarise: The cat sat on the mat and slept all afternoon.",
    "Is a tomato a fruit or a vegetable?", "Write one sentence about autumn.", "What is the boiling point of water?",
    "Give two tips for better sleep.", "Spell the word 'necessary' backwards.", "What does CPU stand for?",
    "Tom has 5 apples and eats 2. How many are left?", "Write a short greeting for an email.",
    "Which is larger, 0.5 or 0.45?",
]


@dataclass
class Comparison:
    """One GGUF file against a reference (the transformers model, or the f16 GGUF)."""

    file: str
    reference: str
    prompts: int
    same_tokens: int                 # prompts tokenized identically by llama.cpp and transformers
    max_logit_diff: float            # largest |difference| of any logit at any prompt position
    mean_logit_diff: float
    logit_scale: float               # the reference logits' standard deviation, for scale
    top1_agreement: float            # share of prompt positions whose top token matches
    greedy_same: int                 # prompts whose greedy continuation is identical
    greedy_tokens_same: float        # share of continuation tokens identical before the first difference


@contextmanager
def _no_extra_buffers():
    """llama-cpp-python's `Llama` takes llama.cpp's default model params; this makes them leave the extra
    (repacking, AMX) buffer types off while a model loads."""
    import llama_cpp.llama_cpp as api

    default = api.llama_model_default_params

    def params():
        p = default()
        p.use_extra_bufts = False
        return p

    api.llama_model_default_params = params
    try:
        yield
    finally:
        api.llama_model_default_params = default


def load(path: Path, n_ctx: int = 512) -> Any:
    """A llama.cpp model with every prompt position's logits kept, quiet, on 2 threads."""
    from llama_cpp import Llama

    with _no_extra_buffers():
        return Llama(model_path=str(path), n_ctx=n_ctx, logits_all=True, verbose=False, n_threads=2, seed=0)


def llama_logits(llm: Any, ids: list[int]) -> Any:
    import numpy as np

    llm.reset()
    llm.eval(ids)
    return np.array(llm.scores[: len(ids)], dtype=np.float32)


def llama_greedy(llm: Any, ids: list[int], new_tokens: int, stop: set[int]) -> list[int]:
    import numpy as np

    llm.reset()
    llm.eval(ids)
    out: list[int] = []
    for _ in range(new_tokens):
        token = int(np.argmax(llm.scores[llm.n_tokens - 1]))
        out.append(token)
        if token in stop:
            break
        llm.eval([token])
    return out


def reference_run(model: Any, tokenizer: Any, texts: list[str], new_tokens: int, stop: set[int]) -> list[dict]:
    """Per prompt: its ids, its logits and its greedy continuation in transformers (f32)."""
    import torch

    runs = []
    for text in texts:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            logits = model(torch.tensor([ids])).logits[0].float().numpy()
            generated = model.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                                       max_new_tokens=new_tokens, min_new_tokens=0 if stop else new_tokens,
                                       do_sample=False,
                                       eos_token_id=sorted(stop) or None, pad_token_id=tokenizer.pad_token_id)
        runs.append({"ids": ids, "logits": logits, "greedy": generated[0, len(ids):].tolist()})
    return runs


def gguf_run(path: Path, texts: list[str], new_tokens: int, stop: set[int]) -> list[dict]:
    """The same per prompt in llama.cpp, with llama.cpp's own tokenization of the text."""
    llm = load(path)
    runs = []
    for text in texts:
        ids = llm.tokenize(text.encode(), add_bos=False, special=True)
        runs.append({"ids": ids, "logits": llama_logits(llm, ids), "greedy": llama_greedy(llm, ids, new_tokens, stop)})
    llm.close()
    return runs


def compare(file: str, reference: str, got: list[dict], want: list[dict]) -> Comparison:
    import numpy as np

    diffs, agree, positions, prefix, total = [], 0, 0, 0, 0
    for g, w in zip(got, want):
        n = min(len(g["logits"]), len(w["logits"]))
        diff = np.abs(g["logits"][:n] - w["logits"][:n])
        diffs.append(diff)
        agree += int((g["logits"][:n].argmax(-1) == w["logits"][:n].argmax(-1)).sum())
        positions += n
        same = 0
        for a, b in zip(g["greedy"], w["greedy"]):
            if a != b:
                break
            same += 1
        prefix += same
        total += max(len(w["greedy"]), 1)
    every = np.concatenate([d.ravel() for d in diffs])
    scale = float(np.concatenate([w["logits"].ravel() for w in want]).std())
    return Comparison(file=file, reference=reference, prompts=len(want),
                      same_tokens=sum(g["ids"] == w["ids"] for g, w in zip(got, want)),
                      max_logit_diff=float(every.max()), mean_logit_diff=float(every.mean()), logit_scale=scale,
                      top1_agreement=agree / positions, greedy_same=sum(g["greedy"] == w["greedy"] for g, w in zip(got, want)),
                      greedy_tokens_same=prefix / total)


def chat_texts(tokenizer: Any, prompts: list[str]) -> list[str]:
    return [tokenizer.apply_chat_template([{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True)
            for p in prompts]


def family_cases() -> list[tuple[str, str]]:
    """(architecture, tokenizer) pairs: every family with the default model's byte-level BPE, and the families
    whose own tokenizers are SentencePiece with a SentencePiece-style one (with and without the leading space)."""
    from posttrain.testing import FAMILY_CONFIGS

    return [(a, "bpe") for a in FAMILY_CONFIGS] + [("MistralForCausalLM", "spm"), ("Phi3ForCausalLM", "spm"),
                                                   ("Gemma2ForCausalLM", "spm-no-prefix")]


def family_model(architecture: str, tokenizer_kind: str) -> tuple[Any, Any]:
    from posttrain.testing import sentencepiece_tokenizer, tiny_family_model

    tokenizer = None if tokenizer_kind == "bpe" else sentencepiece_tokenizer(space_prefix=tokenizer_kind == "spm")
    return tiny_family_model(architecture, tokenizer=tokenizer)


def check_families(folder: Path, kinds: tuple[str, ...] = ("f32", "f16"), prompts: list[str] = PROMPTS[:5],
                   new_tokens: int = 12) -> list[Comparison]:
    """A tiny random model of each family (`family_cases`), exported and compared."""
    from posttrain.pipeline.gguf_file import write_gguf

    results = []
    for architecture, tokenizer_kind in family_cases():
        model, tokenizer = family_model(architecture, tokenizer_kind)
        source = folder / f"{architecture}-{tokenizer_kind}"
        model.save_pretrained(source)
        tokenizer.save_pretrained(source)
        texts = chat_texts(tokenizer, prompts) + ["12345 numbers 3.14, émoji 🤖  two spaces\n\ttab"]
        want = reference_run(model, tokenizer, texts, new_tokens, set())      # fixed length: random models
        for kind in kinds:
            path = write_gguf(source, folder / f"{source.name}-{kind}.gguf", kind)
            results.append(compare(path.name, "transformers", gguf_run(path, texts, new_tokens, set()), want))
    return results


def check_default(folder: Path, kinds: tuple[str, ...] = ("f16", "q8_0", "q5_k_m", "q4_k_m"),
                  prompts: list[str] = PROMPTS, new_tokens: int = 48) -> list[Comparison]:
    """The default model exported through a run (`RunResult.export`), each GGUF type against transformers,
    and each quantized one against the f16 file."""
    from posttrain.models import load_model, stop_token_ids
    from posttrain.pipeline.result import RunResult

    run_dir = folder / "run"
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "run.json").write_text(json.dumps({"model": "default", "output_dir": str(run_dir), "stages": []}))
    run = RunResult.from_dir(run_dir)
    export = run.export(folder / "export", gguf=kinds, ollama=False)
    model, tokenizer = load_model("default", dtype="float32")
    stop = set(stop_token_ids(tokenizer))
    texts = chat_texts(tokenizer, prompts)
    want = reference_run(model, tokenizer, texts, new_tokens, stop)
    runs = {kind: gguf_run(path, texts, new_tokens, stop) for kind, path in export.gguf.items()}
    results = [compare(export.gguf[kind].name, "transformers", got, want) for kind, got in runs.items()]
    if "f16" in runs:
        results += [compare(export.gguf[kind].name, export.gguf["f16"].name, got, runs["f16"])
                    for kind, got in runs.items() if kind != "f16"]
    return results


def table(results: list[Comparison]) -> str:
    lines = ["| file | against | same tokens | max logit diff | mean logit diff | logit std | top-1 agree | greedy same | greedy tokens same |",
             "|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r.file} | {r.reference} | {r.same_tokens}/{r.prompts} | {r.max_logit_diff:.3g} | {r.mean_logit_diff:.3g} "
              f"| {r.logit_scale:.3g} | {r.top1_agreement:.3f} | {r.greedy_same}/{r.prompts} | {r.greedy_tokens_same:.3f} |"
              for r in results]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.llama_cpp", description=__doc__.splitlines()[0])
    parser.add_argument("--families", action="store_true", help="tiny random models of each family (layout)")
    parser.add_argument("--default", action="store_true", help="the default model: f16, q8_0, q5_k_m, q4_k_m")
    parser.add_argument("--out", default=None, help="write the comparisons as JSON here")
    args = parser.parse_args(argv)
    try:
        import llama_cpp
    except ImportError:
        print("llama-cpp-python is not installed: bash bench/llama_cpp_check.sh installs it into its own venv",
              file=sys.stderr)
        return 2
    print(f"llama-cpp-python {llama_cpp.__version__}")
    results: list[Comparison] = []
    with tempfile.TemporaryDirectory() as tmp:
        if args.families or not args.default:
            results += check_families(Path(tmp) / "families")
        if args.default:
            results += check_default(Path(tmp) / "default")
    print(table(results))
    if args.out:
        Path(args.out).write_text(json.dumps([asdict(r) for r in results], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
