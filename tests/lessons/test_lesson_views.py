from __future__ import annotations

import re

import pytest
from django.urls import reverse

from lessons.models import LessonRead
from tests.factories import (
    CourseFactory,
    LessonFactory,
    QuizFactory,
    UserFactory,
    quiz_with_questions,
    single_choice_question,
)
from tests.html_support import without_csrf_tokens

pytestmark = pytest.mark.django_db


@pytest.fixture
def lessons():
    course = CourseFactory()
    first = LessonFactory(
        course=course, slug="pretraining", title="Pre-training", section="Foundations", order=1
    )
    second = LessonFactory(
        course=course,
        slug="bert",
        title="BERT",
        section="Models",
        order=2,
        body_markdown=(
            "## Masked language modelling\n\n15% of tokens.\n\n"
            "### The 80/10/10 rule\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n"
            "```python\nprint('hi')\n```\n\n```demo fill-mask\ntext: Paris is the [MASK].\n```\n"
        ),
    )
    third = LessonFactory(course=course, slug="gpt", title="GPT", section="Models", order=3)
    quiz_with_questions(lesson=second)
    return first, second, third


# --- Home -----------------------------------------------------------------------------------------


def test_home_groups_lessons_by_section_in_order(client, lessons):
    response = client.get(reverse("lessons:home"))

    assert response.status_code == 200
    html = response.content.decode()
    listing = html[html.index('class="course-section"') :]
    assert listing.index("Foundations") < listing.index("Pre-training") < listing.index("Models")
    assert listing.index("Models") < listing.index(">BERT<") < listing.index(">GPT<")
    assert 'href="/lessons/bert/"' in html
    assert "4 questions" in html  # the BERT quiz
    assert "3 lessons · about 30 minutes" in html
    assert "Start with lesson 1" in html
    assert "reads left to right" in html  # the two-sentence intro


def test_home_without_lessons_explains_how_to_load_them(client):
    response = client.get(reverse("lessons:home"))

    assert response.status_code == 200
    assert "manage.py load_course" in response.content.decode()


def test_home_does_not_start_a_session_for_new_visitors(client, lessons):
    client.get(reverse("lessons:home"))

    assert "learner_id" not in client.session


def test_home_marks_read_lessons_and_offers_to_continue(client, lessons):
    first, second, _ = lessons
    client.post(reverse("lessons:lesson-mark-read", kwargs={"slug": first.slug}))

    html = client.get(reverse("lessons:home")).content.decode()

    assert html.count("✓</span> Read") == 1
    assert "Continue: BERT" in html


def test_home_shows_read_marks_for_logged_in_users(client, lessons):
    user = UserFactory()
    LessonRead.objects.create(lesson=lessons[2], user=user)
    client.force_login(user)

    html = client.get(reverse("lessons:home")).content.decode()

    assert html.count("✓</span> Read") == 1


# --- Lesson detail --------------------------------------------------------------------------------


def test_lesson_detail_shows_stored_html_toc_and_metadata(client, lessons):
    lesson = lessons[1]

    response = client.get(lesson.get_absolute_url())

    assert response.status_code == 200
    html = response.content.decode()
    assert '<h1 id="lesson-title">BERT</h1>' in html
    assert "10 min read" in html
    assert 'id="masked-language-modelling"' in html
    assert html.count('href="#the-801010-rule"') >= 2  # toc sidebar + mobile <details>
    assert '<details class="toc toc-inline">' in html
    assert '<span class="nb">print</span>' in html
    assert 'class="demo-slot" data-demo-kind="fill-mask"' in html
    assert "css/pygments.css" in html
    assert lesson.summary in html


def test_lesson_detail_outputs_the_stored_html_without_re_rendering(client, lessons):
    lesson = lessons[0]
    type(lesson).objects.filter(pk=lesson.pk).update(body_html="<p>stored version</p>")

    html = client.get(lesson.get_absolute_url()).content.decode()

    assert "<p>stored version</p>" in html
    assert "Why it matters" not in html.split('id="lesson-body"')[1].split("</div>")[0]


def test_prev_and_next_links_follow_lesson_order(client, lessons):
    first, second, third = lessons

    html = client.get(second.get_absolute_url()).content.decode()
    assert re.search(r'rel="prev" href="/lessons/pretraining/"', html)
    assert re.search(r'rel="next" href="/lessons/gpt/"', html)

    first_html = client.get(first.get_absolute_url()).content.decode()
    assert 'rel="prev"' not in first_html
    last_html = client.get(third.get_absolute_url()).content.decode()
    assert 'rel="next"' not in last_html
    assert "Back to all lessons" in last_html


def test_check_yourself_card_links_to_the_quiz_with_question_count(client, lessons):
    html = client.get(lessons[1].get_absolute_url()).content.decode()

    assert "Check yourself" in html
    assert reverse("lessons:quiz-detail", kwargs={"slug": "bert"}) in html
    assert "4 questions on this lesson" in html


def test_no_check_yourself_card_without_active_questions(client, lessons):
    quiz = QuizFactory(lesson=lessons[0])
    single_choice_question(quiz=quiz, is_active=False)

    html = client.get(lessons[0].get_absolute_url()).content.decode()

    assert "Check yourself" not in html


def test_unknown_lesson_is_404(client):
    assert client.get("/lessons/no-such-lesson/").status_code == 404


def test_lesson_detail_is_get_only(client, lessons):
    assert client.post(lessons[0].get_absolute_url()).status_code == 405


# --- Mark as read ---------------------------------------------------------------------------------


def test_get_never_marks_a_lesson_read(client, lessons):
    client.get(lessons[0].get_absolute_url())

    assert LessonRead.objects.count() == 0
    assert "learner_id" not in client.session


def test_plain_post_marks_read_for_an_anonymous_learner_and_redirects(client, lessons):
    lesson = lessons[0]
    url = reverse("lessons:lesson-mark-read", kwargs={"slug": lesson.slug})

    response = client.post(url)

    assert response.status_code == 302
    assert response["Location"] == f"{lesson.get_absolute_url()}#read-status"
    anon_id = client.session["learner_id"]
    read = LessonRead.objects.get()
    assert (read.lesson, read.user, read.anon_id) == (lesson, None, anon_id)
    page = client.get(lesson.get_absolute_url()).content.decode()
    assert "Mark as read" not in page
    assert 'Read <span aria-hidden="true">✓</span>' in page
    assert "Marked “Pre-training” as read." in page


def test_htmx_post_returns_only_the_read_status_partial(client, lessons):
    lesson = lessons[0]
    url = reverse("lessons:lesson-mark-read", kwargs={"slug": lesson.slug})

    response = client.post(url, headers={"HX-Request": "true"})

    assert response.status_code == 200
    html = response.content.decode()
    assert html.strip().startswith('<div id="read-status"')
    assert 'Read <span aria-hidden="true">✓</span>' in html
    assert "<html" not in html
    assert "Mark as read" not in html
    assert LessonRead.objects.count() == 1


def test_mark_read_form_works_with_and_without_htmx(client, lessons):
    lesson = lessons[0]
    url = reverse("lessons:lesson-mark-read", kwargs={"slug": lesson.slug})

    html = client.get(lesson.get_absolute_url()).content.decode()

    assert f'action="{url}"' in html
    assert f'hx-post="{url}"' in html
    assert 'hx-target="#read-status"' in html
    assert "csrfmiddlewaretoken" in html


def test_marking_twice_keeps_one_read(client, lessons):
    url = reverse("lessons:lesson-mark-read", kwargs={"slug": lessons[0].slug})

    client.post(url)
    client.post(url, headers={"HX-Request": "true"})

    assert LessonRead.objects.count() == 1


def test_logged_in_learner_read_is_stored_on_the_account(client, lessons):
    user = UserFactory()
    client.force_login(user)

    client.post(reverse("lessons:lesson-mark-read", kwargs={"slug": lessons[0].slug}))

    read = LessonRead.objects.get()
    assert (read.user, read.anon_id) == (user, "")


def test_mark_read_rejects_get_and_unknown_lessons(client, lessons):
    url = reverse("lessons:lesson-mark-read", kwargs={"slug": lessons[0].slug})

    assert client.get(url).status_code == 405
    assert client.post("/lessons/nope/read/").status_code == 404
    assert LessonRead.objects.count() == 0


def test_mark_read_requires_csrf(lessons):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)

    response = strict.post(reverse("lessons:lesson-mark-read", kwargs={"slug": lessons[0].slug}))

    assert response.status_code == 403
    assert LessonRead.objects.count() == 0


def test_home_shows_quiz_results_from_the_learner_progress(client, lessons):
    from django.utils import timezone

    from lessons.models import Attempt

    user = UserFactory()
    client.force_login(user)
    quiz = lessons[1].quiz
    Attempt.objects.create(
        quiz=quiz,
        user=user,
        shuffle_seed=1,
        status=Attempt.Status.SUBMITTED,
        score=0.5,
        submitted_at=timezone.now(),
    )

    html = client.get(reverse("lessons:home")).content.decode()

    assert "Quiz not passed yet (50%)" in html

    Attempt.objects.create(
        quiz=quiz,
        user=user,
        shuffle_seed=2,
        status=Attempt.Status.SUBMITTED,
        score=1.0,
        submitted_at=timezone.now(),
    )

    html = client.get(reverse("lessons:home")).content.decode()

    assert "Quiz passed (100%)" in html  # best-attempt policy


def test_pages_use_a_small_fixed_number_of_queries(client, lessons, django_assert_max_num_queries):
    client.post(reverse("lessons:lesson-mark-read", kwargs={"slug": lessons[0].slug}))

    with django_assert_max_num_queries(12):
        assert client.get(reverse("lessons:home")).status_code == 200
    with django_assert_max_num_queries(8):
        assert client.get(lessons[1].get_absolute_url()).status_code == 200


# --- The article every reader shares (lessons.page_cache) -------------------------------------


def test_a_signed_in_learners_lesson_page_costs_three_queries(
    client, lessons, django_assert_max_num_queries
):
    from tests.factories import UserFactory

    user = UserFactory()
    client.force_login(user)
    url = lessons[1].get_absolute_url()
    client.post(reverse("lessons:lesson-mark-read", kwargs={"slug": lessons[1].slug}))
    assert client.get(url).status_code == 200  # the article is kept from here on
    # their session, their user, "have they read it?": nothing of the lesson itself
    with django_assert_max_num_queries(3):
        page = client.get(url)
    html = page.content.decode()
    assert page.status_code == 200 and 'class="read-done"' in html
    assert "Mark as read" not in html and user.get_username() in html
    assert "<!--learner:" not in html and "__shared-page-csrf-token__" not in html


def test_a_learner_with_a_session_only_costs_two_queries(
    client, lessons, django_assert_max_num_queries
):
    client.post(reverse("lessons:lesson-mark-read", kwargs={"slug": lessons[0].slug}))
    url = lessons[1].get_absolute_url()
    client.get(url)
    with django_assert_max_num_queries(2):  # the session and "have they read it?"
        html = client.get(url).content.decode()
    assert "Mark as read" in html  # lesson 0 is read, this one isn't


def test_learners_share_the_article_but_each_gets_their_own_read_mark_and_token(lessons):
    from django.test import Client

    from tests.factories import UserFactory

    url = lessons[1].get_absolute_url()
    reader, other = Client(enforce_csrf_checks=True), Client(enforce_csrf_checks=True)
    reader.force_login(UserFactory())
    other.force_login(UserFactory())
    token_of = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
    html = reader.get(url).content.decode()
    mark = reverse("lessons:lesson-mark-read", kwargs={"slug": lessons[1].slug})
    assert reader.post(mark, {"csrfmiddlewaretoken": token_of.search(html)[1]}).status_code == 302
    mine = reader.get(url).content.decode()
    theirs = other.get(url).content.decode()
    assert 'class="read-done"' in mine and "Mark as read" in theirs
    # every form on the page, the demo panels' included, carries the reader's own token
    tokens = set(token_of.findall(theirs))
    assert tokens and not tokens & set(token_of.findall(mine))

    def body_of(page: str) -> str:
        return without_csrf_tokens(page).split('id="lesson-body">')[1].split("<footer")[0]

    assert body_of(mine) == body_of(theirs)


def test_a_learner_sees_an_edit_at_once(client, lessons):
    from lessons.services import lesson_render
    from tests.factories import UserFactory

    client.force_login(UserFactory())
    lesson = lessons[1]
    assert "An edit for learners." not in client.get(lesson.get_absolute_url()).content.decode()
    lesson.body_markdown += "\n\nAn edit for learners.\n"
    lesson_render(lesson=lesson)
    assert "An edit for learners." in client.get(lesson.get_absolute_url()).content.decode()


# --- The page kept for visitors without a session (lessons.page_cache) -----------------------


def test_a_visitor_without_a_session_gets_the_kept_page_without_a_query(
    client, lessons, django_assert_num_queries
):
    from django.test import Client

    url = lessons[1].get_absolute_url()
    first = client.get(url)
    with django_assert_num_queries(0):
        second = Client().get(url)
    assert first.status_code == second.status_code == 200
    assert without_csrf_tokens(first.content.decode()) == without_csrf_tokens(
        second.content.decode()
    )
    assert "Cookie" in second["Vary"] and "csrftoken" in second.cookies
    assert "__shared-page-csrf-token__" not in second.content.decode()


def test_each_visitor_of_a_kept_page_gets_a_working_token_of_their_own(lessons):
    from django.test import Client

    url = lessons[1].get_absolute_url()
    mark = reverse("lessons:lesson-mark-read", kwargs={"slug": "bert"})
    one, two = Client(enforce_csrf_checks=True), Client(enforce_csrf_checks=True)
    html_one, html_two = one.get(url).content.decode(), two.get(url).content.decode()
    token_of = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
    token_one, token_two = token_of.search(html_one)[1], token_of.search(html_two)[1]
    assert one.post(mark, {"csrfmiddlewaretoken": token_two}).status_code == 403
    assert one.post(mark, {"csrfmiddlewaretoken": token_one}).status_code == 302
    assert LessonRead.objects.filter(lesson=lessons[1]).count() == 1


def test_a_visitor_with_a_session_sees_their_own_page(client, lessons):
    url = lessons[1].get_absolute_url()
    assert "Mark as read" in client.get(url).content.decode()  # kept for everyone
    client.post(reverse("lessons:lesson-mark-read", kwargs={"slug": "bert"}))
    page = client.get(url).content.decode()  # now with a session: rendered for them
    assert "Mark as read" not in page and 'class="read-done"' in page
    from django.test import Client

    assert "Mark as read" in Client().get(url).content.decode()  # others: the kept page


def test_an_edit_shows_at_once_in_the_kept_page(client, lessons):
    from lessons.services import lesson_render

    lesson = lessons[1]
    assert "A freshly edited line." not in client.get(lesson.get_absolute_url()).content.decode()
    lesson.body_markdown += "\n\nA freshly edited line.\n"
    lesson_render(lesson=lesson)
    assert "A freshly edited line." in client.get(lesson.get_absolute_url()).content.decode()


def test_a_new_quiz_question_shows_at_once_in_the_kept_page(client, lessons):
    lesson = lessons[1]
    before = client.get(lesson.get_absolute_url()).content.decode()
    count = int(re.search(r"(\d+)-question check", before)[1])
    single_choice_question(quiz=lesson.quiz)
    after = client.get(lesson.get_absolute_url()).content.decode()
    assert f"{count + 1}-question check" in after


def test_an_unknown_lesson_is_a_404_for_a_visitor_without_a_session(client, lessons):
    assert client.get("/lessons/no-such-lesson/").status_code == 404


def test_every_page_names_its_icon_so_browsers_dont_ask_for_a_missing_one(client, lessons):
    from django.contrib.staticfiles import finders

    for url in (reverse("lessons:home"), lessons[1].get_absolute_url()):
        assert 'rel="icon" href="/static/favicon.svg"' in client.get(url).content.decode()
    assert finders.find("favicon.svg")
