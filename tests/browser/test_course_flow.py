"""A learner reads a lesson, checks answers inline through htmx, submits, sees the score.

Runs the real course content in headless Chromium against Django's live server.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import expect

from lessons.loader import course_load
from lessons.models import Lesson, Question

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CONTENT = Path(settings.BASE_DIR) / "lessons" / "content"


def _answer_correctly(page, question: Question) -> None:
    """Fill in the right answer for one question, using only what a learner would click."""
    if question.kind == Question.Kind.SHORT_TEXT:
        page.fill(f"#answer-{question.pk}", question.accepted_answers.first().text)
        return
    for choice in question.choices.filter(is_correct=True):
        page.check(f"#choice-{question.pk}-{choice.pk}")


def test_read_lesson_check_inline_submit_and_see_score(live_server, page, screenshot):
    report = course_load(directory=CONTENT)
    assert not report.errors
    lesson = Lesson.objects.get(slug="bert")
    questions = list(lesson.quiz.questions.filter(is_active=True).order_by("order"))
    assert len(questions) >= 5

    # Read the lesson: rendered Markdown, a table of contents, the link to the quiz.
    page.goto(f"{live_server.url}{lesson.get_absolute_url()}")
    assert page.locator("h1").first.inner_text().strip() == lesson.title
    assert page.locator("nav.toc a, .toc a").count() >= 3
    screenshot(page, "course-lesson-bert")
    page.get_by_role("link", name=re.compile("quiz|check yourself", re.I)).first.click()
    page.wait_for_url(re.compile(r"/quiz/$"))

    # Check the first two questions inline: htmx swaps feedback in without a reload.
    url_before = page.url
    for question in questions[:2]:
        _answer_correctly(page, question)
        page.locator(f"#choices-{question.pk} .check-button").click()
        expect(page.locator(f"#feedback-{question.pk} .feedback-verdict")).to_contain_text(
            "Correct"
        )
        # The question is now locked for this attempt.
        expect(page.locator(f"#choices-{question.pk} input").first).to_be_disabled()
    assert page.url == url_before
    screenshot(page, "course-quiz-checked-inline")

    # Answer the rest, one deliberately wrong when it's a choice question, then submit.
    wrong = None
    for question in questions[2:]:
        if wrong is None and question.kind in (Question.Kind.SINGLE, Question.Kind.TRUE_FALSE):
            choice = question.choices.filter(is_correct=False).first()
            page.check(f"#choice-{question.pk}-{choice.pk}")
            wrong = question
        else:
            _answer_correctly(page, question)
    page.get_by_role("button", name="Submit answers").click()
    page.wait_for_url(re.compile(r"/attempts/[0-9a-f-]+/$"))

    expected = 100 * (len(questions) - (1 if wrong else 0)) / len(questions)
    score_text = page.locator(".result-percent").inner_text()
    shown = float(re.search(r"[\d.]+", score_text).group())
    assert expected - 0.1 <= shown <= expected  # shown rounded down, never up
    screenshot(page, "course-quiz-result")
    assert not [e for e in page.console_errors if "Content Security Policy" in e]

    attempt = lesson.quiz.attempts.get()
    assert attempt.status == "submitted"
    assert attempt.answers.count() == len(questions)


def test_lesson_is_readable_on_a_phone(live_server, chromium_browser, screenshot):
    course_load(directory=CONTENT)
    context = chromium_browser.new_context(viewport={"width": 375, "height": 800})
    page = context.new_page()
    page.goto(f"{live_server.url}/lessons/gpt/")
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    screenshot(page, "course-lesson-gpt-375")
    context.close()
    assert overflow <= 1
