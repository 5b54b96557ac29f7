"""Request ids: made or taken from the proxy, returned, logged, carried into Celery tasks.

The full cross-process path (web publishes, a real worker process logs the same id) is
tests/deploy/test_scale_out.py; here each piece is checked on its own.
"""

from __future__ import annotations

import json
import logging
import sys
import uuid

import pytest
from celery import Celery
from celery.signals import task_postrun, task_prerun
from django.http import HttpResponse
from django.test import RequestFactory

from config.logging import JsonFormatter, RequestIdFilter
from config.request_id import (
    RequestIdMiddleware,
    get_request_id,
    reset_request_id,
    set_request_id,
)
from lessons.tasks import ping_worker


class ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []
        self.addFilter(RequestIdFilter())

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def captured():
    handler = ListHandler()
    logger = logging.getLogger("tests.request_id")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield logger, handler.records
    logger.removeHandler(handler)


@pytest.fixture
def request_id():
    token = set_request_id("req-" + uuid.uuid4().hex[:12])
    yield get_request_id()
    reset_request_id(token)


def run_middleware(request, view=None):
    seen = {}

    def get_response(req):
        seen["inside"] = get_request_id()
        return view(req) if view else HttpResponse("ok")

    response = RequestIdMiddleware(get_response)(request)
    return response, seen["inside"]


# --- Middleware ------------------------------------------------------------------------


def test_a_fresh_id_is_made_and_returned():
    request = RequestFactory().get("/")

    response, inside = run_middleware(request)

    assert len(response["X-Request-ID"]) == 32
    assert int(response["X-Request-ID"], 16) >= 0
    assert inside == response["X-Request-ID"] == request.request_id
    assert get_request_id() is None  # nothing leaks into the next request on this thread


def test_the_proxy_id_is_kept():
    request = RequestFactory().get("/", HTTP_X_REQUEST_ID="lb-7f3a:1234")

    response, inside = run_middleware(request)

    assert response["X-Request-ID"] == inside == "lb-7f3a:1234"


@pytest.mark.parametrize(
    "bad",
    ["", "has space", 'quote"d', "x" * 129, "new\nline", "<script>", "ünïcode"],
)
def test_unsafe_proxy_ids_are_replaced(bad):
    request = RequestFactory().get("/", HTTP_X_REQUEST_ID=bad)

    response, _ = run_middleware(request)

    assert response["X-Request-ID"] != bad
    assert len(response["X-Request-ID"]) == 32


def test_the_id_is_cleared_even_when_the_view_raises():
    request = RequestFactory().get("/")

    def boom(_request):
        raise RuntimeError("view failed")

    with pytest.raises(RuntimeError):
        run_middleware(request, boom)
    assert get_request_id() is None


def test_every_response_of_the_site_has_the_header(client):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="abc-123")

    assert response["X-Request-ID"] == "abc-123"


# --- Logging -----------------------------------------------------------------------------


def test_log_records_inside_a_request_carry_its_id(captured):
    logger, records = captured

    def view(_request):
        logger.info("inside the view")
        return HttpResponse("ok")

    response, _ = run_middleware(RequestFactory().get("/"), view)
    logger.info("after the request")

    assert records[0].request_id == response["X-Request-ID"]
    assert records[1].request_id == "-"


def test_django_request_errors_logged_after_the_middleware_keep_the_id(client, caplog):
    caplog.set_level(logging.WARNING, logger="django.request")
    handler = ListHandler()
    logging.getLogger("django.request").addHandler(handler)
    try:
        response = client.post("/healthz", HTTP_X_REQUEST_ID="late-log-1")
    finally:
        logging.getLogger("django.request").removeHandler(handler)

    assert response.status_code == 405
    assert [r.request_id for r in handler.records] == ["late-log-1"]


def test_json_formatter_writes_one_object_per_line(request_id):
    record = logging.LogRecord("app.demo", logging.WARNING, __file__, 1, "hello %s", ("you",), None)
    record.demo_kind = "fill-mask"  # extra={...}
    RequestIdFilter().filter(record)

    line = JsonFormatter().format(record)

    assert "\n" not in line
    data = json.loads(line)
    assert data["message"] == "hello you"
    assert data["level"] == "WARNING"
    assert data["logger"] == "app.demo"
    assert data["request_id"] == request_id
    assert data["demo_kind"] == "fill-mask"
    assert data["time"].endswith("+00:00")


def test_json_formatter_keeps_tracebacks_on_one_line():
    try:
        raise ValueError('bad "value"\nsecond line')
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())

    data = json.loads(JsonFormatter().format(record))

    assert "ValueError" in data["exc_info"]
    assert data["request_id"] == "-"


def test_json_formatter_turns_gunicorn_access_atoms_into_fields():
    atoms = {
        "h": "10.0.0.2",
        "m": "GET",
        "U": "/demos/",
        "q": "",
        "H": "HTTP/1.1",
        "s": "200",
        "B": 512,
        "M": 12,
        "a": "curl/8",
        "f": "-",
        "{x-request-id}o": "abc-123",
    }
    record = logging.LogRecord(
        "gunicorn.access", logging.INFO, __file__, 1, "%(h)s", (atoms,), None
    )

    data = json.loads(JsonFormatter().format(record))

    assert data["method"] == "GET"
    assert data["path"] == "/demos/"
    assert data["status"] == 200
    assert data["duration_ms"] == 12
    assert data["request_id"] == "abc-123"
    assert "referer" not in data  # "-" means absent


# --- Celery ----------------------------------------------------------------------------


def test_publishing_a_task_puts_the_id_in_the_message_headers(redis_url, redis_client, request_id):
    queue = f"test-request-id-{uuid.uuid4().hex}"
    app = Celery("publish-test", broker=redis_url, set_as_current=False)
    app.conf.broker_connection_retry_on_startup = False
    try:
        app.send_task("lessons.tasks.ping_worker", kwargs={}, queue=queue)
        raw = redis_client.lpop(queue)
    finally:
        redis_client.delete(queue, f"_kombu.binding.{queue}")
        app.close()

    message = json.loads(raw)
    assert message["headers"]["request_id"] == request_id
    assert message["headers"]["task"] == "lessons.tasks.ping_worker"


def test_publishing_outside_a_request_adds_no_header(redis_url, redis_client):
    queue = f"test-request-id-{uuid.uuid4().hex}"
    app = Celery("publish-test", broker=redis_url, set_as_current=False)
    try:
        app.send_task("lessons.tasks.ping_worker", kwargs={}, queue=queue)
        raw = redis_client.lpop(queue)
    finally:
        redis_client.delete(queue, f"_kombu.binding.{queue}")
        app.close()

    assert "request_id" not in json.loads(raw)["headers"]


def test_the_worker_restores_the_id_from_the_header_and_clears_it_after():
    outer = set_request_id("outer-id")
    task = ping_worker
    # What the worker does for a message whose headers carry request_id:
    task.push_request(id="task-1", request_id="from-the-web")
    try:
        task_prerun.send(sender=task, task_id="task-1", task=task, args=(), kwargs={})
        during = get_request_id()
        task_postrun.send(
            sender=task,
            task_id="task-1",
            task=task,
            args=(),
            kwargs={},
            retval=None,
            state="SUCCESS",
        )
        after = get_request_id()
    finally:
        task.pop_request()
        reset_request_id(outer)

    assert during == "from-the-web"
    assert after == "outer-id"


def test_a_forged_header_is_not_trusted():
    task = ping_worker
    task.push_request(id="task-2", request_id="bad id with spaces")
    try:
        task_prerun.send(sender=task, task_id="task-2", task=task, args=(), kwargs={})
        during = get_request_id()
        task_postrun.send(sender=task, task_id="task-2", task=task, args=(), kwargs={})
    finally:
        task.pop_request()

    assert during is None


def test_an_eager_task_keeps_the_callers_id(request_id):
    result = ping_worker.apply(kwargs={}).get()

    assert result["request_id"] == request_id
    assert get_request_id() == request_id
