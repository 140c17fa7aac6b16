"""Answering, the compare() harness, the knowledge-injection pipeline and the RAG command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from posttrain.errors import ConfigError, DataError

FACTS = Path(__file__).resolve().parents[2] / "examples" / "data" / "fictional_facts"
QA = [json.loads(line) for line in (FACTS / "qa.jsonl").read_text().splitlines() if line.strip()]
OPEN = [row for row in QA if "options" not in row]
CHOICE = [row for row in QA if "options" in row]


@pytest.fixture(scope="module")
def rag():
    from rag_baseline import RAGBaseline

    return RAGBaseline.from_files([FACTS / "docs"], chunk_size=300, chunk_overlap=30)


@pytest.fixture(scope="module")
def tiny():
    from posttrain.testing import tiny_model

    return tiny_model()


@pytest.fixture(scope="module")
def tiny_dir(tiny, tmp_path_factory):
    model, tokenizer = tiny
    folder = tmp_path_factory.mktemp("tiny")
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


# ---- answering --------------------------------------------------------------------------------------

def test_answer_many_uses_retrieved_sources_and_the_chat_template(rag, tiny, monkeypatch):
    import posttrain.generation as generation

    seen = {}
    real = generation.generate

    def spy(model, tokenizer, prompts, **options):
        seen.update(prompts=prompts, options=options)
        return real(model, tokenizer, prompts, **options)

    monkeypatch.setattr(generation, "generate", spy)
    questions = ["What is the capital of Quellmoor?", "Who founded Tarvessa Dynamics?"]
    answers = rag.answer_many(questions, model=tiny, k=2, max_new_tokens=3)
    assert [a.question for a in answers] == questions and all(isinstance(a.text, str) for a in answers)
    assert [[d.id for d in a.sources] for a in answers] == [[d.id for d in docs] for docs in rag.retrieve_many(questions, 2)]
    assert len(seen["prompts"]) == 2 and seen["prompts"][0].startswith("Context:\n[1] ")
    assert seen["prompts"][0].endswith("Question: What is the capital of Quellmoor?")
    assert seen["options"]["system"] and seen["options"]["max_new_tokens"] == 3


def test_short_answers_drop_the_asked_noun_in_answers_and_in_compare(rag, tiny, monkeypatch):
    """With `short_answers`, a reply that opens with the noun the question asks for ("which river?" ->
    "the river Tamm") is judged as its span; other replies and RAG without it are left as generated."""
    import posttrain.generation as generation
    from rag_baseline import compare

    rows = [{"question": "Which river runs past the old mill?", "answer": "Tamm"},
            {"question": "In what year was the mill built?", "answer": "1620"},
            {"question": "What does the mill grind?", "answer": "oatmeal"}]
    replies = {"river": "the river Tamm", "year": "the year 1620", "grind": "oatmeal"}

    def fake(model, tokenizer, prompts, **options):
        return [next(reply for key, reply in replies.items() if key in prompt) for prompt in prompts]

    monkeypatch.setattr(generation, "generate", fake)
    short = rag.with_model(tiny, short_answers=True)
    assert short.with_model(tiny).short_answers and not rag.short_answers
    assert [a.text for a in short.answer_many([r["question"] for r in rows], k=1)] == ["Tamm", "1620", "oatmeal"]
    report = compare(rows, {"short": short, "as generated": rag.with_model(tiny)}, k=1, latency_samples=0)
    judged = report.open_answers()
    assert judged["short"]["exact_match"] == 1.0 and judged["as generated"]["exact_match"] == pytest.approx(1 / 3)
    details = report.results["short"]["qa_accuracy"].details
    assert [d.get("generated") for d in details] == ["the river Tamm", "the year 1620", None]


def test_generators_are_loaded_once_and_cached(monkeypatch, tiny):
    import posttrain.models as models
    from rag_baseline.answer import clear_model_cache, load_generator

    calls = []
    monkeypatch.setattr(models, "load_model", lambda path: calls.append(path) or tiny)
    monkeypatch.setattr(models, "resolve", lambda name: f"/models/{name}")
    clear_model_cache()
    first, again, other = load_generator("a"), load_generator("a"), load_generator("b")
    assert first is again is tiny and calls == ["/models/a", "/models/b"]
    clear_model_cache()


class FakeRun:
    model_dir = Path("runs/ft/model")


def test_model_specs(tiny):
    from rag_baseline.answer import model_spec

    assert model_spec("default") == "default"
    assert model_spec(FakeRun()) == str(Path("runs/ft/model"))
    assert model_spec(tiny) is tiny
    with pytest.raises(ConfigError, match="pass 'default', a model folder"):
        model_spec(("not a model", 1))


def test_with_model_shares_the_index_and_swaps_the_generator(rag, tiny):
    tuned = rag.with_model(FakeRun())
    assert tuned.store is rag.store and tuned.model == str(FakeRun.model_dir) and rag.model == "default"


# ---- arms -------------------------------------------------------------------------------------------

def test_parse_arm_accepts_every_kind_of_arm(rag, tiny, tiny_dir, tmp_path):
    from rag_baseline import parse_arm

    rag.save(tmp_path / "index")
    cases = {"base": "default", "path": str(tiny_dir), "pair": tiny, "run": type("Run", (), {"model_dir": tiny_dir})(),
             "rag": rag, "rag_pair": (rag, str(tiny_dir)), "rag_with": rag.with_model(tiny),
             "saved": f"rag:{tmp_path / 'index'}", "saved_with": f"rag:{tmp_path / 'index'}@{tiny_dir}"}
    arms = {name: parse_arm(name, spec) for name, spec in cases.items()}
    assert [name for name, arm in arms.items() if arm.rag is None] == ["base", "path", "pair", "run"]
    assert arms["run"].model == str(tiny_dir) and arms["pair"].model is tiny
    assert arms["rag"].model == "default" and arms["rag_pair"].model == str(tiny_dir)
    assert arms["rag_with"].model is tiny and arms["saved_with"].model == str(tiny_dir)
    assert len(arms["saved"].rag) == len(rag)


def test_unknown_arm_specs_are_errors_naming_every_bad_arm(tmp_path):
    from rag_baseline import compare

    with pytest.raises(ConfigError) as caught:
        compare(OPEN[:1], {"ok": "default", "number": 42, "missing": str(tmp_path / "nope") + "/",
                           "no_index": "rag:", "bad_index": f"rag:{tmp_path}"})
    text = str(caught.value)
    assert "5 problems" not in text and "4 problems" in text
    for fragment in ("arm 'number': int 42 is not an arm", "arm 'missing'", "arm 'no_index'", "not a saved RAG index"):
        assert fragment in text
    with pytest.raises(ConfigError, match="give a dict of name -> arm"):
        compare(OPEN[:1], {})


@pytest.mark.parametrize("text, expected", [("base=default", ("base", "default")),
                                            ("ft_rag = rag:idx@runs/ft", ("ft_rag", "rag:idx@runs/ft"))])
def test_parse_arm_string(text, expected):
    from rag_baseline.comparison import parse_arm_string

    assert parse_arm_string(text) == expected


@pytest.mark.parametrize("text", ["default", "=default", "base="])
def test_parse_arm_string_rejects_malformed(text):
    from rag_baseline.comparison import parse_arm_string

    with pytest.raises(ConfigError, match="is not NAME=SPEC"):
        parse_arm_string(text)


def test_bad_eval_rows_are_errors(rag, tiny):
    from rag_baseline import compare

    with pytest.raises(DataError, match="has no 'answer' field"):
        compare([{"question": "Where?"}], {"base": tiny})
    with pytest.raises(DataError, match="neither one of the options"):
        compare([{"question": "Where?", "options": ["a", "b"], "answer": "c"}], {"base": tiny})


# ---- compare ----------------------------------------------------------------------------------------

def test_compare_runs_every_arm_on_the_same_questions_and_writes_the_report(rag, tiny, tmp_path):
    from rag_baseline import ComparisonReport, compare

    rows = OPEN[:3] + CHOICE[:2]
    report = compare(rows, {"base": tiny, "rag": (rag, tiny)}, k=2, max_new_tokens=2)
    assert list(report.scores) == ["base", "rag"] and report.evals == ["qa_accuracy", "multiple_choice"]
    for arm in ("base", "rag"):
        assert report.scores[arm].n == 5
        assert report.results[arm]["qa_accuracy"].n == 3 and report.results[arm]["multiple_choice"].n == 2
    rag_choice = report.results["rag"]["multiple_choice"].details[0]["prompt"]
    assert rag_choice.startswith("Context:\n[1] ") and rag_choice.endswith(CHOICE[0]["question"])
    assert report.results["base"]["multiple_choice"].details[0]["prompt"] == CHOICE[0]["question"]
    paths = report.write(tmp_path / "out")
    assert paths["plot"].read_bytes().startswith(b"\x89PNG")
    markdown = paths["markdown"].read_text()
    assert "| base |" in markdown and "| rag | RAG (" in markdown and "multiple_choice" in markdown
    again = ComparisonReport.from_dict(json.loads(paths["json"].read_text()))
    assert again.scores == report.scores and again.results == report.results


def test_compare_splits_rag_misses_into_finding_and_reading(rag, tiny):
    from rag_baseline import compare
    from rag_baseline.comparison import evidence_retrieved

    rows = OPEN[:4] + CHOICE[:2] + [{"question": "A question naming no evidence?", "answer": "x"}]
    report = compare(rows, {"base": tiny, "rag": (rag, tiny)}, k=2, max_new_tokens=2)
    details = [d for result in report.results["rag"].values() for d in result.details]
    contexts = rag.retrieve_many([row["question"] for row in rows[:4] + rows[6:] + rows[4:6]], 2)
    expected = [evidence_retrieved(row, docs) for row, docs in zip(rows[:4] + rows[6:] + rows[4:6], contexts)]
    assert [d["retrieved"] for d in details] == expected and expected[4] is None
    reading = report.reading()["rag"]
    found = [d for d in details if d["retrieved"]]
    assert reading["with_evidence"] == 6 and reading["retrieved"] == len(found) > 0
    assert reading["retrieval_recall"] == pytest.approx(len(found) / 6)
    assert reading["reader_accuracy"] == pytest.approx(sum(d["correct"] for d in found) / len(found))
    assert "base" not in report.reading()                 # no retrieval, nothing to split
    assert "| rag | " in report.to_markdown().split("reader accuracy |")[1]


def test_evidence_is_matched_by_phrase_or_else_by_source_document():
    from langchain_core.documents import Document

    from rag_baseline.comparison import evidence_retrieved

    docs = [Document("The capital is Brannock\n Harbour, on the coast.", metadata={"source": "/x/island.md"})]
    assert evidence_retrieved({"evidence": "brannock harbour"}, docs) is True
    assert evidence_retrieved({"evidence": "Sorrel Sea", "source": "island.md"}, docs) is False   # phrase wins
    assert evidence_retrieved({"source": "island.md"}, docs) is True
    assert evidence_retrieved({"source": "people.md"}, docs) is False
    assert evidence_retrieved({"question": "q"}, docs) is None


def test_pooled_score_counts_each_question_once():
    from posttrain.evals import EvalResult
    from rag_baseline.report import pooled

    result = pooled({"qa": EvalResult("qa", 0.5, 4, (0, 1)), "mc": EvalResult("mc", 1.0, 2, (0, 1))})
    assert result.n == 6 and result.score == pytest.approx(4 / 6)
    assert result.ci[0] < 4 / 6 < result.ci[1]


@pytest.mark.slow
def test_rag_beats_the_base_model_on_fictional_facts(rag, tmp_path):
    from rag_baseline import compare

    rows = OPEN[::4] + CHOICE[::3]      # 10 open, 4 multiple choice: enough to separate the arms
    report = compare(rows, {"base": "default", "rag": rag}, k=2, max_new_tokens=16)
    base, augmented = report.scores["base"], report.scores["rag"]
    assert augmented.score >= base.score + 0.25, report.to_markdown()
    assert report.results["rag"]["qa_accuracy"].score > report.results["base"]["qa_accuracy"].score
    paths = report.write(tmp_path)
    assert paths["markdown"].exists() and paths["plot"].stat().st_size > 1000


# ---- knowledge injection ----------------------------------------------------------------------------

def test_knowledge_rows_hold_every_document_and_its_paraphrases():
    from rag_baseline import knowledge_rows
    from rag_baseline.knowledge import paragraphs

    docs = sorted((FACTS / "docs").glob("*.md"))
    rows = knowledge_rows(docs, paraphrases=3)
    assert len(rows) == len(docs) * 4 and all(set(row) == {"text"} for row in rows)
    original = docs[0].read_text()
    for variant in rows[1:4]:
        assert variant["text"] != original
        for sentence in (s for block in paragraphs(original) for s in block):
            assert sentence[1:] in variant["text"]            # every fact kept, framed differently
    assert len({row["text"] for row in rows[1:4]}) == 3


def test_knowledge_pipeline_plans_pretraining_then_sft():
    from posttrain import Trainer
    from rag_baseline import knowledge_pipeline

    plan = knowledge_pipeline(FACTS / "docs", FACTS / "qa_train.jsonl", paraphrases=2, output_dir="runs/x",
                              pretrain={"epochs": 3}, sft={"epochs": 2})
    assert isinstance(plan, Trainer) and plan.model == "default"
    assert [stage.kind for stage in plan.stages] == ["pretrain", "sft"]
    pretrain, sft = plan.stages
    assert len(pretrain.data) == 4 * 3 and pretrain.settings.epochs == 3
    train = [json.loads(line) for line in (FACTS / "qa_train.jsonl").read_text().splitlines()]
    assert sft.data == [{"prompt": r["question"], "completion": r["answer"]} for r in train]
    assert sft.settings.epochs == 2
    held_out = {row["question"] for row in QA}
    assert not held_out & {row["prompt"] for row in sft.data}         # never trained on eval questions
    only_sft = knowledge_pipeline(qa_rows=FACTS / "qa_train.jsonl", model=FakeRun())
    assert [s.kind for s in only_sft.stages] == ["sft"] and only_sft.model == str(FakeRun.model_dir)


@pytest.mark.parametrize("kwargs, message", [({}, "neither documents nor qa_rows"),
                                             ({"documents": ["A fact."], "paraphrases": -1}, "whole number >= 0"),
                                             ({"qa_rows": [{"question": "Q?"}]}, "needs 'question' and 'answer'"),
                                             ({"documents": "no such file"}, "not an existing path")])
def test_knowledge_pipeline_bad_inputs(kwargs, message):
    from rag_baseline import knowledge_pipeline

    with pytest.raises((ConfigError, DataError), match=message):
        knowledge_pipeline(**kwargs)


# ---- command line -----------------------------------------------------------------------------------

def _posttrain(args, capsys):
    """Run the `posttrain` command line in this process: (exit status, stdout, stderr)."""
    from posttrain.cli import main

    with pytest.raises(SystemExit) as done:
        main(args)
    captured = capsys.readouterr()
    return done.value.code, captured.out, captured.err


def test_cli_build_ask_and_compare(tiny_dir, tmp_path, capsys):
    import typer
    from typer.testing import CliRunner

    from rag_baseline.cli import compare_command, rag_app

    runner = CliRunner()
    built = runner.invoke(rag_app, ["build", str(FACTS / "docs"), "--out", str(tmp_path / "idx"), "--chunk-size", "300"])
    assert built.exit_code == 0, built.output
    asked = runner.invoke(rag_app, ["ask", str(tmp_path / "idx"), "Who is the mayor of Brannock Harbour?",
                                    "--k", "2", "--sources-only"])
    assert asked.exit_code == 0 and asked.output.count("\n") == 2, asked.output
    assert asked.output.startswith("[1] ") and "Cosmo Tiernan" in asked.output
    answered = runner.invoke(rag_app, ["ask", str(tmp_path / "idx"), "Who is the mayor?", "--model", str(tiny_dir)])
    assert answered.exit_code == 0 and "[1] " in answered.output
    code, _, err = _posttrain(["rag", "ask", str(tmp_path / "nothing"), "Who?"], capsys)
    assert code == 2 and "not a saved RAG index" in err

    rows = tmp_path / "rows.jsonl"
    rows.write_text("".join(json.dumps(row) + "\n" for row in OPEN[:2] + CHOICE[:1]))
    app = typer.Typer()
    app.command()(compare_command)
    compared = runner.invoke(app, [str(rows), f"tiny={tiny_dir}", f"rag=rag:{tmp_path / 'idx'}@{tiny_dir}",
                                   "--out", str(tmp_path / "cmp"), "--max-new-tokens", "2"])
    assert compared.exit_code == 0, compared.output
    assert {p.name for p in (tmp_path / "cmp").iterdir()} == {"report.md", "report.json", "report.png"}
    code, _, err = _posttrain(["compare", str(rows), "tiny"], capsys)
    assert code == 2 and "is not NAME=SPEC" in " ".join(err.split())
