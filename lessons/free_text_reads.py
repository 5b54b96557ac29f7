"""Reads of free-text answers: the staff review queue, its counts, pending answers, and
whether a worker that can grade is up."""

from __future__ import annotations

import contextlib
from datetime import timedelta

import redis
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from inference import facade

from .free_text import FAILED, PENDING
from .models import Answer, Attempt, Question


def grading_service_ready() -> bool:
    """Whether a model worker that can grade is up (ready and consuming the queue)."""
    with contextlib.suppress(redis.RedisError):
        return bool(facade.grading_workers())
    return False


# What a review row shows of an answer (the queue and the review form load the same).
REVIEW_RELATED = (
    "question",
    "question__quiz",
    "question__quiz__lesson",
    "attempt",
    "attempt__user",
    "reviewed_by",
)


def _free_text_answers() -> QuerySet[Answer]:
    return Answer.objects.filter(
        question__kind=Question.Kind.FREE_TEXT,
        attempt__status=Attempt.Status.SUBMITTED,
    ).exclude(text="")


def review_queue(*, show: str = "todo") -> QuerySet[Answer]:
    """Free-text answers of submitted attempts for staff review.

    ``todo``: not reviewed yet and no longer waiting for the grader; answers the grader
    couldn't grade first, then the least confident grades (confidence = distance of the
    grade from the nearest label boundary), oldest first. ``reviewed``: the latest reviews.
    """
    answers = _free_text_answers().select_related(*REVIEW_RELATED)
    if show == "reviewed":
        return answers.filter(reviewed_at__isnull=False).order_by("-reviewed_at", "-id")
    return (
        answers.filter(reviewed_at__isnull=True)
        .exclude(grading_status=PENDING)
        .order_by(F("confidence").asc(nulls_first=True), "answered_at", "id")
    )


def review_counts() -> dict[str, int]:
    answers = _free_text_answers()
    return {
        "todo": answers.filter(reviewed_at__isnull=True).exclude(grading_status=PENDING).count(),
        "pending": answers.filter(grading_status=PENDING).count(),
        "reviewed": answers.filter(reviewed_at__isnull=False).count(),
        "failed": answers.filter(grading_status=FAILED, reviewed_at__isnull=True).count(),
    }


def pending_answers(*, older_than_s: float = 0.0) -> QuerySet[Answer]:
    """Every pending free-text answer queued at least ``older_than_s`` seconds ago."""
    answers = Answer.objects.filter(grading_status=PENDING)
    if older_than_s > 0:
        cutoff = timezone.now() - timedelta(seconds=older_than_s)
        answers = answers.filter(Q(queued_at__isnull=True) | Q(queued_at__lte=cutoff))
    return answers.order_by("queued_at", "id")
