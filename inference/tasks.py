"""Celery tasks of the model demos: thin wrappers that validate, run an engine, publish.

Every task (queue ``inference``, names ``inference.tasks.<kind>``) takes primitive
keyword arguments only and:

1. returns the recorded outcome without running again if the task's event stream already
   holds ``done`` or ``error`` (a message redelivered after a worker died), and gives up
   with an error on a third delivery (``INCR demo:deliveries:<task_id>``), so a request
   that kills workers can't loop forever;
2. publishes ``started`` (with the worker's hostname);
3. re-validates its arguments with ``inference.validation`` (the same functions as the
   web forms) and checks token counts with the loaded tokenizer;
4. runs the engine on the process-global models (``inference.runtime``: loaded once at
   worker start, never per task; fill-mask, next-token and embeddings requests share
   forward passes with concurrent ones through ``inference.batching``, switched off with
   ``INFERENCE_BATCHING=0``) and publishes ``done`` with the result, or ``error``
   with a sentence for the learner (``invalid_input``, ``timeout``, ``unavailable``,
   ``internal``; the traceback of an internal error goes to the log only);
5. returns the result dict (or ``{"error": {...}}``).

Time limits: the threads pool the model worker runs (see ``inference/worker.py``) cannot
interrupt a running thread, so Celery's ``soft_time_limit`` is not enforced there; the
generation loop checks a deadline between tokens instead (single forward passes of the
other demos take well under a second). ``soft_time_limit``/``time_limit`` are still set
for pools that do enforce them (prefork, solo with SIGALRM), and ``SoftTimeLimitExceeded``
is reported like our own deadline. The web side uses :data:`TASK_TIME_LIMITS` to declare
a task lost when it runs past its hard limit.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded

from inference import batching, streams, validation
from inference.loading import ModelsMissing

logger = logging.getLogger(__name__)

MAX_DELIVERIES = 2

# kind -> (soft, hard) seconds
TASK_TIME_LIMITS: dict[str, tuple[int, int]] = {
    "fill-mask": (20, 30),
    "generate": (60, 75),
    "next-token": (20, 30),
    "attention": (20, 30),
    "tokenize": (20, 30),
    "embeddings": (20, 30),
    "next-sentence": (20, 30),
}

MESSAGES = {
    "timeout": "The model took too long to answer (over {seconds} seconds). Try a shorter "
    "input or fewer new tokens.",
    "unavailable": "The models aren't ready on this worker yet. Please try again in a minute.",
    "internal": "Something went wrong inside the model worker. Please try again; if it keeps "
    "happening, tell the course team.",
    "redelivered": "The model worker stopped twice while working on this, so it was not "
    "retried again. Try a shorter input.",
}


class DemoTimeout(Exception):
    """The task ran past its soft time limit (checked between generated tokens)."""


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


def run_demo(task, kind: str, params: dict, runner: Callable[..., dict]) -> dict:
    """The shared body of every demo task (see the module docstring)."""
    client = streams.redis_client()
    task_id = task.request.id
    soft, _hard = TASK_TIME_LIMITS[kind]

    previous = streams.outcome(client, task_id)
    if previous is not None:
        logger.warning("Task %s already has a %s event; not running again", task_id, kind)
        return previous["result"] if previous["type"] == "done" else {"error": previous}
    if streams.count_delivery(client, task_id) > MAX_DELIVERIES:
        event = streams.error_event("worker_lost", MESSAGES["redelivered"])
        streams.publish(client, task_id, event)
        return {"error": event}

    streams.publish(client, task_id, streams.started_event(task.request.hostname or "unknown"))
    deadline = time.monotonic() + soft
    try:
        cleaned = validation.validate(kind, params)
        from inference.runtime import get_runtime

        runtime = get_runtime()
        result = runner(runtime, cleaned, client=client, task_id=task_id, deadline=deadline)
    except validation.DemoInputError as exc:
        event = streams.error_event("invalid_input", exc.message)
    except (DemoTimeout, SoftTimeLimitExceeded):
        logger.warning("Demo task %s (%s) timed out", task_id, kind)
        event = streams.error_event("timeout", MESSAGES["timeout"].format(seconds=soft))
    except ModelsMissing:
        logger.exception("Demo task %s (%s): models missing", task_id, kind)
        event = streams.error_event("unavailable", MESSAGES["unavailable"])
    except Exception:
        logger.exception("Demo task %s (%s) failed", task_id, kind)
        event = streams.error_event("internal", MESSAGES["internal"])
    else:
        streams.publish(client, task_id, streams.done_event(result))
        return result
    streams.publish(client, task_id, event)
    return {"error": event}


# --- Runners: cleaned params -> result (they may publish intermediate events) ----------


def _run_fill_mask(runtime, cleaned, *, deadline, **_) -> dict:
    # Batched with concurrent fill-mask requests (inference/batching.py).
    try:
        return batching.fill_mask(runtime.bert, deadline=deadline, **cleaned)
    except batching.BatchTimeout as exc:
        raise DemoTimeout from exc


def _run_generate(runtime, cleaned, *, client, task_id, deadline) -> dict:
    from inference.engine.generate import generate

    delay = _token_delay()

    def on_token(event: dict) -> None:
        streams.publish(client, task_id, event)
        if delay:
            time.sleep(delay)
        if time.monotonic() > deadline:
            raise DemoTimeout

    return generate(runtime.gpt, on_token=on_token, **cleaned)


def _run_next_token(runtime, cleaned, *, client, deadline, **_) -> dict:
    try:
        output = batching.next_token(runtime.gpt, deadline=deadline, **cleaned)
    except batching.BatchTimeout as exc:
        raise DemoTimeout from exc
    streams.logits_store(
        client, output.result["logits_key"], logits=output.logits, vocab=output.vocab
    )
    return output.result


def _run_attention(runtime, cleaned, **_) -> dict:
    from inference.engine.attention import attention

    return attention(runtime.bert, runtime.gpt, **cleaned)


def _run_tokenize(runtime, cleaned, **_) -> dict:
    from inference.engine.tokenize import tokenize

    return tokenize(runtime.bert, runtime.gpt, **cleaned)


def _run_embeddings(runtime, cleaned, *, deadline, **_) -> dict:
    try:
        return batching.embeddings(runtime.bert, runtime.encoder, deadline=deadline, **cleaned)
    except batching.BatchTimeout as exc:
        raise DemoTimeout from exc


def _run_next_sentence(runtime, cleaned, **_) -> dict:
    from inference.engine.next_sentence import next_sentence

    return next_sentence(runtime.bert, **cleaned)


def _options(kind: str) -> dict:
    soft, hard = TASK_TIME_LIMITS[kind]
    return {
        "bind": True,
        "name": validation.TASK_NAMES[kind],
        "acks_late": True,
        "soft_time_limit": soft,
        "time_limit": hard,
        "max_retries": 0,
    }


@shared_task(**_options("fill-mask"))
def fill_mask(self, **params) -> dict:
    with batching.expecting("fill-mask"):  # from the start: the batcher waits for us
        return run_demo(self, "fill-mask", params, _run_fill_mask)


@shared_task(**_options("generate"))
def generate(self, **params) -> dict:
    return run_demo(self, "generate", params, _run_generate)


@shared_task(**_options("next-token"))
def next_token(self, **params) -> dict:
    with batching.expecting("next-token"):
        return run_demo(self, "next-token", params, _run_next_token)


@shared_task(**_options("attention"))
def attention(self, **params) -> dict:
    return run_demo(self, "attention", params, _run_attention)


@shared_task(**_options("tokenize"))
def tokenize(self, **params) -> dict:
    return run_demo(self, "tokenize", params, _run_tokenize)


@shared_task(**_options("embeddings"))
def embeddings(self, **params) -> dict:
    with batching.expecting("embeddings"):
        return run_demo(self, "embeddings", params, _run_embeddings)


@shared_task(**_options("next-sentence"))
def next_sentence(self, **params) -> dict:
    return run_demo(self, "next-sentence", params, _run_next_sentence)


# === Short answers graded by meaning (the lessons' "explain in your words" questions) ===
#
# Not a demo: ``lessons.free_text`` enqueues it when a learner submits an explained answer.
# The same guards as the demos (a recorded outcome is returned, not recomputed; a third
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
        cleaned_concepts.append(
            {
                "label": _short_text(concept.get("label"), what="concept", limit=limits["phrase"]),
                "phrases": [
                    _short_text(p, what="concept phrase", limit=limits["phrase"]) for p in phrases
                ],
            }
        )
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
    demoted), ``references`` (strings) and ``concepts`` (``{"label", "phrases"}``). Returns
    ``inference.engine.short_answer.short_answer_similarities``'s result plus ``answer_id``
    and ``references``, or ``{"error": {...}}``.
    """
    client = streams.redis_client()
    task_id = self.request.id
    previous = streams.outcome(client, task_id)
    if previous is not None:
        logger.warning(
            "Grading task %s already has a %s event; not running again", task_id, previous["type"]
        )
        return previous["result"] if previous["type"] == "done" else {"error": previous}
    if streams.count_delivery(client, task_id) > MAX_DELIVERIES:
        event = streams.error_event("worker_lost", MESSAGES["redelivered"])
        streams.publish(client, task_id, event)
        return {"error": event}

    streams.publish(client, task_id, streams.started_event(self.request.hostname or "unknown"))
    try:
        cleaned = validate_short_answer(**params)
        from inference.engine.short_answer import short_answer_similarities
        from inference.runtime import get_runtime

        answer_id = cleaned.pop("answer_id")
        result = short_answer_similarities(get_runtime().encoder, **cleaned)
        result.update(answer_id=answer_id, references=cleaned["references"])
    except (validation.DemoInputError, TypeError) as exc:
        message = exc.message if isinstance(exc, validation.DemoInputError) else str(exc)
        event = streams.error_event("invalid_input", message)
    except SoftTimeLimitExceeded:
        logger.warning("Grading task %s timed out", task_id)
        seconds = SHORT_ANSWER_TIME_LIMITS[0]
        event = streams.error_event("timeout", MESSAGES["timeout"].format(seconds=seconds))
    except ModelsMissing:
        logger.exception("Grading task %s: models missing", task_id)
        event = streams.error_event("unavailable", MESSAGES["unavailable"])
    except Exception:
        logger.exception("Grading task %s failed", task_id)
        event = streams.error_event("internal", MESSAGES["internal"])
    else:
        streams.publish(client, task_id, streams.done_event(result))
        return result
    streams.publish(client, task_id, event)
    return {"error": event}
