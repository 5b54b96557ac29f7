"""Pure grading rules: exhaustive tables plus property tests."""

from __future__ import annotations

import itertools
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lessons.grading import (
    Grade,
    counted_score,
    grade_multiple,
    grade_short_text,
    grade_single,
    grade_true_false,
    normalise_answer,
    passes,
    percent_label,
)

# --- Grade ---------------------------------------------------------------------------


@pytest.mark.parametrize("score", [-0.01, 1.01, 2.0])
def test_grade_rejects_scores_outside_0_to_1(score):
    with pytest.raises(ValueError, match="0..1"):
        Grade(score=score, is_correct=False)


# --- Single choice / true-false ------------------------------------------------------


@pytest.mark.parametrize(
    ("selected", "correct", "expected"),
    [
        ({1}, {1}, Grade(1.0, True)),
        ({2}, {1}, Grade(0.0, False)),
        (set(), {1}, Grade(0.0, False)),
        ({1, 2}, {1}, Grade(0.0, False)),  # two picks never count, even if one is right
        ({1, 2}, {1, 2}, Grade(0.0, False)),
        ({3}, {1, 3}, Grade(1.0, True)),  # several acceptable choices: any one of them
        ({1}, set(), Grade(0.0, False)),
    ],
)
def test_grade_single(selected, correct, expected):
    assert grade_single(selected, correct) == expected


@pytest.mark.parametrize(
    ("selected", "expected_correct"), [({10}, True), ({11}, False), (set(), False)]
)
def test_grade_true_false(selected, expected_correct):
    grade = grade_true_false(selected, {10})
    assert grade.is_correct is expected_correct
    assert grade.score == (1.0 if expected_correct else 0.0)


def test_grade_single_accepts_any_iterable():
    assert grade_single([1], (1,)).is_correct
    assert grade_single(iter([1]), frozenset({1})).is_correct


# --- Multiple select -------------------------------------------------------------------

ALL = {1, 2, 3, 4}
CORRECT = {1, 2, 3}


@pytest.mark.parametrize(
    ("selected", "partial_score"),
    [
        (set(), 0.0),  # none selected
        ({1, 2, 3}, 1.0),  # exactly right
        ({1, 2, 3, 4}, 2 / 3),  # all selected: 3 right - 1 wrong over 3 correct
        ({4}, 0.0),  # only wrong
        ({1}, 1 / 3),
        ({1, 2}, 2 / 3),
        ({1, 4}, 0.0),  # one right, one wrong cancel out
        ({1, 2, 4}, 1 / 3),
    ],
)
def test_grade_multiple_partial_credit_formula(selected, partial_score):
    partial = grade_multiple(selected, CORRECT, ALL, partial_credit=True)
    assert partial.score == pytest.approx(partial_score)
    assert partial.is_correct is (selected == CORRECT)

    strict = grade_multiple(selected, CORRECT, ALL, partial_credit=False)
    assert strict == Grade(1.0 if selected == CORRECT else 0.0, selected == CORRECT)


def test_grade_multiple_never_negative_when_wrong_picks_outnumber_right():
    grade = grade_multiple({1, 3, 4}, {1}, {1, 2, 3, 4}, partial_credit=True)
    assert grade == Grade(0.0, False)


def test_grade_multiple_one_correct_choice():
    assert grade_multiple({2}, {2}, {1, 2, 3}, partial_credit=True) == Grade(1.0, True)
    assert grade_multiple({2, 3}, {2}, {1, 2, 3}, partial_credit=True) == Grade(0.0, False)


def test_grade_multiple_with_no_correct_choice_rewards_only_an_empty_pick():
    assert grade_multiple(set(), set(), {1, 2}, partial_credit=True) == Grade(1.0, True)
    assert grade_multiple({1}, set(), {1, 2}, partial_credit=True) == Grade(0.0, False)


def test_grade_multiple_rejects_picks_outside_the_question():
    with pytest.raises(ValueError, match=r"\[9\]"):
        grade_multiple({1, 9}, {1}, {1, 2})
    with pytest.raises(ValueError, match="correct ids"):
        grade_multiple({1}, {1, 7}, {1, 2})


def test_grade_multiple_partial_credit_is_default_off():
    assert grade_multiple({1, 2}, CORRECT, ALL) == Grade(0.0, False)


@pytest.mark.parametrize("n_choices", [1, 2, 3, 4, 5])
def test_grade_multiple_exhaustive_small_questions(n_choices):
    """Every correct set and every pick for questions with up to five choices."""
    choices = set(range(n_choices))
    subsets = [
        set(combo)
        for size in range(n_choices + 1)
        for combo in itertools.combinations(sorted(choices), size)
    ]
    for correct in subsets:
        for picked in subsets:
            strict = grade_multiple(picked, correct, choices, partial_credit=False)
            partial = grade_multiple(picked, correct, choices, partial_credit=True)
            assert strict.is_correct is partial.is_correct is (picked == correct)
            assert strict.score == (1.0 if picked == correct else 0.0)
            if picked == correct:
                assert partial.score == 1.0
            elif correct:
                right, wrong = len(picked & correct), len(picked - correct)
                assert partial.score == pytest.approx(max(0, (right - wrong) / len(correct)))
                assert partial.score < 1.0
            else:
                assert partial.score == 0.0
            assert 0.0 <= partial.score <= 1.0


@given(
    st.sets(st.integers(0, 9)),
    st.sets(st.integers(0, 9)),
)
def test_grade_multiple_partial_is_monotonic_in_extra_right_picks(picked, correct):
    """Adding a correct choice to the picks never lowers the partial score."""
    universe = set(range(10))
    base = grade_multiple(picked, correct, universe, partial_credit=True).score
    for extra in correct - picked:
        better = grade_multiple(picked | {extra}, correct, universe, partial_credit=True).score
        assert better >= base


# --- Short text ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  The [CLS] token! ", "the cls token"),
        ("the cls token", "the cls token"),
        ("THE\tCLS\n\ntoken", "the cls token"),
        ("Straße", "strasse"),  # casefold, not lower()
        ("ＭＬＭ", "mlm"),  # full-width letters via NFKC
        ("ﬁne-tuning", "finetuning"),  # ligature via NFKC; hyphen is punctuation
        ("«masked» — language, modelling…", "masked language modelling"),
        ("¿Qué?", "qué"),
        ("e\u0301", "é"),  # composed by NFKC
        ("GPT‑2", "gpt2"),  # non-breaking hyphen
        ("", ""),
        ("   ", ""),
        ("!!!", ""),
        ("next\u00a0token", "next token"),  # no-break space is whitespace
    ],
)
def test_normalise_answer(raw, expected):
    assert normalise_answer(raw) == expected


def test_normalise_answer_keeps_symbols_that_are_not_punctuation():
    # "+" and "<" are math symbols (Sm), not punctuation (P*), so they stay.
    assert normalise_answer("a + b < c") == "a + b < c"


@given(st.text())
def test_normalise_answer_is_idempotent(text):
    once = normalise_answer(text)
    assert normalise_answer(once) == once


@given(st.text())
def test_normalise_answer_output_has_no_punctuation_or_stray_whitespace(text):
    result = normalise_answer(text)
    assert all(not unicodedata.category(ch).startswith("P") for ch in result)
    assert result == result.strip()
    assert "  " not in result
    assert result == unicodedata.normalize("NFKC", result)


@given(st.text(alphabet=st.characters(codec="ascii")))
def test_normalise_answer_ignores_case_for_ascii(text):
    assert normalise_answer(text.upper()) == normalise_answer(text.lower())


@pytest.mark.parametrize(
    ("text", "accepted", "is_correct"),
    [
        ("  The [CLS] token! ", ["the CLS token"], True),
        ("mlm", ["masked language modelling", "MLM"], True),
        ("Masked Language Modelling.", ["masked language modelling"], True),
        ("masked language modeling", ["masked language modelling"], False),  # spelling counts
        ("", ["masked language modelling"], False),
        ("   ", ["   "], False),  # blank never matches, even a blank accepted answer
        ("?!", ["..."], False),
        ("mlm", [], False),
        ("causal", ["Causal LM", "causal"], True),
    ],
)
def test_grade_short_text(text, accepted, is_correct):
    grade = grade_short_text(text, accepted)
    assert grade == Grade(1.0 if is_correct else 0.0, is_correct)


@given(st.text(min_size=1))
def test_grade_short_text_ignores_surrounding_space_and_punctuation(answer):
    if not normalise_answer(answer):
        return
    assert grade_short_text(f"  {answer} !?  ", [answer]).is_correct
    assert grade_short_text(f"({answer})", [answer]).is_correct


# --- Counted score and pass/fail --------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "expected"),
    [("best", 0.9), ("last", 0.5), ("first", 0.2), ("average", (0.2 + 0.9 + 0.5) / 3)],
)
def test_counted_score_policies(policy, expected):
    assert counted_score([0.2, 0.9, 0.5], policy) == pytest.approx(expected)


@pytest.mark.parametrize("policy", ["best", "last", "first", "average"])
def test_counted_score_without_attempts_is_none(policy):
    assert counted_score([], policy) is None


@pytest.mark.parametrize("policy", ["best", "last", "first", "average"])
def test_counted_score_single_attempt_is_that_attempt(policy):
    assert counted_score([0.4], policy) == 0.4


def test_counted_score_rejects_unknown_policy():
    with pytest.raises(ValueError, match="unknown score policy"):
        counted_score([0.5], "median")


@given(st.lists(st.floats(0, 1), min_size=1))
def test_counted_score_stays_between_min_and_max(scores):
    for policy in ("best", "last", "first", "average"):
        value = counted_score(scores, policy)
        assert min(scores) - 1e-12 <= value <= max(scores) + 1e-12


@pytest.mark.parametrize(
    ("score", "pass_mark", "expected"),
    [
        (0.7, 70, True),
        (0.69, 70, False),
        (0.29, 29, True),  # 0.29 * 100 is 28.999999999999996 in floating point
        (7 / 10, 70, True),
        (2 / 3, 67, False),
        (0.0, 0, True),
        (1.0, 100, True),
        (None, 70, None),
    ],
)
def test_passes(score, pass_mark, expected):
    assert passes(score, pass_mark) is expected


@pytest.mark.parametrize(
    ("score", "label"),
    [
        (1.0, "100%"),
        (0.0, "0%"),
        (0.7, "70%"),
        (2 / 3, "66.6%"),
        (0.6996, "69.9%"),  # rounded down: never shows a pass that wasn't
        (0.29, "29%"),
        (None, "–"),
    ],
)
def test_percent_label(score, label):
    assert percent_label(score) == label
