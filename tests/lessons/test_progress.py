"""The progress page and the progress selectors the home page uses."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from lessons.models import LessonRead, Quiz
from lessons.selectors.progress import learner_progress, learner_progress_map
from tests.factories import (
    LessonFactory,
    SubmittedAttemptFactory,
    UserFactory,
    quiz_with_questions,
)
from tests.quiz_support import NOTHING_PICKED

pytestmark = pytest.mark.django_db

ANON = "1d9d6f0a-3a55-4a0b-8d44-0f0f0f0f0f0f"


def submitted(quiz, *, user=None, anon_id="", scores):
    start = timezone.now() - timedelta(hours=len(scores))
    return [
        SubmittedAttemptFactory(
            quiz=quiz,
            user=user,
            anon_id=anon_id,
            score=score,
            submitted_at=start + timedelta(minutes=index),
        )
        for index, score in enumerate(scores)
    ]


@pytest.mark.parametrize(
    ("policy", "score", "passed"),
    [("best", 0.9, True), ("last", 0.5, False), ("first", 0.2, False), ("average", 1.6 / 3, False)],
)
def test_progress_map_uses_the_quiz_score_policy(policy, score, passed):
    user = UserFactory()
    quiz = quiz_with_questions(score_policy=policy, pass_mark=70)
    submitted(quiz, user=user, scores=[0.2, 0.9, 0.5])
    LessonRead.objects.create(lesson=quiz.lesson, user=user)
    no_quiz = LessonFactory()

    progress = learner_progress_map(user=user, anon_id="")

    assert progress[quiz.lesson.pk]["read"] is True
    assert progress[quiz.lesson.pk]["score"] == pytest.approx(score)
    assert progress[quiz.lesson.pk]["passed"] is passed
    assert progress[no_quiz.pk] == {"read": False, "passed": None, "score": None}


def test_progress_ignores_open_attempts_and_other_learners():
    user = UserFactory()
    quiz = quiz_with_questions()
    submitted(quiz, user=UserFactory(), scores=[1.0])
    submitted(quiz, anon_id=ANON, scores=[1.0])
    from tests.factories import AttemptFactory

    AttemptFactory(quiz=quiz, user=user)  # open, not counted
    item = next(p for p in learner_progress(user=user, anon_id="") if p.lesson == quiz.lesson)
    assert item.standing.used == 0
    assert item.standing.score is None
    assert item.standing.passed is None


def test_anonymous_progress_by_learner_id():
    quiz = quiz_with_questions(attempts_allowed=3)
    submitted(quiz, anon_id=ANON, scores=[0.75])
    LessonRead.objects.create(lesson=quiz.lesson, anon_id=ANON)
    item = learner_progress(user=None, anon_id=ANON)[0]
    assert item.read is True
    assert item.standing.passed is True
    assert (item.standing.used, item.standing.allowed, item.standing.remaining) == (1, 3, 2)
    assert learner_progress_map(user=None, anon_id="")[quiz.lesson.pk]["read"] is False


def test_progress_selector_query_count_does_not_grow(django_assert_max_num_queries):
    user = UserFactory()
    for _ in range(5):
        quiz = quiz_with_questions()
        submitted(quiz, user=user, scores=[0.5, 0.8])
        LessonRead.objects.create(lesson=quiz.lesson, user=user)
    with django_assert_max_num_queries(3):
        items = learner_progress(user=user, anon_id="")
        assert [i.standing.score for i in items] == [0.8] * 5


def test_progress_page_shows_reads_scores_attempts_and_links(client):
    user = UserFactory()
    client.force_login(user)
    quiz = quiz_with_questions(attempts_allowed=2, pass_mark=60)
    first, second = submitted(quiz, user=user, scores=[0.4, 0.65])
    LessonRead.objects.create(lesson=quiz.lesson, user=user)
    LessonFactory(title="Unread lesson")

    response = client.get(reverse("lessons:progress"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "1 of 2 lessons read" in html
    assert "Quiz passed" in html
    assert "65%" in html
    assert "Attempts: 2 of 2" in html
    assert "Not read yet" in html
    for attempt in (first, second):
        assert reverse("lessons:attempt-detail", kwargs={"token": attempt.token}) in html
    assert "Try the quiz again" not in html  # both attempts used


def test_progress_page_for_a_new_anonymous_visitor_starts_no_session(client):
    quiz = quiz_with_questions()
    response = client.get(reverse("lessons:progress"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "not signed in" in html
    assert "Quiz not taken" in html
    assert reverse("lessons:quiz-detail", kwargs={"slug": quiz.lesson.slug}) in html
    assert "learner_id" not in client.session


def test_progress_page_for_an_anonymous_learner_after_a_quiz(client):
    quiz = quiz_with_questions()
    page = client.get(reverse("lessons:quiz-detail", kwargs={"slug": quiz.lesson.slug}))
    assert not quiz.attempts.exists()  # reading the quiz starts nothing
    seed = page.context["attempt"].shuffle_seed
    client.post(
        reverse("lessons:quiz-start-submit", args=[quiz.lesson.slug]),
        {"seed": seed, **NOTHING_PICKED},
    )
    assert quiz.attempts.get().status == "submitted"
    html = client.get(reverse("lessons:progress")).content.decode()
    assert "Quiz not passed yet" in html
    # Submitting marked nothing read: only the learner's "Mark as read" does.
    assert "Not read yet" in html and "0 of 1 lesson read" in html
    assert Quiz.objects.count() == 1
