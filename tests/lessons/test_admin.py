from __future__ import annotations

import pytest
from django.urls import reverse

from lessons.models import Answer, Attempt, Lesson, Question
from tests.factories import (
    CourseFactory,
    LessonFactory,
    StaffUserFactory,
    UserFactory,
    quiz_with_questions,
    single_choice_question,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    staff = StaffUserFactory()
    client.force_login(staff)
    client.staff = staff
    return client


def lesson_form(lesson: Lesson, **changes) -> dict:
    data = {
        "course": lesson.course_id,
        "title": lesson.title,
        "slug": lesson.slug,
        "section": lesson.section,
        "order": lesson.order,
        "duration_minutes": lesson.duration_minutes,
        "summary": lesson.summary,
        "body_markdown": lesson.body_markdown,
    }
    data.update(changes)
    return data


# --- Access ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["anonymous", "learner"])
def test_only_staff_reach_the_admin(client, who):
    if who == "learner":
        client.force_login(UserFactory())
    lesson = LessonFactory()

    for url in (
        reverse("admin:index"),
        reverse("admin:lessons_lesson_changelist"),
        reverse("admin:lessons_lesson_change", args=[lesson.pk]),
    ):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login"))


def test_staff_see_the_lesson_list_with_edited_flag(staff_client, django_assert_max_num_queries):
    LessonFactory(title="Loaded lesson")

    with django_assert_max_num_queries(15):
        response = staff_client.get(reverse("admin:lessons_lesson_changelist"))

    assert response.status_code == 200
    html = response.content.decode()
    assert "Loaded lesson" in html
    assert "Since last load" in html
    assert "Not from files" in html


def test_edited_flag_tracks_the_loaded_hash(staff_client):
    from lessons.admin import LessonAdmin
    from lessons.course_files import canonical_hash
    from lessons.loader import lesson_canonical, lesson_queryset_for_canonical

    lesson = LessonFactory()
    model_admin = LessonAdmin(Lesson, None)
    fetch = lesson_queryset_for_canonical().get

    assert model_admin.edited_since_load(fetch(pk=lesson.pk)) == "Not from files"
    Lesson.objects.filter(pk=lesson.pk).update(
        loaded_hash=canonical_hash(lesson_canonical(fetch(pk=lesson.pk)))
    )
    assert model_admin.edited_since_load(fetch(pk=lesson.pk)) == "As loaded"
    Lesson.objects.filter(pk=lesson.pk).update(title="Changed")
    assert model_admin.edited_since_load(fetch(pk=lesson.pk)) == "✎ Edited"


# --- Saving re-renders, history, revert -----------------------------------------------------------


def test_saving_in_the_admin_renders_the_markdown(staff_client):
    lesson = LessonFactory()
    url = reverse("admin:lessons_lesson_change", args=[lesson.pk])

    response = staff_client.post(
        url,
        lesson_form(
            lesson, body_markdown="## Fresh heading\n\n<script>alert(1)</script>Safe text\n"
        ),
    )

    assert response.status_code == 302
    lesson.refresh_from_db()
    assert '<h2 id="fresh-heading">' in lesson.body_html
    assert 'href="#fresh-heading"' in lesson.toc_html
    assert "<script" not in lesson.body_html
    assert "Safe text" in lesson.body_html


def test_adding_a_lesson_in_the_admin_renders_it(staff_client):
    course = CourseFactory()
    data = {
        "course": course.pk,
        "title": "New lesson",
        "slug": "new-lesson",
        "section": "Extra",
        "order": 9,
        "duration_minutes": 5,
        "summary": "",
        "body_markdown": "## Hello\n\nWorld\n",
    }

    response = staff_client.post(reverse("admin:lessons_lesson_add"), data)

    assert response.status_code == 302
    assert '<h2 id="hello">' in Lesson.objects.get(slug="new-lesson").body_html


def test_history_records_who_changed_what(staff_client):
    lesson = LessonFactory(title="Before")

    staff_client.post(
        reverse("admin:lessons_lesson_change", args=[lesson.pk]),
        lesson_form(lesson, title="After"),
    )

    latest = lesson.history.latest("history_date")
    assert latest.title == "After"
    assert latest.history_user == staff_client.staff
    delta = latest.diff_against(latest.prev_record)
    assert [change.field for change in delta.changes if change.field == "title"] == ["title"]
    history_page = staff_client.get(reverse("admin:lessons_lesson_history", args=[lesson.pk]))
    assert history_page.status_code == 200
    assert staff_client.staff.username in history_page.content.decode()


def test_reverting_a_version_re_renders_the_html(staff_client):
    lesson = LessonFactory(body_markdown="## Version one\n\nFirst text.\n")
    change_url = reverse("admin:lessons_lesson_change", args=[lesson.pk])
    staff_client.post(change_url, lesson_form(lesson, body_markdown="## Version two\n\nSecond.\n"))
    lesson.refresh_from_db()
    assert "version-two" in lesson.body_html
    first = lesson.history.earliest("history_date")
    # Make the stored HTML of the old version stale, to prove revert renders afresh.
    type(first).objects.filter(pk=first.pk).update(body_html="<p>stale</p>")
    revert_url = reverse("admin:lessons_lesson_simple_history", args=[lesson.pk, first.history_id])

    page = staff_client.get(revert_url)
    response = staff_client.post(revert_url, lesson_form(first.instance))

    assert page.status_code == 200
    assert response.status_code == 302
    lesson.refresh_from_db()
    assert lesson.body_markdown.strip() == "## Version one\n\nFirst text."
    assert '<h2 id="version-one">' in lesson.body_html
    assert "stale" not in lesson.body_html
    assert lesson.history.latest("history_date").history_user == staff_client.staff


def test_change_page_shows_the_sanitized_preview(staff_client):
    lesson = LessonFactory(body_markdown="## Preview me\n\n<img src=x onerror=alert(1)>\n")

    html = staff_client.get(
        reverse("admin:lessons_lesson_change", args=[lesson.pk])
    ).content.decode()

    assert '<div class="lesson-preview"><h2 id="preview-me">' in html
    assert "onerror" not in html.split('class="lesson-preview"')[1].split("</div>")[0]
    assert "css/pygments.css" in html


# --- Quiz and question admin ----------------------------------------------------------------------


def test_quiz_admin_lists_its_questions_with_links(staff_client):
    quiz = quiz_with_questions()

    html = staff_client.get(reverse("admin:lessons_quiz_change", args=[quiz.pk])).content.decode()

    for question in quiz.questions.all():
        assert reverse("admin:lessons_question_change", args=[question.pk]) in html


def test_question_admin_filters_by_quiz_and_kind(staff_client):
    quiz = quiz_with_questions()

    response = staff_client.get(
        reverse("admin:lessons_question_changelist"), {"quiz__id__exact": quiz.pk, "kind": "single"}
    )

    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [quiz.questions.get(kind="single")]


def question_form(question: Question, choices: list[tuple[str, bool]], **changes) -> dict:
    data = {
        "quiz": question.quiz_id,
        "key": question.key,
        "order": question.order,
        "kind": question.kind,
        "prompt": question.prompt,
        "explanation": question.explanation,
        "is_active": "on",
        "choices-TOTAL_FORMS": len(choices),
        "choices-INITIAL_FORMS": 0,
        "choices-MIN_NUM_FORMS": 0,
        "choices-MAX_NUM_FORMS": 1000,
        "accepted_answers-TOTAL_FORMS": 0,
        "accepted_answers-INITIAL_FORMS": 0,
        "accepted_answers-MIN_NUM_FORMS": 0,
        "accepted_answers-MAX_NUM_FORMS": 1000,
        # Explain-in-your-words settings and inlines (empty for the other kinds).
        "similarity_threshold": 0.6,
        "similarity_margin": 0.2,
    }
    for prefix in ("reference_answers", "key_concepts", "grading_examples"):
        data.update({f"{prefix}-TOTAL_FORMS": 0, f"{prefix}-INITIAL_FORMS": 0})
    for index, (text, correct) in enumerate(choices):
        data[f"choices-{index}-text"] = text
        data[f"choices-{index}-order"] = index
        data[f"choices-{index}-feedback"] = ""
        if correct:
            data[f"choices-{index}-is_correct"] = "on"
    data.update(changes)
    return data


def test_question_admin_refuses_a_single_choice_question_with_two_correct(staff_client):
    quiz = quiz_with_questions()
    question = Question(
        quiz=quiz, key="new-q", order=9, kind="single", prompt="P?", explanation="E"
    )

    response = staff_client.post(
        reverse("admin:lessons_question_add"), question_form(question, [("a", True), ("b", True)])
    )

    assert response.status_code == 200
    assert "Mark exactly one choice as correct" in response.content.decode()
    assert not Question.objects.filter(key="new-q").exists()


def test_question_admin_saves_a_valid_question_with_choices(staff_client):
    quiz = quiz_with_questions()
    question = Question(
        quiz=quiz, key="new-q", order=9, kind="multiple", prompt="P?", explanation="E"
    )

    response = staff_client.post(
        reverse("admin:lessons_question_add"),
        question_form(question, [("a", True), ("b", False), ("c", True)]),
    )

    assert response.status_code == 302
    saved = Question.objects.get(key="new-q")
    assert [(c.text, c.is_correct) for c in saved.choices.all()] == [
        ("a", True),
        ("b", False),
        ("c", True),
    ]
    assert saved.history.latest("history_date").history_user == staff_client.staff


def test_question_admin_requires_accepted_answers_for_short_text(staff_client):
    quiz = quiz_with_questions()
    question = Question(
        quiz=quiz, key="st", order=9, kind="short_text", prompt="P?", explanation="E"
    )

    response = staff_client.post(reverse("admin:lessons_question_add"), question_form(question, []))

    assert response.status_code == 200
    assert "needs at least one accepted answer" in response.content.decode()
    assert not Question.objects.filter(key="st").exists()


# --- Attempts are read-only -----------------------------------------------------------------------


def test_attempt_admin_is_read_only_with_answers_inline(staff_client):
    question = single_choice_question()
    attempt = Attempt.objects.create(quiz=question.quiz, anon_id="abc123456789", shuffle_seed=3)
    answer = Answer.objects.create(attempt=attempt, question=question, score=1, is_correct=True)
    answer.selected_choices.set([question.choices.get(is_correct=True)])
    url = reverse("admin:lessons_attempt_change", args=[attempt.pk])

    page = staff_client.get(url)
    post = staff_client.post(url, {"status": "submitted"})

    assert page.status_code == 200
    html = page.content.decode()
    assert "Encoder only" in html  # the picked choice, shown in the answer inline
    assert 'name="_save"' not in html
    assert post.status_code == 403
    assert staff_client.get(reverse("admin:lessons_attempt_add")).status_code == 403
    listing = staff_client.get(reverse("admin:lessons_attempt_changelist")).content.decode()
    assert "anonymous abc12345" in listing
