"""Course-side selectors (lessons/selectors/lessons.py and the overview in progress.py)."""

from __future__ import annotations

import pytest

from lessons.models import LessonRead
from lessons.selectors import lessons, progress
from tests.factories import (
    CourseFactory,
    LessonFactory,
    QuizFactory,
    UserFactory,
    quiz_with_questions,
    single_choice_question,
)

pytestmark = pytest.mark.django_db


def test_sections_keep_lesson_order_and_group_by_section(django_assert_max_num_queries):
    course = CourseFactory()
    LessonFactory(course=course, section="B", order=3, slug="third")
    LessonFactory(course=course, section="A", order=1, slug="first")
    LessonFactory(course=course, section="A", order=2, slug="second")
    quiz_with_questions(lesson=LessonFactory(course=course, section="B", order=4, slug="fourth"))

    with django_assert_max_num_queries(2):
        sections = lessons.lesson_sections(course=course)
        counts = [
            lesson.quiz.question_count if hasattr(lesson, "quiz") else None
            for section in sections
            for lesson in section.lessons
        ]

    assert [s.title for s in sections] == ["A", "B"]
    assert [[lesson.slug for lesson in s.lessons] for s in sections] == [
        ["first", "second"],
        ["third", "fourth"],
    ]
    assert counts == [None, None, None, 4]
    assert sections[0].duration_minutes == 20


def test_course_get_default_ignores_empty_courses():
    CourseFactory(slug="empty", title="AAA empty")
    course = LessonFactory().course

    assert lessons.course_get_default() == course


def test_question_count_ignores_inactive_questions():
    quiz = QuizFactory()
    single_choice_question(quiz=quiz)
    single_choice_question(quiz=quiz, is_active=False)

    lesson = lessons.lesson_get_for_page(slug=quiz.lesson.slug)

    assert lessons.lesson_quiz(lesson=lesson).question_count == 1
    assert lessons.lesson_get_for_page(slug="missing") is None


def test_neighbours_follow_order_then_id_within_the_course():
    course = CourseFactory()
    a = LessonFactory(course=course, order=1)
    b = LessonFactory(course=course, order=2)
    c = LessonFactory(course=course, order=2)  # same order: id breaks the tie
    LessonFactory(course=CourseFactory(slug="other"), order=2)

    assert lessons.lesson_neighbours(lesson=a) == (None, b)
    assert lessons.lesson_neighbours(lesson=b) == (a, c)
    assert lessons.lesson_neighbours(lesson=c) == (b, None)


def test_read_state_for_users_and_anonymous_learners():
    lesson, other = LessonFactory(), LessonFactory()
    user = UserFactory()
    LessonRead.objects.create(lesson=lesson, user=user)
    LessonRead.objects.create(lesson=other, anon_id="anon-1")

    assert lessons.lesson_is_read(lesson_id=lesson.pk, user=user)
    assert not lessons.lesson_is_read(lesson_id=other.pk, user=user)
    assert lessons.lesson_is_read(lesson_id=other.pk, user=None, anon_id="anon-1")
    assert not lessons.lesson_is_read(lesson_id=other.pk, user=None, anon_id="")
    assert lessons.lesson_read_ids(user=user) == {lesson.pk}
    assert lessons.lesson_read_ids(user=None, anon_id="anon-1") == {other.pk}
    assert lessons.lesson_read_ids(user=None) == set()


def test_lesson_page_collects_what_the_page_shows():
    course = CourseFactory()
    first = LessonFactory(course=course, order=1)
    second = LessonFactory(course=course, order=2)
    quiz_with_questions(lesson=second)

    page = lessons.lesson_page(slug=second.slug)

    assert (page.lesson, page.previous, page.next) == (second, first, None)
    assert page.quiz.question_count == 4
    assert lessons.lesson_page(slug=first.slug).quiz is None
    assert lessons.lesson_page(slug="missing") is None


def test_course_overview_attaches_progress_and_picks_the_next_lesson():
    course = CourseFactory()
    first = LessonFactory(course=course, order=1, duration_minutes=5)
    second = LessonFactory(course=course, order=2, duration_minutes=7)
    LessonRead.objects.create(lesson=first, anon_id="anon-1")

    fresh = progress.course_overview(user=None)
    returning = progress.course_overview(user=None, anon_id="anon-1")

    assert fresh.next_lesson == first
    assert fresh.started is False
    assert fresh.total_minutes == 12
    assert returning.next_lesson == second
    assert returning.started is True
    assert [lesson.progress["read"] for lesson in returning.lessons] == [True, False]
    assert returning.lessons[0].progress == {"read": True, "passed": None, "percent": None}


def test_course_overview_without_lessons():
    overview = progress.course_overview(user=None)

    assert (overview.course, overview.sections, overview.next_lesson) == (None, [], None)
