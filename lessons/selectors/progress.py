"""A learner's progress through the course."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..models import Attempt, Course, Lesson
from ..translations import localize_lessons
from .lessons import Section, course_get_default, lesson_read_ids, lesson_sections
from .quizzes import QuizStanding, _learner_attempts, _standing, _submitted_in_order


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
    localize_lessons(lessons)  # in the request's language (a fourth query, in Chinese)
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
