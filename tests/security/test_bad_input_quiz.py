"""Property-based: quiz submissions and inline checks with foreign, missing, duplicated and
malformed choice ids, answers to another quiz's questions, junk field names and replays.

Whatever is posted (plain form or htmx) the answer is clear (302/200, or 400/409/422
with a message) and never a 5xx; a refused submit leaves the attempt open with nothing
saved, an accepted one closes it with exactly one answer per question, each pointing at
its own question's choices, and the score the grading rules give; replays change nothing.
"""

from __future__ import annotations

import math

import pytest
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lessons.models import Answer, Attempt, Question
from tests.factories import quiz_with_questions
from tests.quiz_support import start_attempt

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}
FUZZ = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


MALFORMED_IDS = [
    "",
    " ",
    "abc",
    "-1",
    "0",
    "1.0",
    " 1",
    "1 ",
    "١",
    "٣٢",
    "99999999999999999999",
    "1e3",
    "0x1",
    "+1",
    "1,2",
    "None",
    "[]",
    "\x00",
    "１",
    "²",
]


@pytest.fixture
def quizzes():
    quiz = quiz_with_questions()
    other = quiz_with_questions()
    own = list(quiz.questions.prefetch_related("choices"))
    foreign = list(other.questions.prefetch_related("choices"))
    return quiz, own, foreign


def field_names(own: list[Question], foreign: list[Question]):
    return st.one_of(
        st.sampled_from([f"q-{q.pk}" for q in own]),
        st.sampled_from([f"q-{q.pk}" for q in foreign]),  # another quiz's question
        st.sampled_from(
            [
                "q-",
                "q-abc",
                "q-1.5",
                "q--1",
                "q-99999999999999999999",
                "q-١",
                "q-²",
                "q- 1",
                "answer",
                "csrfmiddlewaretoken",
                "q-" + "9" * 300,
            ]
        ),
    )


def values(own: list[Question], foreign: list[Question]):
    own_ids = [str(c.pk) for q in own for c in q.choices.all()]
    foreign_ids = [str(c.pk) for q in foreign for c in q.choices.all()]
    return st.one_of(
        st.sampled_from(own_ids),  # right question or another question of this quiz
        st.sampled_from(foreign_ids),  # a choice of another quiz
        st.sampled_from(MALFORMED_IDS),
        st.text(max_size=400),
        st.sampled_from(["²", "³", "①", "9" * 5000]),  # isdigit() but not int()-able
        st.sampled_from(["masked language modelling", "MLM", " mlm ", "x" * 301, "y" * 5000]),
    )


def as_form(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    """Form data as the test client takes it (a repeated name: several values)."""
    form: dict[str, list[str]] = {}
    for name, value in pairs:
        form.setdefault(name, []).append(value)
    return form


def submissions(own, foreign):
    pairs = st.lists(st.tuples(field_names(own, foreign), values(own, foreign)), max_size=8)
    return pairs.map(as_form)


def snapshot(attempt: Attempt) -> tuple:
    attempt.refresh_from_db()
    answers = sorted(
        (
            a.question_id,
            a.text,
            a.score,
            a.checked_inline,
            tuple(sorted(c.pk for c in a.selected_choices.all())),
        )
        for a in Answer.objects.filter(attempt=attempt)
    )
    return attempt.status, attempt.score, attempt.submitted_at, answers


def assert_consistent(attempt: Attempt, questions: list[Question]) -> None:
    """A submitted attempt: one answer per active question, own choices, the right score."""
    answers = list(Answer.objects.filter(attempt=attempt).prefetch_related("selected_choices"))
    assert sorted(a.question_id for a in answers) == sorted(q.pk for q in questions)
    by_question = {q.pk: q for q in questions}
    for answer in answers:
        own = {c.pk for c in by_question[answer.question_id].choices.all()}
        picked = {c.pk for c in answer.selected_choices.all()}
        assert picked <= own
        assert 0.0 <= answer.score <= 1.0
        if by_question[answer.question_id].kind in ("single", "true_false"):
            assert len(picked) <= 1
    expected = math.fsum(a.score for a in answers) / len(answers)
    assert attempt.score == pytest.approx(expected, abs=1e-12)


def assert_clear(response, *, htmx: bool) -> None:
    assert response.status_code < 500, response.content[-800:]
    body = response.content.decode()
    assert "Traceback" not in body
    if response.status_code in (400, 409, 422):
        assert 'role="alert"' in body or "feedback-error" in body, body[-800:]
    else:
        assert response.status_code in ((200,) if htmx else (302,)), response.status_code


def test_any_submit_is_answered_clearly_and_saved_whole_or_not_at_all(quizzes):
    quiz, own, foreign = quizzes

    @FUZZ
    @given(data=submissions(own, foreign), htmx=st.booleans())
    def run(data, htmx):
        client = Client(raise_request_exception=False)
        attempt = start_attempt(client, quiz)
        url = reverse("lessons:quiz-submit", kwargs={"token": attempt.token})
        response = client.post(url, data, **(HX if htmx else {}))
        assert_clear(response, htmx=htmx)
        attempt.refresh_from_db()
        if response.status_code >= 400:
            assert snapshot(attempt) == ("open", None, None, [])
            return
        assert attempt.status == "submitted"
        assert_consistent(attempt, own)
        # A replay (or any other answers) changes nothing once submitted.
        before = snapshot(attempt)
        replay = client.post(url, {f"q-{own[0].pk}": "x", **data}, **(HX if htmx else {}))
        assert replay.status_code in (200, 302)
        assert snapshot(attempt) == before

    run()


def test_any_inline_check_is_answered_clearly_and_locks_at_most_that_question(quizzes):
    quiz, own, foreign = quizzes

    @FUZZ
    @given(
        data=submissions(own, foreign),
        target=st.sampled_from(own + foreign),
        htmx=st.booleans(),
        twice=st.booleans(),
    )
    def run(data, target, htmx, twice):
        client = Client(raise_request_exception=False)
        attempt = start_attempt(client, quiz)
        url = reverse(
            "lessons:question-check", kwargs={"token": attempt.token, "question_id": target.pk}
        )
        response = client.post(url, data, **(HX if htmx else {}))
        if target.quiz_id != quiz.pk:
            assert response.status_code == 404  # another quiz's question
            assert snapshot(attempt) == ("open", None, None, [])
            return
        assert_clear(response, htmx=htmx)
        answers = list(Answer.objects.filter(attempt=attempt))
        if response.status_code >= 400:
            assert answers == []
        else:
            assert [a.question_id for a in answers] == [target.pk]
            assert answers[0].checked_inline
        if twice:  # the same request again (a double click, a replay)
            before = snapshot(attempt)
            again = client.post(url, data, **(HX if htmx else {}))
            assert again.status_code < 500
            assert snapshot(attempt) == before
        assert Attempt.objects.get(pk=attempt.pk).status == "open"

    run()


def test_answers_to_another_quizs_questions_are_refused(quizzes):
    quiz, own, foreign = quizzes
    client = Client()
    attempt = start_attempt(client, quiz)
    single = next(q for q in foreign if q.kind == "single")
    response = client.post(
        reverse("lessons:quiz-submit", kwargs={"token": attempt.token}),
        {f"q-{single.pk}": str(single.choices.first().pk)},
    )
    assert response.status_code == 400
    assert "is not part of this quiz" in response.content.decode()
    assert snapshot(attempt) == ("open", None, None, [])


def test_duplicated_choice_ids_count_once_and_two_picks_for_one_answer_are_refused(quizzes):
    quiz, own, _ = quizzes
    client = Client()
    attempt = start_attempt(client, quiz)
    url = reverse("lessons:quiz-submit", kwargs={"token": attempt.token})
    single = next(q for q in own if q.kind == "single")
    choices = [str(c.pk) for c in single.choices.all()]
    refused = client.post(url, {f"q-{single.pk}": choices[:2]})
    assert refused.status_code == 400
    assert "Pick only one answer" in refused.content.decode()
    multiple = next(q for q in own if q.kind == "multiple")
    right = [str(c.pk) for c in multiple.choices.all() if c.is_correct]
    accepted = client.post(url, {f"q-{multiple.pk}": right + right})
    assert accepted.status_code == 302
    answer = Answer.objects.get(attempt=attempt, question=multiple)
    assert sorted(c.pk for c in answer.selected_choices.all()) == sorted(map(int, right))
    assert answer.score == 1.0


# --- Digits str.isdigit() accepts but int() refuses (found by the property tests) --------


def test_a_superscript_digit_as_choice_id_is_refused_cleanly(quizzes):
    quiz, own, _ = quizzes
    client = Client(raise_request_exception=False)
    attempt = start_attempt(client, quiz)
    single = next(q for q in own if q.kind == "single")
    response = client.post(
        reverse("lessons:quiz-submit", kwargs={"token": attempt.token}), {f"q-{single.pk}": "²"}
    )
    assert response.status_code == 400
    assert snapshot(attempt) == ("open", None, None, [])


def test_a_superscript_digit_in_the_checked_parameter_is_ignored(quizzes):
    quiz, _, _ = quizzes
    client = Client(raise_request_exception=False)
    url = reverse("lessons:quiz-detail", kwargs={"slug": quiz.lesson.slug})
    assert client.get(url, {"checked": "²"}).status_code == 200
