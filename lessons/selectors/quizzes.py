"""Reads of quizzes and attempts: the open attempt, standings, questions, choice order."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from django.db.models import Exists, OuterRef, Prefetch, QuerySet

from ..grading import counted_score, passes, percent_label
from ..models import Answer, Attempt, Choice, Question, QuestionTranslation, Quiz


@dataclass(frozen=True)
class QuizStanding:
    """Where a learner stands on one quiz: submitted attempts and the score that counts."""

    quiz: Quiz
    attempts: list[Attempt]  # submitted, oldest first
    score: float | None  # counted over ``attempts`` with the quiz's score policy
    passed: bool | None  # None until there is a submitted attempt

    @property
    def used(self) -> int:
        return len(self.attempts)

    @property
    def allowed(self) -> int | None:
        return self.quiz.attempts_allowed

    @property
    def remaining(self) -> int | None:
        """Attempts left, or None when unlimited."""
        if self.allowed is None:
            return None
        return max(0, self.allowed - self.used)

    @property
    def can_start(self) -> bool:
        return self.remaining is None or self.remaining > 0

    @property
    def score_label(self) -> str:
        return percent_label(self.score)


def _standing(*, quiz: Quiz, attempts: list[Attempt]) -> QuizStanding:
    score = counted_score([a.score or 0.0 for a in attempts], quiz.score_policy)
    return QuizStanding(
        quiz=quiz, attempts=attempts, score=score, passed=passes(score, quiz.pass_mark)
    )


def _learner_attempts(*, user: Any | None, anon_id: str) -> QuerySet[Attempt] | None:
    if user is not None and user.is_authenticated:
        return Attempt.objects.filter(user=user)
    if anon_id:
        return Attempt.objects.filter(user__isnull=True, anon_id=anon_id)
    return None


def _submitted_in_order(attempts: QuerySet[Attempt]) -> QuerySet[Attempt]:
    return attempts.filter(status=Attempt.Status.SUBMITTED).order_by("submitted_at", "id")


def attempt_open_for_learner(*, quiz: Quiz, user: Any | None, anon_id: str = "") -> Attempt | None:
    """The learner's open attempt at ``quiz``, if one was started (reads only)."""
    attempts = _learner_attempts(user=user, anon_id=anon_id)
    if attempts is None:
        return None
    return (
        attempts.filter(quiz=quiz, status=Attempt.Status.OPEN)
        .select_related("quiz", "quiz__lesson")
        .order_by("-started_at", "-id")
        .first()
    )


def quiz_get_for_lesson(*, slug: str) -> Quiz | None:
    """The quiz of the lesson with this slug (with its lesson and course), or None."""
    return Quiz.objects.select_related("lesson", "lesson__course").filter(lesson__slug=slug).first()


def quiz_standing(*, quiz: Quiz, user: Any | None, anon_id: str = "") -> QuizStanding:
    """The learner's submitted attempts at ``quiz`` and their counted score and pass state."""
    attempts = _learner_attempts(user=user, anon_id=anon_id)
    found = [] if attempts is None else list(_submitted_in_order(attempts.filter(quiz=quiz)))
    return _standing(quiz=quiz, attempts=found)


def active_questions(
    *, quiz_id: int, translations: QuerySet[QuestionTranslation]
) -> QuerySet[Question]:
    """A quiz's active questions in authored order, with choices, accepted answers, reference
    answers, key concepts and the given rows of each language (``translations``)."""
    return (
        Question.objects.filter(quiz_id=quiz_id, is_active=True)
        .order_by("order", "id")
        .prefetch_related(
            "choices",
            "accepted_answers",
            "reference_answers",
            "key_concepts",
            Prefetch("translations", queryset=translations),
        )
    )


def quiz_active_questions(*, quiz: Quiz) -> list[Question]:
    """The questions a learner answers, in authored order, with choices and accepted answers."""
    # each language's text and accepted answers (lessons.translations)
    translated = QuestionTranslation.objects.select_related("translation")
    return list(active_questions(quiz_id=quiz.pk, translations=translated))


def attempt_get_for_learner(
    *, token: Any, user: Any | None, anon_id: str = "", allow_staff: bool = False
) -> Attempt | None:
    """The attempt with ``token`` if it belongs to this learner, else None (never a leak).

    A logged-in user sees their own attempts; an anonymous learner the attempts
    of their session's learner id. With ``allow_staff`` a staff user may read
    anyone's attempt (the gradebook links to reviews).
    """
    attempts = Attempt.objects.select_related("quiz", "quiz__lesson", "user").filter(token=token)
    return _owned_by(attempts, user=user, anon_id=anon_id, allow_staff=allow_staff)


def attempt_get_for_submit(*, token: Any, user: Any | None, anon_id: str = "") -> Attempt | None:
    """The learner's attempt with ``token`` as a submit needs it: the row alone (its quiz
    is read only if the submit is refused and the page shown again), and ``has_answers``,
    whether any answer of it is saved, in the same query (an attempt with none skips
    reading them). None when it isn't theirs."""
    attempts = Attempt.objects.filter(token=token).annotate(
        has_answers=Exists(Answer.objects.filter(attempt_id=OuterRef("pk")))
    )
    return _owned_by(attempts, user=user, anon_id=anon_id)


def _owned_by(
    attempts: QuerySet[Attempt], *, user: Any | None, anon_id: str, allow_staff: bool = False
) -> Attempt | None:
    if user is not None and user.is_authenticated:
        if not (allow_staff and user.is_staff):
            attempts = attempts.filter(user=user)
    elif anon_id:
        attempts = attempts.filter(user__isnull=True, anon_id=anon_id)
    else:
        return None
    return attempts.first()


def attempt_answers(*, attempt: Attempt) -> dict[int, Answer]:
    """The attempt's saved answers by question id, with their picked choices."""
    answers = Answer.objects.filter(attempt=attempt).prefetch_related("selected_choices")
    return {answer.question_id: answer for answer in answers}


def choices_in_attempt_order(*, question: Question, seed: int) -> list[Choice]:
    """The question's choices shuffled for one attempt: stable within it, varied across.

    Choices are ordered by pk, then shuffled by ``random.Random(seed + question.pk)``.
    True/false questions keep "True" before "False": shuffling two fixed words
    only confuses.
    """
    choices = sorted(question.choices.all(), key=lambda choice: choice.pk)
    if question.kind == Question.Kind.TRUE_FALSE:
        return sorted(choices, key=lambda choice: (choice.order, choice.pk))
    random.Random(seed + question.pk).shuffle(choices)  # noqa: S311 (layout, not security)
    return choices
