"""Redis stopped under a running site (gunicorn + model worker on a private redis-server).

While Redis is down: lessons, inline checks, quiz submits and grading, progress, sign-up,
login, the gradebook and the admin keep working (no 5xx); demos say "temporarily
unavailable" within 2 seconds. When Redis comes back on the same port, demos work again
with no restart of the web or the worker.
"""

from __future__ import annotations

import time

import pytest

from inference.contract.errors import SERVICE_DOWN
from tools.harness import wait_for

from .conftest import STAFF
from .flows import demo_follow, demo_submit, quiz_open
from .stack import Browser

pytestmark = pytest.mark.integration

LESSON = "pretraining"
FILL = {"text": "paris is the [MASK] of france .", "top_k": "3"}


def ok(response, what: str) -> None:
    assert response.status < 500, f"{what}: {response.status}\n{response.text[-1500:]}"


def timed(call):
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def take_quiz(browser: Browser, database) -> str:
    """Check one question inline (htmx), submit the rest (plain form); the attempt token."""
    page = quiz_open(browser, LESSON)
    ok(page.response, "quiz page")
    assert page.submit_path, page.response.text[-1500:]
    choice_fields = [name for name, kind in page.kinds.items() if kind in ("radio", "checkbox")]
    first = choice_fields[0]
    question_id = int(first[2:])
    check = browser.post(
        page.check_paths[question_id],
        {first: page.options[first][0], **page.start_fields},
        htmx=True,
    )
    ok(check, "inline check")
    assert check.status == 200, check.text[-1500:]
    answers = {name: page.options[name][-1] for name in choice_fields[1:]}
    submitted = browser.post(page.submit_path, answers)
    assert submitted.status == 302, submitted.text[-1500:]
    result = browser.get(submitted.header("location"))
    ok(result, "attempt result")
    assert result.status == 200
    token = page.token
    status, score = database.rows(
        "SELECT status, score FROM lessons_attempt WHERE token = %s",
        (token if database.kind == "postgres" else token.replace("-", ""),),
    )[0]
    assert status == "submitted" and score is not None
    return token


def test_site_works_without_redis_and_demos_recover_when_it_returns(make_stack):
    stack = make_stack()
    web = stack.start_web()
    worker = stack.start_worker()
    learner, staff = Browser(web.base_url), Browser(web.base_url)

    before = demo_follow(learner, demo_submit(learner, "fill-mask", FILL), timeout=30)
    assert before.state == "done", before.final.text[-1500:]

    stack.redis.stop()
    assert not stack.redis.ping()

    # Lessons, reading, quizzes (inline check + submit + grading), progress.
    for path in ("/", f"/lessons/{LESSON}/", "/progress/", "/accounts/signup/"):
        ok(learner.get(path), path)
    marked = learner.post(f"/lessons/{LESSON}/read/", {}, htmx=True)
    assert marked.status == 200, marked.text[-1500:]
    take_quiz(learner, stack.database)
    progress = learner.get("/progress/")
    assert progress.status == 200

    # Sign-up (its rate limit lives in the cache: it fails open) and login (axes: database).
    newcomer = Browser(web.base_url)
    newcomer.get("/accounts/signup/")
    signed_up = newcomer.post(
        "/accounts/signup/",
        {
            "username": "newcomer",
            "email": "",
            "password1": "Sturdy-pass-2024!",
            "password2": "Sturdy-pass-2024!",
        },
    )
    assert signed_up.status == 302, signed_up.text[-1500:]
    logged_in = staff.login(*STAFF)
    assert logged_in.status == 302, logged_in.text[-1500:]

    # Staff: gradebook, exports, the admin (reading and saving a lesson).
    for path in (
        "/staff/gradebook/",
        "/staff/gradebook/gradebook.csv",
        "/staff/gradebook/attempts.csv",
        "/admin/",
        "/admin/lessons/lesson/",
        "/admin/lessons/attempt/",
        "/admin/lessons/quiz/",
    ):
        response = staff.get(path)
        assert response.status == 200, f"{path}: {response.status}\n{response.text[-1500:]}"
    lesson = stack.database.rows(
        'SELECT id, course_id, title, slug, section, "order", duration_minutes, summary, '
        "body_markdown FROM lessons_lesson WHERE slug = %s",
        (LESSON,),
    )[0]
    pk, course, title, slug, section, order, duration, summary, body = lesson
    staff.get(f"/admin/lessons/lesson/{pk}/change/")
    saved = staff.post(
        f"/admin/lessons/lesson/{pk}/change/",
        {
            "course": course,
            "title": title,
            "slug": slug,
            "section": section,
            "order": order,
            "duration_minutes": duration,
            "summary": summary + " (edited while Redis was down)",
            "body_markdown": body,
            "_save": "Save",
        },
    )
    assert saved.status == 302, saved.text[-2000:]
    assert stack.database.scalar(
        "SELECT summary FROM lessons_lesson WHERE id = %s", (pk,)
    ).endswith("(edited while Redis was down)")

    # Demos: pages render; running one says "temporarily unavailable" within 2 seconds.
    for path in ("/demos/", "/demos/status/", "/demos/fill-mask/"):
        ok(learner.get(path), path)
    refused, seconds = timed(lambda: demo_submit(learner, "fill-mask", FILL))
    print(f"demo refused {seconds * 1000:.0f} ms after submit with Redis down")
    assert seconds < 2, seconds
    assert refused.status == 200 and refused.header("x-demo-status") == "503"
    assert SERVICE_DOWN.replace("'", "&#x27;") in refused.text
    plain, seconds = timed(lambda: learner.post("/demos/fill-mask/", FILL))
    assert seconds < 2 and plain.status == 503
    assert "temporarily unavailable" in plain.text
    api, seconds = timed(
        lambda: learner.post("/demos/api/fill-mask/", json_body={"text": "a [MASK] ."})
    )
    assert seconds < 2 and api.status == 503
    assert "temporarily unavailable" in api.json()["error"]
    old_result, seconds = timed(lambda: learner.get(f"/demos/results/{before.task_id}/"))
    assert seconds < 2 and old_result.status == 503
    assert "temporarily unavailable" in old_result.text
    ready = learner.get("/readyz")
    assert ready.status == 503 and ready.json()["checks"]["redis"]["ok"] is False

    # Redis returns on the same port (empty: no persistence). Nothing is restarted.
    web_pid, worker_pid = web.process.pid, worker.process.pid
    stack.redis.start()
    returned = time.monotonic()
    wait_for(
        lambda: worker.heartbeat() and worker.heartbeat().get("ready"),
        timeout=20,
        what="the worker's heartbeat after Redis returned",
    )

    def demo_runs() -> bool:
        run = demo_follow(learner, demo_submit(learner, "fill-mask", FILL), timeout=15)
        return run.state == "done"

    wait_for(demo_runs, timeout=30, interval=1, what="a demo to run after Redis returned")
    print(f"demos ran again {time.monotonic() - returned:.1f}s after Redis returned")
    assert web.process.pid == web_pid and web.process.running()
    assert worker.process.pid == worker_pid and worker.process.running()
    assert learner.get("/readyz").json()["checks"]["redis"]["ok"] is True
    # The old result was only in Redis (which came back empty): it reads as expired, not 5xx.
    assert learner.get(f"/demos/results/{before.task_id}/").status == 404
