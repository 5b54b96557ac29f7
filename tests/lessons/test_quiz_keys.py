"""The questions a submit grades against, kept between submits (lessons.selectors.quiz_keys)."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import translation

from lessons.models import Choice, LessonTranslation, QuestionTranslation
from lessons.selectors.quiz_keys import VERSION_KEY, quiz_questions_for_grading
from tests.factories import UserFactory, quiz_with_questions
from tests.quiz_support import start_attempt

pytestmark = pytest.mark.django_db

# The questions, their choices, accepted answers, reference answers, key concepts and
# translations (each language's accepted answers).
LOAD_QUERIES = 6


@pytest.fixture(autouse=True)
def process_cache(settings):
    """A cache of this test's own (this process's memory) instead of the suite's Redis, which
    other test processes may clear at any moment: the version lives there."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}


def _right_ids(questions, key):
    question = next(q for q in questions if q.key == key)
    return {choice.pk for choice in question.choices.all() if choice.is_correct}


def test_the_questions_are_read_once_while_the_course_is_unchanged(django_assert_num_queries):
    quiz = quiz_with_questions()
    with django_assert_num_queries(LOAD_QUERIES):
        first = quiz_questions_for_grading(quiz_id=quiz.pk)
    with django_assert_num_queries(0):
        again = quiz_questions_for_grading(quiz_id=quiz.pk)
    assert again is first
    assert [q.key for q in first] == ["single", "multiple", "true-false", "short-text"]


def test_an_edit_here_is_graded_against_at_once(django_assert_num_queries):
    quiz = quiz_with_questions()
    before = quiz_questions_for_grading(quiz_id=quiz.pk)
    wrong = Choice.objects.filter(question__quiz=quiz, question__key="single", is_correct=False)
    choice = wrong.first()
    choice.is_correct = True
    choice.save()  # the admin's way: a signal drops what this process kept

    with django_assert_num_queries(LOAD_QUERIES):
        after = quiz_questions_for_grading(quiz_id=quiz.pk)
    assert choice.pk in _right_ids(after, "single")
    assert choice.pk not in _right_ids(before, "single")


def test_an_edit_in_another_process_is_seen_once_its_version_is_published():
    quiz = quiz_with_questions()
    quiz_questions_for_grading(quiz_id=quiz.pk)
    choice = Choice.objects.filter(question__quiz=quiz, question__key="single", is_correct=False)[0]
    # Another process's edit: no signal reaches this one, only the version it publishes
    # once its transaction commits.
    Choice.objects.filter(pk=choice.pk).update(is_correct=True)
    cache.set(VERSION_KEY, "published-by-another-process", timeout=None)

    assert choice.pk in _right_ids(quiz_questions_for_grading(quiz_id=quiz.pk), "single")


def test_the_version_changes_when_the_edit_commits_not_before(django_capture_on_commit_callbacks):
    quiz = quiz_with_questions()
    quiz_questions_for_grading(quiz_id=quiz.pk)
    version = cache.get(VERSION_KEY)
    assert version

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        Choice.objects.filter(question__quiz=quiz).first().save()
        # Until the commit, other processes may still read the old rows: the version must
        # not change yet, or they would keep old rows under the new version.
        assert cache.get(VERSION_KEY) == version
    for callback in callbacks:
        callback()
    assert cache.get(VERSION_KEY) not in (None, version)


def test_with_the_cache_down_every_submit_reads_the_questions(settings, django_assert_num_queries):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there: refused at once
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    quiz = quiz_with_questions()
    for _ in range(2):
        with django_assert_num_queries(LOAD_QUERIES):
            questions = quiz_questions_for_grading(quiz_id=quiz.pk)
        assert len(questions) == 4


def test_a_refused_submit_shown_in_chinese_leaves_the_kept_questions_in_english(client):
    """The page shown again after a refused submit translates its questions in place; the
    kept ones, shared with every other request, must stay as they were."""
    quiz = quiz_with_questions()
    client.force_login(UserFactory())
    single = quiz.questions.get(key="single")
    lesson_translation = LessonTranslation.objects.create(
        lesson=quiz.lesson, language="zh-hans", title="课", section="节", body_markdown="正文"
    )
    QuestionTranslation.objects.create(
        translation=lesson_translation, question=single, prompt="中文题目", explanation="解释"
    )
    attempt = start_attempt(client, quiz)
    kept = quiz_questions_for_grading(quiz_id=quiz.pk)
    english = [q.prompt for q in kept]
    choices = [c.text for q in kept for c in q.choices.all()]

    with translation.override("zh-hans"):
        url = reverse("lessons:quiz-submit", kwargs={"token": attempt.token})
    assert url.startswith("/zh-hans/")
    response = client.post(url, {f"q-{single.pk}": "not-a-choice"})

    assert response.status_code == 400
    assert "中文题目" in response.content.decode()
    assert quiz_questions_for_grading(quiz_id=quiz.pk) is kept
    assert [q.prompt for q in kept] == english
    assert [c.text for q in kept for c in q.choices.all()] == choices
    assert not any(hasattr(q, "shown_language") for q in kept)
