"""Data inspection fills the spec; route() turns the advice into a Trainer, a RAGBaseline or a
PromptBaseline; the CLI prints it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from advisor import PromptBaseline, advise
from advisor.inspection import default_tokenizer
from posttrain.errors import ConfigError

DATA = Path(__file__).resolve().parents[1] / "data" / "advisor"
SFT, CHATS, PREFS = DATA / "sft.jsonl", DATA / "chats.jsonl", DATA / "prefs.jsonl"
PROBLEMS, OPEN, CORPUS = DATA / "problems.jsonl", DATA / "open_prompts.jsonl", DATA / "corpus.txt"


def tokens_by_hand(texts):
    tokenizer = default_tokenizer()
    return sum(len(tokenizer(text, add_special_tokens=False)["input_ids"]) for text in texts)


@pytest.mark.parametrize("path, fmt, rows, stage, texts", [
    (SFT, "prompt_completion", 3, "sft",
     lambda rows: [row[key] for row in rows for key in ("prompt", "completion")]),
    (CHATS, "messages", 2, "sft", lambda rows: [m["content"] for row in rows for m in row["messages"]]),
    (PREFS, "preference", 2, "dpo", lambda rows: [row[k] for row in rows for k in ("prompt", "chosen", "rejected")]),
    (PROBLEMS, "prompt_only", 4, "grpo", lambda rows: [row["prompt"] for row in rows]),
    (CORPUS, "text", 3, "cpt", lambda rows: [row["text"] for row in rows]),
])
def test_inspection_detects_format_and_counts_rows_and_tokens(path, fmt, rows, stage, texts):
    from posttrain.data import read_rows

    info = advise({}, datasets=path).datasets_info[0]
    assert (info.format, info.rows, info.stage, info.source) == (fmt, rows, stage, str(path))
    assert info.tokens == tokens_by_hand(texts(read_rows(path)[0])) > 0


def test_counts_fill_the_spec():
    rec = advise({"target_skills": ["math"]}, datasets=[SFT, CHATS, PREFS, PROBLEMS, CORPUS])
    spec = {info.format: info for info in rec.datasets_info}
    assert rec.spec.labeled_examples == 5
    assert rec.spec.sft_tokens == spec["prompt_completion"].tokens + spec["messages"].tokens
    assert (rec.spec.preference_pairs, rec.spec.preference_tokens) == (2, spec["preference"].tokens)
    assert rec.spec.rl_prompts == 4 and rec.spec.domain_corpus_tokens == spec["text"].tokens
    assert rec.spec.verifiable_reward, "an `answer` column suggests a verifiable reward"
    assert rec.stages == ["sft", "dpo", "grpo"]
    assert any("[sft-tokens-low]" in w for w in rec.warnings) and any("[rl-prompts-low]" in w for w in rec.warnings)


def test_prompts_without_answers_make_no_grpo_stage():
    rec = advise({"target_skills": ["reasoning"]}, datasets=OPEN)
    assert rec.spec.rl_prompts == 2 and not rec.spec.verifiable_reward
    assert "grpo" not in rec.stages and any("[rl-without-verifier]" in w for w in rec.warnings)


def test_rows_in_memory_and_stated_counts_replaced():
    rows = [{"prompt": "Hi", "completion": "Hello"}] * 3
    rec = advise({"target_skills": ["sql"], "labeled_examples": 8000}, datasets=rows)
    assert rec.spec.labeled_examples == 3 and rec.datasets_info[0].source == "rows"
    assert any("labeled_examples=8000" in w and "using the data's count" in w for w in rec.warnings)


def test_route_binds_each_stage_to_its_dataset_without_reading_it_again(tmp_path, monkeypatch):
    import posttrain.data

    rec = advise({"target_skills": ["math"]}, datasets=[PROBLEMS, PREFS, SFT])
    assert [data.source for data in rec.data] == [str(PROBLEMS), str(PREFS), str(SFT)]
    reads = []
    monkeypatch.setattr(posttrain.data, "read_rows", lambda source: reads.append(source))
    trainer = rec.route(output_dir=tmp_path / "run")
    assert [(stage.kind, stage.data) for stage in trainer.stages] == \
        [("sft", rec.data[2]), ("dpo", rec.data[1]), ("grpo", rec.data[0])]
    assert [stage.kind for stage in trainer.plan().stages] == ["sft", "dpo", "grpo"] and reads == []
    assert "data" not in rec.to_dict(), "the loaded rows stay out of the JSON"
    grpo = trainer.stages[-1]
    assert [fn.__name__ for fn in grpo.settings.rewards] == ["math_accuracy"]


def test_route_cpt_then_sft_with_explicit_data(tmp_path):
    rec = advise({"new_domain": True, "domain_corpus_tokens": 2_000_000_000, "labeled_examples": 3000})
    plan = rec.route(output_dir=tmp_path, data={"cpt": CORPUS, "sft": SFT}).plan()
    assert [(stage.kind, stage.data) for stage in plan.stages] == [("pretrain", str(CORPUS)), ("sft", str(SFT))]


def test_the_older_data_keywords_still_route_with_a_warning_naming_data(tmp_path):
    rec = advise({"new_domain": True, "domain_corpus_tokens": 2_000_000_000, "labeled_examples": 3000})
    with pytest.warns(FutureWarning) as caught:
        old = rec.route(output_dir=tmp_path, cpt_data=CORPUS, sft_data=SFT)
    assert sorted(str(w.message) for w in caught) == [
        "route(cpt_data=...) is deprecated; use route(data={'cpt': ...})",
        "route(sft_data=...) is deprecated; use route(data={'sft': ...})"]
    assert old == rec.route(output_dir=tmp_path, data={"cpt": CORPUS, "sft": SFT})
    with pytest.raises(ConfigError, match="second time"):
        rec.route(output_dir=tmp_path, sft_data=SFT, data={"sft": SFT})
    with pytest.raises(ConfigError, match=r"route\(sfft_data=\.\.\.\).*not an argument"):
        rec.route(output_dir=tmp_path, sfft_data=SFT)


def test_function_calling_routes_to_an_sft_stage_that_renders_tools_and_runs(tiny_dir, tmp_path):
    from posttrain.data.templates import CHATML_TOOLS
    from posttrain_demo.examples import example_data, with_settings

    rec = advise({"target_skills": ["function_calling"]}, datasets=example_data("tools_train.jsonl"))
    assert rec.stages == ["sft"]
    few = tmp_path / "tools.jsonl"
    few.write_text("\n".join(json.dumps(row) for row in example_data("tools_train.jsonl", 4)) + "\n")
    trainer = rec.route(model=str(tiny_dir), output_dir=tmp_path / "run", data={"sft": few})
    assert trainer.stages[0].settings.chat_template == "chatml-tools", "the tiny model's own template drops tools"
    run = with_settings(trainer, sft={"max_steps": 1, "batch_size": 2}).run(progress=False)
    _, tokenizer = run.load()
    assert tokenizer.chat_template == CHATML_TOOLS, "the model keeps the template it was trained with"
    plain = rec.route(model=str(tiny_dir), output_dir=tmp_path / "plain", data={"sft": SFT})
    assert plain.stages[0].settings.chat_template is None, "rows without tools keep the model's own template"


def test_missing_data_names_every_stage_and_what_to_give():
    rec = advise({"target_skills": ["code"], "labeled_examples": 2000, "preference_pairs": 2000})
    with pytest.raises(ConfigError) as err:
        rec.route()
    text = str(err.value)
    assert "2 problems" in text and "stage 'sft'" in text and "stage 'dpo'" in text
    assert "data={'sft': ...}" in text and "data={'dpo': ...}" in text and "'chosen'" in text


def test_grpo_without_a_known_verifier_asks_for_rewards():
    rec = advise({"target_skills": ["code"], "rl_prompts": 5000, "verifiable_reward": True})
    with pytest.raises(ConfigError, match="rewards="):
        rec.route(data={"grpo": OPEN})
    trainer = rec.route(data={"grpo": OPEN}, rewards=[len])
    assert [stage.kind for stage in trainer.plan().stages] == ["grpo"]


def test_two_datasets_for_one_stage_must_be_chosen(tmp_path):
    rec = advise({"target_skills": ["sql"]}, datasets=[SFT, CHATS])
    with pytest.raises(ConfigError, match="2 datasets fit it"):
        rec.route()
    assert rec.route(data={"sft": CHATS}, output_dir=tmp_path).plan().stages[0].data == str(CHATS)


def test_prompt_cases_route_to_a_prompt_baseline():
    spec = {"description": "Answer support tickets.", "instructions": ["Greet by name.", "Never promise refunds."]}
    baseline = advise(spec).route(model="default")
    assert isinstance(baseline, PromptBaseline)
    assert baseline.system == ("You are a helpful assistant. Your task: Answer support tickets.\n\n"
                               "Follow these instructions in every answer:\n1. Greet by name.\n2. Never promise refunds.")


def test_prompt_baseline_generates_and_evaluates_under_its_system_prompt(monkeypatch):
    import posttrain.generation

    calls = []

    def fake_generate(model, tokenizer, prompts, *, system=None, **options):
        calls.append((system, options["max_new_tokens"]))
        return [f"answer to {p}" for p in prompts]

    class FakeEval:
        max_new_tokens = 7

        def prompts(self):
            return ["q1", "q2"]

        def score(self, outputs):
            return {"outputs": outputs}

    monkeypatch.setattr(posttrain.generation, "generate", fake_generate)
    baseline = PromptBaseline(model=("model", "tokenizer"), system="Be brief.")
    assert baseline.run_eval(FakeEval()) == {"outputs": ["answer to q1", "answer to q2"]}
    assert calls == [("Be brief.", 7)]


def test_prompt_baseline_renders_the_system_prompt_into_the_chat_template():
    baseline = PromptBaseline(model=(None, default_tokenizer()), system="Always answer in French.")
    text = baseline.render("Hello")
    assert text.index("Always answer in French.") < text.index("Hello")


def test_retrieval_without_documents_is_a_clear_error():
    with pytest.raises(ConfigError, match="retrieval needs documents"):
        advise({"needs_live_data": True}).route()


def test_retrieval_routes_to_a_rag_baseline_over_the_documents():
    pytest.importorskip("faiss")
    from rag_baseline import RAGBaseline

    rec = advise({"needs_private_knowledge": True}, datasets=CORPUS)
    rag = rec.route()
    assert isinstance(rag, RAGBaseline)
    hits = rag.retrieve("Where does the tern nest?", k=1)
    assert "northern cliffs" in hits[0].page_content


def test_cli_prints_json_and_text(tmp_path):
    import typer
    from typer.testing import CliRunner

    from advisor.cli import advise_command

    app = typer.Typer()
    app.command()(advise_command)
    spec = shutil.copy(DATA / "math.json", tmp_path / "math.json")
    result = CliRunner().invoke(app, [str(spec), "--json", "--data", str(PROBLEMS)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["stages"] == ["sft", "grpo"] and data["datasets_info"][0]["rows"] == 4
    text = CliRunner().invoke(app, [str(spec)])
    assert text.exit_code == 0 and "post_training" in text.output and "grpo-from-verifier" in text.output
    bad = CliRunner().invoke(app, [str(tmp_path / "none.yaml")])
    assert bad.exit_code == 2 and "spec file not found" in bad.output


def test_cli_run_on_a_prompt_case_shows_the_baseline(tmp_path):
    import typer
    from typer.testing import CliRunner

    from advisor.cli import advise_command

    app = typer.Typer()
    app.command()(advise_command)
    spec = tmp_path / "spec.yaml"
    spec.write_text("description: Be kind.\ninstructions: [Use short sentences., 'Quote tags as [b] and [/b].']\n")
    result = CliRunner().invoke(app, [str(spec), "--run"])
    assert result.exit_code == 0, result.output
    assert "prompt baseline" in result.output and "1. Use short sentences." in result.output
    assert "2. Quote tags as [b] and [/b]." in result.output          # printed as text, not read as markup


def test_a_recommendation_renders_a_bracketed_data_path_as_text(tmp_path):
    import io

    from rich.console import Console

    folder = tmp_path / "data[v2]"
    folder.mkdir()
    path = folder / "[b]prefs.jsonl"
    path.write_text("".join(json.dumps({"prompt": f"Q{i} [/i]", "chosen": "Yes.", "rejected": "No."}) + "\n"
                            for i in range(4)))
    rec = advise({"description": "Answer as [bold]Ava[/bold]"}, datasets=[path])
    out = io.StringIO()
    Console(file=out, width=400, color_system=None).print(rec)
    assert str(path) in out.getvalue()


def test_a_datasets_dataset_is_inspected_like_rows():
    datasets = pytest.importorskip("datasets")

    rows = [{"prompt": "Who are you?", "chosen": "I am Ava.", "rejected": "A bot."}] * 4
    info = advise({}, datasets=datasets.Dataset.from_list(rows)).datasets_info[0]
    assert (info.source, info.format, info.rows, info.stage) == ("dataset", "preference", 4, "dpo")
    assert info.tokens == 4 * tokens_by_hand(["Who are you?", "I am Ava.", "A bot."])


def test_when_skills_must_hold_each_stage_replays_earlier_and_general_data_of_its_format(tmp_path):
    general = [{"prompt": f"everyday question {i}", "completion": f"answer {i}"} for i in range(8)]
    rec = advise({"target_skills": ["sql"], "keep_skills": True}, datasets=[SFT, PREFS])
    assert any("keep_skills: true" in r.message and "replay" in r.message for r in rec.reasons if r.rule == "keep-skills")
    trainer = rec.route(output_dir=tmp_path / "run", replay=general)
    sft, dpo = trainer.stages
    assert [(m.data, m.share) for m in sft.settings.mix] == [(general, 0.25)]
    assert dpo.settings.mix == [], "general chat rows do not fit a preference stage"
    assert "mix: 3 rows (75%) from" in str(trainer.plan()) and "1 rows (25%) from <8 rows in memory>" \
        in str(trainer.plan())


def test_a_later_stage_replays_an_earlier_stages_data_of_its_format_but_rl_stages_replay_nothing():
    from advisor.routing import replay_mix
    from posttrain.data import load_data

    prompts, problems, text = load_data(OPEN), load_data(PROBLEMS), load_data(CORPUS)
    mixes = replay_mix({"distill": prompts, "gkd": load_data(OPEN), "grpo": problems}, None, 0.3)
    assert mixes == {"gkd": [{"data": prompts, "share": 0.3}]}
    general = [{"text": "plain everyday text"}] * 4
    assert replay_mix({"cpt": text, "sft": load_data(SFT)}, general, 0.2) == \
        {"cpt": [{"data": general, "share": 0.2}]}, "general text fits continued pre-training only"
    assert replay_mix({"sft": load_data(SFT), "dpo": load_data(PREFS)}, None, 0.25) == {}


def test_without_keep_skills_or_replay_nothing_is_mixed_and_a_bad_share_is_refused(tmp_path):
    rec = advise({"target_skills": ["sql"]}, datasets=[SFT])
    assert rec.route(output_dir=tmp_path / "run").stages[0].settings.mix == []
    for share in (0, 1.5, "a quarter", True):
        with pytest.raises(ConfigError, match="replay_share"):
            rec.route(output_dir=tmp_path / "run", replay=SFT, replay_share=share)


def test_replay_data_that_cannot_be_read_or_fits_no_stage_is_named_before_anything_runs(tmp_path):
    rec = advise({"target_skills": ["sql"], "keep_skills": True}, datasets=[SFT])
    with pytest.raises(ConfigError, match=r"route\(replay=\.\.\.\): .*missing.jsonl: file not found"):
        rec.route(output_dir=tmp_path / "run", replay=tmp_path / "missing.jsonl")
    with pytest.raises(ConfigError, match=r"route\(replay=\.\.\.\).*preference.*fit none.*sft \(prompt_completion"):
        rec.route(output_dir=tmp_path / "run", replay=PREFS)
    assert not (tmp_path / "run").exists()


def test_the_advised_suite_takes_each_listed_eval_the_held_out_rows_fit(tmp_path):
    from advisor.benchmarks import advised_suite

    math = tmp_path / "math_heldout.jsonl"
    math.write_text(json.dumps({"question": "What is 2 + 3?", "answer": "5"}) + "\n")
    broken = tmp_path / "notes.jsonl"
    broken.write_text('{"note": 1}\n')
    suite, left_out = advised_suite(["AIME", "posttrain.evals.MathAccuracy", "posttrain.evals.Identity"],
                                    [broken, math])
    assert suite.names == ["math_accuracy"] and suite.evals[0].rows == str(math)
    assert left_out[0].startswith("AIME: a public benchmark")
    assert left_out[1].startswith("posttrain.evals.Identity: no --eval-data file has rows it can read")
    assert advised_suite(["posttrain.evals.MathAccuracy"], []) == (None, [
        "posttrain.evals.MathAccuracy: no --eval-data file has rows it can read; give held-out rows for it "
        "(see help(posttrain.evals.MathAccuracy))"])


def test_cli_run_trains_for_the_given_length_runs_the_listed_evals_and_writes_the_report(tiny_dir, tmp_path):
    """`advise --run` was: train with each stage's default length, no eval, no report."""
    import typer
    from typer.testing import CliRunner

    from advisor.cli import advise_command
    from posttrain.pipeline.result import RunResult

    app = typer.Typer()
    app.command()(advise_command)
    spec = tmp_path / "spec.yaml"
    spec.write_text("description: Add small numbers.\ntarget_skills: [math]\n")
    heldout = tmp_path / "math_heldout.jsonl"
    heldout.write_text(json.dumps({"question": "What is 7 + 1?", "answer": "8"}) + "\n")
    out = tmp_path / "run"
    result = CliRunner().invoke(app, [str(spec), "--data", str(SFT), "--run", "--model", str(tiny_dir),
                                      "--output-dir", str(out), "--max-steps", "1", "--eval-data", str(heldout)])
    assert result.exit_code == 0, result.output
    [stage] = RunResult.from_dir(out).stages
    assert stage.kind == "sft" and stage.settings["max_steps"] == 1
    assert set(stage.evals["before"]["results"]) == set(stage.evals["after"]["results"]) == {"math_accuracy"}
    assert (out / "report.md").exists() and "math_accuracy" in (out / "report.md").read_text()
    printed = " ".join(result.output.split())
    assert f"report: {out / 'report.md'}" in printed and "eval not run: AIME: a public benchmark" in printed
