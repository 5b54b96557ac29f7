"""Celery tasks of the model demos: thin wrappers that validate, run an engine, publish.

One task per demo kind (queue ``inference``, named ``inference.tasks.<kind>``, made from
the kind's row in ``inference.contract.kinds``) plus short-answer grading, all in one envelope
(:func:`envelope`). Every task takes primitive keyword arguments only and:

1. returns the recorded outcome without running again if the task's event stream already
   holds ``done`` or ``error`` (a message redelivered after a worker died), and gives up
   with an error on a third delivery (``INCR demo:deliveries:<task_id>``), so a request
   that kills workers can't loop forever;
2. reports a task that an earlier delivery already started as lost (``worker_lost``:
   the pages say so as soon as that worker's heartbeat is gone) instead of running it
   twice, and a task that waited through a span with no worker on its queue, or past the
   queue's expiry, as ``unavailable`` / ``timeout`` (``inference.contract.verdicts``: the
   pages judged it so by the same records, without writing anything), then publishes
   ``started`` (with the worker's hostname);
3. re-validates its arguments (``inference.contract.kinds.validate``: the same functions as the
   web forms) and checks token counts with the loaded tokenizer;
4. runs the kind's runner (``inference.worker.runners``) on the process-global models
   (``inference.worker.runtime``: loaded once at worker start, never per task; the batched kinds
   share forward passes with concurrent requests through ``inference.worker.batching``, switched
   off with ``INFERENCE_BATCHING=0``) on a run thread (below), and publishes ``done`` with
   the result, or ``error`` with a sentence for the learner (``invalid_input``,
   ``timeout``, ``unavailable``, ``internal``; the traceback of an internal error goes to
   the log only);
5. returns the result dict (or ``{"error": {...}}``).

Time limits: each demo kind's ``time_limits`` row in ``inference/contract/kinds.py``
(soft, hard seconds; 20/30 unless the row says otherwise, generation 60/75) and
:data:`SHORT_ANSWER_TIME_LIMITS` (20/30) for grading; ``CELERY_TASK_SOFT_TIME_LIMIT`` and
``CELERY_TASK_TIME_LIMIT`` don't apply to these tasks. The threads pool the model worker
runs (``inference/worker/process.py``) can't interrupt a running thread, so Celery's
``soft_time_limit``/``time_limit`` do nothing there (nor on the solo pool). What holds
instead (``inference/worker/timebox.py``): the work runs on a bounded pool of run threads
(as many as the worker's ``-c``) and the task waits for it until the soft limit plus a
grace of ``timebox.GRACE_SECONDS`` (1 s, never past the hard limit). Past that the task
publishes ``timeout``, returns and frees its Celery thread for the next task; the abandoned
work can no longer publish (its token events and deadline checks raise ``DemoTimeout``),
generation stops at its next token by itself (it checks the deadline between tokens), and a
stuck forward pass finishes in the background with its result dropped (logged). So the
learner's ``timeout`` arrives within soft + 1 s of ``started``, whatever the work does. The
batched kinds also stop waiting for their batch at the soft deadline. ``soft_time_limit``
and ``time_limit`` are still set for the pools that do enforce them (prefork, gevent), and
``SoftTimeLimitExceeded`` is reported like our own deadline. The web side uses the hard
limit (plus a margin) to declare a task lost when its stream goes quiet.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import time
from collections.abc import Callable
from typing import Any

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings

from inference.contract import heartbeat, kinds, streams, validation, verdicts
from inference.contract.gateway import inference_queue
from inference.contract.kinds import DemoKind
from inference.worker import batching, timebox
from inference.worker.loading import ModelsMissing
from inference.worker.runners import DemoTimeout, Job
from inference.worker.timebox import Run

logger = logging.getLogger(__name__)

MAX_DELIVERIES = 2

MESSAGES = {
    "timeout": "The model took too long to answer (over {seconds} seconds). Try a shorter "
    "input or fewer new tokens.",
    "unavailable": "The models aren't ready on this worker yet. Please try again in a minute.",
    "internal": "Something went wrong inside the model worker. Please try again; if it keeps "
    "happening, tell the course team.",
    "lost": "The model worker stopped while working on this. Please try again.",
    "redelivered": "The model worker stopped twice while working on this, so it was not "
    "retried again. Try a shorter input.",
}

__all__ = ["DemoTimeout", "demo_task", "envelope", "grade_short_answer", "run_demo"]


def _token_delay() -> float:
    """Test hook: ``INFERENCE_TEST_TOKEN_DELAY_MS`` slows generation so a test can kill the
    worker mid-task. Ignored unless set."""
    raw = os.environ.get("INFERENCE_TEST_TOKEN_DELAY_MS")
    if not raw:
        return 0.0
    try:
        return max(0.0, float(raw) / 1000.0)
    except ValueError:
        return 0.0


def envelope(
    task: Any,
    *,
    what: str,
    soft_seconds: int,
    hard_seconds: int | None = None,
    work: Callable[[Any, str, Run], dict],
) -> dict:
    """The shared body of every model task (see the module docstring).

    ``work(client, task_id, run)`` does the task's own part on a run thread
    (``inference.worker.timebox``) and returns its result; ``run.deadline`` is its deadline
    and anything it publishes to the learner goes through ``run.guard``. A DemoInputError
    it raises is the learner's input at fault, any other exception ours.
    """
    client = streams.redis_client()
    task_id = task.request.id

    events = streams.all_events(client, task_id)  # read once: the checks below all use them
    previous = next((e for e in events if e.get("type") in streams.TERMINAL_TYPES), None)
    if previous is not None:
        logger.warning(
            "Task %s (%s) already has its outcome (%s); not running it again",
            task_id,
            what,
            previous["type"],
        )
        return previous["result"] if previous["type"] == "done" else {"error": previous}
    if streams.count_delivery(client, task_id) > MAX_DELIVERIES:
        event = streams.error_event("worker_lost", MESSAGES["redelivered"])
        streams.publish(client, task_id, event)
        return {"error": event}
    earlier = [e for e in events if e.get("type") == "started"]
    if earlier:
        # Delivered again after a worker took it: never run twice. If that worker is gone,
        # say so (what the pages already show: they read it as lost); if it still runs the
        # task (a redelivery while it works), it will publish the outcome itself.
        if heartbeat.is_alive(client, str(earlier[-1].get("worker", ""))):
            logger.warning("Task %s (%s) is still running elsewhere; not running it", task_id, what)
            return {"error": {"code": "duplicate", "message": "Already running."}}
        event = streams.error_event("worker_lost", MESSAGES["lost"])
        streams.publish(client, task_id, event)
        return {"error": event}
    too_late = _waited_too_long(client, task, events)
    if too_late is not None:
        logger.warning("Task %s (%s) waited too long (%s); not running it", task_id, what, too_late)
        event = streams.error_event(
            too_late, verdicts.message(too_late, waiting=True, hard_limit_s=hard_seconds or 0)
        )
        streams.publish(client, task_id, event)
        return {"error": event}

    streams.publish(client, task_id, streams.started_event(task.request.hostname or "unknown"))
    deadline = time.monotonic() + soft_seconds
    give_up_at = deadline + timebox.grace(soft_seconds, hard_seconds)
    try:
        run = timebox.pool().submit(
            functools.partial(work, client, task_id),
            label=f"task {task_id} ({what})",
            deadline=deadline,
        )
        try:
            result = run.wait(give_up_at)
        finally:
            run.close()  # before any terminal event: the work can't publish after it
    except validation.DemoInputError as exc:
        event = streams.error_event("invalid_input", exc.message)
    except (DemoTimeout, SoftTimeLimitExceeded):
        logger.warning("Task %s (%s) timed out", task_id, what)
        event = streams.error_event("timeout", MESSAGES["timeout"].format(seconds=soft_seconds))
    except ModelsMissing:
        logger.exception("Task %s (%s): models missing", task_id, what)
        event = streams.error_event("unavailable", MESSAGES["unavailable"])
    except Exception:
        logger.exception("Task %s (%s) failed", task_id, what)
        event = streams.error_event("internal", MESSAGES["internal"])
    else:
        streams.publish(client, task_id, streams.done_event(result))
        return result
    streams.publish(client, task_id, event)
    return {"error": event}


def _waited_too_long(client: Any, task: Any, events: list[dict[str, Any]]) -> str | None:
    """The verdict the pages have come to (or would) on this task while it waited:
    ``unavailable`` if its queue had no worker past the grace period, ``timeout`` past the
    queue expiry; None when it may run. Only demos are judged: short-answer grading waits
    for a worker as long as it takes (``lessons.free_text_sweep``)."""
    queued = next((e for e in events if e.get("type") == "queued"), None)
    if not queued or kinds.get(str(queued.get("kind"))) is None:
        return None
    try:
        queued_at = float(queued["at"])
    except (KeyError, TypeError, ValueError):
        queued_at = None
    if queued_at is None:
        return None
    delivery = task.request.delivery_info or {}
    queue = delivery.get("routing_key") or inference_queue()
    now = time.time()
    return verdicts.waiting_verdict(
        queued_at=queued_at,
        until=now,
        gaps=heartbeat.queue_gaps(client, str(queue), since=queued_at, now=now),
        queue_expires_s=float(settings.DEMO_QUEUE_EXPIRES),
    )


def _runtime() -> Any:
    from inference.worker.runtime import get_runtime

    return get_runtime()


def run_demo(task: Any, name: str, params: dict) -> dict:
    """Validate ``params`` for demo ``name`` and run its runner inside :func:`envelope`."""
    kind = kinds.require(name)

    def work(client: Any, task_id: str, run: Run) -> dict:
        def publish(event: dict) -> None:
            streams.publish(client, task_id, event)

        def keep_logits(output: Any) -> None:
            key = output.result["logits_key"]
            streams.logits_store(client, key, logits=output.logits, vocab=output.vocab)

        # Batched kinds announce their request as the run starts (the announcement belongs
        # to the thread that will submit it): the batcher then waits for it.
        with batching.expecting(name) if kind.batched else contextlib.nullcontext():
            cleaned = kinds.validate(name, params)
            job = Job(
                deadline=run.deadline,
                publish=run.guard(publish),
                keep_logits=run.guard(keep_logits),
                token_delay=_token_delay(),
                cancelled=run.cancelled,
            )
            return kind.runner()(_runtime(), cleaned, job)

    return envelope(
        task, what=name, soft_seconds=kind.soft_seconds, hard_seconds=kind.hard_seconds, work=work
    )


_demo_tasks: dict[str, Any] = {}


def _make_demo_task(kind: DemoKind) -> Any:
    def demo(self: Any, **params: Any) -> dict:
        return run_demo(self, kind.name, params)

    demo.__name__ = demo.__qualname__ = kind.name.replace("-", "_")
    demo.__doc__ = f"The {kind.name} demo: {kind.title}."
    return shared_task(
        bind=True,
        name=kind.task_name,
        acks_late=True,
        soft_time_limit=kind.soft_seconds,
        time_limit=kind.hard_seconds,
        max_retries=0,
    )(demo)


def demo_task(name: str) -> Any:
    """The Celery task of demo ``name`` (made from its row the first time it is asked for)."""
    task = _demo_tasks.get(name)
    if task is None:
        task = _demo_tasks[name] = _make_demo_task(kinds.require(name))
    return task


for _kind in kinds.all_kinds():  # registered with Celery when the worker imports this module
    demo_task(_kind.name)


# === Short answers graded by meaning (the lessons' "explain in your words" questions) ===
#
# Not a demo: ``lessons.free_text`` enqueues it when a learner submits an explained answer.
# The same envelope as the demos (a recorded outcome is returned, not recomputed; a third
# delivery gives up; ``started``/``done``/``error`` events in the task's stream), and the
# same thin shape: primitives in, JSON out. The worker never touches the database: the
# lessons app records the grade (the ``link`` callback on the default queue, or its sweep).

SHORT_ANSWER_TIME_LIMITS = (20, 30)  # (soft, hard) seconds; lessons.free_text knows the hard
SHORT_ANSWER_LIMITS = {
    "text": 2000,
    "question": 2000,
    "references": 20,
    "reference": 2000,
    "concepts": 20,
    "phrases": 20,
    "phrase": 300,
    "misconceptions": 20,
}


def _short_text(value, *, what: str, limit: int, required: bool = True) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise validation.DemoInputError(f"The {what} must be text.")
    value = value.strip()
    if required and not value:
        raise validation.DemoInputError(f"The {what} is empty.")
    if len(value) > limit:
        raise validation.DemoInputError(f"The {what} is longer than {limit} characters.")
    return value


def validate_short_answer(
    *, answer_id=None, text=None, references=None, concepts=None, question=""
) -> dict:
    """Check the grading task's arguments; returns them cleaned or raises DemoInputError."""
    limits = SHORT_ANSWER_LIMITS
    if isinstance(answer_id, bool) or not isinstance(answer_id, int):
        raise validation.DemoInputError("The answer id must be a whole number.")
    if not isinstance(references, list) or not 1 <= len(references) <= limits["references"]:
        raise validation.DemoInputError(
            f"Give 1 to {limits['references']} reference answers to compare with."
        )
    if not isinstance(concepts, list) or len(concepts) > limits["concepts"]:
        raise validation.DemoInputError(f"Give at most {limits['concepts']} key concepts.")
    cleaned_concepts = []
    for concept in concepts:
        phrases = concept.get("phrases") if isinstance(concept, dict) else None
        if not isinstance(phrases, list) or not 1 <= len(phrases) <= limits["phrases"]:
            raise validation.DemoInputError(
                f"Every key concept needs 1 to {limits['phrases']} phrases."
            )
        misconceptions = concept.get("misconceptions") or []
        if not isinstance(misconceptions, list) or len(misconceptions) > limits["misconceptions"]:
            raise validation.DemoInputError(
                f"Give at most {limits['misconceptions']} misconceptions per key concept."
            )
        cleaned = {
            "label": _short_text(concept.get("label"), what="concept", limit=limits["phrase"]),
            "phrases": [
                _short_text(p, what="concept phrase", limit=limits["phrase"]) for p in phrases
            ],
        }
        if misconceptions:
            cleaned["misconceptions"] = [
                _short_text(m, what="misconception", limit=limits["phrase"]) for m in misconceptions
            ]
        cleaned_concepts.append(cleaned)
    return {
        "answer_id": answer_id,
        "text": _short_text(text, what="answer", limit=limits["text"]),
        "question": _short_text(
            question, what="question", limit=limits["question"], required=False
        ),
        "references": [
            _short_text(r, what="reference answer", limit=limits["reference"]) for r in references
        ],
        "concepts": cleaned_concepts,
    }


@shared_task(
    bind=True,
    name="inference.tasks.grade_short_answer",
    acks_late=True,
    soft_time_limit=SHORT_ANSWER_TIME_LIMITS[0],
    time_limit=SHORT_ANSWER_TIME_LIMITS[1],
    max_retries=0,
)
def grade_short_answer(self, **params) -> dict:
    """Similarities of a learner's answer to the reference answers and key concepts.

    Keyword arguments: ``answer_id`` (echoed back), ``text``, ``question`` (its words are
    demoted), ``references`` (strings) and ``concepts`` (``{"label", "phrases"}``, optionally
    ``"misconceptions"``). Returns
    ``inference.worker.engine.short_answer.short_answer_similarities``'s result plus ``answer_id``
    and ``references``, or ``{"error": {...}}``.
    """

    def work(client: Any, task_id: str, run: Run) -> dict:
        try:
            cleaned = validate_short_answer(**params)
        except TypeError as exc:  # an argument nobody expects
            raise validation.DemoInputError(str(exc)) from exc
        from inference.worker.engine.short_answer import short_answer_similarities

        answer_id = cleaned.pop("answer_id")
        result = short_answer_similarities(_runtime().encoder, **cleaned)
        result.update(answer_id=answer_id, references=cleaned["references"])
        return result

    soft, hard = SHORT_ANSWER_TIME_LIMITS
    return envelope(self, what="grading", soft_seconds=soft, hard_seconds=hard, work=work)
