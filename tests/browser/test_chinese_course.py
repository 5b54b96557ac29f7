"""A learner takes the BERT lesson and its quiz in Simplified Chinese, switches to English
half-way, and finds one attempt and one progress record.

Headless Chromium against Django's live server, the real course in both languages, and a
real model worker (tiny profile) answering the lesson's live demo. Screenshots of the
Chinese lesson with its live demo go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import re

import pytest
from django.utils import translation
from playwright.sync_api import expect

from lessons.models import Answer, Attempt, LessonRead, LessonTranslation, Question

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True)]

LIVE_TIMEOUT = 60_000  # ms: a 2-core machine running a browser, a server and a worker


def _zh(text: str, context: str | None = None) -> str:
    with translation.override("zh-hans"):
        return translation.pgettext(context, text) if context else translation.gettext(text)


def _check_right_answer(page, question: Question) -> None:
    for choice in question.choices.filter(is_correct=True):
        page.check(f"#choice-{question.pk}-{choice.pk}")
    page.locator(f"#choices-{question.pk} .check-button").click()


def test_a_learner_takes_a_lesson_in_chinese_and_finishes_in_english(live, page, screenshot):
    lesson_zh = LessonTranslation.objects.select_related("lesson").get(
        lesson__slug="bert", language="zh-hans"
    )
    lesson = lesson_zh.lesson

    # English first; the switcher shows the same lesson in Chinese
    page.goto(f"{live.url}/lessons/bert/")
    page.get_by_role("button", name="简体中文").click()
    page.wait_for_url(f"{live.url}/zh-hans/lessons/bert/")
    expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")
    expect(page.get_by_role("heading", level=1)).to_have_text(lesson_zh.title)

    # the lesson's live demo answers on the Chinese page (the models read English)
    panel = "#demo-1"
    page.click(f"{panel} .demo-form button[type=submit]")
    page.wait_for_selector(
        f"{panel} .demo-result[data-state=done]:not(.demo-result-stored)", timeout=LIVE_TIMEOUT
    )
    screenshot(page, "zh-lesson-bert")
    page.locator(panel).scroll_into_view_if_needed()
    screenshot(page, "zh-lesson-bert-live-demo", full_page=False)

    # mark it read, then the quiz in Chinese: two questions checked
    page.locator("#read-status button[type=submit]").click()
    expect(page.locator("#read-status .read-done")).to_be_visible()
    page.get_by_role("link", name=re.compile(_zh("Take the quiz"))).first.click()
    page.wait_for_url(f"{live.url}/zh-hans/lessons/bert/quiz/")
    first, second, third = (
        Question.objects.get(quiz__lesson=lesson, key=key)
        for key in ("mlm-share", "mlm-replacement", "why-not-always-mask")
    )
    expect(page.locator(f"#question-{first.pk}")).to_contain_text(first.translations.get().prompt)
    for question in (first, second):
        _check_right_answer(page, question)
        expect(page.locator(f"#feedback-{question.pk} .feedback-verdict")).to_contain_text(
            _zh("Correct", "verdict")
        )
    screenshot(page, "zh-quiz-bert")

    # half-way, English: the same attempt, its two answers kept and locked
    page.get_by_role("button", name="English").click()
    page.wait_for_url(f"{live.url}/lessons/bert/quiz/")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator(f"#question-{first.pk}")).to_contain_text(first.prompt)
    for question in (first, second):
        expect(page.locator(f"#feedback-{question.pk} .feedback-verdict")).to_contain_text(
            "Correct"
        )
    _check_right_answer(page, third)
    expect(page.locator(f"#feedback-{third.pk} .feedback-verdict")).to_contain_text("Correct")

    assert Attempt.objects.count() == 1
    assert Answer.objects.filter(attempt__quiz__lesson=lesson).count() == 3
    assert LessonRead.objects.filter(lesson=lesson).count() == 1

    # the progress page, in English, shows the one lesson read and the quiz under way
    page.get_by_role("link", name="Progress").click()
    row = page.locator("tr, li", has_text=lesson.title).first
    expect(row).to_be_visible()
    screenshot(page, "en-progress-after-chinese")
