"""XSS: admin-authored Markdown, quiz text and feedback, demo prompts and model output.

Every payload in ``html_checks.PAYLOADS`` (script tags, event handlers, ``javascript:``
and ``data:`` URLs, SVG, mutation-XSS shapes, htmx inline handlers, template syntax) is
put wherever people or models can put text, and every page and partial that shows it
is parsed like a browser would: nothing in it may be able to run script.
"""

from __future__ import annotations

import json
import re
import uuid

import pytest
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from inference.contract import streams
from lessons.models import Choice, Question
from lessons.services import lesson_render
from tests.factories import (
    AcceptedAnswerFactory,
    ChoiceFactory,
    LessonFactory,
    QuestionFactory,
    QuizFactory,
    StaffUserFactory,
    UserFactory,
)
from tests.quiz_support import start_attempt

from .html_checks import PAYLOADS, assert_inert, executable_bits

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}
HTML_PAYLOADS = [p for p in PAYLOADS if "<" in p]


# --- The checker itself ----------------------------------------------------------------


@pytest.mark.parametrize("payload", HTML_PAYLOADS)
def test_the_checker_catches_each_payload_raw_and_passes_it_escaped(payload):
    if payload.startswith("<base") or "<meta" in payload:
        assert executable_bits(payload)
    elif payload.startswith("<scr<script>"):
        # Inert as written; it targets filters that strip "<script>" once, which would
        # leave a working tag behind.
        assert executable_bits(f"<p>{payload.replace('<script>', '', 1)}</p>")
    else:
        assert executable_bits(f"<p>{payload}</p>"), payload
    assert executable_bits(f"<p>{escape(payload)}</p>") == []


def test_the_checker_allows_the_sites_own_scripts():
    assert executable_bits('<script src="/static/js/demo-widgets.js" defer></script>') == []
    assert executable_bits('<script type="application/json" id="x">{"a": 1}</script>') == []
    assert executable_bits("<script>var a = 1;</script>")
    assert executable_bits('<script src="https://evil.example/x.js"></script>')


# --- Admin-authored lessons --------------------------------------------------------------


def hostile_markdown() -> str:
    blocks = []
    for index, payload in enumerate(PAYLOADS):
        blocks.append(f"## Heading {index} {payload}\n\n{payload}\n\nInline {payload} text.\n")
        blocks.append(
            f"> {payload}\n\n- item {payload}\n\n| a | b |\n|---|---|\n| {payload} | x |\n"
        )
        blocks.append(f"[link {index}](javascript:alert('{index}')) and <{payload}>\n")
    blocks.append("<script>alert('raw block')</script>\n\n<style>body{display:none}</style>\n")
    blocks.append('<a href="javascript&colon;alert(1)">entity colon</a>\n')
    blocks.append("```demo fill-mask\ntext: \"<script>alert('demo')</script> [MASK]\"\n```\n")
    blocks.append('```demo generate\nprompt: "<img src=x onerror=alert(1)>"\n```\n')
    blocks.append("```html\n<script>alert('in code')</script>\n```\n")
    return "\n".join(blocks)


@pytest.fixture
def hostile_lesson():
    payload = PAYLOADS[1]
    lesson = LessonFactory(
        title=f"Title {payload}",
        summary=f"Summary {PAYLOADS[0]}",
        section=f"Section {PAYLOADS[2]}",
        body_markdown=hostile_markdown(),
        rendered=False,
    )
    lesson_render(lesson=lesson)
    return lesson


def test_hostile_lesson_markdown_renders_inert_everywhere(client, hostile_lesson):
    lesson = hostile_lesson
    assert_inert(lesson.body_html, "stored body_html")
    assert_inert(lesson.toc_html, "stored toc_html")
    for url in (
        reverse("lessons:home"),
        reverse("lessons:lesson-detail", kwargs={"slug": lesson.slug}),
        reverse("lessons:progress"),
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        assert_inert(response.content.decode(), url)
    page = client.get(reverse("lessons:lesson-detail", kwargs={"slug": lesson.slug}))
    html = page.content.decode()
    # Sanitized, not emptied: the prose around the payloads survives.
    assert "Inline" in html and "Heading 3" in html


def test_template_syntax_in_lessons_is_just_text(client):
    lesson = LessonFactory(
        title="{{ 7|add:7 }} title",
        body_markdown="Before {{ request.META }}{% debug %} after.\n",
    )
    html = client.get(reverse("lessons:lesson-detail", kwargs={"slug": lesson.slug})).content
    html = html.decode()
    assert "{{ 7|add:7 }} title" in html and "14 title" not in html
    assert "Before {{ request.META }}{% debug %} after." in html
    assert "wsgi.input" not in html


def test_hostile_lesson_is_inert_in_the_admin_preview_and_history(client, hostile_lesson):
    client.force_login(StaffUserFactory())
    # A second version, so the History page has a line diff of the hostile body to show.
    hostile_lesson.body_markdown = f"{PAYLOADS[0]}\n\n" + hostile_lesson.body_markdown
    hostile_lesson.save()
    first = hostile_lesson.history.earliest("history_date")
    for url in (
        reverse("admin:lessons_lesson_change", args=[hostile_lesson.pk]),
        reverse("admin:lessons_lesson_changelist"),
        reverse("admin:lessons_lesson_history", args=[hostile_lesson.pk]),
        reverse("admin:lessons_lesson_simple_history", args=[hostile_lesson.pk, first.pk]),
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        assert_inert(response.content.decode(), url)
    # The live preview of the text as typed, before any save.
    response = client.post(
        reverse("admin:lessons_lesson_preview"), {"body_markdown": hostile_markdown()}, **HX
    )
    assert response.status_code == 200
    assert_inert(response.content.decode(), "admin live preview")
    assert "Inline" in response.content.decode()  # sanitized, not emptied


def test_htmx_mark_read_partial_is_inert(client, hostile_lesson):
    url = reverse("lessons:lesson-mark-read", kwargs={"slug": hostile_lesson.slug})
    response = client.post(url, **HX)
    assert response.status_code == 200
    assert_inert(response.content.decode(), "read-status partial")


# --- Quizzes: text, feedback, a learner's own answers -----------------------------------


@pytest.fixture
def hostile_quiz():
    lesson = LessonFactory(title=f"Quiz lesson {PAYLOADS[3]}")
    quiz = QuizFactory(lesson=lesson, title=f"Quiz {PAYLOADS[4]}", reveal_answers=True)
    single = QuestionFactory(
        quiz=quiz,
        kind=Question.Kind.SINGLE,
        key="single",
        order=0,
        prompt=f"Prompt {PAYLOADS[5]}",
        explanation=f"Because {PAYLOADS[6]}",
    )
    for index, payload in enumerate(HTML_PAYLOADS[:4]):
        ChoiceFactory(
            question=single,
            text=f"Choice {payload}"[:500],
            is_correct=index == 0,
            feedback=f"Feedback {HTML_PAYLOADS[-1 - index]}",
            order=index,
        )
    multiple = QuestionFactory(
        quiz=quiz,
        kind=Question.Kind.MULTIPLE,
        key="multiple",
        order=1,
        prompt=f"Pick {PAYLOADS[7]}",
        explanation=f"Explained {PAYLOADS[8]}",
    )
    for index, payload in enumerate(HTML_PAYLOADS[4:8]):
        ChoiceFactory(
            question=multiple,
            text=f"Option {payload}"[:500],
            is_correct=index < 2,
            feedback=f"Note {payload}",
            order=index,
        )
    text = QuestionFactory(
        quiz=quiz,
        kind=Question.Kind.SHORT_TEXT,
        key="text",
        order=2,
        prompt=f"Type {PAYLOADS[9]}",
        explanation=f"Accepted {PAYLOADS[10]}",
    )
    AcceptedAnswerFactory(question=text, text=f"answer {PAYLOADS[11]}"[:300])
    return quiz


def test_hostile_quiz_is_inert_before_during_and_after_answering(client, hostile_quiz):
    quiz = hostile_quiz
    user = UserFactory()
    client.force_login(user)
    page = client.get(reverse("lessons:quiz-detail", kwargs={"slug": quiz.lesson.slug}))
    assert page.status_code == 200
    assert_inert(page.content.decode(), "quiz page")
    attempt = start_attempt(client, quiz)
    questions = {q.key: q for q in quiz.questions.all()}
    single, multiple, text = questions["single"], questions["multiple"], questions["text"]
    wrong = Choice.objects.filter(question=single, is_correct=False).first()

    check = client.post(
        reverse(
            "lessons:question-check", kwargs={"token": attempt.token, "question_id": single.pk}
        ),
        {f"q-{single.pk}": str(wrong.pk)},
        **HX,
    )
    assert check.status_code == 200
    assert_inert(check.content.decode(), "inline feedback partial")
    # The learner's own typed answer comes back too: it is just as untrusted.
    submit = client.post(
        reverse("lessons:quiz-submit", kwargs={"token": attempt.token}),
        {
            f"q-{multiple.pk}": [str(c.pk) for c in multiple.choices.all()[:1]],
            f"q-{text.pk}": PAYLOADS[0],
        },
    )
    assert submit.status_code == 302
    for url in (
        submit["Location"],
        reverse("lessons:progress"),
        reverse("lessons:quiz-detail", kwargs={"slug": quiz.lesson.slug}),
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        assert_inert(response.content.decode(), url)

    staff = Client()
    staff.force_login(StaffUserFactory())
    for url in (
        reverse("lessons:gradebook"),
        reverse("lessons:gradebook-quiz", args=[quiz.pk]),
        reverse("admin:lessons_quiz_change", args=[quiz.pk]),
        reverse("admin:lessons_question_change", args=[single.pk]),
        reverse("admin:lessons_attempt_change", args=[attempt.pk]),
        reverse("lessons:attempt-detail", kwargs={"token": attempt.token}),
    ):
        response = staff.get(url)
        assert response.status_code == 200, url
        assert_inert(response.content.decode(), url)
    csv_text = b"".join(staff.get(reverse("lessons:attempts-csv")).streaming_content).decode()
    for cell in csv_text.splitlines():
        for value in cell.split(","):
            assert not value.strip('"').startswith(("=", "+", "@")), value


def test_rejected_quiz_submit_shows_the_typed_payload_inert(client, hostile_quiz):
    attempt = start_attempt(client, hostile_quiz)
    text = hostile_quiz.questions.get(key="text")
    single = hostile_quiz.questions.get(key="single")
    for htmx in (False, True):
        response = client.post(
            reverse("lessons:quiz-submit", kwargs={"token": attempt.token}),
            {f"q-{text.pk}": PAYLOADS[12], f"q-{single.pk}": "not-a-choice"},
            **(HX if htmx else {}),
        )
        assert response.status_code == 400
        html = response.content.decode()
        assert_inert(html, "rejected submit")
        assert escape(PAYLOADS[12]) in html  # shown back, escaped


# --- Demos: prompts in, model output out -------------------------------------------------

DEMO_INPUTS = {
    "fill-mask": lambda p: {"text": f"{p} the [MASK] sat .", "top_k": 3},
    "generate": lambda p: {"prompt": p, "max_new_tokens": 4},
    "next-token": lambda p: {"prompt": p, "top_k": 5},
    "attention": lambda p: {"text": p},
    "tokenize": lambda p: {"text": p},
    "embeddings": lambda p: {
        "word": "alert",
        "sentence_a": f"{p} alert",
        "sentence_b": f"alert {p}",
    },
    "next-sentence": lambda p: {"sentence_a": p, "sentence_b": f"then {p}"},
}
SSE_DATA = re.compile(r"^data: ?(.*)$", re.M)


def run_in_process(kind: str, params: dict) -> str:
    """Run the demo's real Celery task in this process, as the worker would."""
    from inference.worker import tasks

    task_id = uuid.uuid4().hex
    client = streams.redis_client()
    streams.publish(client, task_id, {**streams.queued_event(kind), "params": params})
    task = tasks.demo_task(kind)
    task.apply(kwargs=params, task_id=task_id).get()
    return task_id


def poison(value, payloads):
    """Every string in a real result replaced by a payload: a model that emits markup."""
    if isinstance(value, str):
        return next(payloads)
    if isinstance(value, list):
        return [poison(item, payloads) for item in value]
    if isinstance(value, dict):
        return {key: poison(item, payloads) for key, item in value.items()}
    return value


def cycle(items):
    while True:
        yield from items


def result_views_inert(client, task_id: str) -> None:
    for url, extra in (
        (reverse("inference:demo-result", args=[task_id]), {}),
        (reverse("inference:demo-result", args=[task_id]), HX),
        (reverse("inference:demo-poll", args=[task_id]), HX),
    ):
        response = client.get(url, **extra)
        assert response.status_code in (200, 286), (url, response.status_code)
        html = response.content.decode()
        assert_inert(html, url)
        for stream_url in re.findall(r'sse-connect="([^"]+)"', html):
            stream = client.get(stream_url.replace("&amp;", "&"))
            body = b"".join(stream.streaming_content).decode()
            for data in SSE_DATA.findall(body):
                if data.startswith(("{", "[")):
                    json.loads(data)  # JSON for scripts, never markup for the page
                else:
                    assert_inert(data, f"SSE data from {stream_url}")


@pytest.mark.parametrize("kind", list(DEMO_INPUTS))
def test_demo_prompts_and_model_output_are_escaped(client, test_redis, tiny_runtime_loaded, kind):
    # The learner's hostile input, through the real task on real (tiny) models.
    real = None
    for payload in HTML_PAYLOADS[:8]:
        task_id = run_in_process(kind, DEMO_INPUTS[kind](payload))
        outcome = streams.outcome(streams.redis_client(), task_id)
        assert outcome is not None  # done, or an error such as "too many tokens"
        real = outcome if outcome["type"] == "done" else real
        result_views_inert(client, task_id)
    # A model that emits markup: the real result's every string replaced by payloads.
    assert real is not None, f"no {kind} payload ran to a result"
    payloads = cycle(HTML_PAYLOADS)
    poisoned_id = uuid.uuid4().hex
    redis_client = streams.redis_client()
    params = poison(DEMO_INPUTS[kind]("x"), payloads)
    streams.publish(redis_client, poisoned_id, {**streams.queued_event(kind), "params": params})
    streams.publish(redis_client, poisoned_id, streams.started_event(next(payloads)))
    result = poison(real["result"], payloads)
    for token in result.get("tokens") or []:
        if isinstance(token, dict) and "index" in token:
            streams.publish(redis_client, poisoned_id, {**token, "type": "token"})
    if kind == "generate":
        # While it streams: the pending partial, the token stream (SSE) and its end.
        result_views_inert(client, poisoned_id)
    streams.publish(redis_client, poisoned_id, streams.done_event(result))
    result_views_inert(client, poisoned_id)


def test_demo_form_errors_echo_input_inert(client, test_redis):
    for kind in DEMO_INPUTS:
        data = {key: f"{PAYLOADS[0]}{'x' * 500}" for key in DEMO_INPUTS[kind]("x")}
        for extra in ({}, HX):
            response = client.post(reverse("inference:demo-submit", args=[kind]), data, **extra)
            assert response.status_code in (200, 400), (kind, response.status_code)
            assert_inert(response.content.decode(), f"{kind} form errors")


def test_poisoned_error_message_and_worker_name_are_escaped(client, test_redis):
    redis_client = streams.redis_client()
    task_id = uuid.uuid4().hex
    streams.publish(
        redis_client,
        task_id,
        {**streams.queued_event("generate"), "params": {"prompt": PAYLOADS[2]}},
    )
    streams.publish(redis_client, task_id, streams.started_event(PAYLOADS[1]))
    streams.publish(redis_client, task_id, streams.error_event("internal", PAYLOADS[0]))
    result_views_inert(client, task_id)


def test_streamed_tokens_reach_the_page_escaped(client, test_redis):
    """Generate streams tokens to the page over SSE as ready-to-append HTML: a model that
    emits markup token by token must still not get it run."""
    from inference.contract import heartbeat

    redis_client = streams.redis_client()
    worker = f"sse-{uuid.uuid4().hex[:6]}@localhost"
    heartbeat.beat(redis_client, {"hostname": worker, "queues": ["x"], "ready": True}, 30)
    task_id = uuid.uuid4().hex
    streams.publish(
        redis_client,
        task_id,
        {**streams.queued_event("generate"), "params": {"prompt": PAYLOADS[0]}},
    )
    streams.publish(redis_client, task_id, streams.started_event(worker))
    pending = client.get(reverse("inference:demo-result", args=[task_id]), **HX)
    html = pending.content.decode()
    assert_inert(html, "pending generate partial")
    sse = re.findall(r'sse-connect="([^"]+)"', html)
    assert sse, "generate streams its tokens over SSE"
    tokens = []
    for index, payload in enumerate(HTML_PAYLOADS[:10]):
        token = {
            "type": "token",
            "index": index,
            "token": payload,
            "token_id": index,
            "prob": 0.5,
            "alternatives": [{"token": HTML_PAYLOADS[-1], "token_id": 9, "prob": 0.1}],
        }
        tokens.append(token)
        streams.publish(redis_client, task_id, token)
    streams.publish(
        redis_client,
        task_id,
        streams.done_event(
            {
                "prompt": PAYLOADS[0],
                "text": "".join(HTML_PAYLOADS[:10]),
                "tokens": tokens,
                "finish_reason": "length",
                "settings": {},
                "elapsed_ms": 1.0,
                "model": {
                    "role": "gpt",
                    "name": PAYLOADS[1],
                    "parameters": 1,
                    "device": "cpu",
                    "dtype": "float32",
                    "profile": "tiny",
                },
            }
        ),
    )
    stream = client.get(sse[0].replace("&amp;", "&"))
    body = b"".join(stream.streaming_content).decode()
    frames = [data for data in SSE_DATA.findall(body) if not data.startswith(("{", "["))]
    assert frames, body[:500]
    for data in frames:
        assert_inert(data, "SSE token frame")
    heartbeat.clear(redis_client, worker)
    result_views_inert(client, task_id)
