"""Finding lost free-text grading tasks (the periodic sweep: ``lessons.tasks.sweep_free_text``).

For each pending answer: a finished grade in the task's stream is recorded (its Celery link
was lost); a task whose worker is gone, that ran past its time limit, or whose message was
lost while a worker was up is re-queued (``free_text.free_text_answer_record`` with a
``worker_lost`` error, which re-queues until ``FREE_TEXT_MAX_TRIES``). With no worker up
nothing is re-queued: the answer waits.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import redis
from django.db import DatabaseError
from django.db.models import QuerySet

from inference import facade

from .free_text import PENDING, RUNNING_LIMIT_S, free_text_answer_record, requeue_after_s
from .models import Answer

logger = logging.getLogger(__name__)


@dataclass
class SweepReport:
    graded: list[int] = field(default_factory=list)
    requeued: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    waiting: list[int] = field(default_factory=list)
    no_worker: bool = False
    unavailable: bool = False  # Redis didn't answer: nothing could be checked

    @property
    def changed(self) -> bool:
        return bool(self.graded or self.requeued or self.failed)


def _ready_since(workers: list[dict]) -> float | None:
    """Since when (epoch) a ready worker has been up: the earliest start among them."""
    starts = [
        float(w["started_at"]) for w in workers if isinstance(w.get("started_at"), int | float)
    ]
    return min(starts) if starts else (time.time() if workers else None)


def _is_lost(
    answer: Answer, events: list[dict], *, ready_since: float | None, now: float
) -> bool | None:
    """True when the answer's task is lost, False while it may still finish, None when no
    worker is up to run it."""
    started = [event for event in events if event.get("type") == "started"]
    if started:
        last = started[-1]
        if not facade.worker_alive(str(last.get("worker", ""))):
            return True
        return now - float(last.get("at") or now) > RUNNING_LIMIT_S
    if ready_since is None:
        return None
    queued_at = answer.queued_at.timestamp() if answer.queued_at else now
    return now - max(queued_at, ready_since) > requeue_after_s()


def free_text_sweep(*, answers: Iterable[Answer] | QuerySet[Answer]) -> SweepReport:
    """Bring pending answers up to date: apply finished grades, re-queue lost tasks.

    One stream read per pending answer. Never raises for a Redis or database hiccup: what
    can't be checked now is checked on the next call.
    """
    report = SweepReport()
    pending = [answer for answer in answers if answer.grading_status == PENDING]
    if not pending:
        return report
    try:
        ready = facade.grading_workers()
    except redis.RedisError as exc:
        logger.warning("Free-text sweep: Redis unavailable (%s)", exc)
        report.unavailable = True
        report.waiting = [answer.pk for answer in pending]
        return report
    report.no_worker = not ready
    since = _ready_since(ready)
    now = time.time()
    for answer in pending:
        task_id = answer.grading_task_id
        try:
            events = facade.grading_events(task_id)
            outcome = next((e for e in events if e.get("type") in facade.TERMINAL_TYPES), None)
            if outcome is not None:
                result = outcome.get("result") if outcome["type"] == "done" else {"error": outcome}
                state = free_text_answer_record(
                    answer_id=answer.pk, task_id=task_id, result=result or {}
                )
            elif _is_lost(answer, events, ready_since=since, now=now):
                state = _requeue_lost(answer)
            else:
                state = "waiting"
        except (redis.RedisError, DatabaseError) as exc:
            logger.warning("Free-text sweep of answer %s failed: %s", answer.pk, exc)
            state = "waiting"
        bucket = {
            "graded": report.graded,
            "requeued": report.requeued,
            "failed": report.failed,
            "waiting": report.waiting,
        }.get(state)
        if bucket is not None:  # "stale"/"missing": someone else recorded it meanwhile
            bucket.append(answer.pk)
    return report


def _requeue_lost(answer: Answer) -> str:
    """Re-queue an answer whose task is lost (or fail it after too many tries)."""
    lost = {"code": "worker_lost", "message": "The grading task was lost."}
    return free_text_answer_record(
        answer_id=answer.pk, task_id=answer.grading_task_id, result={"error": lost}
    )
