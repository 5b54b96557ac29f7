"""Staff edit a lesson in the admin and see the live preview follow their typing, demo blocks
included, in a real browser (htmx under the site's Content-Security-Policy)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from lessons.admin.preview import PREVIEW_MAX_CHARS
from lessons.models import Lesson
from lessons.services import lesson_render
from tests.browser.conftest import SCREENSHOTS
from tests.factories import DEFAULT_PASSWORD, LessonFactory, StaffUserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DEMO_BLOCK = '\n```demo fill-mask\ntext: "The capital of France is [MASK]."\n```\n'


def log_in_to_the_admin(page, base: str, username: str, next_path: str) -> None:
    page.goto(f"{base}/admin/login/?next={next_path}")
    page.fill("#id_username", username)
    page.fill("#id_password", DEFAULT_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(re.escape(next_path) + "$"))


def test_the_admin_preview_shows_a_demo_block_as_staff_type_it(live_server, page):
    StaffUserFactory(username="editor")
    lesson = LessonFactory(body_markdown="## Before the demo\n\nBERT reads both ways.\n")
    lesson_render(lesson=lesson)
    stored = Lesson.objects.values("body_markdown", "body_html").get(pk=lesson.pk)
    change_path = f"/admin/lessons/lesson/{lesson.pk}/change/"
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security" in m.text else None)

    log_in_to_the_admin(page, live_server.url, "editor", change_path)

    preview = page.locator("#lesson-preview-body")
    expect(preview.get_by_role("heading", name="Before the demo")).to_be_visible()
    expect(preview.locator(".demo-panel")).to_have_count(0)

    editor = page.get_by_label("Body markdown")
    editor.click()
    editor.press("Control+End")
    editor.press_sequentially(DEMO_BLOCK)

    # The panel learners get: the demo's title, its form filled with the block's default,
    # and the stored example's result (inference/widget.html, as on the lesson page).
    demo = preview.locator('.demo-slot[data-demo-live="true"]')
    expect(demo).to_have_count(1, timeout=10_000)
    expect(demo.locator(".demo-widget-title")).to_contain_text("Fill in the blank with BERT")
    expect(demo.locator("#demo-1-text")).to_have_value("The capital of France is [MASK].")
    expect(demo.get_by_role("button", name="Guess the missing words")).to_be_visible()
    expect(demo.locator("#demo-1-result .badge-stored")).to_be_visible()
    expect(preview.get_by_role("heading", name="Before the demo")).to_be_visible()
    expect(page.locator("#lesson-preview-updating")).to_have_css("opacity", "0")

    # (caret="initial": hiding the caret writes an empty style attribute on every field, and
    # htmx copying it onto a swapped-in field is refused by the CSP; see test_demos.py.)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "admin-lesson-live-preview.png"), caret="initial")

    # A body over the limit: the preview says so instead of rendering it.
    editor.fill("x" * (PREVIEW_MAX_CHARS + 1))
    expect(preview).to_contain_text("Too long to preview", timeout=10_000)
    expect(preview.locator(".demo-panel")).to_have_count(0)

    # Previewing saved nothing; no script or style was refused by the CSP, nothing threw.
    assert Lesson.objects.values("body_markdown", "body_html").get(pk=lesson.pk) == stored
    assert refused == []
    # Chromium notes every 4xx answer in the console; the 413 is the refusal asked for.
    assert [e for e in page.console_errors if "status of 413" not in e] == []
