"""A run exported for serving (posttrain.pipeline.export): the folder's files, the model card's chain and eval tables
(the run report's own), GGUF files that transformers loads back to the same tokens, logits and greedy
answers as the safetensors model, the Ollama Modelfile, and the refusals (nothing half-written)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from posttrain.errors import ConfigError
from posttrain.evals import EvalResult, SuiteResult, deltas_table, wilson_interval
from posttrain.pipeline.records import StageRecord
from posttrain.pipeline.report import what_this_shows
from posttrain.pipeline.result import RunResult

PROMPTS = ["What is 2 + 3?", "Name a colour.", "Write a haiku about the sea.", "Who are you?",
           "List three fruits: 1, 2, 3"]
# measured on the tiny model: f16 3.3e-4, q8_0 8.6e-3 (logits of magnitude ~1.3); on the default model
# f16 and q8_0 in the slow test below
TOLERANCE = {"f16": 2e-3, "q8_0": 3e-2}


def suite(**correct: list[bool]) -> dict:
    results = {name: EvalResult(name, sum(v) / len(v), len(v), wilson_interval(sum(v), len(v)),
                                details=[{"correct": ok} for ok in v]) for name, v in correct.items()}
    return SuiteResult(results).to_dict()


def write_run(root: Path, model_dir: Path) -> RunResult:
    """A finished two-stage run on disk (SFT with LoRA, then full DPO) whose final model is `model_dir`'s."""
    points = [suite(policy=[False] * 20), suite(policy=[True] * 18 + [False] * 2),
              suite(policy=[True] * 17 + [False] * 3)]
    records = []
    for index, kind in enumerate(("sft", "dpo"), start=1):
        folder = root / f"0{index}-{kind}"
        lora = {"r": 8, "alpha": 16, "dropout": 0.05, "target_modules": "all-linear"} if kind == "sft" else None
        record = StageRecord(index=index, kind=kind, key=f"k{index}", input_model="default", output_dir=str(folder),
                             model_dir=str(folder / "model"), data={"source": f"{kind}.jsonl", "format": "x",
                                                                      "rows": 40 * index},
                             settings={"epochs": 2.0, "learning_rate": 1e-4}, lora=lora, seconds=3.0,
                             metrics={"train_loss": 0.5}, evals={"before": points[index - 1], "after": points[index]})
        folder.mkdir(parents=True)
        record.write(folder)
        records.append(record)
    shutil.copytree(model_dir, root / "02-dpo" / "model")
    (root / "run.json").write_text(json.dumps({"model": "default", "output_dir": str(root),
                                               "stages": [r.summary() for r in records]}))
    return RunResult.from_dir(root)


@pytest.fixture(scope="module")
def exported(tmp_path_factory, tiny_dir) -> tuple[RunResult, Path]:
    root = tmp_path_factory.mktemp("export")
    run = write_run(root / "run", tiny_dir)
    run.export(root / "out")
    return run, root / "out"


def test_the_folder_holds_the_model_tokenizer_card_gguf_and_modelfile(exported):
    run, out = exported
    names = {p.name for p in out.iterdir()}
    assert {"model.safetensors", "config.json", "tokenizer.json", "chat_template.jinja", "README.md",
            "model-f16.gguf", "model-q8_0.gguf", "Modelfile"} <= names
    assert not any(name.endswith(".bin") for name in names)
    assert [p.name for p in out.parent.iterdir() if p.name.startswith(".")] == []     # no temporary sibling left
    assert (out / "model.safetensors").read_bytes() == (run.model_dir / "model.safetensors").read_bytes()


def test_the_card_shows_the_chain_and_every_stage_s_evals_as_the_report_does(exported):
    run, out = exported
    card = (out / "README.md").read_text()
    for stage in run.stages:
        deltas = stage.eval_deltas()
        assert deltas_table(deltas) in card
        assert what_this_shows(stage.output_dir.name, deltas) in card
    assert "| 01-sft | sft | `sft.jsonl` | x | 40 | r=8, alpha=16" in card
    assert "| 02-dpo | dpo | `dpo.jsonl` | x | 80 | no (full fine-tuning) | epochs=2.0, learning_rate=0.0001 |" in card
    assert "## Regressions" not in card or "policy" in card
    assert "`model-q8_0.gguf`" in card


def test_the_modelfile_serves_q8_0_with_chatml_and_stops_at_the_end_of_turn(exported):
    _, out = exported
    text = (out / "Modelfile").read_text()
    assert text.startswith("FROM ./model-q8_0.gguf\n")
    assert 'PARAMETER stop "<|im_end|>"' in text
    assert "<|im_start|>{{ .Role }}" in text and "<|im_start|>assistant" in text
    assert "SYSTEM" not in text and "SmolLM" not in text    # the run set no system prompt: none, not the base's


def _gguf_alone(out: Path, name: str, tmp_path: Path) -> Path:
    """A folder holding only the GGUF: beside a tokenizer.json, transformers reads that file instead of the
    GGUF's own tokenizer, which is what this test checks."""
    folder = tmp_path / name
    folder.mkdir()
    (folder / name).symlink_to(out / name)
    return folder


@pytest.mark.parametrize("kind", ["f16", "q8_0"])
def test_transformers_loads_the_gguf_back_to_the_same_tokens_logits_and_greedy_answers(exported, kind, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    run, out = exported
    name = f"model-{kind}.gguf"
    folder = _gguf_alone(out, name, tmp_path)
    model, tokenizer = run.load()
    gguf_tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    gguf_model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32).eval()
    assert gguf_tokenizer.chat_template == tokenizer.chat_template
    assert (gguf_tokenizer.bos_token, gguf_tokenizer.eos_token) == (tokenizer.bos_token, tokenizer.eos_token)
    texts = [tokenizer.apply_chat_template([{"role": "user", "content": p}], tokenize=False,
                                           add_generation_prompt=True) for p in PROMPTS]
    for text in texts + ["12345 numbers 3.14, émoji 🤖  two spaces\n\ttab"]:
        assert gguf_tokenizer(text)["input_ids"] == tokenizer(text)["input_ids"]
    batch = tokenizer(texts, return_tensors="pt", padding=True)
    with torch.no_grad():
        want, got = model(**batch).logits, gguf_model(**batch).logits
    real = batch["attention_mask"].bool()
    assert (want - got)[real].abs().max().item() < TOLERANCE[kind]
    assert torch.equal(want.argmax(-1)[real], got.argmax(-1)[real])
    for text in texts:   # greedy, a fixed length (the random model would stop at once)
        ids = tokenizer(text, return_tensors="pt")
        options = {"max_new_tokens": 12, "min_new_tokens": 12, "do_sample": False, "pad_token_id": tokenizer.pad_token_id}
        assert torch.equal(model.generate(**ids, **options), gguf_model.generate(**ids, **options))


def test_q_and_k_rows_are_interleaved_per_head_as_llama_cpp_stores_them():
    from posttrain.pipeline.export import permute_qk

    rows = torch.arange(8.0).reshape(8, 1).numpy()              # 2 heads of 4 rows: halves [0 1][2 3]
    assert permute_qk(rows, 2, 2).ravel().tolist() == [0, 2, 1, 3, 4, 6, 5, 7]
    assert permute_qk(rows, 4, 2).ravel().tolist() == [0, 2, 1, 3, 4, 6, 5, 7]   # K: by its KV heads


def test_an_architecture_without_gguf_still_gets_the_model_and_card_then_says_why(tmp_path, tiny_dir):
    model = tmp_path / "neox"
    shutil.copytree(tiny_dir, model)
    config = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps({**config, "architectures": ["GPTNeoXForCausalLM"]}))
    run = write_run(tmp_path / "run", model)
    with pytest.raises(ConfigError) as err:
        run.export(tmp_path / "out")
    message = str(err.value)
    assert "GPTNeoXForCausalLM is not supported (supported: LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM" \
        in message
    assert "--gguf '' --no-ollama" in message and str(tmp_path / "out") in message
    names = {p.name for p in (tmp_path / "out").iterdir()}
    assert {"model.safetensors", "README.md", "tokenizer.json"} <= names
    assert not any(n.endswith(".gguf") for n in names) and "Modelfile" not in names
    assert "## Left out" in (tmp_path / "out" / "README.md").read_text()
    # the fix it names, followed: the same export without GGUF and Modelfile succeeds
    run.export(tmp_path / "again", gguf=(), ollama=False)
    assert (tmp_path / "again" / "model.safetensors").is_file()


@pytest.mark.parametrize(("options", "says"), [
    ({"gguf": ("q4_k",)}, "unknown GGUF type 'q4_k'. Fix: use some of f32, f16, q8_0"),
    ({"gguf": (), "ollama": True}, "the Modelfile needs a GGUF file"),
])
def test_a_bad_request_is_refused_before_anything_is_written(tmp_path, tiny_dir, options, says):
    run = write_run(tmp_path / "run", tiny_dir)
    with pytest.raises(ConfigError, match="cannot export") as err:
        run.export(tmp_path / "exports" / "out", **options)
    assert says in str(err.value)
    assert not (tmp_path / "exports").exists()


def test_an_existing_folder_is_not_overwritten(tmp_path, tiny_dir):
    run = write_run(tmp_path / "run", tiny_dir)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    with pytest.raises(ConfigError, match="already exists and is not empty"):
        run.export(tmp_path / "out", gguf=(), ollama=False)
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["keep.txt"]


def test_the_command_exports_quietly(tmp_path, tiny_dir, capfd):
    from posttrain.cli import main

    write_run(tmp_path / "run", tiny_dir)
    capfd.readouterr()
    with pytest.raises(SystemExit) as done:
        main(["export", str(tmp_path / "run"), str(tmp_path / "out"), "--gguf", "q8_0", "--no-ollama"])
    printed = capfd.readouterr()
    assert done.value.code == 0
    assert {p.name for p in (tmp_path / "out").glob("*.gguf")} == {"model-q8_0.gguf"}
    assert not (tmp_path / "out" / "Modelfile").exists()
    assert "model-q8_0.gguf" in printed.out and "%|" not in printed.err


@pytest.mark.slow
def test_the_default_model_s_gguf_answers_as_the_safetensors_model_does(tmp_path):
    """SmolLM2-135M-Instruct: identical greedy answers from f16 and q8_0."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from posttrain.generation import generate
    from posttrain.models import default_model_dir, fix_tokenizer

    run = write_run(tmp_path / "run", default_model_dir())
    out = tmp_path / "out"
    run.export(out)
    model, tokenizer = run.load()
    want = generate(model, tokenizer, PROMPTS, max_new_tokens=24)
    assert all(want)
    for kind in ("f16", "q8_0"):
        name = f"model-{kind}.gguf"
        folder = _gguf_alone(out, name, tmp_path)
        gguf_tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
        gguf_model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32).eval()
        fix_tokenizer(gguf_model, gguf_tokenizer)
        assert generate(gguf_model, gguf_tokenizer, PROMPTS, max_new_tokens=24) == want, kind


def _field(reader, key):
    field = reader.fields.get(key)
    return None if field is None else field.contents()


def test_the_export_is_the_run_s_gguf_metadata_card_header_modes(tmp_path, tiny_dir):
    import gguf
    import yaml

    model = tmp_path / "model"
    shutil.copytree(tiny_dir, model)
    (model / "model.safetensors").chmod(0o600)                  # as a training run may leave it
    (model / "generation_config.json").write_text(json.dumps({"temperature": 0.7, "top_p": 0.9, "top_k": 40,
                                                              "repetition_penalty": 1.1, "do_sample": True}))
    run = write_run(tmp_path / "tutor-v2", model)
    out = tmp_path / "exports" / "out"
    run.export(out, gguf=("q8_0",))
    reader = gguf.GGUFReader(out / "model-q8_0.gguf")
    assert _field(reader, "general.name") == "tutor-v2"
    assert _field(reader, "general.finetune") == "sft-dpo"
    assert _field(reader, "general.base_model.0.name") == "SmolLM2-135M-Instruct"
    assert _field(reader, "general.base_model.0.repo_url") == "https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct"
    assert _field(reader, "general.license") == "apache-2.0"
    assert _field(reader, "general.size_label") == "3.2M"
    card = (out / "README.md").read_text()
    header = yaml.safe_load(card.split("---")[1])
    assert header["base_model"] == "HuggingFaceTB/SmolLM2-135M-Instruct" and header["license"] == "apache-2.0"
    assert header["tags"] == ["posttrain", "sft", "dpo", "gguf"]
    [entry] = header["model-index"]
    assert entry["name"] == "tutor-v2"
    assert entry["results"][0]["metrics"] == [{"type": "policy", "value": 0.85, "name": "policy"}]
    assert "trl_args" not in card and "mix=" not in card
    modelfile = (out / "Modelfile").read_text()
    for line in ("PARAMETER temperature 0.7", "PARAMETER top_p 0.9", "PARAMETER top_k 40", "PARAMETER repeat_penalty 1.1"):
        assert line in modelfile
    assert {oct(p.stat().st_mode & 0o777) for p in out.iterdir()} == {"0o644"}


def test_the_modelfile_s_system_is_the_system_prompt_the_run_trained_with(tmp_path, tiny_dir):
    run = write_run(tmp_path / "run", tiny_dir)
    record = StageRecord.read(run.stages[1].output_dir)
    record.settings = {**record.settings, "system": "You are Ava, made by Northwind Labs."}
    record.write(run.stages[1].output_dir)
    RunResult.from_dir(tmp_path / "run").export(tmp_path / "out", gguf=("q8_0",))
    modelfile = (tmp_path / "out" / "Modelfile").read_text()
    assert 'SYSTEM """You are Ava, made by Northwind Labs."""' in modelfile and "SmolLM" not in modelfile
    assert "System prompt it trained with: `You are Ava, made by Northwind Labs.`" in (tmp_path / "out" / "README.md").read_text()


def test_an_unfinished_chain_is_refused_and_its_last_finished_stage_exported_on_request(tmp_path, tiny_dir, capfd):
    from posttrain.cli import main

    write_run(tmp_path / "run", tiny_dir)
    manifest = json.loads((tmp_path / "run" / "run.json").read_text())
    manifest["pipeline"] = {"stages": [{"kind": "sft"}, {"kind": "dpo"}, {"kind": "grpo"}]}   # GRPO was killed
    (tmp_path / "run" / "run.json").write_text(json.dumps(manifest))
    run = RunResult.from_dir(tmp_path / "run")
    with pytest.raises(ConfigError, match="cannot export") as err:
        run.export(tmp_path / "out", gguf=(), ollama=False)
    message = str(err.value)
    assert "did not finish: 03-grpo has no finished stage" in message and "last finished stage: 02-dpo" in message
    assert "last_finished=True (--last-finished)" in message
    assert not (tmp_path / "out").exists()
    capfd.readouterr()
    with pytest.raises(SystemExit) as done:                   # the fix it names, followed on the command line
        main(["export", str(tmp_path / "run"), str(tmp_path / "out"), "--gguf", "", "--no-ollama", "--last-finished"])
    assert done.value.code == 0
    card = (tmp_path / "out" / "README.md").read_text()
    assert "**Not the whole run:** exported on request (`--last-finished`) from its last finished stage, `02-dpo`; " \
           "03-grpo did not finish." in card
