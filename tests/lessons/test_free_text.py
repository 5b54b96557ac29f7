"""Explain in your words: the pure grading rules (lessons.grading.grade_free_text)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lessons.grading import (
    ALL_IDEAS_MEANING,
    CONCEPT_ABSENT_BELOW,
    CONCEPT_PRESENT_AT,
    FLOOR_SIMILARITY_BELOW,
    FULL_CREDIT_AT,
    MISCONCEPTION_AT,
    NO_CREDIT_BELOW,
    PRESENT_FLOOR,
    ConceptEvidence,
    concept_evidence,
    free_text_label,
    grade_free_text,
    passes,
)

T = 0.6  # threshold
M = 0.2  # margin: meaning credit is 0 at 0.4 and 1 at 0.6


def concept(
    similarity: float,
    words: str = "",
    label: str = "idea",
    *,
    against: float = 0.0,
    misconception: str = "",
) -> ConceptEvidence:
    return ConceptEvidence(
        label=label,
        similarity=similarity,
        words=words,
        against=against,
        misconception=misconception,
    )


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


# --- Misconceptions: an answer nearer to one contradicts the concept ------------------------


def test_an_answer_nearest_to_a_misconception_contradicts_the_concept_and_scores_nothing():
    """The issue's answer: every word of a phrase is there ("divides the logits by the
    temperature") and the meaning is close, but a piece of it is nearest to the misconception
    "a higher temperature sharpens the distribution"."""
    sharpens = "a higher temperature sharpens the distribution"
    grade = grade_free_text(
        [0.9],
        T,
        concepts=[
            concept(
                0.9,
                words="divides the logits",
                label="flatter",
                against=0.7,
                misconception=sharpens,
            ),
            concept(0.9, label="rare tokens picked more"),
        ],
    )
    flatter, rare = grade.concepts
    assert flatter.contradicted and not flatter.present and flatter.credit == 0.0
    assert flatter.misconception == sharpens and flatter.matched_by == ""
    assert rare.present and not rare.contradicted and rare.misconception == ""
    assert grade.score == 0.0 and grade.label == "wrong" and not passes(grade.score, 70)
    assert grade.contradicted == ["flatter"] and grade.missing == ["flatter"]
    assert grade.needs_review and grade.confidence == 0.0  # an instructor looks at it first


def test_a_weak_match_with_a_misconception_is_no_contradiction():
    below = MISCONCEPTION_AT - 0.01
    grade = grade_free_text([0.9], T, concepts=[concept(0.9, against=below, misconception="x")])
    assert not grade.needs_review and grade.score == 1.0
    at = grade_free_text(
        [0.9], T, concepts=[concept(0.9, against=MISCONCEPTION_AT, misconception="x")]
    )
    assert at.needs_review and at.score == 0.0
    # no misconception named (a worker without misconceptions, or none nearest): no contradiction
    assert not grade_free_text([0.9], T, concepts=[concept(0.9, against=0.9)]).needs_review


def test_every_concept_present_earns_full_credit_once_the_answer_is_on_topic():
    meaning = ALL_IDEAS_MEANING + 0.05
    similarity = T - M + meaning * M
    grade = grade_free_text(
        [similarity], T, concepts=[concept(0.9), concept(0.2, words="both sides")]
    )
    assert grade.raw < FULL_CREDIT_AT and grade.score == 1.0 and grade.label == "correct"
    off_topic = T - M + (ALL_IDEAS_MEANING - 0.05) * M
    assert grade_free_text([off_topic], T, concepts=[concept(0.9)]).score < 1.0


def test_one_key_idea_in_a_short_answer_is_partly_right():
    """Meaning below the ramp (a short answer), one concept present, none contradicted."""
    similarity = T - FLOOR_SIMILARITY_BELOW + 0.01
    grade = grade_free_text([similarity], T, concepts=[concept(0.9), concept(0.1), concept(0.1)])
    assert grade.raw == 0.0 and grade.score == PRESENT_FLOOR and grade.label == "partial"
    assert not passes(grade.score, 50)
    # ...but not when it is far from every reference, nor when it contradicts another idea
    far = grade_free_text([T - FLOOR_SIMILARITY_BELOW - 0.01], T, concepts=[concept(0.9)])
    assert far.score == 0.0
    mixed = grade_free_text(
        [similarity], T, concepts=[concept(0.9), concept(0.1, against=0.8, misconception="x")]
    )
    assert mixed.score == 0.0


def test_concept_evidence_reads_the_workers_result():
    items = [
        {"label": "a", "similarity": 0.7, "words": "w", "phrase": "p", "clause": "c"},
        {
            "label": "b",
            "similarity": 0.4,
            "words": "",
            "misconception": {"similarity": 0.62, "phrase": "the opposite", "clause": "it x"},
        },
    ]
    first, second = concept_evidence(items)
    assert first == ConceptEvidence(label="a", similarity=0.7, words="w")
    assert second.against == 0.62 and second.misconception == "the opposite"
    assert concept_evidence(None) == []


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
    concepts=st.lists(st.tuples(unit, st.booleans(), unit), max_size=4),
)
def test_scores_stay_in_range_and_labels_match(sims, threshold, concepts):
    evidence = [
        concept(s, words="w" if hit else "", against=a, misconception="m") for s, hit, a in concepts
    ]
    grade = grade_free_text(sims, threshold, concepts=evidence)
    assert 0.0 <= grade.score <= 1.0
    assert grade.label == free_text_label(grade.score)
    assert 0.0 <= grade.confidence <= 1.0
    assert len(grade.concepts) == len(evidence)
    if grade.needs_review:  # a contradiction never passes
        assert grade.score == 0.0 and grade.confidence == 0.0


@given(a=unit, b=unit, c=unit)
def test_more_similar_never_scores_less(a, b, c):
    low, high = sorted((a, b))
    assert grade_free_text([low], T).score <= grade_free_text([high], T).score
    low_c = grade_free_text([0.9], T, concepts=[concept(low)])
    high_c = grade_free_text([0.9], T, concepts=[concept(high)])
    assert low_c.score <= high_c.score


@given(a=unit, b=unit)
def test_with_one_key_idea_more_similar_never_scores_less(a, b):
    low, high = sorted((a, b))
    evidence = [concept(0.9), concept(0.1)]
    assert (
        grade_free_text([low], T, concepts=evidence).score
        <= grade_free_text([high], T, concepts=evidence).score
    )
