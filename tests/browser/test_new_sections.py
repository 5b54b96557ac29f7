"""A learner finds one of the course's newer sections, beam search, and checks its questions.

The section was added to the decoding lesson next to greedy decoding and sampling: a worked
beam tree, a table of the beams kept at each step, and the next-token demo to build a tree
by hand. Headless Chromium against Django's live server, on the real course content.
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
BEAM_QUESTIONS = ("beam-why-better", "beam-candidates", "beam-open-ended")


def test_the_beam_search_section_reads_and_its_questions_check(live_server, page, screenshot):
    assert not course_load(directory=CONTENT).errors
    lesson = Lesson.objects.get(slug="generation-parameters")

    page.goto(f"{live_server.url}{lesson.get_absolute_url()}")
    page.locator(".toc-sidebar a", has_text="Beam search").click()  # "On this page"
    heading = page.get_by_role("heading", name=re.compile("^Beam search"))
    expect(heading).to_be_in_viewport()
    section = page.locator("h2:has-text('Beam search') ~ *")
    # the worked tree and the table of the beams kept, as the lesson text describes them
    expect(section.locator("pre", has_text="juice").first).to_be_visible()
    table = section.locator("table", has_text="The two beams kept").first
    expect(table).to_contain_text("red wine and (−2.00)")
    # the demo to build a tree by hand, prefilled with the section's prompt
    prompts = page.locator("[name=prompt]")
    values = [prompts.nth(i).input_value() for i in range(prompts.count())]
    assert "The cat sat on the" in values, values
    screenshot(page, "new-section-beam-search")

    page.get_by_role("link", name=re.compile("quiz|check yourself", re.I)).first.click()
    page.wait_for_url(re.compile(r"/quiz/$"))
    for key in BEAM_QUESTIONS:
        question = lesson.quiz.questions.get(key=key)
        if question.kind == Question.Kind.SHORT_TEXT:
            page.fill(f"#answer-{question.pk}", "150,000")
        else:
            for choice in question.choices.filter(is_correct=True):
                page.check(f"#choice-{question.pk}-{choice.pk}")
        page.locator(f"#choices-{question.pk} .check-button").click()
        expect(page.locator(f"#feedback-{question.pk} .feedback-verdict")).to_contain_text(
            "Correct"
        )
    # the short answer's explanation works the count out
    short = lesson.quiz.questions.get(key="beam-candidates")
    expect(page.locator(f"#feedback-{short.pk}")).to_contain_text("3 × 50,000")
    screenshot(page, "new-section-beam-search-quiz")
    assert not [e for e in page.console_errors if "Content Security Policy" in e]
