"""Writes for the demos: validate, rate-limit, answer from cache or enqueue a model task.

:func:`demo_submit` is the one entry point (forms, htmx and the JSON API all call it).
It fails fast and clearly: with Redis or the broker down it answers within about a
second (no retries), with no model worker it says so before queueing anything, and a
learner over the rate limit is told how long to wait. Deterministic demos (everything
but unseeded sampling) are answered from an earlier identical run while its result is
still in Redis, without a new task.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

import redis
from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from django_ratelimit.core import get_usage
from redis.backoff import NoBackoff
from redis.retry import Retry

from inference.contract import gateway, heartbeat, kinds, streams
from inference.contract.errors import SERVICE_DOWN, DemoRateLimited, DemoUnavailable
from inference.contract.gateway import inference_queue
from inference.web.selectors import build_progress, queue_expires_s

logger = logging.getLogger(__name__)

CACHE_PREFIX = "demo:cache:"
# Merged over CELERY_BROKER_TRANSPORT_OPTIONS for the web's publishing connection only.

# The learner's sentences (translated when raised, in the request's language).
NO_WORKER = gettext_noop(
    "No model worker is running right now, so the demos can't run. Lessons and quizzes still work."
)
STARTING = gettext_noop("The model worker is still loading its models. Try again in a few seconds.")
RATE_LIMITED = gettext_noop(
    "You're running demos faster than the models can keep up. "
    "Wait %(seconds)s seconds and try again."
)


@dataclass(frozen=True)
class Submission:
    task_id: str
    status: str  # "queued" (a new task) or "cached" (an earlier identical run's result)
    kind: str


_ping_clients: dict[str, redis.Redis] = {}


def _ping_client() -> redis.Redis:
    """A pooled client that gives up after one attempt (1 s connect, 1 s read).

    Pooled per URL: a new connection per submit cost a few milliseconds of every
    demo round trip (bench/roundtrip.py).
    """
    url = settings.REDIS_URL
    client = _ping_clients.get(url)
    if client is None:
        client = redis.Redis.from_url(
            url,
            socket_connect_timeout=1,
            socket_timeout=1,
            retry=Retry(NoBackoff(), 0),
        )
        _ping_clients[url] = client
    return client


def redis_ping() -> bool:
    try:
        return bool(_ping_client().ping())
    except redis.RedisError:
        return False


def demo_is_deterministic(*, kind: str, params: dict[str, Any]) -> bool:
    """Every demo but sampling without a seed gives the same answer for the same input."""
    return not (kind == "generate" and params.get("do_sample") and params.get("seed") is None)


def demo_cache_key(
    *, kind: str, profile: str, params: dict[str, Any], release: str | None = None
) -> str:
    """Where an identical run's task id is kept; ``release`` is the demo build's release
    the models came from, so the early checkpoint's answers never stand in for the
    finished models' ones."""
    key: dict[str, Any] = {"kind": kind, "profile": profile, "params": params}
    if release is not None:
        key["release"] = release
    payload = json.dumps(
        key,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return CACHE_PREFIX + hashlib.sha256(payload.encode()).hexdigest()


def _rate_limit(*, user: Any, ip: str | None) -> None:
    checks = []
    if user is not None and getattr(user, "is_authenticated", False):
        checks.append(("inference.demo.user", f"user:{user.pk}", settings.DEMO_RATE_LIMIT_USER))
    checks.append(("inference.demo.ip", f"ip:{ip or 'unknown'}", settings.DEMO_RATE_LIMIT_IP))
    for group, value, rate in checks:
        try:
            usage = get_usage(
                None,
                group=group,
                key=lambda _group, _request, value=value: value,
                rate=rate,
                increment=True,
            )
        except Exception as exc:  # the cache is Redis too; a failure there is an outage
            raise DemoUnavailable() from exc
        if usage and usage["should_limit"]:
            seconds = max(1, int(usage.get("time_left") or 60))
            raise DemoRateLimited(_(RATE_LIMITED) % {"seconds": seconds}, retry_after=seconds)


def _served_profile(workers: list[dict[str, Any]]) -> str:
    profiles = sorted({str(w.get("profile")) for w in workers if w.get("profile")})
    if len(profiles) == 1:
        return profiles[0]
    from inference.contract.registry import active_profile_name

    try:
        return active_profile_name()
    except Exception:  # misconfigured: still a usable cache namespace
        return str(settings.INFERENCE_PROFILE)


def _served_release(workers: list[dict[str, Any]], profile: str) -> tuple[bool, str | None]:
    """``(cacheable, release id)`` for the demo release the ready ``workers`` serve.

    The id is None for the other profiles and when no release is known. With no worker
    ready it is the release on disk (the one the next worker loads). While ready workers
    serve different releases (a swap under way) nothing is cached or answered from the
    cache: a task could land on either.
    """
    if profile != "demo":
        return True, None
    if not workers:
        from inference.contract.registry import demo_release

        release = demo_release()
        return True, (release["id"] if release else None)
    ids = {w["release"].get("id") if isinstance(w.get("release"), dict) else None for w in workers}
    if len(ids) > 1:
        return False, None
    only = ids.pop()
    return True, (None if only is None else str(only))


def _cached_task(client: redis.Redis, cache_key: str, profile: str) -> str | None:
    raw = client.get(cache_key)
    if not raw:
        return None
    task_id = raw.decode() if isinstance(raw, bytes) else str(raw)
    if not streams.is_valid_task_id(task_id):
        return None
    event = streams.outcome(client, task_id)
    if not event or event.get("type") != "done":
        return None
    result = event.get("result") or {}
    served_by = {
        info.get("profile")
        for info in [result.get("model"), *(result.get("models") or {}).values()]
        if isinstance(info, dict) and info.get("profile")
    }
    if served_by and served_by != {profile}:
        return None
    return task_id


def _no_worker_error(client: redis.Redis) -> DemoUnavailable:
    queue = inference_queue()
    live = [w for w in heartbeat.live_workers(client) if queue in (w.get("queues") or [])]
    # Only reached when no worker is ready: a worker serving the build's early checkpoint
    # is ready, so its demos run while the training continues.
    # A build in progress comes first: `make run` starts the worker at once and it waits,
    # heartbeating "starting", until the build publishes its early checkpoint.
    progress = build_progress()
    if progress and progress.get("running"):
        percent = progress.get("percent")
        if isinstance(percent, int | float):
            message = _(
                "The demo models are being prepared (%(percent)s%%)… Try again in a few "
                "minutes; lessons and quizzes work meanwhile."
            ) % {"percent": f"{percent:.0f}"}
        else:
            message = _(
                "The demo models are being prepared… Try again in a few minutes; "
                "lessons and quizzes work meanwhile."
            )
        return DemoUnavailable(message, reason="preparing")
    if live:
        return DemoUnavailable(_(STARTING), reason="starting")
    return DemoUnavailable(_(NO_WORKER), reason="no_worker")


def _enqueue(*, kind: str, task_id: str, params: dict[str, Any]) -> None:
    try:
        gateway.send(
            kinds.require(kind).task_name,
            kwargs=params,
            task_id=task_id,
            expires=queue_expires_s(),
        )
    except Exception as exc:  # broker down or refusing: tell the page, then the caller
        logger.warning("Could not enqueue demo %s (%s): %s", kind, task_id, exc)
        with contextlib.suppress(redis.RedisError):
            streams.publish(
                streams.redis_client(),
                task_id,
                # English in the stream; the pages translate it (inference.web.messages)
                streams.error_event("unavailable", SERVICE_DOWN),
            )
        raise DemoUnavailable() from exc


def demo_submit(*, kind: str, params: dict[str, Any], user: Any, ip: str | None) -> Submission:
    """Run demo ``kind`` on ``params`` (raw or cleaned) for ``user`` from address ``ip``.

    Raises ``DemoInputError`` (400), :class:`DemoRateLimited` (429) or
    :class:`DemoUnavailable` (503).
    """
    params = kinds.validate(kind, params)
    started = time.monotonic()
    if not redis_ping():
        raise DemoUnavailable()
    _rate_limit(user=user, ip=ip)
    client = streams.redis_client()
    try:
        queue = inference_queue()
        ready = heartbeat.ready_workers(client, queue=queue)
        cache_key = None
        if demo_is_deterministic(kind=kind, params=params):
            profile = _served_profile(ready)
            cacheable, release = _served_release(ready, profile)
            if cacheable:
                cache_key = demo_cache_key(
                    kind=kind, profile=profile, params=params, release=release
                )
                task_id = _cached_task(client, cache_key, profile)
                if task_id:
                    return Submission(task_id=task_id, status="cached", kind=kind)
        if not ready:
            raise _no_worker_error(client)
        task_id = uuid.uuid4().hex
        streams.publish(client, task_id, streams.queued_event(kind, params))
        if cache_key:
            client.set(cache_key, task_id, ex=int(settings.DEMO_RESULT_TTL))
    except redis.RedisError as exc:
        raise DemoUnavailable() from exc

    connection = transaction.get_connection()
    if connection.in_atomic_block:
        transaction.on_commit(lambda: _enqueue_after_commit(kind, task_id, params))
    else:
        _enqueue(kind=kind, task_id=task_id, params=params)
    logger.info(
        "Demo %s queued as %s in %.0f ms", kind, task_id, (time.monotonic() - started) * 1000
    )
    return Submission(task_id=task_id, status="queued", kind=kind)


def _enqueue_after_commit(kind: str, task_id: str, params: dict[str, Any]) -> None:
    # After the commit nobody is left to raise to: the error event tells the page.
    try:
        _enqueue(kind=kind, task_id=task_id, params=params)
    except DemoUnavailable:
        logger.warning("Demo %s (%s) could not be enqueued after commit", kind, task_id)
