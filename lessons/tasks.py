"""Celery tasks of the lessons app (default queue).

``record_free_text_grade`` writes a free-text grade computed by a model worker (see
``lessons.free_text``); ``sweep_free_text`` (Celery beat, every
``FREE_TEXT_SWEEP_SECONDS``) applies grades whose link was lost and re-queues lost grading
tasks, so no page view has to.

``ping_worker`` is a real, tiny round trip through the broker: it tells which worker
process served it. Operators use it to check that default-queue workers on every
machine take work (docs/deploy.md); tests/deploy/test_scale_out.py shows several
workers sharing the queue.
"""

from __future__ import annotations

import logging
import os
import time

from celery import shared_task

from config.request_id import get_request_id

logger = logging.getLogger(__name__)


@shared_task(name="lessons.tasks.ping_worker", bind=True, ignore_result=False)
def ping_worker(self, *, delay_ms: int = 0) -> dict:
    """Return who served this task; ``delay_ms`` (0-2000) simulates a little work."""
    delay_ms = max(0, min(int(delay_ms), 2000))
    if delay_ms:
        time.sleep(delay_ms / 1000)
    logger.info("ping_worker %s served by %s", self.request.id, self.request.hostname)
    return {
        "hostname": self.request.hostname,
        "pid": os.getpid(),
        "task_id": self.request.id,
        "request_id": get_request_id(),
        "queue": (self.request.delivery_info or {}).get("routing_key"),
    }


@shared_task(name="lessons.tasks.record_free_text_grade", ignore_result=True)
def record_free_text_grade(result: dict, *, answer_id: int, task_id: str) -> str:
    """Write a free-text grade to the database (default queue).

    Runs as the ``link`` of ``inference.tasks.grade_short_answer``, so Celery passes that
    task's return value first. Idempotent: ``lessons.free_text.free_text_answer_record``
    only writes for the task the answer still waits for.
    """
    from lessons.free_text import free_text_answer_record

    outcome = free_text_answer_record(answer_id=answer_id, task_id=task_id, result=result)
    logger.info("free-text grade of answer %s from %s: %s", answer_id, task_id, outcome)
    return outcome


@shared_task(name="lessons.tasks.sweep_free_text", ignore_result=True)
def sweep_free_text() -> dict:
    """Bring every pending free-text answer up to date (periodic, default queue)."""
    from lessons.free_text_reads import pending_answers
    from lessons.free_text_sweep import free_text_sweep

    report = free_text_sweep(answers=pending_answers())
    counts = {
        "graded": len(report.graded),
        "requeued": len(report.requeued),
        "failed": len(report.failed),
        "waiting": len(report.waiting),
    }
    if report.changed:
        logger.info("free-text sweep: %s", counts)
    return counts
