"""Every kind of page, as learners and staff meet it, checked by axe-core in a real browser.

axe-core (``make axe`` installs the pinned version into var/npm/) runs on each page at a
desktop (1280 px) and a phone (390 px) width; any violation of impact serious or critical
fails the test, and all of them are listed. Each page is also saved as a screenshot,
test-artifacts/screenshots/a11y-<page>-<width>.png, for people to look at.

The site's Content-Security-Policy allows scripts from its own origin only, so axe is not
injected as an inline script (``add_script_tag(path=...)`` would be refused): the page
loads it from a same-origin address that the browser context answers with the file.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from playwright.sync_api import expect

from lessons.loader import course_load
from lessons.models import Answer, Lesson, LessonRead, Question
from tests.browser import test_demos as demo_fixtures
from tests.browser.conftest import SCREENSHOTS
from tests.factories import (
    DEFAULT_PASSWORD,
    AnswerFactory,
    StaffUserFactory,
    SubmittedAttemptFactory,
    UserFactory,
    free_text_question,
)
from tests.inference.web.test_training_report import record as training_record

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CONTENT = Path(django_settings.BASE_DIR) / "lessons" / "content"
AXE = Path(django_settings.BASE_DIR) / "var" / "npm" / "node_modules" / "axe-core" / "axe.min.js"
AXE_URL = "/__axe-core__/axe.min.js"  # never a real page: the context answers it
WIDTHS = {"desktop": 1280, "phone": 390}
FAILING = ("serious", "critical")
LESSON_WITH_DEMOS = "bert-vs-gpt"  # attention heatmaps and tokenization, stored examples
QUIZ_LESSON = "bert"


def axe_or_skip() -> Path:
    if not AXE.is_file():
        pytest.skip(f"needs axe-core in {AXE.parent} (`make axe` installs it with npm)")
    return AXE


def new_page(browser, width: int):
    context = browser.new_context(viewport={"width": width, "height": 900})
    axe = axe_or_skip()
    context.route(f"**{AXE_URL}", lambda route: route.fulfill(path=str(axe)))
    page = context.new_page()
    page.console_errors = []
    page.on("pageerror", lambda exc: page.console_errors.append(str(exc)))
    return context, page


def run_axe(page) -> list[dict]:
    """axe-core's violations on the page as it is now: ``axe.run()`` with its default rules
    (WCAG 2.0-2.2 A and AA, and best practice)."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(url=AXE_URL)
    return page.evaluate(
        """async () => {
            const results = await axe.run(document, {resultTypes: ["violations"]});
            return results.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map(n => ({target: n.target.join(" "), summary: n.failureSummary})),
            }));
        }"""
    )


def shoot(page, name: str) -> Path:
    """A full-page screenshot (caret left alone: see tests/browser/test_demos.py's shoot)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"a11y-{name}.png"
    page.screenshot(path=str(path), full_page=True, caret="initial")
    return path


class Findings:
    """What axe found on each page, and which of it fails the test."""

    def __init__(self, width: str) -> None:
        self.width = width
        self.failing: list[str] = []
        self.minor: list[str] = []
        self.pages: list[str] = []

    def check(self, page, name: str) -> None:
        page.wait_for_load_state("networkidle")
        violations = run_axe(page)
        shoot(page, f"{name}-{WIDTHS[self.width]}")
        self.pages.append(name)
        for v in violations:
            where = "; ".join(
                f"{n['target']}: {n['summary'].splitlines()[-1].strip()}" for n in v["nodes"][:6]
            )
            line = (
                f"{name} @ {WIDTHS[self.width]}px: {v['id']} ({v['impact']}) {v['help']} [{where}]"
            )
            (self.failing if v["impact"] in FAILING else self.minor).append(line)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        if overflow > 1:
            self.failing.append(
                f"{name} @ {WIDTHS[self.width]}px: the page scrolls sideways by {overflow}px"
            )


def log_in(page, base: str, username: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", DEFAULT_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"^(?!.*accounts/login)"))


def answer_correctly(page, question: Question) -> None:
    if question.kind == Question.Kind.SHORT_TEXT:
        page.fill(f"#answer-{question.pk}", question.accepted_answers.first().text)
        return
    for choice in question.choices.filter(is_correct=True):
        page.check(f"#choice-{question.pk}-{choice.pk}")


@pytest.fixture
def course(settings, tmp_path):
    """The real course, a learner's submitted attempt for the gradebook, an answer the grader
    couldn't grade for the review queue, and a demo build's training record."""
    report = course_load(directory=CONTENT)
    assert not report.errors
    quiz = Lesson.objects.get(slug=QUIZ_LESSON).quiz
    learner = UserFactory(username="ada")
    attempt = SubmittedAttemptFactory(quiz=quiz, user=learner, score=0.8)
    explain = free_text_question(quiz=quiz, is_active=False)  # off the quiz page
    AnswerFactory(
        attempt=attempt,
        question=explain,
        text="BERT only fills in blanks from both sides, so it never learnt to continue text.",
        grading_status=Answer.GradingStatus.FAILED,
        grading_error="The grader timed out.",
    )
    StaffUserFactory(username="staff")
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "training.json").write_text(json.dumps(training_record()))
    settings.MODELS_DIR = tmp_path
    settings.INFERENCE_PROFILE = "demo"
    return quiz


@pytest.mark.parametrize("width", list(WIDTHS))
def test_no_page_has_a_serious_or_critical_accessibility_violation(
    live_server, chromium_browser, course, width
):
    base = live_server.url
    findings = Findings(width)
    context, page = new_page(chromium_browser, WIDTHS[width])
    try:
        for name, path in (
            ("home", "/"),
            ("lesson-with-demos", f"/lessons/{LESSON_WITH_DEMOS}/"),
            ("lesson-fill-mask", f"/lessons/{QUIZ_LESSON}/"),
            ("playground", "/demos/"),
            ("training", "/demos/training/"),
            ("progress", "/progress/"),
            ("sign-up", "/accounts/signup/"),
            ("log-in", "/accounts/login/"),
            # the Chinese course: its own lang, fonts, wrapped labels
            ("zh-home", "/zh-hans/"),
            ("zh-lesson-with-demos", f"/zh-hans/lessons/{LESSON_WITH_DEMOS}/"),
            ("zh-quiz", f"/zh-hans/lessons/{QUIZ_LESSON}/quiz/"),
            ("interview", "/interview/"),
            ("zh-interview", "/zh-hans/interview/"),
        ):
            page.goto(base + path)
            findings.check(page, name)

        # A quiz before any answer, with two answers checked inline, and its result.
        page.goto(f"{base}/lessons/{QUIZ_LESSON}/quiz/")
        findings.check(page, "quiz-before")
        questions = list(course.questions.filter(is_active=True).order_by("order"))
        for question in questions[:2]:
            answer_correctly(page, question)
            page.locator(f"#choices-{question.pk} .check-button").click()
            page.locator(f"#feedback-{question.pk} .feedback-verdict").wait_for()
        findings.check(page, "quiz-checked")
        page.get_by_role("button", name="Submit answers").click()
        page.wait_for_url(re.compile(r"/attempts/[0-9a-f-]+/$"))
        findings.check(page, "quiz-result")

        # Staff pages, in a browser of their own (a log-in here would take over the
        # anonymous learner's attempt).
        context.close()
        context, page = new_page(chromium_browser, WIDTHS[width])
        log_in(page, base, "staff")
        for name, path in (
            ("gradebook", "/staff/gradebook/"),
            ("review-queue", "/staff/review/"),
            ("admin-lesson", f"/admin/lessons/lesson/{course.lesson.pk}/change/"),
        ):
            page.goto(base + path)
            findings.check(page, name)
    finally:
        context.close()
    # Everything axe said, minor findings too, for people to read.
    report = SCREENSHOTS.parent / f"a11y-{WIDTHS[width]}.txt"
    report.write_text("\n".join(["Failing:", *findings.failing, "", "Minor:", *findings.minor]))
    assert len(findings.pages) == 19
    assert not findings.failing, "\n".join(findings.failing)


# --- Keyboard only: a live demo run, then a quiz -----------------------------------------------

# `live`: the live server with a real model worker on the tiny models (tests/browser/conftest.py).


def tab_to(page, selector: str, *, limit: int = 400) -> None:
    """Press Tab until the focused element matches ``selector`` (as a keyboard user would)."""
    for _ in range(limit):
        if page.evaluate(
            "s => !!document.activeElement && document.activeElement.matches(s)", selector
        ):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"{limit} presses of Tab never reached {selector}")


def answer_by_keyboard(page, fieldset: str) -> None:
    """Pick the first choice with Space, or type an answer: only keys."""
    kinds = page.eval_on_selector(
        fieldset, "f => [...f.querySelectorAll('input, textarea')].map(i => i.type)"
    )
    if "radio" in kinds or "checkbox" in kinds:
        tab_to(page, f"{fieldset} input")
        page.keyboard.press("Space")
    else:
        tab_to(page, f"{fieldset} input[type=text], {fieldset} textarea")
        page.keyboard.type("attention")


@pytest.mark.integration
def test_keyboard_only_a_demo_run_and_a_quiz_move_focus_to_their_results(live, chromium_browser):
    context = chromium_browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    csp: list[str] = []
    page.on(
        "console", lambda m: csp.append(m.text) if "Content Security Policy" in m.text else None
    )
    try:
        page.goto(f"{live.url}/lessons/{QUIZ_LESSON}/")
        # The fill-mask demo: Tab to its button, Enter. Focus lands on the live result's
        # status line, and the polite live region says it is done.
        tab_to(page, "#demo-1-submit")
        page.keyboard.press("Enter")
        status = page.locator(f"{demo_fixtures.live_result('#demo-1')} [data-result-status]")
        status.wait_for(timeout=demo_fixtures.LIVE_TIMEOUT)
        expect(status).to_be_focused()
        expect(status).to_contain_text("Done")
        expect(page.locator("#live-status")).to_contain_text("Done")
        expect(page.locator("#live-status")).not_to_contain_text("@")  # no worker host name

        # On to the quiz: its link, Enter.
        tab_to(page, ".check-card a.button")
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile(r"/quiz/$"))
        fieldsets = page.locator(".question-choices")
        first = f"#{fieldsets.nth(0).get_attribute('id')}"
        second = f"#{fieldsets.nth(1).get_attribute('id')}"
        answer_by_keyboard(page, first)
        tab_to(page, f"{first} .check-button")
        page.keyboard.press("Enter")
        feedback = page.locator(f"#feedback-{first.split('-')[-1]} .feedback")
        expect(feedback).to_be_focused()  # the verdict, read out where focus lands
        answer_by_keyboard(page, second)
        tab_to(page, ".quiz-submit button[type=submit]")
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile(r"/attempts/[0-9a-f-]+/$"))
        expect(page.locator(".result-summary")).to_be_focused()

        # Taking the quiz marked nothing read; "Mark as read" does, and says so.
        assert not LessonRead.objects.exists()
        page.goto(f"{live.url}/lessons/{QUIZ_LESSON}/")
        tab_to(page, "#read-status button")
        page.keyboard.press("Enter")
        expect(page.locator("#read-status")).to_contain_text("Saved to your progress.")
        assert LessonRead.objects.count() == 1
    finally:
        context.close()
    assert csp == []
