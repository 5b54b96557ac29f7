"""Explain in your words: the rules that keep topic and opposites from passing for ideas.

Each test pins one rule of the grader's second and third method (docs/free-text-grading.md),
on hand-made numbers so it fails when the rule is taken out:

- blocking verbs ("hides", "prevents") turn a statement round, and two negations cancel;
- words of order, position and size are compared by meaning ("final" is "last");
- a piece of the answer nearer one of a concept's misconceptions than to every phrase earns
  that concept nothing by meaning (``_misconceptions``' second result);
- a piece counts for a phrase by meaning only when it is nearer the phrase than the question
  (``_concept_matches``), and makes a concept present only when no other concept is much
  nearer (one clause, one idea);
- the grader counts a concept present from that focused cosine, and gives partial credit
  from the plain one;
- held-out answers name the batch they were written in, and the report counts each batch.
"""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command

from inference.worker.engine.short_answer import (
    ONE_IDEA_MARGIN,
    TOPIC_MARGIN,
    _concept_matches,
    _misconceptions,
    content_words,
    negated,
)
from lessons.calibration import HeldOutError, heldout_file_read
from lessons.grading import (
    CONCEPT_ABSENT_BELOW,
    CONCEPT_PRESENT_AT,
    ConceptEvidence,
    concept_evidence,
    grade_free_text,
)
from lessons.loader import course_load

CONTENT = Path(__file__).resolve().parents[2] / "lessons" / "content"

# --- Polarity and the words that tell a mirror apart ----------------------------------------


def test_blocking_verbs_turn_a_statement_round():
    assert negated("It hides the future tokens from each position")
    assert negated("That prevents the model from reading the answer")
    assert negated("Attention to later positions is blocked")
    assert negated("Raising the temperature filters out the rare tokens")
    # names of things, not actions: a hidden state, masked words
    assert not negated("The hidden state of the last token")
    assert not negated("BERT was trained to predict masked words")


def test_two_negations_cancel():
    assert not negated("It doesn't hide the future tokens")
    assert not negated("Nothing prevents it from seeing the whole input")
    assert negated("It does not see the later tokens")


def test_words_of_order_position_and_size_are_compared_by_meaning():
    assert content_words("the final token") == content_words("the last token")
    assert content_words("the earlier positions") == content_words("the previous positions")
    assert content_words("later words") == content_words("future words")
    assert content_words("a higher temperature") == content_words("a larger temperature")
    # ...and the mirrors stay apart
    assert content_words("the first token") != content_words("the last token")
    assert content_words("earlier tokens") != content_words("later tokens")
    assert content_words("a lower temperature") != content_words("a higher temperature")


# --- A piece nearer a misconception vouches for nothing ------------------------------------

STATEMENTS = [
    (0, False, "the distribution becomes flatter"),  # row 0: a phrase of concept 0
    (0, True, "a higher temperature sharpens the distribution"),  # row 1: its misconception
    (1, False, "the output is more varied"),  # row 2: a phrase of concept 1
]


def test_a_piece_nearest_a_misconception_is_suspect_for_its_concept():
    # one piece whose words are those of the misconception, whose cosine to the phrase is high
    piece = "a higher temperature sharpens the distribution"
    matrix = [[0.55], [0.50], [0.10]]
    found, suspect = _misconceptions(STATEMENTS, matrix, [piece])
    assert found[0][1] == "a higher temperature sharpens the distribution"
    assert suspect == {(0, 0)}
    # so it earns concept 0 nothing by meaning, though its cosine to the phrase is 0.55
    (best, focused, row, column), _ = _concept_matches(STATEMENTS, matrix, [-1.0], suspect, 2)
    assert best == -1.0 and focused == -1.0 and (row, column) == (-1, -1)
    # without the rule it would have counted
    (unguarded, *_), _ = _concept_matches(STATEMENTS, matrix, [-1.0], set(), 2)
    assert unguarded == 0.55


def test_a_phrase_that_matches_better_clears_the_piece():
    # the piece is negated, so it is compared with no statement of its own polarity but the
    # misconception, yet the phrase (of the other polarity) matches it better
    statements = [*STATEMENTS, (0, True, "the model never picks unlikely words")]
    piece = "so sampling picks tokens that aren't the favourite"
    matrix = [[0.70], [0.20], [0.10], [0.30]]
    found, suspect = _misconceptions(statements, matrix, [piece])
    assert 0 in found  # it is still reported, for the contradiction rule to judge
    assert suspect == set()


# --- Topic guard and one idea per clause ----------------------------------------------------


def test_a_piece_no_nearer_the_phrase_than_the_question_earns_nothing():
    matrix = [[0.66], [0.0], [0.0]]
    at_topic = [0.66 - TOPIC_MARGIN + 0.01]  # it restates the question about as well
    (best, focused, *_), _ = _concept_matches(STATEMENTS, matrix, at_topic, set(), 2)
    assert best == -1.0 and focused == -1.0
    off_topic = [0.66 - TOPIC_MARGIN - 0.01]
    (best, focused, *_), _ = _concept_matches(STATEMENTS, matrix, off_topic, set(), 2)
    assert best == focused == 0.66


def test_one_clause_makes_present_only_the_idea_it_is_nearest_to():
    # one piece: 0.94 from concept 1's phrase, 0.72 from concept 0's
    matrix = [[0.72], [0.0], [0.94]]
    first, second = _concept_matches(STATEMENTS, matrix, [-1.0], set(), 2)
    assert first[0] == 0.72 and first[1] == -1.0  # partial credit, not present
    assert second[0] == second[1] == 0.94
    # within the margin both count: a clause can say two close things
    matrix = [[0.94 - ONE_IDEA_MARGIN], [0.0], [0.94]]
    first, _ = _concept_matches(STATEMENTS, matrix, [-1.0], set(), 2)
    assert first[1] == first[0]


def test_the_focused_cosine_decides_presence_and_the_plain_one_credit():
    strong = ConceptEvidence(label="a", similarity=0.9)
    unfocused = ConceptEvidence(label="b", similarity=0.72, focused=-1.0)
    # a short answer, meaning 0.75: full credit only through "every key idea present"
    grade = grade_free_text([0.55], 0.6, concepts=[strong, unfocused])
    first, second = grade.concepts
    assert first.present and not second.present and second.matched_by == ""
    assert second.credit == 1.0  # 0.72 is past the ramp: it keeps its share of coverage
    assert grade.label == "partial" and grade.missing == ["b"]
    assert grade.score == pytest.approx(0.9)
    # a result from an older worker (no focused cosine) keeps the old rule
    old = grade_free_text([0.55], 0.6, concepts=[strong, ConceptEvidence("b", 0.72)])
    assert old.label == "correct"


def test_a_focused_cosine_below_the_mark_is_not_presence():
    halfway = (CONCEPT_ABSENT_BELOW + CONCEPT_PRESENT_AT) / 2
    item = ConceptEvidence(label="a", similarity=halfway, focused=halfway)
    (result,) = grade_free_text([0.9], 0.6, concepts=[item]).concepts
    assert not result.present and result.credit == pytest.approx(0.5)


def test_concept_evidence_reads_the_focused_cosine():
    first, second = concept_evidence(
        [
            {"label": "a", "similarity": 0.8, "focused": 0.3, "words": ""},
            {"label": "b", "similarity": 0.8, "words": ""},  # an older worker's result
        ]
    )
    assert first.focused == 0.3 and second.focused is None


def test_a_focused_cosine_out_of_range_is_refused():
    with pytest.raises(ValueError, match="concept similarity"):
        grade_free_text([0.9], 0.6, concepts=[ConceptEvidence("a", 0.5, focused=1.5)])


# --- Held-out batches -----------------------------------------------------------------------


def write(path: Path, answers: list[dict]) -> Path:
    path.write_text(
        yaml.safe_dump({"generation-parameters": {"explain-temperature": answers}}),
        encoding="utf-8",
    )
    return path


def test_held_out_answers_name_the_batch_they_were_written_in(tmp_path):
    path = write(
        tmp_path / "h.yaml",
        [
            {"label": "partial", "text": "The output gets more random."},
            {"label": "partial", "text": "More diverse text.", "written": " frozen-2 "},
        ],
    )
    first, second = heldout_file_read(path)[("generation-parameters", "explain-temperature")]
    assert first.written == "" and second.written == "frozen-2"
    bad = write(tmp_path / "bad.yaml", [{"label": "wrong", "text": "x", "written": 3}])
    with pytest.raises(HeldOutError, match="`written` names a batch"):
        heldout_file_read(bad)


@pytest.mark.django_db
def test_the_report_gives_each_held_out_batch_its_own_agreement(settings, tmp_path):
    settings.MODELS_DIR = tmp_path  # the demo profile's encoder: the bundled MiniLM
    settings.INFERENCE_PROFILE = "demo"
    assert not course_load(directory=CONTENT).errors
    heldout = write(
        tmp_path / "h.yaml",
        [
            {
                "label": "correct",
                "text": "Dividing the logits by a bigger temperature flattens the distribution, "
                "so unlikely words get sampled more often and the output is more random.",
            },
            {
                "label": "wrong",
                "text": "A higher temperature sharpens the distribution, so the output becomes "
                "more focused and predictable.",
                "contradicts": True,
                "written": "frozen-2",
            },
        ],
    )
    out = StringIO()
    call_command(
        "calibrate_free_text", question=["explain-temperature"], heldout=heldout, stdout=out
    )
    text = out.getvalue()
    assert "Held out by when it was written:" in text
    assert "  first answers: 1/1 (100%), 0 labelled correct below the pass mark" in text
    assert "  frozen-2: 1/1 (100%), 0 labelled correct below the pass mark, 0 contradicting" in (
        text
    )


def test_the_shipped_held_out_file_marks_its_last_batch():
    heldout = heldout_file_read()
    for answers in heldout.values():
        last = [answer for answer in answers if answer.written == "frozen-4"]
        # every question's last batch: a right, a partly right and a wrong answer, one of
        # them contradicting a key idea, none graded before it was written down
        assert {answer.staff for answer in last} == {"correct", "partial", "wrong"}
        assert any(answer.contradicts for answer in last)
