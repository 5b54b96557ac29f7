"""Anonymous progress moves into the account on login and sign-up."""

from __future__ import annotations

import pytest
from django.urls import reverse

from lessons.models import Attempt, LessonRead
from tests.factories import DEFAULT_PASSWORD, UserFactory, quiz_with_questions
from tests.quiz_support import NOTHING_PICKED

pytestmark = pytest.mark.django_db


def take_quiz_anonymously(client, quiz):
    """Submit the quiz and mark its lesson read (taking the quiz alone marks nothing read)."""
    client.get(reverse("lessons:quiz-detail", kwargs={"slug": quiz.lesson.slug}))
    client.post(reverse("lessons:quiz-start-submit", args=[quiz.lesson.slug]), NOTHING_PICKED)
    assert not LessonRead.objects.filter(lesson=quiz.lesson, user=None).exists()
    client.post(reverse("lessons:lesson-mark-read", args=[quiz.lesson.slug]))
    return Attempt.objects.get(anon_id=client.session["learner_id"])


def test_sign_up_moves_anonymous_attempts_and_reads_into_the_new_account(client):
    quiz = quiz_with_questions()
    attempt = take_quiz_anonymously(client, quiz)
    assert LessonRead.objects.filter(user=None, lesson=quiz.lesson).exists()

    client.post(
        reverse("accounts:signup"),
        {"username": "newbie", "password1": "Zebra-crossing-77", "password2": "Zebra-crossing-77"},
    )
    attempt.refresh_from_db()
    assert attempt.user.username == "newbie"
    assert attempt.anon_id == ""
    assert LessonRead.objects.get(lesson=quiz.lesson).user == attempt.user

    progress = client.get(reverse("lessons:progress")).content.decode()
    assert reverse("lessons:attempt-detail", kwargs={"token": attempt.token}) in progress
    # The move is said on screen, once.
    assert "is now in your account: 1 quiz attempt and 1 lesson marked read." in progress
    again = client.get(reverse("lessons:progress")).content.decode()
    assert "is now in your account" not in again


def test_login_to_an_existing_account_merges_and_drops_duplicate_reads(client):
    user = UserFactory()
    quiz = quiz_with_questions()
    LessonRead.objects.create(lesson=quiz.lesson, user=user)
    attempt = take_quiz_anonymously(client, quiz)

    client.post(
        reverse("accounts:login"), {"username": user.username, "password": DEFAULT_PASSWORD}
    )

    attempt.refresh_from_db()
    assert attempt.user == user
    assert LessonRead.objects.filter(lesson=quiz.lesson).count() == 1
    assert LessonRead.objects.get(lesson=quiz.lesson).user == user
    progress = client.get(reverse("lessons:progress")).content.decode()
    assert reverse("lessons:attempt-detail", kwargs={"token": attempt.token}) in progress


def test_login_without_an_anonymous_id_changes_nothing(client):
    user = UserFactory()
    other = Attempt.objects.create(
        quiz=quiz_with_questions(), anon_id="someone-else", shuffle_seed=1
    )
    client.post(
        reverse("accounts:login"), {"username": user.username, "password": DEFAULT_PASSWORD}
    )
    other.refresh_from_db()
    assert other.user is None
    assert other.anon_id == "someone-else"


def test_a_tampered_learner_id_in_the_session_merges_nothing(client):
    user = UserFactory()
    victim = Attempt.objects.create(quiz=quiz_with_questions(), anon_id="", shuffle_seed=1)
    session = client.session
    session["learner_id"] = ""
    session.save()
    client.post(
        reverse("accounts:login"), {"username": user.username, "password": DEFAULT_PASSWORD}
    )
    victim.refresh_from_db()
    assert victim.user is None
