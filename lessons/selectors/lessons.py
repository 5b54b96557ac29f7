"""Reads of the course: lessons, their sections, neighbours, read marks, the home page."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Prefetch, Q, QuerySet

from ..models import Course, Lesson, LessonRead, Quiz
from ..translations import localize_lessons


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
    lessons = list(_lessons_with_quiz().filter(course=course).order_by("order", "id"))
    localize_lessons(lessons)  # in the request's language
    for lesson in lessons:
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


def lesson_is_read(*, lesson_id: int, user: Any | None, anon_id: str = "") -> bool:
    if user is not None and user.is_authenticated:
        return LessonRead.objects.filter(lesson_id=lesson_id, user=user).exists()
    if not anon_id:
        return False
    return LessonRead.objects.filter(lesson_id=lesson_id, user=None, anon_id=anon_id).exists()


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
    """What every reader of a lesson page sees besides the stored HTML (the reader's own
    read mark is ``lesson_is_read``)."""

    lesson: Lesson
    quiz: Quiz | None  # None when there is no quiz or it has no active question
    previous: Lesson | None
    next: Lesson | None


def lesson_page(*, slug: str) -> LessonPage | None:
    lesson = lesson_get_for_page(slug=slug)
    if lesson is None:
        return None
    quiz = lesson_quiz(lesson=lesson)
    previous, following = lesson_neighbours(lesson=lesson)
    localize_lessons([lesson, previous, following])  # in the request's language
    return LessonPage(
        lesson=lesson,
        quiz=quiz if quiz is not None and quiz.question_count else None,
        previous=previous,
        next=following,
    )
