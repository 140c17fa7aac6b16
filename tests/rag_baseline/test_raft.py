"""RAFT rows and pipelines: the test-time prompt, the answer's chunk among distractors in the chosen share."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from posttrain.errors import ConfigError

FACTS = Path(__file__).resolve().parents[2] / "examples" / "data" / "fictional_facts"
TRAIN = [json.loads(line) for line in (FACTS / "qa_train.jsonl").read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def rag():
    from rag_baseline import RAGBaseline

    return RAGBaseline.from_files([FACTS / "docs"], chunk_size=300, chunk_overlap=30)


def passages(row: dict) -> list[str]:
    """The numbered passages of a RAFT prompt, in order."""
    context = row["prompt"][1]["content"].split("\n\nQuestion: ")[0].removeprefix("Context:\n")
    return [block.split("] ", 1)[1] for block in context.split("\n\n[")]


def test_every_row_is_the_rag_arms_prompt_with_k_passages(rag):
    from rag_baseline.answer import SYSTEM
    from rag_baseline.raft import raft_rows

    rows = raft_rows(rag, TRAIN, k=3, seed=1)
    assert len(rows) == len(TRAIN)
    for row, qa in zip(rows, TRAIN):
        system, user = row["prompt"]
        assert system == {"role": "system", "content": SYSTEM} and user["role"] == "user"
        assert user["content"].startswith("Context:\n[1] ") and user["content"].endswith(f"Question: {qa['question']}")
        assert len(passages(row)) == 3
        assert row["completion"][0]["role"] == "assistant"
        assert row["completion"][0]["content"].split("\n")[0] == qa["answer"]     # the answer comes first


def test_with_oracle_share_one_the_answers_chunk_is_always_there_and_quoted(rag):
    from rag_baseline.raft import raft_rows

    rows = raft_rows(rag, TRAIN, k=3, oracle_share=1.0, samples=2, seed=0)
    positions = set()
    for row, qa in zip(rows, [qa for qa in TRAIN for _ in range(2)]):
        answer, quote = row["completion"][0]["content"].split("\n")
        number = int(quote[1:quote.index("]")])
        sentence = quote[quote.index('"') + 1:-1]
        assert answer == qa["answer"] and qa["answer"].lower() in sentence.lower()
        assert sentence in " ".join(passages(row)[number - 1].split())         # quoted from the numbered passage
        positions.add(number)
    assert positions == {1, 2, 3}                                             # the oracle moves around


def test_oracle_share_sets_the_share_of_rows_that_hold_the_answers_chunk(rag):
    from rag_baseline.raft import raft_rows

    without = raft_rows(rag, TRAIN, oracle_share=0.0)
    assert all("\n" not in row["completion"][0]["content"] for row in without)     # nothing to quote
    half = raft_rows(rag, TRAIN, oracle_share=0.5, samples=4, seed=3)
    quoted = sum("\n" in row["completion"][0]["content"] for row in half) / len(half)
    assert len(half) == 4 * len(TRAIN) and 0.35 < quoted < 0.65
    assert raft_rows(rag, TRAIN, oracle_share=0.5, seed=3) == raft_rows(rag, TRAIN, oracle_share=0.5, seed=3)


def test_without_quotes_the_completion_is_the_answer(rag):
    from rag_baseline.raft import raft_rows

    rows = raft_rows(rag, TRAIN[:5], oracle_share=1.0, quote=False)
    assert [row["completion"][0]["content"] for row in rows] == [qa["answer"] for qa in TRAIN[:5]]


def test_raft_goes_through_the_ordinary_sft_stage(rag):
    from rag_baseline import knowledge_pipeline, raft_pipeline

    plan = raft_pipeline(rag, FACTS / "qa_train.jsonl", samples=2, sft={"epochs": 3})
    assert [stage.kind for stage in plan.stages] == ["sft"] and plan.stages[0].settings.epochs == 3
    assert len(plan.stages[0].data) == 2 * len(TRAIN)
    plan.validate()
    both = knowledge_pipeline(FACTS / "docs", FACTS / "qa_train.jsonl", paraphrases=1, raft={"rag": rag, "k": 2})
    pretrain, sft = both.stages
    assert (pretrain.kind, sft.kind) == ("pretrain", "sft")
    assert all(len(passages(row)) == 2 for row in sft.data)
    plain = knowledge_pipeline(FACTS / "docs", FACTS / "qa_train.jsonl", paraphrases=1)
    assert plain.stages[1].data[0] == {"prompt": TRAIN[0]["question"], "completion": TRAIN[0]["answer"]}


@pytest.mark.parametrize("kwargs, message", [({"k": 0}, "k: must be a whole number"),
                                             ({"oracle_share": 1.5}, "oracle_share: must lie in"),
                                             ({"samples": 0, "k": 0}, "2 problems")])
def test_bad_raft_settings_are_errors(rag, kwargs, message):
    from rag_baseline.raft import raft_rows

    with pytest.raises(ConfigError, match=message):
        raft_rows(rag, TRAIN, **kwargs)


def test_raft_in_knowledge_pipeline_needs_questions_and_an_index():
    from rag_baseline import knowledge_pipeline

    with pytest.raises(ConfigError, match="raft: needs qa_rows"):
        knowledge_pipeline(FACTS / "docs", raft=True)
    with pytest.raises(ConfigError, match="has no index and no documents"):
        knowledge_pipeline(qa_rows=TRAIN, raft=True)
    with pytest.raises(ConfigError, match="give True, a RAGBaseline"):
        knowledge_pipeline(qa_rows=TRAIN, raft="yes")


@pytest.mark.slow
def test_the_raft_example_runs_every_arm_and_ends_with_a_recommendation(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("example_raft", FACTS.parents[2] / "examples" / "raft.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    markdown = example.main(["--quick", "--output-dir", str(tmp_path)]).read_text()
    for arm in ("base", "rag", "fine-tuned", "fine-tuned+rag", "raft"):
        assert f"| {arm} |" in markdown
    assert "**Recommendation: `" in markdown and (tmp_path / "raft" / "01-sft" / "model").is_dir()
