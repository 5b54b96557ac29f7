"""The staff gradebook, question statistics and the CSV exports' rows."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Avg, Count, Prefetch, Q

from ..grading import counted_score, normalise_answer, passes, percent_label
from ..models import Answer, Attempt, Choice, Lesson, Question, Quiz


@dataclass(frozen=True)
class GradebookCell:
    score: float | None
    passed: bool | None
    attempts: int
    provisional: bool = False  # an attempt still waits for a free-text grade or a review

    @property
    def score_label(self) -> str:
        return percent_label(self.score)


@dataclass(frozen=True)
class GradebookRow:
    user: Any
    cells: list[GradebookCell | None]  # one per gradebook quiz; None: no submitted attempt


@dataclass(frozen=True)
class Gradebook:
    """Learners with an account × quizzes. Anonymous learners are counted, not listed:
    they have no name to show and may be the same person in two browsers."""

    quizzes: list[Quiz]
    rows: list[GradebookRow]
    anonymous_learners: int
    anonymous_attempts: int


def gradebook_quizzes(*, lesson: Lesson | None = None) -> list[Quiz]:
    quizzes = Quiz.objects.select_related("lesson").order_by("lesson__order", "lesson__id")
    if lesson is not None:
        quizzes = quizzes.filter(lesson=lesson)
    return list(quizzes)


def gradebook_build(*, lesson: Lesson | None = None) -> Gradebook:
    """The gradebook: each learner's counted score and pass state per quiz.

    Learners are users with at least one submitted attempt at the quizzes shown
    (all quizzes, or the one of ``lesson``). Three queries in all.
    """
    quizzes = gradebook_quizzes(lesson=lesson)
    quiz_index = {quiz.pk: index for index, quiz in enumerate(quizzes)}
    submitted = (
        Attempt.objects.filter(status=Attempt.Status.SUBMITTED, quiz_id__in=list(quiz_index))
        .order_by("submitted_at", "id")
        .values_list("user_id", "anon_id", "quiz_id", "score", "grading_pending")
    )
    scores: dict[int, dict[int, list[float]]] = {}
    provisional: set[tuple[int, int]] = set()
    anonymous: set[str] = set()
    anonymous_attempts = 0
    for user_id, anon_id, quiz_id, score, grading_pending in submitted:
        if user_id is None:
            anonymous.add(anon_id)
            anonymous_attempts += 1
            continue
        scores.setdefault(user_id, {}).setdefault(quiz_id, []).append(score or 0.0)
        if grading_pending:
            provisional.add((user_id, quiz_id))

    users = get_user_model().objects.filter(pk__in=list(scores)).order_by("username")
    rows = []
    for user in users:
        cells: list[GradebookCell | None] = []
        for quiz in quizzes:
            quiz_scores = scores[user.pk].get(quiz.pk)
            if not quiz_scores:
                cells.append(None)
                continue
            counted = counted_score(quiz_scores, quiz.score_policy)
            cells.append(
                GradebookCell(
                    score=counted,
                    passed=passes(counted, quiz.pass_mark),
                    attempts=len(quiz_scores),
                    provisional=(user.pk, quiz.pk) in provisional,
                )
            )
        rows.append(GradebookRow(user=user, cells=cells))
    return Gradebook(
        quizzes=quizzes,
        rows=rows,
        anonymous_learners=len(anonymous),
        anonymous_attempts=anonymous_attempts,
    )


@dataclass(frozen=True)
class QuestionStats:
    question: Question
    answers: int
    correct: int
    average_score: float | None
    top_wrong_choice: Choice | None  # the most-picked wrong choice, with ``.picks``
    top_wrong_text: str  # short text: the most common wrong answer (normalised)
    top_wrong_text_count: int

    @property
    def share_correct(self) -> float | None:
        return self.correct / self.answers if self.answers else None

    @property
    def share_correct_label(self) -> str:
        return percent_label(self.share_correct)

    @property
    def average_label(self) -> str:
        return percent_label(self.average_score)


def quiz_question_stats(*, quiz: Quiz) -> list[QuestionStats]:
    """Per question, over submitted attempts: answers, share correct, average score and
    the most-picked wrong choice (or most common wrong short-text answer).

    Questions in authored order; inactive ones are listed when they have answers.
    Four queries whatever the number of attempts.
    """
    submitted = Q(attempt__status=Attempt.Status.SUBMITTED)
    totals = {
        row["question_id"]: row
        for row in Answer.objects.filter(submitted, attempt__quiz=quiz)
        .values("question_id")
        .annotate(n=Count("id"), n_correct=Count("id", filter=Q(is_correct=True)), avg=Avg("score"))
        .order_by()
    }
    questions = [
        question
        for question in quiz.questions.order_by("order", "id")
        if question.is_active or question.pk in totals
    ]
    wrong_choices = (
        Choice.objects.filter(question__quiz=quiz, is_correct=False)
        .annotate(
            picks=Count("answers", filter=Q(answers__attempt__status=Attempt.Status.SUBMITTED))
        )
        .filter(picks__gt=0)
        .order_by("question_id", "-picks", "order", "id")
    )
    top_choice: dict[int, Choice] = {}
    for choice in wrong_choices:
        top_choice.setdefault(choice.question_id, choice)
    wrong_texts: dict[int, Counter[str]] = {}
    for question_id, text in Answer.objects.filter(
        submitted,
        attempt__quiz=quiz,
        is_correct=False,
        question__kind=Question.Kind.SHORT_TEXT,
    ).values_list("question_id", "text"):
        normalised = normalise_answer(text)
        if normalised:
            wrong_texts.setdefault(question_id, Counter())[normalised] += 1

    stats = []
    for question in questions:
        total = totals.get(question.pk, {})
        common = wrong_texts.get(question.pk, Counter()).most_common(1)
        stats.append(
            QuestionStats(
                question=question,
                answers=total.get("n", 0),
                correct=total.get("n_correct", 0),
                average_score=total.get("avg"),
                top_wrong_choice=top_choice.get(question.pk),
                top_wrong_text=common[0][0] if common else "",
                top_wrong_text_count=common[0][1] if common else 0,
            )
        )
    return stats


def quiz_submitted_summary(*, quiz: Quiz) -> dict[str, Any]:
    """Submitted attempts at ``quiz``: how many, and their average score (0..1 or None)."""
    return Attempt.objects.filter(quiz=quiz, status=Attempt.Status.SUBMITTED).aggregate(
        attempts=Count("id"), average=Avg("score")
    )


def attempt_answer_rows(*, lesson: Lesson | None = None) -> Iterator[Answer]:
    """Every answer of every submitted attempt, oldest attempt first, for the CSV export.

    Streams in chunks (``iterator``) with the attempt, its user, quiz and question
    joined and the picked choices prefetched per chunk.
    """
    answers = (
        Answer.objects.filter(attempt__status=Attempt.Status.SUBMITTED)
        .select_related("attempt", "attempt__user", "attempt__quiz", "question")
        .prefetch_related(Prefetch("selected_choices", queryset=Choice.objects.order_by("order")))
        .order_by("attempt__submitted_at", "attempt_id", "question__order", "question_id")
    )
    if lesson is not None:
        answers = answers.filter(attempt__quiz__lesson=lesson)
    return answers.iterator(chunk_size=500)
