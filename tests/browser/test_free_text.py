"""A learner explains an answer in their own words and sees it graded, in a real browser.

The real course content, Django's live server, and a real Celery model worker grading with
the real all-MiniLM-L6-v2 on a queue of this test's own.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import expect

from lessons.loader import course_load
from lessons.models import Answer, Lesson
from tests.lessons.test_free_text_flow import (  # noqa: F401  (fixtures)
    RIGHT,
    beat,
    grading_env,
    minilm_models_dir,
    start_grading_worker,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
]

CONTENT = Path(settings.BASE_DIR) / "lessons" / "content"


@pytest.fixture
def worker(grading_env, minilm_models_dir, tmp_path):  # noqa: F811
    process = start_grading_worker(minilm_models_dir, tmp_path, grading_env.queue)
    try:
        process.wait_ready(timeout=120)
        yield process
    finally:
        process.stop()


@pytest.mark.usefixtures("beat")
def test_explain_in_your_words_is_graded_in_the_quiz(live_server, page, screenshot, worker):
    assert not course_load(directory=CONTENT).errors
    lesson = Lesson.objects.get(slug="bert-vs-gpt")
    question = lesson.quiz.questions.get(key="explain-bert-left-to-right")

    page.goto(f"{live_server.url}/lessons/{lesson.slug}/quiz/")
    box = page.get_by_label(re.compile(r"Your explanation for question \d+"))
    expect(box).to_be_visible()
    box.fill(RIGHT)
    page.locator(f"#choices-{question.pk} .check-button").click()

    feedback = page.locator(f"#feedback-{question.pk}")
    # Saved at once (pending), then htmx polls until the worker's grade is recorded.
    expect(feedback.locator(".feedback-verdict")).to_contain_text("Correct", timeout=30_000)
    expect(feedback).to_contain_text("Closest model answer:")
    expect(feedback).to_contain_text("covers every key idea")
    expect(page.locator(f"#answer-{question.pk}")).to_be_disabled()
    screenshot(page, "free-text-graded-inline")

    answer = Answer.objects.get(question=question)
    assert answer.grading_status == "graded" and answer.score == 1.0

    page.get_by_role("button", name="Submit answers").click()
    page.wait_for_url(re.compile(r"/attempts/[0-9a-f-]+/$"))
    expect(page.locator(f"#question-{question.pk}")).to_contain_text("Correct")
    expect(page.locator(".result-summary")).not_to_contain_text("Provisional")
    assert not [e for e in page.console_errors if "Content Security Policy" in e]
