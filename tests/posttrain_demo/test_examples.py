"""The examples and the demo, each in its quick mode, and the example data's train/held-out split."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
DATA = EXAMPLES / "data"


def load_example(name: str):
    """An example script as a module (its `main(argv)` is then called in this process)."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read(name: str) -> list[dict]:
    return [json.loads(line) for line in (DATA / name).read_text(encoding="utf-8").splitlines() if line.strip()]


def texts(rows: list[dict], *fields: str) -> set[str]:
    return {" ".join(str(row[f]).lower().split()) for row in rows for f in fields if f in row}


# --- the data ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("train, heldout", [
    ("policy_train.jsonl", "policy_heldout.jsonl"),
    ("identity_train.jsonl", "identity_heldout.jsonl"),
    ("math_train.jsonl", "math_heldout.jsonl"),
    ("math_worked.jsonl", "math_heldout.jsonl"),
    ("identity_train.jsonl", "general_qa.jsonl"),
    ("fictional_facts/qa_train.jsonl", "fictional_facts/qa.jsonl"),
    ("tutor_sft.jsonl", "policy_heldout.jsonl"),
    ("tutor_sft.jsonl", "math_heldout.jsonl"),
    ("tutor_dpo.jsonl", "identity_heldout.jsonl"),
    ("math_steps_worked.jsonl", "math_steps_heldout.jsonl"),
    ("math_steps_train.jsonl", "math_steps_heldout.jsonl"),
    ("math_small_train.jsonl", "math_small_heldout.jsonl"),
    ("tutor_sft.jsonl", "math_small_heldout.jsonl"),
    ("tutor_dpo.jsonl", "math_small_heldout.jsonl"),
])
def test_heldout_prompts_never_appear_in_training(train, heldout):
    train_prompts = texts(read(train), "prompt", "question")
    heldout_prompts = texts(read(heldout), "prompt", "question")
    assert train_prompts and heldout_prompts
    assert train_prompts.isdisjoint(heldout_prompts), sorted(train_prompts & heldout_prompts)[:5]


def test_multi_step_problems_cover_four_kinds_and_their_worked_answers_are_right():
    import collections
    import re

    held = read("math_steps_heldout.jsonl")
    assert collections.Counter(row["kind"] for row in held) == {"add": 30, "sub": 30, "mul": 30, "two_step": 30}
    ops = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "x": lambda a, b: a * b, "/": lambda a, b: a / b}
    for row in read("math_steps_worked.jsonl"):
        steps = re.findall(r"(\d+) ([-+x/]) (\d+) = (\d+)\.", row["completion"])
        assert steps and all(ops[op](int(a), int(b)) == int(c) for a, op, b, c in steps), row
        assert row["completion"].endswith(f"The answer is {steps[-1][3]}."), row
    two_step = [row for row in read("math_steps_worked.jsonl") if "equally" in row["prompt"]]
    assert two_step and all(len(re.findall(r" = ", row["completion"])) == 2 for row in two_step)


def test_reading_corpus_shares_no_fact_with_the_fictional_facts():
    """A reader trained on the reading corpus is scored on the fictional facts: no answer of either set
    may be found in the other's documents, and no question is shared."""
    reading = " ".join(p.read_text().lower() for p in (DATA / "reading" / "docs").glob("*.md"))
    facts = " ".join(p.read_text().lower() for p in (DATA / "fictional_facts" / "docs").glob("*.md"))
    reading_rows, fact_rows = read("reading/qa.jsonl"), read("fictional_facts/qa.jsonl")
    assert len(reading_rows) >= 100 and all(row["source"] for row in reading_rows)
    for row in reading_rows:
        assert " ".join(row["answer"].lower().split()) in " ".join(
            (DATA / "reading" / "docs" / row["source"]).read_text().lower().split()), row
    words = lambda answer: len(answer) > 4 and not answer.replace(",", "").isdigit()   # names, not numbers
    assert not [r["answer"] for r in fact_rows if words(r["answer"]) and r["answer"].lower() in reading]
    assert not [r["answer"] for r in reading_rows if words(r["answer"]) and r["answer"].lower() in facts]
    assert texts(reading_rows, "question").isdisjoint(texts(fact_rows, "question"))


def test_places_corpus_shares_no_name_with_the_training_corpora_and_is_its_generators_output():
    """The places corpus tests readers trained on the reading corpus (and the fictional facts' RAFT
    questions): no capitalised name of its documents or questions occurs in those, no answer that is a
    name either, no question is shared, each answer stands in its source, and the files are what
    make_places_data.py writes."""
    import re

    def corpus(folder: str) -> str:
        return " ".join(p.read_text(encoding="utf-8") for p in sorted((DATA / folder).rglob("*")) if p.is_file())

    places, trained = corpus("places"), corpus("reading") + " " + corpus("fictional_facts") + " " + corpus("search")
    names = lambda text: set(re.findall(r"\b[A-Z][a-z]{2,}\b", text)) - {"The", "What", "When", "Who", "Which", "Today",
                                                                    "Records", "On", "How", "In"}
    assert names(places) and not names(places) & names(trained)
    rows = read("places/qa.jsonl")
    assert len(rows) == 60 and len(list((DATA / "places" / "docs").glob("*.md"))) == 30
    assert not [r["answer"] for r in rows if not r["answer"].isdigit() and r["answer"].lower() in trained.lower()]
    assert texts(rows, "question").isdisjoint(texts(read("reading/qa.jsonl") + read("fictional_facts/qa.jsonl")
                                                     + read("fictional_facts/qa_train.jsonl"), "question"))
    for row in rows:
        source = (DATA / "places" / "docs" / row["source"]).read_text(encoding="utf-8")
        assert row["answer"] in source and row["evidence"] in source, row
    maker = load_example("data/make_places_data")
    docs, made = maker.build(__import__("random").Random(maker.SEED))
    assert made == rows and all((DATA / "places" / "docs" / f).read_text(encoding="utf-8") == t for f, t in docs.items())


def test_search_corpus_is_its_generators_output_and_its_two_hop_rows_chain_two_documents():
    """The search agent's training questions: each two-hop row's bridge (a person) stands in the record it
    comes through and its answer in the person's life; the files are what make_search_data.py writes; no
    question is shared with the fictional facts (which the agent is scored on)."""
    rows = read("search/train.jsonl")
    two = [row for row in rows if row["hops"] == 2]
    assert len(two) >= 40 and len(rows) - len(two) >= 40
    for row in two:
        assert row["bridge"] in (DATA / "reading" / "docs" / row["via"]).read_text(encoding="utf-8")
        life = (DATA / "search" / "docs" / row["source"]).read_text(encoding="utf-8")
        assert row["bridge"] in life and row["answer"] in life and row["bridge"] in row["second"], row
    maker = load_example("data/make_search_data")
    docs, made = maker.build(__import__("random").Random(maker.SEED))
    assert made == rows and all((DATA / "search" / "docs" / f).read_text(encoding="utf-8") == t for f, t in docs.items())
    facts = read("fictional_facts/qa.jsonl") + read("fictional_facts/qa_two_hop.jsonl")
    assert texts(rows, "question").isdisjoint(texts(facts, "question"))


def test_the_two_hop_questions_name_what_links_their_two_documents():
    """Each two-hop question of the fictional facts: its bridge stands in the document it comes through, its
    evidence and answer in the document that answers it."""
    rows = read("fictional_facts/qa_two_hop.jsonl")
    assert len(rows) >= 12
    for row in rows:
        via = (DATA / "fictional_facts" / "docs" / row["via"]).read_text(encoding="utf-8")
        source = " ".join((DATA / "fictional_facts" / "docs" / row["source"]).read_text(encoding="utf-8").split())
        assert row["bridge"] in via and row["evidence"] in source and row["answer"] in source, row


def test_the_math_eval_scores_each_operation():
    from posttrain_demo.examples import math_eval

    ev = math_eval()
    answers = [row["answer"] if row["op"] == "add" else "-1" for row in ev.items]
    metrics = ev.score(answers).metrics
    assert metrics == {"accuracy/add": 1.0, "accuracy/div": 0.0, "accuracy/mul": 0.0, "accuracy/sub": 0.0}


def test_policy_heldout_subjects_are_not_trained_on():
    """Held-out policy prompts ask about subjects the training prompts never mention."""
    import importlib.util as util

    spec = util.spec_from_file_location("make_data", DATA / "make_data.py")
    make_data = util.module_from_spec(spec)
    spec.loader.exec_module(make_data)
    trained = " ".join(texts(read("policy_train.jsonl"), "prompt"))
    for prompt in make_data.HELDOUT_POLICY:
        assert " ".join(prompt.lower().split()) not in trained


def test_committed_data_is_what_the_generator_writes():
    spec = importlib.util.spec_from_file_location("make_data", DATA / "make_data.py")
    make_data = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_data)
    for name, rows in make_data.build().items():
        assert read(name) == rows, f"{name} differs from make_data.py's output: rerun it"


def test_training_answers_follow_the_house_style():
    from posttrain.evals import check_constraint

    constraints = read("policy_heldout.jsonl")[0]["constraints"]
    for row in read("policy_train.jsonl"):
        assert all(check_constraint(row["completion"], c) for c in constraints), row


def test_the_demos_training_data_is_all_in_the_house_style():
    """The demo chains SFT -> DPO -> GRPO: its later stages must not teach capitals or commas back."""
    from posttrain.evals import check_constraint

    constraints = read("policy_heldout.jsonl")[0]["constraints"]
    answers = [row["completion"] for row in read("tutor_sft.jsonl")]
    answers += [row[side] for row in read("tutor_dpo.jsonl") for side in ("chosen", "rejected")]
    assert len(answers) == 284 + 2 * 312
    for answer in answers:
        assert all(check_constraint(answer, c) for c in constraints), answer
    worked = [a for a in answers[:284] if " = " in a]
    assert len(worked) == 64 and all("the answer is" in a for a in worked)


def test_pipeline_yaml_validates_with_paths_from_its_folder():
    from posttrain import Trainer

    trainer = Trainer.from_yaml(EXAMPLES / "pipeline.yaml")
    assert [s.kind for s in trainer.stages] == ["sft", "dpo", "grpo"]
    assert all(Path(s.data).is_file() for s in trainer.stages)
    assert [len(d) for d in trainer.validate()] == [220, 280, 120]
    assert trainer.stages[1].settings.losses == ["sigmoid", "sft"]
    assert trainer.evals.names == ["policy_compliance", "identity", "math_accuracy", "general_perplexity"]


# --- the examples and the demo, quick ----------------------------------------------------------------------------

QUICK_RUNS = [
    ("sft_instruction_following", ["report.md"], ["| policy_compliance ↑", "| general_qa ↑"]),
    ("dpo_identity", ["report.md"], ["| identity ↑", "| general_perplexity ↓"]),
    ("grpo_math", ["report.md"], ["| math_accuracy ↑", "| math_avg@4 ↑"]),
    ("function_calling", ["report.md"], ["| function_calling ↑", "| general_qa ↑", "function_calling by category",
                                         "| all | 2 |"]),
    ("rag_vs_finetune", ["report.md", "report.png", "finetune_report.md"], ["| arm |", "fine-tuned+rag"]),
    ("rag_reader", ["report.md", "report.png"], ["| arm |", "rag+reader", "reader accuracy"]),
    ("keep_skills", ["report.md", "without_replay/report.md", "with_replay/report.md"],
     ["| policy_compliance ↑", "| math_accuracy ↑", "## stage 2 with replay", "| with replay | 5 |"]),
    ("distill_identity", ["report.md", "student/01-distill/teacher_answers.jsonl"],
     ["| identity ↑", "| student before | teacher | student after |"]),
    ("calculator_agent", ["report.md"], ["| calculator_episodes ↑", "without the tool (the default model)",
                                         "the agent after SFT alone -> after GRPO", "tool calls per episode"]),
]


@pytest.mark.slow
@pytest.mark.parametrize("name, files, printed", QUICK_RUNS, ids=[r[0] for r in QUICK_RUNS])
def test_example_quick(name, files, printed, tmp_path, capsys):
    report = load_example(name).main(["--quick", "--output-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert report.exists()
    for file in files:
        assert (tmp_path / file).is_file(), file
    for text in printed:
        assert text in out, f"{text!r} not printed"
    if name not in ("rag_vs_finetune", "rag_reader"):
        assert "| eval | before | after |" in out
        assert list(tmp_path.glob("report_plots/*.png")), "no plots written"


@pytest.mark.slow
def test_advise_and_route_plans(tmp_path, capsys):
    module = load_example("advise_and_route")
    assert module.main(["--quick", "--output-dir", str(tmp_path)]) is None       # plan only
    planned = capsys.readouterr().out
    assert "post_training" in planned and "rag" in planned and "prompt_engineering" in planned
    plan = planned.split("routed plan")[1]
    assert plan.index("sft") < plan.index("dpo") < plan.index("grpo")
    # `--run` trains this same routed chain with `show_run`, which test_demo_quick and the other
    # examples already exercise; planning is what is specific to this example.


@pytest.mark.slow
def test_demo_quick(tmp_path, capsys):
    from posttrain_demo.demo import run_demo

    report = run_demo(tmp_path, quick=True)
    text = report.read_text(encoding="utf-8")
    captured = capsys.readouterr()
    out, err = captured.out, captured.err
    assert report == tmp_path / "report.md"
    for heading in ("## 1. Advice", "## 2. The routed chain", "## 3. Fictional facts"):
        assert heading in text
    assert text.count("| eval | before | after |") == 3            # one before/after table per stage
    assert "| policy_compliance ↑" in text and "| identity ↑" in text and "| math_accuracy ↑" in text
    assert (tmp_path / "rag" / "report.png").is_file() and list(tmp_path.glob("report_plots/*.png"))
    assert 'src="data:image/png;base64,' in (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "machine:" in out and "| arm |" in out
    assert err.count("eval policy_compliance:") == 4                 # base, then after each of 3 stages (stderr)


def test_the_small_problems_are_half_add_half_take_away_with_right_answers():
    import collections
    import re

    for name, count in (("math_small_train.jsonl", 80), ("math_small_heldout.jsonl", 40)):
        rows = read(name)
        assert collections.Counter(row["op"] for row in rows) == {"add": count // 2, "sub": count // 2}
        for row in rows:
            a, b = (int(n) for n in re.findall(r"\d+", row.get("prompt") or row["question"])[:2])
            assert int(row["answer"]) == (a + b if row["op"] == "add" else a - b) > 0, row


def test_the_calculator_data_is_what_its_generator_writes_and_its_heldout_is_written_apart():
    import re

    spec = importlib.util.spec_from_file_location("make_calculator_data", DATA / "make_calculator_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for name, rows in module.build().items():
        assert read(name) == rows, f"{name} differs from make_calculator_data.py's output: rerun it"
    words = lambda texts: {w for t in texts for w in re.findall(r"[A-Za-z]+", t)}  # noqa: E731
    train = [r["prompt"] for r in read("calculator_train.jsonl")] + [
        r["messages"][0]["content"] for r in read("calculator_traces.jsonl")]
    held = [r["question"] for r in read("calculator_heldout.jsonl")]
    assert not (set(module.HELD_NAMES) | set(module.HELD_THINGS)) & words(train)
    assert not (set(module.TRAIN_NAMES) | set(module.TRAIN_THINGS)) & words(held)
    assert {r["kind"] for r in read("calculator_heldout.jsonl")} == {"add", "sub", "mul", "two_step"}
    from posttrain.tools import calculator

    operators = []
    for row in read("calculator_traces.jsonl"):          # one call with the whole expression, its result, the answer
        user, call, reply, final = row["messages"]
        expression = call["tool_calls"][0]["function"]["arguments"]["expression"]
        assert [m["role"] for m in row["messages"]] == ["user", "assistant", "tool", "assistant"], row
        assert calculator(expression) == reply["content"] and final["content"] == f"The answer is {reply['content']}."
        operators.append(len(re.findall(r" [-+*/] ", expression)))
    assert set(operators) == {1, 2} and operators.count(2) == len(operators) // 2   # two-step: half of the traces
