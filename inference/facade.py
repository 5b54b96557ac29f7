"""Everything the lessons app may use of ``inference``, and nothing more.

The lessons app (course pages, quizzes, grading) reaches the model side only through the
functions here; an import-contract test (``tests/test_architecture.py``) holds it. They
cover three needs:

- **demo blocks in lesson text**: the demo card format (:mod:`demo_cards`: parsing a
  ```demo KIND block, the placeholder card it is stored as), which demo kinds exist and
  their titles (:func:`demo_titles`), and the version of the stored examples that lesson
  pages show (:func:`example_set_version`, part of the shared page cache's key);
- **free-text grading**: sending an answer to the grader (:func:`send_grading`), reading
  what the grader said (:func:`grading_events`), and whether a worker that can grade is up
  (:func:`grading_workers`, :func:`worker_alive`);
- **calibrating the grader** (``manage.py calibrate_free_text``, run by staff on a machine
  with the models): :func:`load_encoder` and :func:`similarities`, the grading task's own
  computation, run in that process.

Importing this module loads no torch and no worker code; only the two calibration
functions do, inside them.
"""

from __future__ import annotations

from typing import Any

from inference.contract import demo_cards as demo_cards  # re-exported for lesson rendering
from inference.contract import gateway, heartbeat, kinds, streams

GRADING_TASK = "inference.tasks.grade_short_answer"
GRADING_EVENT_KIND = "grade-short-answer"
TERMINAL_TYPES = streams.TERMINAL_TYPES


def demo_titles() -> dict[str, str]:
    """``{kind: the learner's title}`` for every demo kind, in playground order."""
    return {kind.name: kind.title for kind in kinds.all_kinds()}


def example_set_version() -> tuple[str, int, str] | None:
    """Changes whenever the stored demo examples change (for page-cache keys)."""
    from inference.contract.examples import example_set_version as version

    return version()


def send_grading(*, task_id: str, kwargs: dict[str, Any], link: tuple[str, dict[str, Any]]) -> None:
    """Publish ``queued`` for ``task_id`` and send the grading task (``link`` runs with its
    result). Raises on a Redis or broker failure; the caller keeps the answer pending."""
    streams.publish(streams.redis_client(), task_id, streams.queued_event(GRADING_EVENT_KIND))
    gateway.send(GRADING_TASK, kwargs=kwargs, task_id=task_id, link=link)


def grading_events(task_id: str) -> list[dict[str, Any]]:
    """Every event of a grading task so far (empty for a malformed id). Redis errors raise."""
    if not streams.is_valid_task_id(task_id):
        return []
    return streams.all_events(streams.redis_client(), task_id)


def grading_workers() -> list[dict[str, Any]]:
    """The heartbeats of the ready workers consuming the inference queue."""
    return heartbeat.ready_workers(streams.redis_client(), queue=gateway.inference_queue())


def worker_alive(name: str) -> bool:
    return heartbeat.is_alive(streams.redis_client(), name)


def load_encoder(profile: str | None = None) -> Any:
    """The profile's sentence encoder, loaded in this process on the CPU."""
    from inference.contract import registry
    from inference.worker.loading import load_role

    spec = registry.profile_specs(profile)["encoder"]
    return load_role(spec, device="cpu", profile=profile or "")


def similarities(encoder: Any, **answer: Any) -> dict[str, Any]:
    """What the grading task computes for one answer (``text``, ``references``,
    ``concepts``, ``question``), on ``encoder`` in this process."""
    from inference.worker.engine.short_answer import short_answer_similarities

    return short_answer_similarities(encoder, **answer)
