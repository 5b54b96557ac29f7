"""Access: no learner reads or changes another's attempts by id (IDOR); only staff reach the
gradebook, its exports, the review queue and the admin; correct answers never reach the
browser before the learner has answered."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from lessons.models import Answer, Attempt
from tests.factories import (
    StaffUserFactory,
    SubmittedAttemptFactory,
    UserFactory,
    quiz_with_questions,
    single_choice_question,
)
from tests.quiz_support import NOTHING_PICKED, start_attempt

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}
SECRET_EXPLANATION = "zebra-explanation-7731"
SECRET_FEEDBACK = "okapi-feedback-9912"
SECRET_ACCEPTED = "narwhal-accepted-4410"


def quiz_url(quiz) -> str:
    return reverse("lessons:quiz-detail", kwargs={"slug": quiz.lesson.slug})


def open_attempt(client, quiz) -> Attempt:
    return start_attempt(client, quiz)


def attempt_urls(attempt, question_id: int) -> dict[str, str]:
    token = attempt.token
    return {
        "detail": reverse("lessons:attempt-detail", kwargs={"token": token}),
        "submit": reverse("lessons:quiz-submit", kwargs={"token": token}),
        "check": reverse(
            "lessons:question-check", kwargs={"token": token, "question_id": question_id}
        ),
    }


def snapshot(attempt: Attempt) -> tuple:
    attempt.refresh_from_db()
    answers = sorted(
        (a.question_id, a.text, a.score, tuple(sorted(c.pk for c in a.selected_choices.all())))
        for a in Answer.objects.filter(attempt=attempt)
    )
    return attempt.status, attempt.score, attempt.submitted_at, answers


@pytest.fixture
def quiz():
    return quiz_with_questions()


@pytest.mark.parametrize("intruder", ["other-user", "anonymous", "staff"])
@pytest.mark.parametrize("owner_kind", ["user", "anonymous"])
def test_nobody_else_can_act_on_an_open_attempt(quiz, owner_kind, intruder):
    owner = Client()
    if owner_kind == "user":
        owner.force_login(UserFactory())
    attempt = open_attempt(owner, quiz)
    question = quiz.questions.get(key="single")
    right = question.choices.get(is_correct=True)
    before = snapshot(attempt)

    other = Client()
    if intruder == "other-user":
        other.force_login(UserFactory())
    elif intruder == "staff":
        other.force_login(StaffUserFactory())
    other.get("/")  # a session of its own
    urls = attempt_urls(attempt, question.pk)
    data = {f"q-{question.pk}": str(right.pk)}
    for name in ("submit", "check"):
        for extra in ({}, HX):
            response = other.post(urls[name], data, **extra)
            assert response.status_code == 404, (name, extra, response.status_code)
    # An open attempt isn't anyone else's to read either, staff included.
    assert other.get(urls["detail"]).status_code == 404
    assert snapshot(attempt) == before
    assert str(attempt.token) not in other.get(reverse("lessons:progress")).content.decode()


@pytest.mark.parametrize("intruder", ["other-user", "anonymous"])
def test_a_submitted_attempt_is_private_to_its_learner_and_staff(quiz, intruder):
    owner = Client()
    owner.force_login(UserFactory())
    attempt = open_attempt(owner, quiz)
    question = quiz.questions.get(key="single")
    urls = attempt_urls(attempt, question.pk)
    assert owner.post(urls["submit"], NOTHING_PICKED).status_code == 302
    before = snapshot(attempt)

    other = Client()
    if intruder == "other-user":
        other.force_login(UserFactory())
    assert other.get(urls["detail"]).status_code == 404
    for name in ("submit", "check"):
        assert other.post(urls[name], {}).status_code == 404
    assert snapshot(attempt) == before

    staff = Client()
    staff.force_login(StaffUserFactory())
    assert staff.get(urls["detail"]).status_code == 200  # teachers review attempts
    assert owner.get(urls["detail"]).status_code == 200


def test_attempts_are_addressed_by_unguessable_tokens_only(quiz):
    owner = Client()
    attempt = open_attempt(owner, quiz)
    assert attempt.token.version == 4
    for path in (f"/attempts/{attempt.pk}/", f"/attempts/{attempt.pk}/submit/"):
        assert owner.get(path).status_code == 404


STAFF_ONLY = [
    ("lessons:gradebook", {}),
    ("lessons:gradebook-csv", {}),
    ("lessons:attempts-csv", {}),
]


def staff_urls(quiz) -> list[str]:
    urls = [reverse(name, kwargs=kwargs) for name, kwargs in STAFF_ONLY]
    urls.append(reverse("lessons:gradebook-quiz", args=[quiz.pk]))
    for name in ("lessons:review-queue",):
        try:
            urls.append(reverse(name))
        except Exception:  # noqa: S112  (a route another part of the site may not have yet)
            continue
    return urls


def test_learners_and_visitors_never_reach_staff_pages_or_exports(quiz):
    learner_user = UserFactory(username="learner-with-a-grade")
    SubmittedAttemptFactory(quiz=quiz, user=learner_user, score=0.42)
    anonymous, learner = Client(), Client()
    learner.force_login(UserFactory())
    for url in staff_urls(quiz):
        response = anonymous.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("accounts:login")), url
        response = learner.get(url)
        assert response.status_code == 403, url
        body = b"".join(response.streaming_content) if response.streaming else response.content
        assert b"learner-with-a-grade" not in body
    staff = Client()
    staff.force_login(StaffUserFactory())
    for url in staff_urls(quiz):
        assert staff.get(url).status_code == 200, url


def test_the_admin_is_for_staff_only(quiz):
    anonymous, learner = Client(), Client()
    learner.force_login(UserFactory())
    for url in (
        reverse("admin:index"),
        reverse("admin:lessons_attempt_changelist"),
        reverse("admin:lessons_quiz_change", args=[quiz.pk]),
        reverse("admin:auth_user_changelist"),
    ):
        for client in (anonymous, learner):
            response = client.get(url)
            assert response.status_code == 302, url
            assert response["Location"].startswith(reverse("admin:login")), url
    # A learner can't log into the admin with their own password either.
    user = UserFactory(username="plain-learner")
    response = Client().post(
        reverse("admin:login"),
        {"username": user.username, "password": "correct-horse-battery-staple", "next": "/admin/"},
    )
    assert response.status_code == 200  # the form again, not a redirect into the admin
    assert "staff account" in response.content.decode()


@pytest.fixture
def secret_quiz():
    quiz = quiz_with_questions()
    for question in quiz.questions.all():
        question.explanation = f"{SECRET_EXPLANATION} {question.key}"
        question.save()
        for choice in question.choices.all():
            choice.feedback = f"{SECRET_FEEDBACK} {choice.pk}"
            choice.save()
        for accepted in question.accepted_answers.all():
            accepted.text = SECRET_ACCEPTED
            accepted.save()
    return quiz


def _choice_markup(html: str, question_id: int) -> list[str]:
    """Each choice's <li> with its own id/value/text blanked: what tells choices apart."""
    items = re.findall(
        rf'<li class="[^"]*">\s*<input[^>]*name="q-{question_id}"[^>]*>.*?</li>', html, re.S
    )
    return [re.sub(r'(id|for|value)="[^"]*"|>[^<]*<', "", item) for item in items]


def test_correct_answers_never_reach_the_page_before_answering(client, secret_quiz):
    page = client.get(quiz_url(secret_quiz))
    html = page.content.decode()
    for secret in (SECRET_EXPLANATION, SECRET_FEEDBACK, SECRET_ACCEPTED):
        assert secret not in html
    assert "is-correct" not in html and "choice-tag-correct" not in html
    for question in secret_quiz.questions.exclude(kind="short_text"):
        markup = _choice_markup(html, question.pk)
        assert len(markup) == question.choices.count()
        assert len(set(markup)) == 1, markup  # right and wrong choices look the same
    # Checking one question (the first answer: it starts the attempt) reveals that question only.
    shown = page.context["attempt"]
    assert shown.pk is None  # reading the page saved nothing
    single = secret_quiz.questions.get(key="single")
    wrong = single.choices.filter(is_correct=False).first()
    check = client.post(
        reverse(
            "lessons:quiz-start-check",
            kwargs={"slug": secret_quiz.lesson.slug, "question_id": single.pk},
        ),
        {f"q-{single.pk}": str(wrong.pk), "seed": str(shown.shuffle_seed)},
        **HX,
    )
    assert Attempt.objects.get(quiz=secret_quiz).shuffle_seed == shown.shuffle_seed
    assert check.status_code == 200
    revealed = check.content.decode()
    assert f"{SECRET_EXPLANATION} single" in revealed
    for other in secret_quiz.questions.exclude(pk=single.pk):
        assert f"{SECRET_EXPLANATION} {other.key}" not in revealed
    again = client.get(quiz_url(secret_quiz)).content.decode()
    assert SECRET_ACCEPTED not in again
    for other in secret_quiz.questions.exclude(pk=single.pk):
        assert f"{SECRET_EXPLANATION} {other.key}" not in again


def test_the_right_choice_is_not_always_in_the_same_place():
    quiz = quiz_with_questions()
    question = single_choice_question(
        quiz=quiz, key="four", order=9, texts=("alpha", "beta", "gamma", "delta"), correct=0
    )
    right = question.choices.get(is_correct=True).pk
    positions = set()
    for _ in range(8):
        html = Client().get(quiz_url(quiz)).content.decode()
        values = re.findall(rf'name="q-{question.pk}" value="(\d+)"', html)
        positions.add(values.index(str(right)))
    assert len(positions) > 1
