"""CSRF on every state-changing request (htmx included), and no GET that changes state.

Every URL pattern the site serves (the admin's too) is made concrete with real sample
objects (``tests/security/urls.py``), then:

- POST, PUT, PATCH and DELETE without a CSRF token, with a wrong one, or with a right one
  from another origin are refused (403) for a logged-in staff user, with and without
  ``HX-Request``; the token htmx sends (``hx-headers`` on ``<body>``) is accepted;
- GET (and HEAD) by an anonymous visitor, a learner and staff writes nothing: no database
  row appears, disappears or changes (every table compared), and no Redis key appears,
  disappears or changes value (every key compared by its DUMP, the demo streams included)
  and no message appears in any Celery queue. One documented exception, idempotent (a
  second GET writes nothing at all): the visitor's own session row (a message shown is
  removed from it). Opening a quiz starts no attempt, and no page sweeps grades. /readyz
  asking workers over the broker (Celery's ``_kombu``/pidbox plumbing) is not site state.
"""

from __future__ import annotations

import hashlib
import re
import time
import uuid

import pytest
from django.apps import apps
from django.contrib.auth.tokens import default_token_generator
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from inference.contract import streams
from tests.factories import (
    AnswerFactory,
    StaffUserFactory,
    SubmittedAttemptFactory,
    UserFactory,
    quiz_with_questions,
)

from .html_checks import assert_inert
from .urls import site_urls

pytestmark = pytest.mark.django_db

UNSAFE = ("post", "put", "patch", "delete")
# GET may change this, once (see the module docstring).
GET_MAY_CREATE = {"django_session"}


@pytest.fixture
def world(test_redis, tiny_runtime_loaded):
    """Sample objects for every URL parameter, and a finished next-token demo."""
    from inference.worker import tasks

    learner = UserFactory()
    staff = StaffUserFactory()
    quiz = quiz_with_questions()
    question = quiz.questions.first()
    attempt = SubmittedAttemptFactory(quiz=quiz, user=learner)
    answer = AnswerFactory(attempt=attempt, question=question)
    task_id = uuid.uuid4().hex
    client = streams.redis_client()
    streams.publish(
        client,
        task_id,
        {**streams.queued_event("next-token"), "params": {"prompt": "the cat", "top_k": 5}},
    )
    tasks.demo_task("next-token").apply(
        kwargs={"prompt": "the cat", "top_k": 5}, task_id=task_id
    ).get()
    assert streams.outcome(client, task_id)["type"] == "done"
    samples = {
        "slug": quiz.lesson.slug,
        "kind": "fill-mask",
        "token": str(attempt.token),
        "question_id": str(question.pk),
        "quiz_id": str(quiz.pk),
        "answer_id": str(answer.pk),
        "task_id": task_id,
        "example_id": "no-such-example",
        "object_id": str(quiz.lesson.pk),
        "app_label": "lessons",
        "content_type_id": "1",
        "url": "lessons/",
    }
    overrides = {
        "accounts:password-reset-confirm": {
            "uidb64": urlsafe_base64_encode(force_bytes(learner.pk)),
            "token": default_token_generator.make_token(learner),
        }
    }
    return {
        "learner": learner,
        "staff": staff,
        "attempt": attempt,
        "task_id": task_id,
        "urls": site_urls(samples, overrides),
    }


def test_every_url_pattern_is_covered(world):
    names = {url.name for url in world["urls"]}
    for expected in (
        "lessons:quiz-submit",
        "lessons:question-check",
        "lessons:lesson-mark-read",
        "inference:demo-form",
        "inference:api-submit",
        "accounts:logout",
        "accounts:login",
        "accounts:signup",
        "admin:lessons_lesson_change",
        "admin:logout",
        "lessons:gradebook-csv",
    ):
        assert expected in names, expected
    assert len(world["urls"]) > 60


# --- CSRF -----------------------------------------------------------------------------------


def _csrf_client(user) -> tuple[Client, str]:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get("/")  # any page: <body hx-headers> uses the token, which sets the cookie
    return client, client.cookies["csrftoken"].value


def test_no_unsafe_request_passes_without_a_valid_same_origin_token(world):
    client, token = _csrf_client(world["staff"])
    refused = []
    for url in world["urls"]:
        for method in UNSAFE:
            for headers in (
                {},
                {"HTTP_HX_REQUEST": "true"},
                {"HTTP_X_CSRFTOKEN": "x" * 64},
                {"HTTP_X_CSRFTOKEN": token, "HTTP_ORIGIN": "https://evil.example"},
            ):
                response = getattr(client, method)(url.path, **headers)
                if response.status_code != 403:
                    refused.append((method, url.path, headers, response.status_code))
    assert refused == []


def test_htmx_sends_the_token_the_page_gives_it_and_it_is_accepted(world, client):
    csrf = Client(enforce_csrf_checks=True)
    page = csrf.get(f"/lessons/{world['attempt'].quiz.lesson.slug}/")
    match = re.search(r"hx-headers='\{\"X-CSRFToken\": \"([^\"]+)\"\}'", page.content.decode())
    assert match, "the <body> carries the CSRF token for htmx"
    token = match.group(1)
    response = csrf.post(
        f"/lessons/{world['attempt'].quiz.lesson.slug}/read/",
        HTTP_HX_REQUEST="true",
        HTTP_X_CSRFTOKEN=token,
    )
    assert response.status_code == 200
    demo = csrf.post(
        "/demos/fill-mask/", {"text": "a [MASK] ."}, HTTP_HX_REQUEST="true", HTTP_X_CSRFTOKEN=token
    )
    assert demo.status_code == 200


# --- GET writes nothing --------------------------------------------------------------------


def db_snapshot() -> dict[str, str]:
    """A digest of every table's rows (so a change anywhere shows, not just a new row)."""
    tables = sorted({model._meta.db_table for model in apps.get_models()})
    digest = {}
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f'SELECT * FROM "{table}"')  # noqa: S608  (table names from models)
            rows = sorted(repr(row) for row in cursor.fetchall())
            digest[table] = hashlib.sha256("\n".join(rows).encode()).hexdigest() + f":{len(rows)}"
    return digest


# Kombu's Redis transport bookkeeping of messages a worker holds (changed by workers of
# earlier tests still consuming, never by a page).
KOMBU_BOOKKEEPING = {b"unacked", b"unacked_index", b"unacked_mutex"}


def redis_snapshot(client) -> dict[bytes, object]:
    """Every Redis key and its value: a list (a Celery queue) as the set of its messages,
    anything else (streams, strings, hashes) as a digest of its DUMP and whether it expires.
    Celery's broadcast plumbing (``_kombu.*`` bindings, ``*pidbox*`` reply queues: /readyz
    asks the workers over the broker) and the transport's unacked bookkeeping are left out."""
    keys = [
        key
        for key in client.scan_iter(match="*", count=1000)
        if not (key.startswith(b"_kombu.") or b"pidbox" in key or key in KOMBU_BOOKKEEPING)
    ]
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.type(key)
        pipe.dump(key)
        pipe.pttl(key)
    replies = pipe.execute()
    snapshot: dict[bytes, object] = {}
    lists = []
    for index, key in enumerate(keys):
        kind, value, ttl = replies[3 * index : 3 * index + 3]
        if kind == b"list":
            lists.append(key)
        elif value is not None:  # None: expired meanwhile
            # a key with an expiry may vanish on its own (rate-limit windows)
            snapshot[key] = (hashlib.sha256(value).hexdigest(), ttl > 0)
    pipe = client.pipeline(transaction=False)
    for key in lists:
        pipe.lrange(key, 0, -1)
    for key, messages in zip(lists, pipe.execute(), strict=True):
        snapshot[key] = frozenset(messages)
    return snapshot


def redis_changes(before: dict[bytes, object], after: dict[bytes, object]) -> set[bytes]:
    """Keys a request wrote: new or changed values, and queues with a message they lacked
    (a queue that only lost messages was drained by a worker, not by the request)."""
    found = set()
    for key in before.keys() | after.keys():
        old, new = before.get(key), after.get(key)
        if isinstance(new, frozenset):
            if new - (old if isinstance(old, frozenset) else frozenset()):
                found.add(key)
        elif isinstance(new, tuple) and (not isinstance(old, tuple) or new[0] != old[0]):
            found.add(key)
        elif new is None and isinstance(old, tuple) and not old[1]:
            found.add(key)  # a key without an expiry deleted
    return found


def changed(before: dict[str, str], after: dict[str, str]) -> set[str]:
    return {table for table in after if before.get(table) != after[table]}


@pytest.mark.parametrize("who", ["anonymous", "learner", "staff"])
def test_get_changes_nothing(world, test_redis, who):
    client = Client()
    if who != "anonymous":
        client.force_login(world[who])
    server_errors = []
    for url in world["urls"]:
        for method in ("get", "head"):
            before_db = db_snapshot()
            before_redis = redis_snapshot(test_redis)
            response = getattr(client, method)(url.path)
            if response.status_code >= 500 and url.name != "readyz":  # 503: no workers here
                server_errors.append((method, url.path, response.status_code))
            if hasattr(response, "streaming_content"):
                b"".join(response.streaming_content)
            elif method == "get" and "text/html" in response.get("Content-Type", ""):
                # Every page lives within the CSP: no inline script, no handlers.
                assert_inert(response.content.decode(), url.path)
            after_db = db_snapshot()
            redis_changed = redis_changes(before_redis, redis_snapshot(test_redis))
            assert not redis_changed, (method, url.path, sorted(redis_changed))
            tables = changed(before_db, after_db)
            assert tables <= GET_MAY_CREATE, (method, url.path, tables)
            if tables and url.name != "accounts:password-reset-confirm":
                # Idempotent: asking again writes nothing at all. (Django's password-reset
                # link moves its token into the session on every visit, by design, so the
                # token never leaks through a Referer header.)
                again = getattr(client, method)(url.path)
                assert again.status_code < 500
                assert changed(after_db, db_snapshot()) == set(), (url.path, "second GET")
    assert server_errors == []


@pytest.mark.parametrize("quiet", ["no worker", "worker lost"])
def test_reading_a_quiet_demo_changes_nothing(test_redis, settings, quiet):
    """A demo gone quiet reads as an error on every page, and no read writes the verdict."""
    settings.INFERENCE_QUEUE = f"safe-methods-{uuid.uuid4().hex[:8]}"  # no worker covers it
    task_id = uuid.uuid4().hex
    streams.publish(
        test_redis,
        task_id,
        {"type": "queued", "kind": "generate", "params": {"prompt": "hi"}, "at": time.time() - 60},
    )
    if quiet == "worker lost":
        streams.publish(test_redis, task_id, streams.started_event("gone@nowhere"))
    client = Client()
    for name in ("api-result", "demo-result", "demo-poll", "demo-events", "demo-stream"):
        before = redis_snapshot(test_redis)
        response = client.get(reverse(f"inference:{name}", args=[task_id]))
        body = (
            b"".join(response.streaming_content)
            if hasattr(response, "streaming_content")
            else response.content
        )
        assert response.status_code < 500, name
        # the htmx stream only says it ended in an error; the others carry the sentence
        assert (b"error" if name == "demo-stream" else b"worker") in body, (name, body[:300])
        assert not redis_changes(before, redis_snapshot(test_redis)), name
