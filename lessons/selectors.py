"""Reads for the lessons app (HackSoftware-style selectors: keyword-only, typed).

Sections: lessons (course work) first, then quizzes, progress and the gradebook
(quiz work, appended at the end of the file).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Avg, Count, Prefetch, Q, QuerySet

from .grading import counted_score, normalise_answer, passes, percent_label
from .models import Answer, Attempt, Choice, Course, Lesson, LessonRead, Question, Quiz
from .services import AnswerInput

# === Lessons =================================================================================


@dataclass(frozen=True)
class Section:
    title: str
    lessons: list[Lesson]

    @property
    def duration_minutes(self) -> int:
        return sum(lesson.duration_minutes for lesson in self.lessons)


def _lessons_with_quiz() -> QuerySet[Lesson]:
    return Lesson.objects.select_related("course").prefetch_related(
        Prefetch(
            "quiz",
            queryset=Quiz.objects.annotate(
                question_count=Count("questions", filter=Q(questions__is_active=True))
            ),
        )
    )


def course_get_default() -> Course | None:
    """The course the home page shows: the one with lessons (the first by title)."""
    return Course.objects.filter(lessons__isnull=False).distinct().order_by("title").first()


def lesson_sections(*, course: Course | None) -> list[Section]:
    """The course's lessons in order, grouped by section (sections in order of first lesson)."""
    if course is None:
        return []
    sections: dict[str, list[Lesson]] = {}
    for lesson in _lessons_with_quiz().filter(course=course).order_by("order", "id"):
        sections.setdefault(lesson.section, []).append(lesson)
    return [Section(title=title, lessons=lessons) for title, lessons in sections.items()]


def lesson_get_for_page(*, slug: str) -> Lesson | None:
    """One lesson with its course and quiz (annotated ``question_count``), or None."""
    return _lessons_with_quiz().filter(slug=slug).first()


def lesson_quiz(*, lesson: Lesson) -> Quiz | None:
    try:
        return lesson.quiz
    except Quiz.DoesNotExist:
        return None


def lesson_neighbours(*, lesson: Lesson) -> tuple[Lesson | None, Lesson | None]:
    """The previous and next lessons of the same course, by (order, id)."""
    siblings = Lesson.objects.filter(course_id=lesson.course_id).only("slug", "title", "order")
    before = Q(order__lt=lesson.order) | Q(order=lesson.order, id__lt=lesson.id)
    after = Q(order__gt=lesson.order) | Q(order=lesson.order, id__gt=lesson.id)
    previous = siblings.filter(before).order_by("-order", "-id").first()
    following = siblings.filter(after).order_by("order", "id").first()
    return previous, following


def lesson_is_read(*, lesson: Lesson, user: Any | None, anon_id: str = "") -> bool:
    if user is not None and user.is_authenticated:
        return LessonRead.objects.filter(lesson=lesson, user=user).exists()
    if not anon_id:
        return False
    return LessonRead.objects.filter(lesson=lesson, user=None, anon_id=anon_id).exists()


def lesson_read_ids(*, user: Any | None, anon_id: str = "") -> set[int]:
    """Ids of the lessons this learner marked as read."""
    if user is not None and user.is_authenticated:
        reads = LessonRead.objects.filter(user=user)
    elif anon_id:
        reads = LessonRead.objects.filter(user=None, anon_id=anon_id)
    else:
        return set()
    return set(reads.values_list("lesson_id", flat=True))


@dataclass(frozen=True)
class LessonPage:
    """Everything the lesson page shows besides the stored HTML."""

    lesson: Lesson
    quiz: Quiz | None  # None when there is no quiz or it has no active question
    previous: Lesson | None
    next: Lesson | None
    is_read: bool


def lesson_page(*, slug: str, user: Any | None, anon_id: str = "") -> LessonPage | None:
    lesson = lesson_get_for_page(slug=slug)
    if lesson is None:
        return None
    quiz = lesson_quiz(lesson=lesson)
    previous, following = lesson_neighbours(lesson=lesson)
    return LessonPage(
        lesson=lesson,
        quiz=quiz if quiz is not None and quiz.question_count else None,
        previous=previous,
        next=following,
        is_read=lesson_is_read(lesson=lesson, user=user, anon_id=anon_id),
    )


@dataclass(frozen=True)
class CourseOverview:
    """The home page: the course's sections, each lesson with ``.progress`` attached."""

    course: Course | None
    sections: list[Section]
    lessons: list[Lesson]
    next_lesson: Lesson | None  # the first lesson not read yet (else the first lesson)
    started: bool

    @property
    def total_minutes(self) -> int:
        return sum(lesson.duration_minutes for lesson in self.lessons)


def course_overview(*, user: Any | None, anon_id: str = "") -> CourseOverview:
    """The default course with per-lesson progress for this learner.

    Each lesson gets ``progress = {"read": bool, "passed": bool | None,
    "percent": int | None}`` from ``learner_progress_map``.
    """
    course = course_get_default()
    sections = lesson_sections(course=course)
    known = (user is not None and user.is_authenticated) or bool(anon_id)
    progress = learner_progress_map(user=user, anon_id=anon_id) if known and course else {}
    lessons = [lesson for section in sections for lesson in section.lessons]
    for lesson in lessons:
        entry = progress.get(lesson.pk) or {}
        score = entry.get("score")
        lesson.progress = {
            "read": bool(entry.get("read")),
            "passed": entry.get("passed"),
            "percent": None if score is None else round(score * 100),
        }
    unread = next((lesson for lesson in lessons if not lesson.progress["read"]), None)
    return CourseOverview(
        course=course,
        sections=sections,
        lessons=lessons,
        next_lesson=unread or (lessons[0] if lessons else None),
        started=any(lesson.progress["read"] for lesson in lessons),
    )


# === Quizzes, progress and gradebook =========================================================


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


def quiz_get_for_lesson(*, slug: str) -> Quiz | None:
    """The quiz of the lesson with this slug (with its lesson and course), or None."""
    return Quiz.objects.select_related("lesson", "lesson__course").filter(lesson__slug=slug).first()


def quiz_standing(*, quiz: Quiz, user: Any | None, anon_id: str = "") -> QuizStanding:
    """The learner's submitted attempts at ``quiz`` and their counted score and pass state."""
    attempts = _learner_attempts(user=user, anon_id=anon_id)
    found = [] if attempts is None else list(_submitted_in_order(attempts.filter(quiz=quiz)))
    return _standing(quiz=quiz, attempts=found)


def quiz_active_questions(*, quiz: Quiz) -> list[Question]:
    """The questions a learner answers, in authored order, with choices and accepted answers."""
    return list(
        quiz.questions.filter(is_active=True)
        .order_by("order", "id")
        .prefetch_related("choices", "accepted_answers")
    )


def attempt_get_for_learner(
    *, token: Any, user: Any | None, anon_id: str = "", allow_staff: bool = False
) -> Attempt | None:
    """The attempt with ``token`` if it belongs to this learner, else None (never a leak).

    A logged-in user sees their own attempts; an anonymous learner the attempts
    of their session's learner id. With ``allow_staff`` a staff user may read
    anyone's attempt (the gradebook links to reviews).
    """
    attempts = Attempt.objects.select_related("quiz", "quiz__lesson", "user").filter(token=token)
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


@dataclass
class QuestionItem:
    """One question as the quiz page and the review show it.

    Nothing here exposes which choices are correct until the question has a
    saved (checked or submitted) answer: the template only ever asks these
    properties, and they are empty before then.
    """

    question: Question
    number: int
    choices: list[Choice]
    answer: Answer | None = None
    picked: AnswerInput = field(default_factory=AnswerInput)
    reveal_answers: bool = False
    error: str = ""
    focus: bool = False

    @property
    def pk(self) -> int:
        return self.question.pk

    @property
    def locked(self) -> bool:
        return self.answer is not None

    @property
    def is_short_text(self) -> bool:
        return self.question.kind == Question.Kind.SHORT_TEXT

    @property
    def is_free_text(self) -> bool:
        return self.question.kind == Question.Kind.FREE_TEXT

    @property
    def is_typed(self) -> bool:
        """Answered by typing (short text or explain in your words), not by picking."""
        return self.is_short_text or self.is_free_text

    # --- Explain in your words: the grade arrives from a worker (lessons.free_text) --------

    @property
    def reviewed(self) -> bool:
        return self.answer is not None and self.answer.reviewed_at is not None

    @property
    def grading_pending(self) -> bool:
        """Waiting for the grader (and not settled by an instructor meanwhile)."""
        return (
            self.answer is not None
            and self.answer.grading_status == Answer.GradingStatus.PENDING
            and not self.reviewed
        )

    @property
    def grading_failed(self) -> bool:
        return (
            self.answer is not None
            and self.answer.grading_status == Answer.GradingStatus.FAILED
            and not self.reviewed
        )

    @property
    def awaiting_grade(self) -> bool:
        return self.grading_pending or self.grading_failed

    @property
    def closest_reference(self) -> str:
        """The reference answer closest to the learner's, once graded (if answers are shown)."""
        if self.answer is None or not self.reveal_answers or not self.is_free_text:
            return ""
        return self.answer.closest_reference

    @property
    def missing_concepts(self) -> list[str]:
        if self.answer is None or not self.is_free_text or self.awaiting_grade:
            return []
        if self.answer.grading_status != Answer.GradingStatus.GRADED:
            return []
        return [str(label) for label in self.answer.missing_concepts or []]

    @property
    def covered_all_concepts(self) -> bool:
        return (
            self.is_free_text
            and self.answer is not None
            and self.answer.grading_status == Answer.GradingStatus.GRADED
            and bool(self.answer.grading_details.get("concepts"))
            and not self.answer.missing_concepts
        )

    @property
    def auto_score_label(self) -> str:
        if self.answer is None or self.answer.auto_score is None:
            return ""
        return percent_label(self.answer.auto_score)

    @property
    def review_score_label(self) -> str:
        if not self.reviewed or self.answer.review_score is None:
            return ""
        return percent_label(self.answer.review_score)

    @property
    def is_multiple(self) -> bool:
        return self.question.kind == Question.Kind.MULTIPLE

    @property
    def picked_ids(self) -> frozenset[int]:
        return self.picked.choice_ids

    @property
    def text(self) -> str:
        return self.picked.text

    @property
    def verdict(self) -> str:
        """One of ``correct``, ``partial``, ``incorrect`` once answered; empty before."""
        if self.answer is None:
            return ""
        if self.answer.is_correct:
            return "correct"
        return "partial" if self.answer.score > 0 else "incorrect"

    @property
    def unanswered(self) -> bool:
        return self.answer is not None and self.picked.is_blank

    @property
    def score_label(self) -> str:
        return percent_label(self.answer.score) if self.answer is not None else ""

    @property
    def picked_choices(self) -> list[Choice]:
        return [choice for choice in self.choices if choice.pk in self.picked_ids]

    @property
    def choice_feedback(self) -> list[Choice]:
        """Picked choices that have feedback, once answered."""
        if self.answer is None:
            return []
        return [choice for choice in self.picked_choices if choice.feedback]

    @property
    def correct_ids(self) -> frozenset[int]:
        if self.answer is None or not self.reveal_answers:
            return frozenset()
        return frozenset(choice.pk for choice in self.choices if choice.is_correct)

    @property
    def correct_choices(self) -> list[Choice]:
        ids = self.correct_ids
        return [choice for choice in self.choices if choice.pk in ids]

    @property
    def accepted_answers(self) -> list[str]:
        if self.answer is None or not self.reveal_answers or not self.is_short_text:
            return []
        return [accepted.text for accepted in self.question.accepted_answers.all()]

    @property
    def explanation(self) -> str:
        return self.question.explanation if self.answer is not None else ""


def quiz_question_items(
    *,
    attempt: Attempt,
    questions: list[Question],
    answers: dict[int, Answer],
    drafts: dict[int, AnswerInput] | None = None,
) -> list[QuestionItem]:
    """The attempt's questions, numbered, choices shuffled for it, with saved answers or drafts."""
    drafts = drafts or {}
    items = []
    for number, question in enumerate(questions, start=1):
        answer = answers.get(question.pk)
        picked = AnswerInput.from_answer(answer) if answer else drafts.get(question.pk)
        items.append(
            QuestionItem(
                question=question,
                number=number,
                choices=choices_in_attempt_order(question=question, seed=attempt.shuffle_seed),
                answer=answer,
                picked=picked or AnswerInput(),
                reveal_answers=attempt.quiz.reveal_answers,
            )
        )
    return items


@dataclass(frozen=True)
class AttemptReview:
    attempt: Attempt
    items: list[QuestionItem]
    passed: bool | None

    @property
    def score_label(self) -> str:
        return percent_label(self.attempt.score)

    @property
    def correct_count(self) -> int:
        return sum(1 for item in self.items if item.verdict == "correct")

    @property
    def provisional(self) -> bool:
        """Some answer still waits for the grader or an instructor: the score may change."""
        return self.attempt.grading_pending

    @property
    def pending_count(self) -> int:
        return sum(1 for item in self.items if item.grading_pending)

    @property
    def failed_count(self) -> int:
        return sum(1 for item in self.items if item.grading_failed)


def attempt_review(*, attempt: Attempt) -> AttemptReview:
    """A submitted attempt question by question (its answered questions, in authored order)."""
    answers = attempt_answers(attempt=attempt)
    questions = list(
        Question.objects.filter(pk__in=answers)
        .order_by("order", "id")
        .prefetch_related("choices", "accepted_answers")
    )
    items = quiz_question_items(attempt=attempt, questions=questions, answers=answers)
    return AttemptReview(
        attempt=attempt, items=items, passed=passes(attempt.score, attempt.quiz.pass_mark)
    )


# --- Progress ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class LessonProgress:
    lesson: Lesson
    read: bool
    standing: QuizStanding | None  # None when the lesson has no quiz


def learner_progress(*, user: Any | None, anon_id: str = "") -> list[LessonProgress]:
    """Every lesson (in course order) with the learner's read state and quiz standing.

    Three queries whatever the number of lessons and attempts.
    """
    lessons = list(
        Lesson.objects.select_related("course", "quiz").order_by("course__title", "order", "id")
    )
    attempts = _learner_attempts(user=user, anon_id=anon_id)
    by_quiz: dict[int, list[Attempt]] = {}
    if attempts is not None:
        for attempt in _submitted_in_order(attempts):
            by_quiz.setdefault(attempt.quiz_id, []).append(attempt)
    read_ids = lesson_read_ids(user=user, anon_id=anon_id)
    progress = []
    for lesson in lessons:
        quiz = getattr(lesson, "quiz", None)
        standing = None
        if quiz is not None:
            standing = _standing(quiz=quiz, attempts=by_quiz.get(quiz.pk, []))
        progress.append(
            LessonProgress(lesson=lesson, read=lesson.pk in read_ids, standing=standing)
        )
    return progress


def learner_progress_map(*, user: Any | None, anon_id: str = "") -> dict[int, dict[str, Any]]:
    """``{lesson_id: {"read": bool, "passed": bool | None, "score": float | None}}``.

    ``passed`` and ``score`` are None for a lesson without a quiz or without a
    submitted attempt; ``score`` is the counted score (0..1).
    """
    return {
        item.lesson.pk: {
            "read": item.read,
            "passed": item.standing.passed if item.standing else None,
            "score": item.standing.score if item.standing else None,
        }
        for item in learner_progress(user=user, anon_id=anon_id)
    }


# --- Gradebook (staff) ------------------------------------------------------------------------


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
