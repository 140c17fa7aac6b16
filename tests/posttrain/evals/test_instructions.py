"""Instruction checks one by one, the constraint schema, and prompt- vs constraint-level scoring."""

from __future__ import annotations

import pytest

from posttrain.errors import DataError
from posttrain.evals import CHECKS, InstructionFollowing, check_constraint
from posttrain.evals.instructions import constraint_problems, count_sentences, count_words

# kind, value, a response that passes, a response that fails
CASES = [
    ("max_words", 3, "one two three", "one two three four"),
    ("min_words", 3, "one two three", "one two"),
    ("max_sentences", 2, "First one. Second one!", "One. Two. Three?"),
    ("min_sentences", 2, "First one. Second one!", "Just one sentence here."),
    ("include_keywords", ["budget", "risk"], "The Budget has little risk.", "The budget is fine."),
    ("exclude_keywords", ["very"], "It is quite good; everyone agrees.", "It is Very good."),
    ("lowercase", None, "all lower case here 42", "Not lower"),
    ("uppercase", None, "ALL CAPS 42!", "ALL CAPS but one"),
    ("json_format", None, '```json\n{"a": [1, 2]}\n```', "{'a': 1}"),
    ("bullet_points", 2, "Intro:\n* first\n- second", "* only one"),
    ("ends_with", "Is there anything else?", "Done. is there anything else?  ", "Is there anything else? Bye."),
    ("starts_with", "Dear team", "dear team, hello", "Hello, dear team"),
    ("no_commas", None, "No commas here.", "One, two"),
    ("title", None, "<<My Poem>>\nRoses are red", "<<>> no title\n<<\n>>"),
    ("paragraphs", 2, "First paragraph.\n\nSecond paragraph.", "One.\nStill the same paragraph."),
    ("quotation", None, '"Wrapped in quotes."', '"Only opened.'),
    ("placeholders", 2, "Send it to [name] at [address].", "Send it to [name]."),
]


def test_every_kind_has_a_case():
    assert sorted(kind for kind, *_ in CASES) == sorted(CHECKS)
    assert len(CHECKS) >= 10


@pytest.mark.parametrize("kind, value, passing, failing", CASES, ids=[c[0] for c in CASES])
def test_check(kind, value, passing, failing):
    constraint = {"kind": kind} if value is None else {"kind": kind, "value": value}
    assert constraint_problems(constraint, "here") == []
    assert check_constraint(passing, constraint) is True
    assert check_constraint(failing, constraint) is False


@pytest.mark.parametrize("text, words, sentences", [
    ("Don't stop-believing, ok?", 3, 1),
    ("Hi. I am here! Are you? yes", 7, 4),
    ("It costs 1,000 dollars", 4, 1),
    ("3.5 apples cost $2.", 4, 1),
    ("", 0, 0),
])
def test_word_and_sentence_counts(text, words, sentences):
    assert (count_words(text), count_sentences(text)) == (words, sentences)


@pytest.mark.parametrize("constraint, field, fix", [
    ({"kind": "max_word", "value": 5}, "field 'kind'", "max_words"),
    ({"kind": "max_words", "value": "fifty"}, "field 'value'", '{"kind": "max_words", "value": 50}'),
    ({"kind": "max_words"}, "field 'value'", "whole number >= 1"),
    ({"kind": "lowercase", "value": True}, "field 'value'", 'drop the value: {"kind": "lowercase"}'),
    ({"kind": "include_keywords", "value": "budget"}, "field 'value'", "list of strings"),
    ({"kind": "no_commas", "strict": True}, "field 'strict'", "only 'kind' and 'value'"),
    ("max_words", "constraints[0]", "kinds: max_words"),
])
def test_bad_constraints_name_field_value_and_fix(constraint, field, fix):
    with pytest.raises(DataError) as error:
        InstructionFollowing([{"prompt": "Hi", "constraints": [constraint]}])
    message = str(error.value)
    assert "instruction_following rows, row 1, constraints[0]" in message
    assert field in message and fix in message


def test_rows_need_a_prompt_and_constraints_and_all_problems_are_reported():
    with pytest.raises(DataError) as error:
        InstructionFollowing([{"prompt": "Hi", "constraints": []}, {"constraints": [{"kind": "lowercase"}]}])
    assert len(error.value.problems) == 2
    assert "row 1, field 'constraints'" in str(error.value) and "row 2: has no 'prompt'" in str(error.value)


def test_scores_per_prompt_and_per_constraint():
    ev = InstructionFollowing([
        {"prompt": "Greet briefly in lowercase.", "constraints": [{"kind": "lowercase"},
                                                                   {"kind": "max_words", "value": 3}]},
        {"prompt": "Give a titled list.", "constraints": [{"kind": "title"}, {"kind": "no_commas"}]},
    ])
    result = ev.score(["hello there", "<<List>> apples, pears"])
    assert result.score == 0.5 and result.n == 2
    assert result.metrics == {"constraint_accuracy": 0.75, "constraint/lowercase": 1.0,
                              "constraint/max_words": 1.0, "constraint/no_commas": 0.0, "constraint/title": 1.0}
    assert [c["passed"] for c in result.details[1]["constraints"]] == [True, False]
