"""Log records that carry the request id, and a JSON-lines formatter for production.

- :class:`RequestIdFilter` (attach it to handlers) sets ``record.request_id`` (``"-"``
  outside a request) and, inside a Celery task, ``record.task_id`` / ``record.task_name``.
- :class:`JsonFormatter` writes one JSON object per line: ``time``, ``level``, ``logger``,
  ``message``, ``request_id``, the task fields, ``process``, ``exc_info`` when there is
  one, and any ``extra={...}`` values. Gunicorn's access log becomes structured fields
  (method, path, status, duration_ms, ...).
- :func:`configure_celery_logging` is connected to Celery's ``setup_logging`` signal, so
  workers log through Django's ``LOGGING`` (JSON lines in production) instead of Celery's
  own handlers.

Development keeps the readable ``plain`` format (``base`` settings); ``production`` turns
JSON on.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import logging.config
from collections.abc import Mapping
from typing import Any

from celery._state import get_current_task
from celery.signals import setup_logging

# Attributes every LogRecord has; anything else on a record came from `extra=`.
# `request` (django.request's extra) and `server_time` (runserver's) are left out: the
# request id and the time already identify them.
_RECORD_ATTRS = frozenset(
    logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None).__dict__
) | {
    "message",
    "asctime",
    "request_id",
    "task_id",
    "task_name",
    "color_message",
    "request",
    "server_time",
}

# Gunicorn access-log atoms worth keeping as fields (see gunicorn.glogging.Logger.atoms).
_ACCESS_FIELDS = {
    "h": "remote_addr",
    "m": "method",
    "U": "path",
    "q": "query",
    "H": "protocol",
    "s": "status",
    "B": "bytes",
    "M": "duration_ms",
    "a": "user_agent",
    "f": "referer",
    "{x-request-id}o": "request_id",
}


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` (and the current Celery task, if any) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        from config.request_id import get_request_id

        if not getattr(record, "request_id", None):
            # django.request logs 4xx/5xx after the middleware has returned: the request
            # itself (passed as `extra`) still carries its id.
            request_id = get_request_id() or getattr(
                getattr(record, "request", None), "request_id", None
            )
            record.request_id = request_id or "-"
        task = get_current_task()
        task_id = getattr(getattr(task, "request", None), "id", None) if task else None
        if task_id and not getattr(record, "task_id", None):
            record.task_id = task_id
            record.task_name = task.name
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line; never raises on odd values (they become strings)."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, tz=dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
        }
        if record.name == "gunicorn.access" and isinstance(record.args, Mapping):
            payload["message"] = "request"
            payload.update(_access_fields(record.args))
        else:
            payload["message"] = record.getMessage()
        payload.setdefault("request_id", getattr(record, "request_id", None) or "-")
        for key in ("task_id", "task_name"):
            value = getattr(record, key, None)
            if value:
                payload[key] = value
        payload["process"] = record.process
        for key, value in record.__dict__.items():
            if key not in _RECORD_ATTRS and key not in payload and not key.startswith("_"):
                payload[key] = value
        if record.exc_info:
            payload["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            payload["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(payload, default=str, ensure_ascii=False)


def _access_fields(atoms: Mapping[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for atom, name in _ACCESS_FIELDS.items():
        try:
            value = atoms[atom]
        except (KeyError, TypeError):
            continue
        if value in (None, "-", ""):
            continue
        if name in ("status", "bytes", "duration_ms"):
            with contextlib.suppress(TypeError, ValueError):
                value = int(value)
        fields[name] = value
    return fields


@setup_logging.connect(dispatch_uid="config.logging.celery")
def configure_celery_logging(**kwargs: Any) -> None:
    """Celery worker/beat: use Django's LOGGING rather than Celery's own handlers."""
    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)
