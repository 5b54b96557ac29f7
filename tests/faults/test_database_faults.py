"""The database briefly locked or unavailable while learners submit quizzes (gunicorn).

- SQLite (the embedded default): another connection holds ``BEGIN EXCLUSIVE`` on the
  database file; the site waits ``?timeout=`` seconds for it, then answers.
- PostgreSQL: another session holds ``LOCK TABLE ... IN ACCESS EXCLUSIVE MODE``; the
  site's ``lock_timeout`` ends the wait. And the server vanishing altogether: the site's
  connections go through a proxy the test cuts and restores.

A submit that can't be written fails cleanly: 503 with a sentence saying nothing was
saved (an alert beside the form for htmx), the attempt still open with no answers and no
score. A lock shorter than the wait just delays the submit. Afterwards the same submit
goes through once, with the right score, and what was recorded before is untouched.
"""

from __future__ import annotations

import threading
import time

import pytest

from config.error_views import DATABASE_UNAVAILABLE
from tests.postgres_support import PG_HOST, PG_PORT, require_postgres

from .flows import KEY_SQL_ACCEPTED, KEY_SQL_CHOICES, key_from_rows, plan_answers, quiz_open
from .stack import Browser, TcpProxy

pytestmark = pytest.mark.integration

LESSON = "bert"
SAID = DATABASE_UNAVAILABLE.replace("'", "&#x27;")


def attempt_row(database, token: str) -> tuple | None:
    """(status, score, answers) of the attempt with ``token``; None when it was never
    started (a new quiz page's first answer starts it)."""
    value = token if database.kind == "postgres" else token.replace("-", "")
    rows = database.rows("SELECT id, status, score FROM lessons_attempt WHERE token = %s", (value,))
    if not rows:
        return None
    assert len(rows) == 1, rows
    attempt_id, status, score = rows[0]
    answers = database.scalar(
        "SELECT COUNT(*) FROM lessons_answer WHERE attempt_id = %s", (attempt_id,)
    )
    return status, score, answers


def open_and_plan(browser: Browser, database):
    page = quiz_open(browser, LESSON)
    assert page.submit_path, page.response.text[-1500:]
    key = key_from_rows(database.rows(KEY_SQL_CHOICES, (True,)), database.rows(KEY_SQL_ACCEPTED))
    data, expected, _ = plan_answers(page, key, right=lambda index: index % 2 == 0)
    return page, data, expected


def submitted_snapshot(database) -> list[tuple]:
    return database.rows(
        "SELECT a.token, a.status, a.score, COUNT(x.id) FROM lessons_attempt a "
        "LEFT JOIN lessons_answer x ON x.attempt_id = a.id "
        "WHERE a.status = 'submitted' GROUP BY a.id, a.token, a.status, a.score ORDER BY a.id"
    )


def assert_refused_cleanly(response, *, seconds: float, limit: float, htmx: bool) -> None:
    assert response.status == 503, response.text[-1500:]
    assert seconds < limit, seconds
    assert response.header("retry-after")
    assert SAID in response.text
    assert "Traceback" not in response.text
    if htmx:
        # An alert inserted before the form: what the learner typed stays on the page.
        assert response.header("hx-reswap") == "beforebegin"
        assert 'role="alert"' in response.text and "<html" not in response.text


def submit_with_and_without_htmx(browser, page, data, *, limit: float) -> None:
    for htmx in (False, True):
        started = time.monotonic()
        response = browser.post(page.submit_path, data, htmx=htmx)
        assert_refused_cleanly(response, seconds=time.monotonic() - started, limit=limit, htmx=htmx)


def finish_and_verify(browser, database, page, data, expected, before) -> None:
    response = browser.post(page.submit_path, data)
    assert response.status == 302, response.text[-1500:]
    status, score, answers = attempt_row(database, page.token)
    assert status == "submitted"
    assert score == pytest.approx(expected, abs=1e-9)
    assert answers == len(page.kinds)
    again = browser.post(page.submit_path, data)  # a replay changes nothing
    assert again.status == 302
    assert attempt_row(database, page.token) == (status, score, answers)
    after = submitted_snapshot(database)
    assert after[: len(before)] == before  # nothing recorded earlier was lost
    assert len(after) == len(before) + 1


def prior_attempt(browser, database) -> list[tuple]:
    """A quiz submitted before the fault: it must come through untouched."""
    page, data, _ = open_and_plan(browser, database)
    assert browser.post(page.submit_path, data).status == 302
    return submitted_snapshot(database)


def test_sqlite_locked_submit_fails_cleanly_then_goes_through(make_stack):
    stack = make_stack(db="sqlite")
    stack.config.database_url += "?timeout=2"
    web = stack.start_web()
    learner = Browser(web.base_url)
    database = stack.database
    before = prior_attempt(learner, database)
    page, data, expected = open_and_plan(learner, database)
    question_id, check_path = next(iter(page.check_paths.items()))
    check_data = [(n, v) for n, v in data if n in (f"q-{question_id}", "attempt", "seed")]

    lock = database.connect()
    lock.execute("BEGIN EXCLUSIVE")
    try:
        submit_with_and_without_htmx(learner, page, data, limit=8)
        started = time.monotonic()
        checked = learner.post(check_path, check_data, htmx=True)
        assert_refused_cleanly(checked, seconds=time.monotonic() - started, limit=8, htmx=True)
        # Pages that only read still work (WAL: readers don't wait for the writer).
        assert learner.get(f"/lessons/{LESSON}/").status == 200
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    assert attempt_row(database, page.token) is None  # the refused first answer started nothing
    assert submitted_snapshot(database) == before

    # A lock shorter than the wait only delays the submit.
    lock = database.connect()
    lock.execute("BEGIN EXCLUSIVE")
    release = threading.Timer(1.0, lambda: (lock.execute("ROLLBACK"), lock.close()))
    release.start()
    try:
        finish_and_verify(learner, database, page, data, expected, before)
    finally:
        release.join()


@pytest.fixture
def pg_stack(request):
    require_postgres()  # before make_stack's fixtures start a Redis and build models
    make_stack = request.getfixturevalue("make_stack")
    return make_stack(db="postgres")


def test_postgres_locked_table_fails_cleanly_then_goes_through(pg_stack):
    stack = pg_stack
    database = stack.database
    stack.config.database_url = database.postgres.url(
        options="-c lock_timeout=2000 -c statement_timeout=15000"
    )
    web = stack.start_web(CONN_MAX_AGE="0")
    learner = Browser(web.base_url)
    before = prior_attempt(learner, database)
    page, data, expected = open_and_plan(learner, database)

    lock = database.connect()
    lock.execute("LOCK TABLE lessons_attempt IN ACCESS EXCLUSIVE MODE")
    try:
        submit_with_and_without_htmx(learner, page, data, limit=8)
    finally:
        lock.rollback()
        lock.close()
    assert attempt_row(database, page.token) is None  # the refused first answer started nothing
    assert submitted_snapshot(database) == before

    # The answers' chosen-choices table locked instead: the submit's transaction has already
    # closed the attempt and written its answers when it reaches the choices and the lock
    # hits, so the attempt coming out open and empty proves the rollback.
    lock = database.connect()
    lock.execute("LOCK TABLE lessons_answer_selected_choices IN ACCESS EXCLUSIVE MODE")
    try:
        started = time.monotonic()
        response = learner.post(page.submit_path, data)
        assert_refused_cleanly(response, seconds=time.monotonic() - started, limit=8, htmx=False)
    finally:
        lock.rollback()
        lock.close()
    assert attempt_row(database, page.token) is None  # the refused first answer started nothing

    finish_and_verify(learner, database, page, data, expected, before)


def test_postgres_going_away_fails_cleanly_and_recovers(pg_stack):
    stack = pg_stack
    database = stack.database
    proxy = TcpProxy(PG_HOST, PG_PORT).start()
    try:
        stack.config.database_url = database.postgres.url(host="127.0.0.1", port=proxy.port)
        web = stack.start_web()  # production: persistent connections with health checks
        learner = Browser(web.base_url)
        before = prior_attempt(learner, database)
        page, data, expected = open_and_plan(learner, database)

        proxy.cut()
        submit_with_and_without_htmx(learner, page, data, limit=8)
        lesson = learner.get(f"/lessons/{LESSON}/")
        assert lesson.status == 503 and SAID in lesson.text
        assert learner.get("/healthz").status == 200  # the process itself is fine
        assert attempt_row(database, page.token) is None  # the refused first answer started nothing

        proxy.restore()
        assert learner.get(f"/lessons/{LESSON}/").status == 200
        finish_and_verify(learner, database, page, data, expected, before)
    finally:
        proxy.stop()
