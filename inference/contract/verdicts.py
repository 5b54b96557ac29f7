"""When a demo that has not finished can no longer give an answer, judged from records alone.

A task goes quiet for three reasons: no worker serves its queue (``unavailable``), it waited
or ran past its limits (``timeout``), or the worker running it died (``worker_lost``). The
web's readers (``inference.web.selectors``) and the worker's task envelope
(``inference.worker.tasks``) judge a task by the same functions here, from the task's own
events and the heartbeat records (``inference.contract.heartbeat``), so nobody has to write a
verdict down when they notice it: reading a demo's state never writes.

Why that is enough to keep a learner's answer from changing under them:

- ``unavailable``: a reader said so because, at some moment after the grace period, no
  worker covered the queue. That moment lies in a gap the heartbeat records (the next
  worker to beat records it before it consumes anything), so a worker that picks the task
  up later finds the same gap and publishes the same error instead of running it.
- ``timeout`` while waiting: past the queue expiry Celery drops the message, and a worker
  that still gets it judges it by the same clock.
- ``worker_lost`` and ``timeout`` while running: the worker that started the task is gone or
  far past its hard limit. If it comes back and finishes after all, its ``done`` wins (a
  result that arrived is a result; see ``selectors.fold``); a redelivered copy is reported
  lost by the next worker, never run twice.
"""

from __future__ import annotations

from django.utils.translation import gettext_noop

# A queued task that has waited this long with no worker covering its queue (without a
# break: a worker restart shorter than this costs nobody their demo) is reported unavailable.
NO_WORKER_GRACE_S = 5.0
# Slack on top of the queue expiry / hard time limit before declaring a timeout.
DEADLINE_MARGIN_S = 10.0

# The learner's sentences, in English: the worker stores them in a task's events, and the
# pages translate them when they show them (``inference.web.messages``).
WORKER_LOST = gettext_noop("The model worker stopped while working on this. Please try again.")
NO_WORKER = gettext_noop(
    "No model worker is running right now, so this demo can't run. Lessons and quizzes still work."
)
QUEUE_TIMEOUT = gettext_noop(
    "The model workers were too busy to start this in time. Please try again."
)
RAN_TOO_LONG = gettext_noop(
    "This demo ran longer than its %(seconds)s-second limit and was stopped. Try a shorter input."
)


def waiting_verdict(
    *,
    queued_at: float,
    until: float,
    gaps: list[tuple[float, float]],
    queue_expires_s: float,
) -> str | None:
    """Why a task queued at ``queued_at`` and still not started at ``until`` (now for a
    reader, the moment it is picked up for a worker) can't run, or None.

    ``gaps`` are the spans without a worker on its queue (``heartbeat.queue_gaps``); the
    task is unavailable once it has spent more than ``NO_WORKER_GRACE_S`` of its wait in one.
    """
    if until - queued_at > queue_expires_s + DEADLINE_MARGIN_S:
        return "timeout"
    for start, end in gaps:
        if min(end, until) - max(start, queued_at) > NO_WORKER_GRACE_S:
            return "unavailable"
    return None


def running_verdict(
    *, started_at: float, now: float, worker_alive: bool, hard_limit_s: float
) -> str | None:
    """Why a started task can't finish: its worker's heartbeat is gone, or it ran far past
    its hard time limit; None while all is well."""
    if not worker_alive:
        return "worker_lost"
    if now - started_at > hard_limit_s + DEADLINE_MARGIN_S:
        return "timeout"
    return None


def message(code: str, *, waiting: bool, hard_limit_s: float) -> str:
    """The learner's sentence for a verdict, in English (see above)."""
    if code == "worker_lost":
        return WORKER_LOST
    if code == "unavailable":
        return NO_WORKER
    if waiting:
        return QUEUE_TIMEOUT
    return RAN_TOO_LONG % {"seconds": f"{hard_limit_s:g}"}
