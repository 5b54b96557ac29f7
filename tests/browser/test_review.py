"""An instructor reviews a free-text grade in a real browser: the score the form shows is
the grader's, and saving it untouched keeps the exact score without asking for a comment
(issue 17: 82.7% was pre-filled as 83 and then refused as a change)."""

from __future__ import annotations

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from lessons.models import Answer
from tests.browser.test_admin_preview import log_in_to_the_admin
from tests.factories import AttemptFactory, QuizFactory, StaffUserFactory, free_text_question

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_saving_the_shown_score_untouched_keeps_the_exact_grade(live_server, page):
    StaffUserFactory(username="teacher")
    quiz = QuizFactory()
    question = free_text_question(quiz=quiz, key="explain-bert")
    attempt = AttemptFactory(quiz=quiz, status="submitted", submitted_at=timezone.now())
    answer = Answer.objects.create(
        attempt=attempt,
        question=question,
        text="BERT fills in masked words from both sides, so it never learned to go left to right.",
        score=0.827,
        auto_score=0.827,
        is_correct=True,
        grading_status="graded",
        confidence=0.05,
    )
    log_in_to_the_admin(page, live_server.url, "teacher", "/admin/")
    page.goto(f"{live_server.url}/staff/review/")

    row = page.locator(f"#answer-{answer.pk}")
    score = row.locator(f"#score-{answer.pk}")  # "Score (%)"; the comment label names it too
    expect(score).to_have_value("83")  # the grader's 82.7%, to the whole percent
    row.get_by_role("button", name="Save this score").click()

    expect(page.locator(f"#answer-{answer.pk} .review-saved")).to_contain_text("Review saved")
    expect(page.get_by_text("Say in a comment why")).to_have_count(0)
    saved = Answer.objects.get(pk=answer.pk)
    assert saved.reviewed_at is not None
    assert saved.review_score == pytest.approx(0.827) and saved.score == pytest.approx(0.827)
