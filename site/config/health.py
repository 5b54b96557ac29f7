"""Liveness and readiness endpoints for load balancers, orchestrators and operators.

- ``GET /healthz``: the web process is up and serving. Touches nothing else (no
  database, no Redis), so it stays cheap enough to poll every few seconds and never
  restarts a healthy web container because a dependency blinked.
- ``GET /readyz``: can this deployment serve every page and run every demo? JSON with
  one entry per check (database ``SELECT 1``; Redis ``PING`` with a 1 s timeout; at
  least one *ready* model worker on the inference queue, from the heartbeat keys
  ``demo:workers:*``; at least one Celery worker on the default queue, asked over the
  broker with a 1 s timeout) and the model profile the inference workers serve.
  200 when every check passes, else 503. Failures name the exception class only: the
  details (hosts, credentials in URLs) go to the log, not to the public response.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import redis
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

if TYPE_CHECKING:
    from celery import Celery

logger = logging.getLogger(__name__)

CHECK_TIMEOUT_S = 1.0


@never_cache
@require_safe
def healthz(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain; charset=utf-8")


@never_cache
@require_safe
def readyz(request: HttpRequest) -> JsonResponse:
    report = readiness_report()
    return JsonResponse(report, status=200 if report["status"] == "ok" else 503)


def readiness_report(*, celery_app: Celery | None = None) -> dict[str, Any]:
    """Run every readiness check; ``status`` is ``ok`` only when all of them pass.

    ``celery_app`` defaults to the project's (``config.celery_app.app``).
    """
    checks: dict[str, dict[str, Any]] = {"database": _timed(check_database)}
    client = redis.Redis.from_url(
        settings.REDIS_URL,
        socket_connect_timeout=CHECK_TIMEOUT_S,
        socket_timeout=CHECK_TIMEOUT_S,
    )
    try:
        checks["redis"] = _timed(check_redis, client)
        if checks["redis"]["ok"]:
            checks["inference_workers"] = _timed(check_inference_workers, client)
        else:
            checks["inference_workers"] = _skipped("redis unreachable")
    finally:
        client.close()
    if checks["redis"]["ok"] or settings.CELERY_BROKER_URL != settings.REDIS_URL:
        checks["default_workers"] = _timed(check_default_workers, celery_app)
    else:
        checks["default_workers"] = _skipped("redis unreachable")
    profiles = checks["inference_workers"].get("profiles") or []
    return {
        "status": "ok" if all(check["ok"] for check in checks.values()) else "unavailable",
        "profile": profiles[0] if len(profiles) == 1 else ("mixed" if profiles else None),
        "checks": checks,
    }


def check_database() -> dict[str, Any]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        row = cursor.fetchone()
    return {"ok": row is not None and row[0] == 1, "vendor": connection.vendor}


def check_redis(client: redis.Redis) -> dict[str, Any]:
    return {"ok": bool(client.ping())}


def check_inference_workers(client: redis.Redis) -> dict[str, Any]:
    """Ready model workers on the inference queue, from their heartbeat keys."""
    from inference.contract.heartbeat import live_workers  # the worker-side module, no torch

    queue = settings.INFERENCE_QUEUE
    on_queue = [info for info in live_workers(client) if queue in (info.get("queues") or [])]
    ready = [info for info in on_queue if info.get("ready") is True]
    profiles = sorted({str(info.get("profile")) for info in ready if info.get("profile")})
    models: dict[str, str] = {}
    for info in ready:
        for role, model in (info.get("models") or {}).items():
            if isinstance(model, dict) and model.get("name"):
                models.setdefault(role, str(model["name"]))
    return {
        "ok": bool(ready),
        "queue": queue,
        "ready": len(ready),
        "starting": len(on_queue) - len(ready),
        "profiles": profiles,
        "models": models,
    }


def check_default_workers(celery_app: Celery | None = None) -> dict[str, Any]:
    """Celery workers consuming the default queue (a broadcast with a 1 s reply window)."""
    if celery_app is None:
        from config.celery_app import app as celery_app

    queue = settings.CELERY_TASK_DEFAULT_QUEUE
    with celery_app.connection_for_write() as conn:
        # Fail fast on an unreachable broker instead of kombu's retry loop.
        conn.ensure_connection(
            max_retries=1, interval_start=0, interval_step=0, timeout=CHECK_TIMEOUT_S
        )
        inspect = celery_app.control.inspect(timeout=CHECK_TIMEOUT_S, connection=conn)
        replies = inspect.active_queues() or {}
    live = sum(
        1
        for queues in replies.values()
        if any(isinstance(q, dict) and q.get("name") == queue for q in queues or [])
    )
    return {"ok": live > 0, "queue": queue, "live": live}


def _timed(check: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        result = check(*args)
    except Exception as exc:  # a readiness probe reports failures, it never raises
        logger.warning("Readiness check %s failed", check.__name__, exc_info=True)
        result = {"ok": False, "error": type(exc).__name__}
    result["ms"] = round((time.perf_counter() - started) * 1000, 1)
    return result


def _skipped(reason: str) -> dict[str, Any]:
    return {"ok": False, "skipped": reason}
