"""One id per request, in every log line it causes: web, and Celery tasks it enqueues.

- :class:`RequestIdMiddleware` takes the proxy's ``X-Request-ID`` (when it is a sane
  token) or makes a fresh one, keeps it in a :class:`~contextvars.ContextVar` for the
  rest of the request, and returns it in the ``X-Request-ID`` response header.
- :class:`config.logging.RequestIdFilter` copies it onto every log record.
- Celery: ``before_task_publish`` adds it to the message headers (``request_id``),
  ``task_prerun`` restores it in the worker while the task runs and ``task_postrun``
  puts back whatever was there before, so worker logs carry the id of the request that
  enqueued the task. A ContextVar is per thread, so this holds for the threads pool too.

The Celery receivers are connected when this module is imported; ``config.celery_app``
imports it, so every process that has the Celery app has them.
"""

from __future__ import annotations

import contextvars
import re
import uuid
from collections.abc import Callable
from typing import Any

from celery.signals import before_task_publish, task_postrun, task_prerun
from django.http import HttpRequest, HttpResponse

HEADER = "X-Request-ID"
META_KEY = "HTTP_X_REQUEST_ID"
CELERY_HEADER = "request_id"
# Ids from the proxy are trusted only when they look like ids: they end up in logs and
# response headers, so no spaces, quotes, control characters or megabyte-long values.
_VALID_ID = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,128}$")

_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
# task id -> token returned by ContextVar.set in task_prerun, reset in task_postrun.
_task_tokens: dict[str, contextvars.Token] = {}


def new_request_id() -> str:
    return uuid.uuid4().hex


def clean_request_id(value: str | None) -> str | None:
    """The value when it is an acceptable request id, else None."""
    if value and _VALID_ID.fullmatch(value):
        return value
    return None


def get_request_id() -> str | None:
    """The id of the request (or task) this code runs for, if any."""
    return _request_id.get()


def set_request_id(value: str | None) -> contextvars.Token:
    return _request_id.set(value)


def reset_request_id(token: contextvars.Token) -> None:
    _request_id.reset(token)


class RequestIdMiddleware:
    """Put a request id on ``request.request_id``, in the log context and the response."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = clean_request_id(request.META.get(META_KEY)) or new_request_id()
        request.request_id = request_id
        token = set_request_id(request_id)
        try:
            response = self.get_response(request)
        finally:
            reset_request_id(token)
        response[HEADER] = request_id
        return response


# --- Celery ------------------------------------------------------------------------


@before_task_publish.connect(dispatch_uid="config.request_id.publish")
def _add_request_id_header(headers: dict[str, Any] | None = None, **kwargs: Any) -> None:
    request_id = get_request_id()
    if request_id and headers is not None and CELERY_HEADER not in headers:
        headers[CELERY_HEADER] = request_id


@task_prerun.connect(dispatch_uid="config.request_id.prerun")
def _restore_request_id(task_id: str | None = None, task: Any = None, **kwargs: Any) -> None:
    if task is None or task_id is None:
        return
    # An eager task (apply() in the publishing thread) has no header: it keeps the id
    # of the code that called it.
    request_id = clean_request_id(task.request.get(CELERY_HEADER)) or get_request_id()
    _task_tokens[task_id] = set_request_id(request_id)


@task_postrun.connect(dispatch_uid="config.request_id.postrun")
def _clear_request_id(task_id: str | None = None, **kwargs: Any) -> None:
    token = _task_tokens.pop(task_id, None) if task_id is not None else None
    if token is None:
        return
    try:
        reset_request_id(token)
    except ValueError:
        # The token was made in another context (cannot happen with Celery's pools,
        # which run prerun, the task and postrun in one thread): just clear it.
        set_request_id(None)
