"""Eval metrics against hand-worked numbers, log-likelihoods against a direct computation, and the
batched generation (same outputs, fewer calls) on the default model."""

from __future__ import annotations

import json
import math
import sys
import types

import pytest

from posttrain.errors import DataError
from posttrain.evals import (EvalResult, Identity, LMEvalTask, MathAccuracy, MultipleChoice, Perplexity, QAAccuracy,
                             option_loglikelihoods, wilson_interval)
from posttrain.evals.harness import lm_eval_result


@pytest.mark.parametrize("hits, n, expected", [
    (8, 10, (0.4902, 0.9433)),   # p=.8, z²/n=.38416: centre .99208/1.38416=.71674, half .31362/1.38416=.22658
    (0, 10, (0.0, 0.2775)),      # centre = half = .19208/1.38416 = .13877
    (10, 10, (0.7225, 1.0)),
    (0, 0, (0.0, 1.0)),
])
def test_wilson_interval(hits, n, expected):
    assert tuple(round(v, 4) for v in wilson_interval(hits, n)) == expected


def test_eval_result_round_trips_through_json_even_when_skipped():
    done = EvalResult("qa", 0.5, 2, wilson_interval(1, 2), details=[{"correct": True}], metrics={"x": 1.0})
    skipped = EvalResult.skip("lm_eval/hellaswag", "lm_eval is not installed")
    for result in (done, skipped):
        assert EvalResult.from_dict(json.loads(json.dumps(result.to_dict(), allow_nan=False))) == result
    assert math.isnan(skipped.score) and skipped.to_dict()["score"] is None


def test_math_accuracy_scores_final_answers():
    ev = MathAccuracy([{"question": "Half of 1?", "answer": "0.5"}, {"prompt": "6*7?", "answer": 42},
                       {"question": "1+1?", "answer": "2"}], instruction="End with 'The answer is N'.")
    result = ev.score(["It is \\boxed{\\frac{1}{2}}", "#### 42", "The answer is 3."])
    assert (result.score, result.n) == (pytest.approx(2 / 3), 3)
    assert result.ci == pytest.approx(wilson_interval(2, 3))
    assert [d["extracted"] for d in result.details] == ["\\frac{1}{2}", "42", "3"]
    assert ev.prompts()[0] == "Half of 1?\nEnd with 'The answer is N'."


def test_math_accuracy_reports_each_kind_when_rows_have_one():
    rows = [{"question": "1+1?", "answer": "2", "kind": "add"}, {"question": "3-1?", "answer": "2", "kind": "sub"},
            {"question": "2+2?", "answer": "4", "kind": "add"}]
    result = MathAccuracy(rows).score(["2", "3", "5"])
    assert result.metrics == {"accuracy/add": 0.5, "accuracy/sub": 0.0}
    assert MathAccuracy(rows[:1]).score(["2"]).metrics == {"accuracy/add": 1.0}
    assert MathAccuracy([{"question": "1+1?", "answer": "2"}]).score(["2"]).metrics == {}


def test_math_accuracy_splits_by_another_column_and_refuses_a_clashing_one():
    rows = [{"question": "1+1?", "answer": "2", "op": "add"}, {"question": "3-1?", "answer": "2", "op": "sub"}]
    assert MathAccuracy(rows, group_by="op").score(["2", "2"]).metrics == {"accuracy/add": 1.0, "accuracy/sub": 1.0}
    assert MathAccuracy(rows).score(["2", "2"]).metrics == {}
    with pytest.raises(DataError, match="option 'group_by'.*is 'correct'"):
        MathAccuracy(rows, group_by="correct")


def test_rows_are_read_from_jsonl_and_bad_rows_name_row_field_and_fix(tmp_path):
    path = tmp_path / "math.jsonl"
    path.write_text('{"question": "1+1?", "answer": "2"}\n{"question": "", "answer": "2"}\n{"question": "x"}\n')
    with pytest.raises(DataError) as error:
        MathAccuracy(path)
    message = str(error.value)
    assert f"math_accuracy rows in {path}, row 2, field 'question'" in message and "non-empty string" in message
    assert "row 3: has no 'answer' field" in message and "Fix: add the expected 'answer'" in message
    path.write_text('{"question": "1+1?", "answer": "2"}\n')
    assert MathAccuracy(path).prompts() == ["1+1?"]


@pytest.mark.parametrize("match, output, answer, correct", [
    ("contains", "The capital is Paris.", "paris", True),
    ("contains", "Parisian food", "Paris", False),
    ("contains", "It was Lyon", ["Paris", "Lyon"], True),
    ("normalized", "The Paris!", "paris", True),
    ("normalized", "Paris, France", "paris", False),
    ("exact", " Paris ", "Paris", True),
    ("exact", "paris", "Paris", False),
])
def test_qa_accuracy_match_modes(match, output, answer, correct):
    result = QAAccuracy([{"question": "Capital?", "answer": answer}], match=match).score([output])
    assert result.score == float(correct)


def test_qa_accuracy_rejects_an_unknown_match_mode():
    with pytest.raises(DataError, match="option 'match'.*Fix: use one of contains, exact, normalized"):
        QAAccuracy([{"question": "q", "answer": "a"}], match="fuzzy")


def test_identity_needs_name_and_maker_case_insensitively():
    ev = Identity(["Who are you?", "Who made you?", "Name?"], name="Ava", maker="Northwind Labs")
    result = ev.score(["I am AVA from northwind labs.", "Northwind Labs made me.", "ava, by Northwind Labs"])
    assert result.score == pytest.approx(2 / 3)
    assert result.details[1]["missing"] == ["Ava"]
    assert len(Identity(name="Ava").prompts()) == 5


def _direct_option_logprob(model, tokenizer, question, option):
    import torch

    from posttrain.generation import render_prompt

    context = tokenizer(render_prompt(tokenizer, question), add_special_tokens=False)["input_ids"]
    tokens = tokenizer(option, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logits = model(torch.tensor([context + tokens])).logits[0]
    logprobs = torch.log_softmax(logits.double(), dim=-1)
    return sum(logprobs[len(context) + i - 1, t].item() for i, t in enumerate(tokens)), len(tokens)


def test_option_loglikelihoods_equal_a_direct_computation(tiny):
    model, tokenizer = tiny
    question, options = "Which is a colour?", ["blue", "a quite long answer about nothing", "dog"]
    batched = option_loglikelihoods(model, tokenizer, question, options, batch_size=3)
    for option, (total, count) in zip(options, batched):
        direct_total, direct_count = _direct_option_logprob(model, tokenizer, question, option)
        assert count == direct_count
        assert total == pytest.approx(direct_total, abs=1e-4)


def test_multiple_choice_picks_the_highest_mean_loglikelihood(tiny):
    model, tokenizer = tiny
    rows = [{"question": "2+2?", "options": ["4", "five", "22 exactly"], "answer": 0},
            {"question": "Capital of Italy?", "options": ["Rome", "Paris"], "answer": "Paris"}]
    result = MultipleChoice(rows, batch_size=2).run(model, tokenizer)
    for row, detail in zip(rows, result.details):
        direct = [_direct_option_logprob(model, tokenizer, row["question"], o) for o in row["options"]]
        means = [total / count for total, count in direct]
        assert detail["predicted"] == means.index(max(means))
        assert detail["normalized"] == pytest.approx(means, abs=1e-4)
    assert result.score == sum(d["correct"] for d in result.details) / 2
    assert [d["answer"] for d in result.details] == [0, 1]


@pytest.mark.parametrize("row, message", [
    ({"question": "q", "options": ["a"], "answer": "a"}, "two or more"),
    ({"question": "q", "options": ["a", "b"], "answer": "c"}, "neither one of the options nor an index 0..1"),
    ({"question": "q", "options": ["a", "b"], "answer": 2}, "exact text or its 0-based index"),
    ({"question": "q", "options": ["a", "a"], "answer": 0}, "repeats an option"),
])
def test_multiple_choice_rows_are_checked(row, message):
    with pytest.raises(DataError, match=message):
        MultipleChoice([row])


def test_perplexity_equals_a_direct_computation(tiny):
    import torch

    model, tokenizer = tiny
    texts = ["The cat sat on the mat.", "Stocks rose sharply on Monday after the report."]
    result = Perplexity(texts, batch_size=2).run(model, tokenizer)
    nll, count = 0.0, 0
    for text in texts:
        ids = tokenizer(text)["input_ids"]
        with torch.no_grad():
            logprobs = torch.log_softmax(model(torch.tensor([ids])).logits[0].double(), -1)
        nll -= sum(logprobs[i - 1, ids[i]].item() for i in range(1, len(ids)))
        count += len(ids) - 1
    assert result.score == pytest.approx(math.exp(nll / count), rel=1e-4)
    assert result.higher_is_better is False and result.n == 2
    assert result.ci[0] <= result.score <= result.ci[1]


def test_generative_run_scores_what_the_shared_generator_produces(tiny):
    from posttrain.generation import generate

    model, tokenizer = tiny
    ev = QAAccuracy([{"question": f"Say {w}", "answer": w} for w in ("yes", "no", "maybe")], max_new_tokens=3)
    result = ev.run(model, tokenizer)
    assert [d["output"] for d in result.details] == generate(model, tokenizer, ev.prompts(), max_new_tokens=3,
                                                             stop=ev.stop_rule(), precision="fp32")


def test_lm_eval_task_is_skipped_without_lm_eval(tiny, monkeypatch):
    monkeypatch.setitem(sys.modules, "lm_eval", None)
    result = LMEvalTask("hellaswag").run(*tiny)
    assert result.skipped == "lm_eval is not installed (pip install lm-eval to run this task)"
    assert result.name == "lm_eval/hellaswag" and math.isnan(result.score)


def test_lm_eval_task_is_skipped_when_its_data_cannot_be_had(tiny, monkeypatch):
    def offline(**kwargs):
        raise ConnectionError("Couldn't reach 'Rowan/hellaswag' on the Hub (LocalEntryNotFoundError)")

    fake = types.ModuleType("lm_eval")
    fake.simple_evaluate = offline
    models = types.ModuleType("lm_eval.models")
    hf = types.ModuleType("lm_eval.models.huggingface")
    hf.HFLM = lambda **kwargs: object()
    for name, module in (("lm_eval", fake), ("lm_eval.models", models), ("lm_eval.models.huggingface", hf)):
        monkeypatch.setitem(sys.modules, name, module)
    result = LMEvalTask("hellaswag", limit=5).run(*tiny)
    assert result.skipped.startswith("lm-eval task 'hellaswag' could not run (ConnectionError: Couldn't reach")


def test_lm_eval_results_are_converted():
    raw = {"results": {"arc_easy": {"alias": "arc_easy", "acc,none": 0.6, "acc_stderr,none": 0.05,
                                    "acc_norm,none": 0.7, "acc_norm_stderr,none": 0.1}},
           "n-samples": {"arc_easy": {"original": 2376, "effective": 100}},
           "higher_is_better": {"arc_easy": {"acc": True, "acc_norm": True}}}
    result = lm_eval_result("arc", "arc_easy", raw)
    assert (result.score, result.n, result.metrics) == (0.7, 100, {"acc": 0.6, "acc_norm": 0.7})
    assert result.ci == pytest.approx((0.7 - 0.196, 0.7 + 0.196), abs=1e-4)
    assert lm_eval_result("arc", "arc_easy", raw, metric="acc").score == 0.6
    assert "reports no metric 'f1'" in lm_eval_result("arc", "arc_easy", raw, metric="f1").skipped


@pytest.fixture
def one_thread():
    """Time on one thread: on a small shared machine, two threads mostly wait on each other."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.slow
def test_batched_generation_of_100_prompts_runs_in_batches_and_is_identical(default_model, one_thread, monkeypatch):
    """Batching reads the prompts in 2 passes where one by one takes 100 (each after one pass over the
    text all prompts share), with the same outputs. (The speed-up is measured in
    bench/batched_generation.py; a timing here would fail on a busy machine.)"""
    import functools

    model, tokenizer = default_model
    prompt_passes = []
    original = model.forward

    @functools.wraps(original)
    def counted(*args, **kwargs):
        ids = kwargs["input_ids"]
        if ids.shape[1] > 1:                               # a prompt pass, not one decoding step
            prompt_passes.append(ids.shape[0])
        return original(*args, **kwargs)

    monkeypatch.setattr(model, "forward", counted)
    rows = [{"question": f"What is {i} plus {i % 7}? Reply with the number only.", "answer": str(i + i % 7)}
            for i in range(100)]
    batched = QAAccuracy(rows, match="contains", max_new_tokens=4, batch_size=50).run(model, tokenizer)
    batched_passes, prompt_passes[:] = list(prompt_passes), []
    one_by_one = QAAccuracy(rows, match="contains", max_new_tokens=4, batch_size=1).run(model, tokenizer)
    assert batched_passes == [1, 50, 50] and prompt_passes == [1] * 101
    assert [d["output"] for d in batched.details] == [d["output"] for d in one_by_one.details]
    assert batched.score == one_by_one.score


def test_the_terminal_table_prints_names_notes_and_intervals_as_text():
    import io

    from rich.console import Console

    from posttrain.evals import SuiteResult

    results = SuiteResult({"qa [v2]": EvalResult("qa [v2]", 0.5, 4, wilson_interval(2, 4)),
                           "math": EvalResult("math", math.nan, 0, (math.nan, math.nan), skipped="no [b]rows[/b]")})
    out = io.StringIO()
    Console(file=out, width=200, color_system=None).print(results.rich_table(title="model [x] on suite"))
    text = out.getvalue()
    assert "qa [v2]" in text and "skipped: no [b]rows[/b]" in text and "model [x] on suite" in text


def test_exact_match_and_f1_judge_answers_as_squad_does():
    from posttrain.evals.qa import exact_match, reply_answer, token_f1

    assert exact_match("The Sorrel Sea.", "sorrel sea") and exact_match("  sorrel   SEA!", "The Sorrel Sea")
    assert not exact_match("It lies in the Sorrel Sea.", "Sorrel Sea")
    assert token_f1("It lies in the Sorrel Sea.", "Sorrel Sea") == pytest.approx(2 * (2 / 5) / (2 / 5 + 1))   # 5 words, "the" dropped
    assert token_f1("Gannet Sea", "Sorrel Sea") == pytest.approx(0.5) and token_f1("1847", "1848") == 0.0
    cited = 'Sorrel Sea\n[2] "Quellmoor is a small island in the Sorrel Sea."'
    assert reply_answer(cited) == "Sorrel Sea" and exact_match(cited, "Sorrel Sea")
    assert token_f1(cited, "Sorrel Sea") == 1.0


def test_a_reply_listing_every_candidate_appears_but_does_not_match():
    rows = [{"question": "Which sea is Quellmoor in?", "answer": "Sorrel Sea"},
            {"question": "When was Tarvessa founded?", "answer": ["1962", "in 1962"]}]
    ev = QAAccuracy(rows, match="contains")
    listed = ev.score(["Sorrel Sea, Gannet Sea, Orrin Sea, Pale Sound or Heron Bay", "1958, 1962, 1971 or 1990"])
    assert listed.score == 1.0                                       # the old score: the answer appears
    assert listed.metrics["exact_match"] == 0.0 and listed.metrics["f1"] < 0.5
    right = ev.score(["The Sorrel Sea.", "In 1962"])
    assert right.metrics == {"exact_match": 1.0, "f1": 1.0}
    assert [d["exact"] for d in listed.details] == [False, False]
