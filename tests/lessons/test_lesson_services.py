"""Course-side services in lessons/services.py: lesson_render and lesson_mark_read."""

from __future__ import annotations

import pytest

from lessons.models import LessonRead
from lessons.services import lesson_mark_read, lesson_render
from tests.factories import LessonFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_lesson_render_fills_and_saves_sanitized_html():
    lesson = LessonFactory(rendered=False, body_markdown="## Hi\n\n<script>x()</script>ok\n")
    assert lesson.body_html == ""

    rendered = lesson_render(lesson=lesson)

    lesson.refresh_from_db()
    assert lesson.body_html == rendered.html
    assert '<h2 id="hi">' in lesson.body_html
    assert "<script" not in lesson.body_html
    assert 'href="#hi"' in lesson.toc_html


def test_lesson_render_without_save_leaves_the_database_alone():
    lesson = LessonFactory(rendered=False, body_markdown="## Draft\n")

    lesson_render(lesson=lesson, save=False)

    assert '<h2 id="draft">' in lesson.body_html
    lesson.refresh_from_db()
    assert lesson.body_html == ""


def test_lesson_render_returns_demo_warnings():
    lesson = LessonFactory(rendered=False, body_markdown="```demo nope\n```\n")

    rendered = lesson_render(lesson=lesson)

    assert len(rendered.warnings) == 1
    assert "unknown demo kind 'nope'" in rendered.warnings[0]


def test_mark_read_for_a_user_is_idempotent():
    lesson, user = LessonFactory(), UserFactory()

    first = lesson_mark_read(lesson=lesson, user=user)
    second = lesson_mark_read(lesson=lesson, user=user, anon_id="ignored-for-users")

    assert first == second
    assert LessonRead.objects.get().anon_id == ""


def test_mark_read_for_an_anonymous_learner():
    lesson = LessonFactory()

    read = lesson_mark_read(lesson=lesson, user=None, anon_id="anon-1")
    lesson_mark_read(lesson=lesson, user=None, anon_id="anon-1")
    lesson_mark_read(lesson=lesson, user=None, anon_id="anon-2")

    assert read.user is None
    assert sorted(LessonRead.objects.values_list("anon_id", flat=True)) == ["anon-1", "anon-2"]


def test_mark_read_without_any_learner_records_nothing():
    assert lesson_mark_read(lesson=LessonFactory(), user=None, anon_id="") is None
    assert LessonRead.objects.count() == 0
