"""Explain in your words: answers graded by meaning in a model worker, reviewed by staff.

The flow, and why it can't lose an answer:

1. Submit (or an inline check) saves the answer at once as ``pending`` with a fresh task id
   (:func:`free_text_answer_queue`, inside the submit's transaction) and, after the commit,
   enqueues ``inference.tasks.grade_short_answer`` with primitives only: the answer's text,
   the question's prompt, reference answers and key concepts (:func:`free_text_enqueue`).
   A ``queued`` event is published first, so the task's event stream exists.
2. The model worker embeds the answer with the encoder and returns plain similarities
   (``inference.worker.engine.short_answer``); it also publishes them as the stream's ``done``.
3. The result is written by :func:`free_text_answer_record`, which grades it with the pure
   rules of :func:`lessons.grading.grade_free_text` and rescores the attempt. Two roads lead
   there, both idempotent: the task's Celery ``link`` runs ``lessons.tasks.record_free_text
   _grade`` on a default-queue worker as soon as the grade exists (no page needs to be
   open), and :func:`free_text_sweep` applies the stream's outcome when the periodic
   ``lessons.tasks.sweep_free_text`` (Celery beat) or ``manage.py regrade_pending`` runs.
   Pages only read and poll: no page view writes a grade.
   Why not let the model worker write the database: model workers may run on GPU machines
   without database access, and a default worker being down must not lose the grade either.
4. A result only counts for the task the answer is waiting for (compare-and-set on the task
   id): a late result of an older task, after a re-queue, is ignored.
5. Lost tasks are re-queued by the sweep: the stream says the task failed (worker stopped,
   timeout), or its worker's heartbeat is gone, or it has been running past its time limit,
   or it waited in the queue longer than ``FREE_TEXT_REQUEUE_AFTER`` seconds while a ready
   worker was up (a message lost by the broker; no stream at all counts the same). With no
   worker up, nothing is re-queued: the answer waits and the learner is told it will be
   graded when the grading service is back. After ``FREE_TEXT_MAX_TRIES`` the answer is
   marked ``failed`` and goes first in the staff review queue.

An answer that contradicts a key concept (a piece of it nearest to one of the concept's
misconceptions, see :mod:`lessons.grading`) scores 0 and also waits for an instructor: its
``grading_details`` say ``needs_review``, the attempt stays provisional until it is reviewed,
and the review queue shows it first (confidence 0).

Staff review (:func:`free_text_answer_review`): accept the automatic score or override it
with a comment. The answer's ``score`` is always the one that counts (the review score when
there is one, else the automatic score), so attempt scores, the gradebook and every
statistic use it without knowing about reviews; :func:`attempt_rescore` keeps the attempt's
score and its ``grading_pending`` flag (provisional score) in step.
"""

from __future__ import annotations

import logging
import math
import re
import uuid
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from inference import facade

from .grading import FreeTextGrade, concept_evidence, grade_free_text
from .models import Answer, Attempt, Question

logger = logging.getLogger(__name__)

RECORD_TASK_NAME = "lessons.tasks.record_free_text_grade"
FREE_TEXT_MAX_LENGTH = 500
# The grading task's hard time limit (inference.worker.tasks) plus slack: running longer is lost.
RUNNING_LIMIT_S = 30 + 15

PENDING = Answer.GradingStatus.PENDING
FAILED = Answer.GradingStatus.FAILED
GRADED = Answer.GradingStatus.GRADED

WAITING_FOR_SERVICE = gettext_lazy(
    "Your answer is saved; it will be graded when the grading service is back."
)
GRADING = gettext_lazy("Grading your answer by meaning… This usually takes a few seconds.")
FAILED_MESSAGE = gettext_lazy(
    "We couldn't grade this answer automatically. An instructor will review it; until then "
    "it counts as 0."
)
TOO_MANY_TRIES = "The grading worker stopped {tries} times while grading this answer."


def requeue_after_s() -> float:
    return float(settings.FREE_TEXT_REQUEUE_AFTER)


def max_tries() -> int:
    return int(settings.FREE_TEXT_MAX_TRIES)


class ReviewError(Exception):
    """A review the rules refuse; ``message`` is safe to show to the instructor."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# === Queueing ================================================================================


def free_text_task_kwargs(*, answer: Answer) -> dict[str, Any]:
    """The grading task's keyword arguments: primitives only."""
    question = answer.question
    return {
        "answer_id": answer.pk,
        "text": answer.text,
        "question": question.prompt,
        "references": [ref.text for ref in question.reference_answers.all()],
        "concepts": [_concept_kwargs(concept) for concept in question.key_concepts.all()],
    }


def _concept_kwargs(concept: Any) -> dict[str, Any]:
    """A key concept as the grading task takes it (misconceptions only when it has some)."""
    data: dict[str, Any] = {"label": concept.label, "phrases": [str(p) for p in concept.phrases]}
    if concept.misconceptions:
        data["misconceptions"] = [str(m) for m in concept.misconceptions]
    return data


# An answer written in Chinese: the shipped encoder (all-MiniLM-L6-v2) reads English only, so
# its similarities would be noise. Such answers skip the grader and wait for a teacher.
FOR_A_TEACHER = {"needs_review": True, "reason": "language", "language": "zh-hans"}
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z]")


def written_in_chinese(text: str) -> bool:
    """True when Chinese characters make up at least a fifth of the answer's letters (so
    "BERT 用掩码语言模型" is Chinese, an English answer quoting one term is not)."""
    chinese = len(_CJK.findall(text))
    return chinese > 0 and chinese * 5 >= chinese + len(_LATIN.findall(text))


def _for_a_teacher_fields(answer: Answer, now: Any) -> dict[str, Any]:
    reviewed = answer.review_score is not None
    return {
        "grading_status": GRADED,
        "grading_task_id": "",
        "grading_error": "",
        "auto_score": None,
        "confidence": None,  # first in the review queue
        "missing_concepts": [],
        "closest_reference": "",
        "grading_details": dict(FOR_A_TEACHER),
        "graded_at": now,
        "score": answer.review_score if reviewed else 0.0,
        "is_correct": bool(reviewed and answer.review_score >= 1.0),
    }


def free_text_answer_queue(*, answer: Answer) -> str:
    """Mark ``answer`` pending with a new task id; enqueue the grading after the commit.

    Call it inside the transaction that saves the answer: the task is only sent once the
    answer is committed (a worker must never look for an answer that isn't there yet), and
    if the transaction rolls back nothing is sent. Returns the task id ("" for an answer
    written in Chinese, which goes to a teacher instead: ``FOR_A_TEACHER``).
    """
    if written_in_chinese(answer.text):
        Answer.objects.filter(pk=answer.pk).update(**_for_a_teacher_fields(answer, timezone.now()))
        answer.refresh_from_db()
        return ""
    task_id = uuid.uuid4().hex
    now = timezone.now()
    Answer.objects.filter(pk=answer.pk).update(
        grading_status=PENDING,
        grading_task_id=task_id,
        grading_tries=F("grading_tries") + 1,
        grading_error="",
        queued_at=now,
        score=0.0 if answer.review_score is None else answer.review_score,
        is_correct=False if answer.review_score is None else answer.review_score >= 1.0,
    )
    answer.refresh_from_db()
    kwargs = free_text_task_kwargs(answer=answer)
    transaction.on_commit(lambda: free_text_enqueue(task_id=task_id, kwargs=kwargs))
    return task_id


def free_text_mark_new_pending(answer: Answer, *, now: Any) -> None:
    """Set a new, unsaved answer's fields as ``free_text_answer_queue`` sets a saved one's
    (pending, a fresh task id, its first try), so a submit saves it in its one bulk insert;
    ``free_text_send_after_commit`` then sends it. An answer written in Chinese is set
    to wait for a teacher instead."""
    if written_in_chinese(answer.text):
        for name, value in _for_a_teacher_fields(answer, now).items():
            setattr(answer, name, value)
        return
    answer.grading_status = PENDING
    answer.grading_task_id = uuid.uuid4().hex
    answer.grading_tries = 1
    answer.grading_error = ""
    answer.queued_at = now
    answer.score = 0.0
    answer.is_correct = False


def free_text_send_after_commit(answer: Answer) -> None:
    """Enqueue the grading of a saved pending answer once the transaction commits."""
    if answer.grading_status != PENDING:  # written in Chinese: a teacher grades it
        return
    task_id, kwargs = answer.grading_task_id, free_text_task_kwargs(answer=answer)
    transaction.on_commit(lambda: free_text_enqueue(task_id=task_id, kwargs=kwargs))


def free_text_enqueue(*, task_id: str, kwargs: dict[str, Any]) -> bool:
    """Publish ``queued`` and send the grading task (with the recording task as its link).

    Never raises: with Redis or the broker down the answer simply stays pending and the
    sweep sends it again later. Returns whether the task was sent.
    """
    try:
        facade.send_grading(
            task_id=task_id,
            kwargs=kwargs,
            link=(RECORD_TASK_NAME, {"answer_id": kwargs["answer_id"], "task_id": task_id}),
        )
    except Exception as exc:  # Redis or the broker down: the sweep re-queues it later
        logger.warning("Could not enqueue free-text grading %s: %s", task_id, exc)
        return False
    return True


# === Recording a result ======================================================================


def _grade_from_result(question: Question, result: dict[str, Any]) -> FreeTextGrade:
    concepts = concept_evidence(result.get("concepts") or [])
    return grade_free_text(
        [float(s) for s in result["similarities"]],
        question.similarity_threshold,
        margin=question.similarity_margin,
        concepts=concepts,
    )


def _closest_reference(result: dict[str, Any], index: int, question: Question) -> str:
    references = result.get("references")
    if isinstance(references, list) and 0 <= index < len(references):
        return str(references[index])
    texts = [ref.text for ref in question.reference_answers.all()]
    return texts[index] if 0 <= index < len(texts) else ""


def _locked_pending(answer_id: int, task_id: str) -> Answer | None:
    """The answer, locked with its attempt, if it still waits for ``task_id``; else None."""
    attempt_id = Answer.objects.filter(pk=answer_id).values_list("attempt_id", flat=True).first()
    if attempt_id is None:
        return None
    # Attempt first, then answer: the same order as the submit, so the two never deadlock.
    Attempt.objects.select_for_update().filter(pk=attempt_id).exists()
    return (
        Answer.objects.select_for_update()
        .select_related("question")
        .filter(pk=answer_id, grading_task_id=task_id, grading_status=PENDING)
        .first()
    )


def free_text_answer_record(*, answer_id: int, task_id: str, result: dict[str, Any]) -> str:
    """Write the grading task's ``result`` to the answer it was for; rescore the attempt.

    Returns what happened: ``graded``, ``requeued`` (the task failed; sent again),
    ``failed`` (can't be graded automatically: staff will review), ``stale`` (the answer
    no longer waits for this task: already graded, or re-queued under a newer task id) or
    ``missing`` (no such answer, e.g. a worker pointed at another database).
    """
    if not isinstance(result, dict):
        result = {"error": {"code": "internal", "message": "The grader returned nothing."}}
    with transaction.atomic():
        answer = _locked_pending(answer_id, task_id)
        if answer is None:
            exists = Answer.objects.filter(pk=answer_id).exists()
            return "stale" if exists else "missing"
        error = result.get("error")
        if error is None:
            try:
                grade = _grade_from_result(answer.question, result)
            except (KeyError, TypeError, ValueError) as exc:
                logger.warning("Free-text result for answer %s is malformed: %s", answer_id, exc)
                error = {"code": "internal", "message": "The grader's answer was malformed."}
        if error is not None:
            return _record_error(answer, error)
        _write_grade(answer, grade, result)
        attempt_rescore(attempt_id=answer.attempt_id)
    return "graded"


def _write_grade(answer: Answer, grade: FreeTextGrade, result: dict[str, Any]) -> None:
    reviewed = answer.review_score is not None
    model = result.get("model") or {}
    Answer.objects.filter(pk=answer.pk).update(
        grading_status=GRADED,
        auto_score=grade.score,
        similarity=round(grade.similarity, 6),
        confidence=grade.confidence,
        closest_reference=_closest_reference(result, grade.closest_index, answer.question),
        missing_concepts=grade.missing,
        grading_details={
            "label": grade.label,
            "meaning": round(grade.meaning, 4),
            "coverage": round(grade.coverage, 4),
            "raw": round(grade.raw, 4),
            "threshold": answer.question.similarity_threshold,
            "margin": answer.question.similarity_margin,
            "similarities": [round(float(s), 4) for s in result.get("similarities", [])],
            "concepts": [
                {
                    "label": c.label,
                    "present": c.present,
                    "matched_by": c.matched_by,
                    "similarity": round(c.similarity, 4),
                    **({"contradicted_by": c.misconception} if c.contradicted else {}),
                }
                for c in grade.concepts
            ],
            # Contradicts a key concept: waits for an instructor (attempt_rescore).
            "contradicted": grade.contradicted,
            "needs_review": grade.needs_review,
            "model": str(model.get("name", "")),
            "elapsed_ms": result.get("elapsed_ms"),
        },
        grading_error="",
        graded_at=timezone.now(),
        # An instructor's review keeps precedence over a (re-)grade that arrives later.
        score=answer.review_score if reviewed else grade.score,
        is_correct=(answer.review_score >= 1.0) if reviewed else grade.is_correct,
    )


def _record_error(answer: Answer, error: dict[str, Any]) -> str:
    code = str(error.get("code") or "internal")
    message = str(error.get("message") or "")[:300]
    if code != "invalid_input" and answer.grading_tries < max_tries():
        logger.info("Free-text grading of answer %s failed (%s); re-queued", answer.pk, code)
        free_text_answer_queue(answer=answer)
        return "requeued"
    if code != "invalid_input":
        message = TOO_MANY_TRIES.format(tries=answer.grading_tries)
    Answer.objects.filter(pk=answer.pk).update(
        grading_status=FAILED, grading_error=message, graded_at=timezone.now()
    )
    attempt_rescore(attempt_id=answer.attempt_id)
    logger.warning("Free-text answer %s could not be graded: %s", answer.pk, message)
    return "failed"


def attempt_rescore(*, attempt_id: int) -> Attempt | None:
    """Recompute a submitted attempt's score (mean of its answers' counted scores) and
    whether it is provisional (an answer still waits for the grader or for an instructor: one
    the grader couldn't grade, or one that contradicts a key concept).

    Open attempts are left alone: they get their score when submitted.
    """
    with transaction.atomic():
        attempt = Attempt.objects.select_for_update().filter(pk=attempt_id).first()
        if attempt is None or attempt.status != Attempt.Status.SUBMITTED:
            return attempt
        rows = list(
            Answer.objects.filter(attempt_id=attempt_id).values_list(
                "score", "grading_status", "reviewed_at", "grading_details__needs_review"
            )
        )
        score = math.fsum(row[0] for row in rows) / len(rows) if rows else 0.0
        pending = any(
            status == PENDING
            or (status == FAILED and reviewed_at is None)
            or (status == GRADED and reviewed_at is None and needs_review is True)
            for _, status, reviewed_at, needs_review in rows
        )
        Attempt.objects.filter(pk=attempt_id).update(score=score, grading_pending=pending)
    attempt.refresh_from_db()
    return attempt


def free_text_regrade_failed(*, answers: Iterable[Answer]) -> int:
    """Send failed (unreviewed) answers to the grader again; returns how many."""
    count = 0
    for answer in answers:
        with transaction.atomic():
            locked = (
                Answer.objects.select_for_update()
                .select_related("question")
                .filter(pk=answer.pk, grading_status=FAILED)
                .first()
            )
            if locked is None:
                continue
            Answer.objects.filter(pk=locked.pk).update(grading_tries=0)
            locked.grading_tries = 0
            free_text_answer_queue(answer=locked)
            attempt_rescore(attempt_id=locked.attempt_id)
            count += 1
    return count


# === Staff review ============================================================================


def free_text_answer_review(
    *, answer: Answer, reviewer: Any, accept: bool, score: float | None = None, comment: str = ""
) -> Answer:
    """Accept the automatic score, or override it (0..1) with a comment the learner sees.

    The review score takes precedence over the automatic one from then on (also over a
    grade that arrives later); the attempt is rescored at once. A score that is the one the
    review form showed (the counting score, to the whole percent) is no change: it keeps the
    exact score and needs no comment (saving 83 for an automatic 82.7% is not an override).
    """
    comment = (comment or "").strip()
    if len(comment) > 2000:
        raise ReviewError(_("Keep the comment to 2000 characters or fewer."))
    with transaction.atomic():
        Attempt.objects.select_for_update().filter(pk=answer.attempt_id).exists()
        locked = (
            Answer.objects.select_for_update()
            .select_related("question", "attempt")
            .filter(pk=answer.pk)
            .first()
        )
        if locked is None:
            raise ReviewError(_("That answer no longer exists."))
        if locked.question.kind != Question.Kind.FREE_TEXT:
            raise ReviewError(_("Only explain-in-your-words answers are reviewed here."))
        if locked.attempt.status != Attempt.Status.SUBMITTED:
            raise ReviewError(_("The learner hasn't submitted this attempt yet."))
        if accept:
            if locked.auto_score is None or locked.grading_status != GRADED:
                raise ReviewError(
                    _("There is no automatic score to accept yet; give a score instead.")
                )
            score = locked.auto_score
        else:
            if score is None or not math.isfinite(score) or not 0.0 <= score <= 1.0:
                raise ReviewError(_("Give a score between 0 and 100%."))
            shown = locked.review_score if locked.review_score is not None else locked.auto_score
            unchanged = shown is not None and round(shown * 100) == round(score * 100)
            if unchanged:
                score = shown
            elif not comment:
                raise ReviewError(
                    _("Say in a comment why you changed the score: the learner sees it.")
                )
        Answer.objects.filter(pk=locked.pk).update(
            review_score=score,
            review_comment=comment,
            reviewed_by=reviewer,
            reviewed_at=timezone.now(),
            score=score,
            is_correct=score >= 1.0,
        )
        attempt_rescore(attempt_id=locked.attempt_id)
    locked.refresh_from_db()
    return locked
