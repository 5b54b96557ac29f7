"""Explain in your words: the pure grading rules (lessons.grading.grade_free_text)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lessons.grading import (
    CONCEPT_ABSENT_BELOW,
    CONCEPT_PRESENT_AT,
    FULL_CREDIT_AT,
    NO_CREDIT_BELOW,
    ConceptEvidence,
    free_text_label,
    grade_free_text,
)

T = 0.6  # threshold
M = 0.2  # margin: meaning credit is 0 at 0.4 and 1 at 0.6


def concept(similarity: float, words: str = "", label: str = "idea") -> ConceptEvidence:
    return ConceptEvidence(label=label, similarity=similarity, words=words)


# --- Meaning: the closest reference against the threshold --------------------------------


@pytest.mark.parametrize(
    ("similarity", "score", "label"),
    [
        (0.95, 1.0, "correct"),
        (0.60, 1.0, "correct"),  # at the threshold: full credit
        (0.56, 1.0, "correct"),  # meaning 0.8 = FULL_CREDIT_AT
        (0.50, 0.4, "partial"),  # meaning 0.5 -> (0.5 - 0.3) / 0.5
        (0.46, 0.0, "wrong"),  # meaning 0.3 = NO_CREDIT_BELOW
        (0.40, 0.0, "wrong"),
        (-0.2, 0.0, "wrong"),
    ],
)
def test_score_follows_the_closest_reference(similarity, score, label):
    grade = grade_free_text([-0.5, similarity], T, margin=M)
    assert grade.score == pytest.approx(score)
    assert grade.label == label
    assert grade.is_correct is (label == "correct")
    assert grade.closest_index == 1
    assert grade.coverage == 1.0  # no key concepts: nothing to miss


def test_the_closest_reference_is_the_most_similar_one_first_on_ties():
    assert grade_free_text([0.3, 0.7, 0.7], T).closest_index == 1
    assert grade_free_text([0.9], T).similarity == 0.9


def test_raising_the_threshold_lowers_the_score():
    assert grade_free_text([0.55], 0.5).score == 1.0
    assert grade_free_text([0.55], 0.6).score == pytest.approx(0.9)  # meaning 0.75
    assert grade_free_text([0.55], 0.75).score == 0.0


# --- Key concepts -------------------------------------------------------------------------


def test_a_concept_is_present_by_its_words_whatever_the_cosine():
    grade = grade_free_text([0.9], T, concepts=[concept(0.1, words="masked words")])
    (result,) = grade.concepts
    assert result.present and result.matched_by == "words" and result.credit == 1.0
    assert grade.score == 1.0 and grade.missing == []


def test_a_concept_is_present_by_meaning_from_the_present_cosine():
    grade = grade_free_text([0.9], T, concepts=[concept(CONCEPT_PRESENT_AT)])
    assert grade.concepts[0].matched_by == "meaning"
    assert grade.score == 1.0


def test_a_missing_concept_is_reported_and_limits_the_score():
    grade = grade_free_text(
        [0.9], T, concepts=[concept(0.9, label="fills blanks"), concept(0.1, label="both sides")]
    )
    assert grade.missing == ["both sides"]
    assert grade.coverage == 0.5 and grade.meaning == 1.0
    assert grade.raw == 0.5  # the weaker of meaning and coverage
    assert grade.score == pytest.approx(
        (0.5 - NO_CREDIT_BELOW) / (FULL_CREDIT_AT - NO_CREDIT_BELOW)
    )
    assert grade.label == "partial"


def test_a_concept_near_the_present_cosine_earns_partial_credit():
    halfway = (CONCEPT_ABSENT_BELOW + CONCEPT_PRESENT_AT) / 2
    (result,) = grade_free_text([0.9], T, concepts=[concept(halfway)]).concepts
    assert not result.present and result.credit == pytest.approx(0.5)
    (none,) = grade_free_text([0.9], T, concepts=[concept(CONCEPT_ABSENT_BELOW)]).concepts
    assert none.credit == 0.0


def test_right_words_without_the_meaning_earn_nothing():
    grade = grade_free_text([0.2], T, concepts=[concept(0.9), concept(0.9)])
    assert grade.coverage == 1.0 and grade.meaning == 0.0 and grade.score == 0.0


# --- Confidence and labels ----------------------------------------------------------------


def test_confidence_is_the_distance_to_the_nearest_label_boundary():
    clear = grade_free_text([0.9], T)
    assert clear.raw == 1.0 and clear.confidence == pytest.approx(1.0 - FULL_CREDIT_AT)
    borderline = grade_free_text([0.4 + 0.2 * 0.79], T)  # raw 0.79
    assert borderline.confidence == pytest.approx(0.01, abs=1e-6)
    assert borderline.confidence < clear.confidence


@pytest.mark.parametrize(
    ("score", "label"), [(1.0, "correct"), (0.999, "partial"), (0.01, "partial"), (0.0, "wrong")]
)
def test_labels(score, label):
    assert free_text_label(score) == label


# --- Bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("similarities", "threshold", "margin", "message"),
    [
        ([], 0.6, 0.2, "at least one"),
        ([1.5], 0.6, 0.2, "similarity"),
        ([float("nan")], 0.6, 0.2, "similarity"),
        ([0.5], 1.2, 0.2, "threshold"),
        ([0.5], 0.6, -0.1, "margin"),
    ],
)
def test_bad_numbers_are_refused(similarities, threshold, margin, message):
    with pytest.raises(ValueError, match=message):
        grade_free_text(similarities, threshold, margin=margin)


# --- Properties ------------------------------------------------------------------------------

unit = st.floats(min_value=-1.0, max_value=1.0, allow_nan=False)


@given(
    sims=st.lists(unit, min_size=1, max_size=5),
    threshold=st.floats(min_value=0.05, max_value=1.0),
    concepts=st.lists(st.tuples(unit, st.booleans()), max_size=4),
)
def test_scores_stay_in_range_and_labels_match(sims, threshold, concepts):
    evidence = [concept(s, words="w" if hit else "") for s, hit in concepts]
    grade = grade_free_text(sims, threshold, concepts=evidence)
    assert 0.0 <= grade.score <= 1.0
    assert grade.label == free_text_label(grade.score)
    assert 0.0 <= grade.confidence <= 1.0
    assert len(grade.concepts) == len(evidence)


@given(a=unit, b=unit, c=unit)
def test_more_similar_never_scores_less(a, b, c):
    low, high = sorted((a, b))
    assert grade_free_text([low], T).score <= grade_free_text([high], T).score
    low_c = grade_free_text([0.9], T, concepts=[concept(low)])
    high_c = grade_free_text([0.9], T, concepts=[concept(high)])
    assert low_c.score <= high_c.score
