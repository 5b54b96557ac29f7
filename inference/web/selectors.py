"""Reads for the demo pages: a task's outcome from its event stream, worker status.

A demo's state lives only in Redis (``inference.contract.streams``): the web publishes ``queued``,
the worker ``started`` / ``token`` / ``done`` / ``error``. :func:`demo_outcome` folds
those events into an :class:`Outcome`, long-polls for new ones with XREAD BLOCK, and
turns silence into a verdict the learner can act on: a worker that died mid-task
(heartbeat gone), no worker at all, or a deadline passed.

Reading writes nothing, the verdict included: it is judged from the task's events and the
heartbeat records by ``inference.contract.verdicts`` (which the worker applies too, so a
worker that turns up later publishes the same error rather than an answer) and shown as an
``error`` event that exists only in the answer (:func:`with_verdict`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import redis
from django.conf import settings
from django.utils.translation import gettext as _

from inference.contract import heartbeat, kinds, streams, verdicts
from inference.contract.errors import DemoNotFound, DemoUnavailable
from inference.contract.gateway import inference_queue
from inference.web.messages import SOMETHING_WENT_WRONG

# Poll/long-poll: block on XREAD in slices this long, checking worker health in between.
BLOCK_SLICE_S = 2.0
NO_WORKER_GRACE_S = verdicts.NO_WORKER_GRACE_S
DEADLINE_MARGIN_S = verdicts.DEADLINE_MARGIN_S
WORKER_LOST = verdicts.WORKER_LOST
NO_WORKER = verdicts.NO_WORKER
QUEUE_TIMEOUT = verdicts.QUEUE_TIMEOUT

_CURSOR_RE = re.compile(r"^\d{1,20}-\d{1,20}$")


def queue_expires_s() -> int:
    """Seconds a demo may wait in the queue before Celery drops it (``expires``)."""
    return int(settings.DEMO_QUEUE_EXPIRES)


def task_time_limit_s(kind: str | None = None) -> int:
    """The hard time limit of ``kind``'s task (its row in ``kinds``), else Celery's default."""
    row = kinds.get(kind)
    if row is not None:
        return row.hard_seconds
    return int(settings.CELERY_TASK_TIME_LIMIT)


@dataclass
class Outcome:
    task_id: str
    state: str  # queued | running | streaming | done | error
    entries: list[tuple[str, dict]] = field(default_factory=list)  # (stream id, event)
    result: dict | None = None
    error: dict | None = None
    cursor: str = "0-0"
    kind: str | None = None
    params: dict | None = None
    worker: str | None = None
    tokens: list[dict] = field(default_factory=list)
    queued_at: float | None = None
    started_at: float | None = None

    @property
    def events(self) -> list[dict]:
        return [event for _, event in self.entries]

    @property
    def finished(self) -> bool:
        return self.state in {"done", "error"}

    @property
    def waited_s(self) -> float | None:
        return None if self.queued_at is None else max(0.0, time.time() - self.queued_at)

    def as_dict(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "state": self.state,
            "kind": self.kind,
            # which worker ran it is for the logs; the public result says only that one did
            "worker": "a model worker" if self.worker else None,
            "cursor": self.cursor,
            "tokens": self.tokens,
            "result": self.result,
            "error": self.error,
        }


def _key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def clean_cursor(value: str | None) -> str:
    """A stream entry id from a query string, or ``0-0`` (from the start)."""
    return value if value and _CURSOR_RE.match(value) else "0-0"


def fold(task_id: str, entries: list[tuple[str, dict]]) -> Outcome:
    """The state a list of ``(entry_id, event)`` describes.

    A ``done`` wins over an ``error`` (a result that arrived is a result); among errors
    the first one counts.
    """
    outcome = Outcome(task_id=task_id, state="queued")
    for entry_id, event in entries:
        outcome.cursor = entry_id
        outcome.entries.append((entry_id, event))
        kind = event.get("type")
        if kind == "queued":
            outcome.kind = outcome.kind or event.get("kind")
            if isinstance(event.get("params"), dict):
                outcome.params = outcome.params or event["params"]
            outcome.queued_at = outcome.queued_at or _float(event.get("at"))
        elif kind == "started":
            outcome.worker = event.get("worker") or outcome.worker
            outcome.started_at = _float(event.get("at")) or outcome.started_at
        elif kind == "token":
            index = event.get("index")
            if not any(token.get("index") == index for token in outcome.tokens):
                outcome.tokens.append(event)
        elif kind == "done" and outcome.result is None:
            outcome.result = event.get("result") if isinstance(event.get("result"), dict) else {}
        elif kind == "error" and outcome.error is None:
            outcome.error = {
                "code": event.get("code") or "internal",
                # English like every stored sentence; the page translates it
                "message": event.get("message") or SOMETHING_WENT_WRONG,
            }
    if outcome.result is not None:
        outcome.state = "done"
        outcome.error = None
    elif outcome.error is not None:
        outcome.state = "error"
    elif outcome.tokens:
        outcome.state = "streaming"
    elif outcome.worker:
        outcome.state = "running"
    return outcome


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _entries(client: redis.Redis, task_id: str) -> list[tuple[str, dict]]:
    return streams.read_events(client, task_id, after="0-0")


def _client() -> redis.Redis:
    return streams.redis_client()


def _check_health(client: redis.Redis, outcome: Outcome) -> str | None:
    """The error code an unfinished task has come to (``inference.contract.verdicts``), or
    None if all is well."""
    now = time.time()
    if outcome.state == "queued":
        if not outcome.queued_at:
            return None
        return verdicts.waiting_verdict(
            queued_at=outcome.queued_at,
            until=now,
            gaps=heartbeat.queue_gaps(client, inference_queue(), since=outcome.queued_at, now=now),
            queue_expires_s=queue_expires_s(),
        )
    if outcome.state in {"running", "streaming"}:
        started = outcome.started_at or outcome.queued_at
        return verdicts.running_verdict(
            started_at=started or now,
            now=now,
            worker_alive=not outcome.worker or heartbeat.is_alive(client, outcome.worker),
            hard_limit_s=task_time_limit_s(outcome.kind),
        )
    return None


def with_verdict(outcome: Outcome, code: str) -> Outcome:
    """``outcome`` ended by the verdict ``code``: an ``error`` event appended in the answer
    only (its id follows the last real one, so cursors and the event feed move on to it)."""
    ms, seq = _key(outcome.cursor)
    event = streams.error_event(
        code,
        verdicts.message(
            code,
            waiting=outcome.state == "queued",
            hard_limit_s=task_time_limit_s(outcome.kind),
        ),
    )
    return fold(outcome.task_id, [*outcome.entries, (f"{ms}-{seq + 1}", event)])


def demo_outcome(*, task_id: str, after: str = "0-0", block_ms: int | None = None) -> Outcome:
    """The task's state; with ``block_ms`` wait that long for events after ``after``.

    Raises :class:`DemoNotFound` for an unknown or expired task id and
    :class:`DemoUnavailable` when Redis can't be reached.
    """
    if not streams.is_valid_task_id(task_id):
        raise DemoNotFound()
    after = clean_cursor(after)
    try:
        client = _client()
        entries = _entries(client, task_id)
        if not entries:
            raise DemoNotFound()
        outcome = fold(task_id, entries)
        deadline = time.monotonic() + (block_ms or 0) / 1000
        while True:
            if not outcome.finished:
                code = _check_health(client, outcome)
                if code:
                    outcome = with_verdict(outcome, code)
            if outcome.finished or _key(outcome.cursor) > _key(after):
                return outcome
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return outcome
            new = streams.read_events(
                client,
                task_id,
                after=outcome.cursor,
                block_ms=max(1, int(min(remaining, BLOCK_SLICE_S) * 1000)),
            )
            if new:
                entries.extend(new)
                outcome = fold(task_id, entries)
    except redis.RedisError as exc:
        raise DemoUnavailable() from exc


def demo_outcome_settled(*, task_id: str, within_ms: int) -> Outcome:
    """The task's state once it has finished, or as it stands after ``within_ms``."""
    deadline = time.monotonic() + within_ms / 1000
    outcome = demo_outcome(task_id=task_id)
    while not outcome.finished:
        remaining_ms = int((deadline - time.monotonic()) * 1000)
        if remaining_ms <= 0:
            break
        outcome = demo_outcome(task_id=task_id, after=outcome.cursor, block_ms=remaining_ms)
    return outcome


def demo_event_feed(
    *, task_id: str, after: str = "0-0", max_seconds: float | None = None
) -> Iterator[tuple[str, dict] | None]:
    """Every event after ``after`` as it arrives, ending with the terminal one.

    Yields ``None`` every few seconds while nothing happens (for SSE keep-alives). The
    deadlines in :func:`demo_outcome`'s health checks bound how long this runs; so does
    ``max_seconds``.
    """
    after = clean_cursor(after)
    limit = max_seconds or (queue_expires_s() + task_time_limit_s() + 2 * DEADLINE_MARGIN_S)
    stop_at = time.monotonic() + limit
    cursor = after
    idle_since = time.monotonic()
    while time.monotonic() < stop_at:
        outcome = demo_outcome(task_id=task_id, after=cursor, block_ms=int(BLOCK_SLICE_S * 1000))
        pending = [
            (entry_id, event)
            for entry_id, event in outcome.entries
            if _key(entry_id) > _key(cursor)
        ]
        for entry_id, event in pending:
            yield entry_id, event
            cursor = entry_id
            if event.get("type") in streams.TERMINAL_TYPES:
                return
        if pending:
            idle_since = time.monotonic()
        elif time.monotonic() - idle_since >= 10:
            idle_since = time.monotonic()
            yield None
        if outcome.finished and not pending:
            return


# --- Workers, models and the demo build ------------------------------------------------


def build_progress() -> dict | None:
    """``MODELS_DIR/demo/progress.json`` written by ``build_demo_models``, or None.

    ``{"state": "building"|"done"|"failed", "stage", "percent", "eta_seconds",
    "updated_at", "pid"}``; ``running`` is added: building and updated recently.
    """
    from inference.contract.registry import models_dir, read_json_object

    data = read_json_object(models_dir() / "demo" / "progress.json")
    if data is None:
        return None
    percent = _float(data.get("percent"))
    updated = _float(data.get("updated_at"))
    data["percent"] = None if percent is None else max(0.0, min(100.0, percent))
    fresh = updated is None or time.time() - updated < 300
    data["running"] = data.get("state") == "building" and fresh
    return data


def worker_status() -> dict[str, Any]:
    """What the demo status strip shows: profile, live workers and their models, build.

    ``stage`` is the demo build's stage the ready workers serve: ``"early"`` (an early
    checkpoint, while training continues) when any of them serves one, ``"final"`` when
    they all serve the finished build, else None (another profile, or nobody ready).
    ``poll`` says whether the strip should refresh itself: until a worker is ready, and
    while the demos run on an early checkpoint (so the finished build shows when it lands).
    """
    from inference.contract.registry import PROFILES, active_profile_name

    try:
        profile = active_profile_name()
    except Exception:  # misconfigured profile: shown, not fatal
        profile = str(settings.INFERENCE_PROFILE)
    status: dict[str, Any] = {
        "profile": profile,
        "profile_description": _(PROFILES.get(profile, "")),
        "redis": True,
        "workers": [],
        "ready": False,
        "stage": None,
        "poll": True,
        "build": build_progress(),
    }
    try:
        workers = heartbeat.live_workers(_client())
    except redis.RedisError:
        status["redis"] = False
        return status
    queue = inference_queue()
    status["workers"] = [w for w in workers if queue in (w.get("queues") or [])]
    status["ready"] = any(w.get("ready") is True for w in status["workers"])
    served = {w.get("profile") for w in status["workers"] if w.get("ready") is True}
    if len(served) == 1:
        status["profile"] = served.pop() or profile
        status["profile_description"] = _(PROFILES.get(status["profile"], ""))
    status["stage"] = served_stage(status["workers"])
    status["poll"] = not status["ready"] or status["stage"] == "early"
    return status


# What the public JSON says of a worker: no host name or process id (internal details
# learners and scripts have no use for); the status strip numbers workers the same way.
PRIVATE_WORKER_FIELDS = ("hostname", "pid")


def public_status(status: dict[str, Any]) -> dict[str, Any]:
    """:func:`worker_status` for the JSON API: each worker as "model worker N"."""
    workers = [
        {"name": f"model worker {number}"}
        | {key: value for key, value in worker.items() if key not in PRIVATE_WORKER_FIELDS}
        for number, worker in enumerate(status.get("workers") or [], start=1)
    ]
    return {**status, "workers": workers}


def served_stage(workers: list[dict]) -> str | None:
    """``"early"`` when a ready worker serves the demo build's early checkpoint, ``"final"``
    when every ready worker on the demo profile serves its finished build, else None."""
    stages = [
        (w.get("release") or {}).get("stage") if isinstance(w.get("release"), dict) else None
        for w in workers
        if w.get("ready") is True and w.get("profile") == "demo"
    ]
    if "early" in stages:
        return "early"
    if stages and all(stage == "final" for stage in stages):
        return "final"
    return None


def next_token_logits(*, task_id: str) -> tuple[Outcome, bytes, dict[int, str]]:
    """The finished next-token result and its stored logits (for re-shaping the bars)."""
    outcome = demo_outcome(task_id=task_id)
    if outcome.kind not in (None, "next-token") or outcome.state != "done":
        raise DemoNotFound(_("This isn't a finished next-token result."))
    key = (outcome.result or {}).get("logits_key")
    if not isinstance(key, str) or not key.startswith(streams.LOGITS_PREFIX):
        raise DemoNotFound(_("This result has no stored probabilities to re-shape."))
    try:
        stored = streams.logits_read(_client(), key)
    except redis.RedisError as exc:
        raise DemoUnavailable() from exc
    if stored is None:
        raise DemoNotFound()
    raw, vocab = stored
    return outcome, raw, {int(pair[0]): str(pair[1]) for pair in vocab if len(pair) == 2}
