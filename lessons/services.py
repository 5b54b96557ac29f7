"""Writes for the lessons app (HackSoftware-style services: keyword-only, typed).

Sections: lesson rendering and reads (course work) first, then quizzes and
attempts (quiz work). Keep each section grouped. Over 500 lines on purpose: every write of
the app in one place, so a reader finds each transaction and its rules together.
"""

from __future__ import annotations

import math
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext

from .free_text import (
    FREE_TEXT_MAX_LENGTH,
    free_text_answer_queue,
    free_text_mark_new_pending,
    free_text_send_after_commit,
)
from .grading import WRONG, Grade, grade_multiple, grade_short_text, grade_single, grade_true_false
from .markdown import RenderedLesson, render_lesson
from .models import Answer, Attempt, Lesson, LessonRead, Question, Quiz
from .selectors.quizzes import quiz_active_questions
from .translations import accepted_in_all_languages

# === Lessons: rendering and reads ===========================================================


def lesson_render(*, lesson: Lesson, save: bool = True) -> RenderedLesson:
    """Fill ``body_html``/``toc_html`` from ``body_markdown`` (sanitized); save if asked.

    Every writer of lesson Markdown goes through this: the loader, the admin's
    ``save_model`` (also used by simple-history's revert) and scripts. Views only
    ever read the stored HTML. Returns the rendering so callers can report its
    warnings (e.g. broken demo blocks).
    """
    rendered = render_lesson(lesson.body_markdown)
    lesson.body_html = rendered.html
    lesson.toc_html = rendered.toc_html
    if save:
        if lesson.pk is None:
            lesson.save()
        else:
            lesson.save(update_fields=["body_html", "toc_html", "updated_at"])
    return rendered


def lesson_mark_read(*, lesson: Lesson, user: Any | None, anon_id: str = "") -> LessonRead | None:
    """Record that a learner read ``lesson``; idempotent (the first read is kept).

    ``user`` wins when authenticated; otherwise the anonymous ``anon_id`` from
    ``lessons.learners.learner_anon_id``. Returns None when there is no learner
    to record against (anonymous without an id).
    """
    if user is not None and user.is_authenticated:
        with transaction.atomic():
            read, _ = LessonRead.objects.get_or_create(lesson=lesson, user=user)
        return read
    if not anon_id:
        return None
    with transaction.atomic():
        read, _ = LessonRead.objects.get_or_create(lesson=lesson, user=None, anon_id=anon_id)
    return read


# === Quizzes and attempts ===================================================================


class QuizError(Exception):
    """A request the quiz rules refuse; ``message`` is safe to show to the learner."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class AttemptClosed(QuizError):
    """The attempt was already submitted: nothing more can be checked or changed."""


class AnswerLocked(QuizError):
    """The question was checked inline in this attempt; its answer can't change."""


class InvalidAnswer(QuizError):
    """The answer doesn't fit the question (foreign choice, two picks, too long, blank check)."""


SHORT_TEXT_MAX_LENGTH = 300


@dataclass(frozen=True, slots=True)
class AnswerInput:
    """One learner answer as parsed from a request: picked choice ids, or typed text."""

    choice_ids: frozenset[int] = frozenset()
    text: str = ""

    @property
    def is_blank(self) -> bool:
        return not self.choice_ids and not self.text.strip()

    @classmethod
    def from_answer(cls, answer: Answer) -> AnswerInput:
        return cls(
            choice_ids=frozenset(choice.pk for choice in answer.selected_choices.all()),
            text=answer.text,
        )


@dataclass(frozen=True, slots=True)
class SubmitResult:
    attempt: Attempt
    already_submitted: bool


def _learner_filter(*, user: Any | None, anon_id: str) -> Q:
    if user is not None and user.is_authenticated:
        return Q(user=user)
    if anon_id:
        return Q(user__isnull=True, anon_id=anon_id)
    raise ValueError("a quiz attempt needs a logged-in user or an anonymous learner id")


def quiz_attempt_open(
    *,
    quiz: Quiz,
    user: Any | None,
    anon_id: str = "",
    seed: int | None = None,
    token: uuid.UUID | None = None,
) -> Attempt | None:
    """The learner's open attempt at ``quiz``: resumed if there is one, else a new one.

    Returns ``None`` when ``quiz.attempts_allowed`` submitted attempts are used up.
    A new attempt gets ``seed`` as its ``shuffle_seed`` (the order the learner was shown
    before the first answer started it) unless an earlier attempt of theirs used it; else
    a random one, so choices are shuffled differently each time. ``token`` is the one the
    page showed: the learner's attempt with that token is returned as it is (a repeated
    first submit finds the attempt it already made), and a new attempt gets it unless it is
    taken.
    """
    learner = _learner_filter(user=user, anon_id=anon_id)
    is_user = user is not None and user.is_authenticated
    with transaction.atomic():
        # Serialise concurrent opens of this quiz (two tabs) so only one attempt is created.
        Quiz.objects.select_for_update().filter(pk=quiz.pk).exists()
        attempts = Attempt.objects.filter(learner, quiz=quiz)
        if token is not None:
            same = attempts.filter(token=token).first()
            if same is not None:
                return same
        current = attempts.filter(status=Attempt.Status.OPEN).order_by("-started_at", "-id").first()
        if current is not None:
            return current
        used = attempts.filter(status=Attempt.Status.SUBMITTED).count()
        if quiz.attempts_allowed is not None and used >= quiz.attempts_allowed:
            return None
        seen = set(attempts.values_list("shuffle_seed", flat=True))
        if seed is None or not 0 <= seed < 2**31:
            seed = secrets.randbelow(2**31)
        while seed in seen:
            seed = secrets.randbelow(2**31)
        if token is None or Attempt.objects.filter(token=token).exists():
            token = uuid.uuid4()
        return Attempt.objects.create(
            quiz=quiz,
            user=user if is_user else None,
            anon_id="" if is_user else anon_id,
            shuffle_seed=seed,
            token=token,
        )


def answer_validate(*, question: Question, answer: AnswerInput) -> None:
    """Raise :class:`InvalidAnswer` unless ``answer`` fits ``question`` (kind, choices, length)."""
    kinds = Question.Kind
    if question.kind in (kinds.SHORT_TEXT, kinds.FREE_TEXT):
        if answer.choice_ids:
            raise InvalidAnswer(gettext("This question takes a typed answer, not a choice."))
        limit = FREE_TEXT_MAX_LENGTH if question.kind == kinds.FREE_TEXT else SHORT_TEXT_MAX_LENGTH
        if len(answer.text) > limit:
            raise InvalidAnswer(
                gettext("Keep your answer to %(limit)d characters or fewer.") % {"limit": limit}
            )
        return
    if answer.text:
        raise InvalidAnswer(gettext("This question takes a choice, not a typed answer."))
    own_ids = {choice.pk for choice in question.choices.all()}
    if not answer.choice_ids <= own_ids:
        raise InvalidAnswer(gettext("That choice is not one of this question's answers."))
    if question.kind in (kinds.SINGLE, kinds.TRUE_FALSE) and len(answer.choice_ids) > 1:
        raise InvalidAnswer(gettext("Pick only one answer for this question."))


def answer_grade(*, question: Question, answer: AnswerInput) -> Grade:
    """Grade one (validated) answer with the pure rules in :mod:`lessons.grading`.

    A blank answer scores 0 whatever the question, so skipping never earns credit.
    """
    if answer.is_blank:
        return WRONG
    kinds = Question.Kind
    if question.kind == kinds.FREE_TEXT:
        # Graded by meaning in a model worker (lessons.free_text): 0 until the grade arrives.
        return WRONG
    if question.kind == kinds.SHORT_TEXT:
        # the course's every language: a learner may answer in either
        return grade_short_text(answer.text, accepted_in_all_languages(question))
    choices = list(question.choices.all())
    correct = [choice.pk for choice in choices if choice.is_correct]
    if question.kind == kinds.MULTIPLE:
        return grade_multiple(
            answer.choice_ids,
            correct,
            [choice.pk for choice in choices],
            partial_credit=question.partial_credit,
        )
    if question.kind == kinds.TRUE_FALSE:
        return grade_true_false(answer.choice_ids, correct)
    return grade_single(answer.choice_ids, correct)


def _answer_create(
    *, attempt: Attempt, question: Question, answer: AnswerInput, checked_inline: bool
) -> Answer:
    grade = answer_grade(question=question, answer=answer)
    saved = Answer.objects.create(
        attempt=attempt,
        question=question,
        text=answer.text.strip(),
        score=grade.score,
        is_correct=grade.is_correct,
        checked_inline=checked_inline,
    )
    if answer.choice_ids:
        saved.selected_choices.set(sorted(answer.choice_ids))
    if question.kind == Question.Kind.FREE_TEXT and not answer.is_blank:
        # Saved as pending now; the worker's grade arrives after the commit.
        free_text_answer_queue(answer=saved)
    return saved


def question_check(*, attempt: Attempt, question: Question, answer: AnswerInput) -> Answer:
    """Grade one question before submitting, save it, and lock it for this attempt.

    Raises :class:`AttemptClosed` once the attempt is submitted,
    :class:`InvalidAnswer` for a blank or ill-fitting answer and
    :class:`AnswerLocked` when the question was already checked with another
    answer. Checking again with the same answer (a replayed request) returns the
    saved answer unchanged.
    """
    if question.quiz_id != attempt.quiz_id or not question.is_active:
        raise InvalidAnswer(gettext("That question is not part of this quiz."))
    answer_validate(question=question, answer=answer)
    if answer.is_blank:
        raise InvalidAnswer(gettext("Pick an answer before checking."))
    answer = AnswerInput(choice_ids=answer.choice_ids, text=answer.text.strip())
    with transaction.atomic():
        # Lock the attempt row: a concurrent submit or check waits for this one.
        status = (
            Attempt.objects.select_for_update()
            .filter(pk=attempt.pk)
            .values_list("status", flat=True)
            .first()
        )
        if status != Attempt.Status.OPEN:
            raise AttemptClosed(gettext("This attempt is already submitted."))
        existing = (
            Answer.objects.filter(attempt=attempt, question=question)
            .prefetch_related("selected_choices")
            .first()
        )
        if existing is not None:
            if AnswerInput.from_answer(existing) == answer:
                return existing
            raise AnswerLocked(gettext("You already checked this question; its answer is locked."))
        try:
            with transaction.atomic():
                return _answer_create(
                    attempt=attempt, question=question, answer=answer, checked_inline=True
                )
        except IntegrityError as exc:  # a concurrent check of the same question won
            raise AnswerLocked(
                gettext("You already checked this question; its answer is locked.")
            ) from exc


@dataclass(frozen=True, slots=True)
class GradedSubmit:
    """A submit's answers checked and graded, before anything is written
    (``quiz_submit_grade``): a caller that holds a transaction open around the submit
    grades first, so the database's write lock is held for the writes only."""

    questions: list[Question]
    cleaned: dict[int, AnswerInput]
    grades: dict[int, Grade]


def quiz_submit_grade(
    *, questions: list[Question], answers: Mapping[int, AnswerInput]
) -> GradedSubmit:
    """Check and grade a submit's answers on the server; raises :class:`InvalidAnswer`."""
    if not questions:
        raise InvalidAnswer(
            gettext("This quiz has no questions yet, so there is nothing to submit.")
        )
    by_id = {question.pk: question for question in questions}
    unknown = set(answers) - set(by_id)
    if unknown:
        raise InvalidAnswer(gettext("That question is not part of this quiz."))
    cleaned: dict[int, AnswerInput] = {}
    for question_id, answer in answers.items():
        answer_validate(question=by_id[question_id], answer=answer)
        cleaned[question_id] = AnswerInput(choice_ids=answer.choice_ids, text=answer.text.strip())
    grades = {
        question.pk: answer_grade(question=question, answer=cleaned.get(question.pk, AnswerInput()))
        for question in questions
    }
    return GradedSubmit(questions=questions, cleaned=cleaned, grades=grades)


def quiz_attempt_submit(
    *,
    attempt: Attempt,
    answers: Mapping[int, AnswerInput] | None = None,
    questions: list[Question] | None = None,
    graded: GradedSubmit | None = None,
    saved: Mapping[int, Answer] | None = None,
) -> SubmitResult:
    """Grade every active question of the attempt on the server and close the attempt.

    ``answers`` maps question ids to the learner's answers; questions without one
    score 0. Questions checked inline keep their saved, graded answer (sending a
    different answer for one raises :class:`AnswerLocked`). The attempt's status,
    score, ``submitted_at`` and all answers are written in one transaction; any error
    leaves nothing behind. The lesson is not marked read: only the learner's "Mark as
    read" does that (``lesson_mark_read``).

    Double submits are safe: an atomic compare-and-set moves the attempt from
    open to submitted, and only the request that wins it grades. The others get
    ``already_submitted=True`` and the attempt as graded by the winner. ``questions`` are the
    quiz's active questions when the caller has loaded them already; ``graded`` is
    ``quiz_submit_grade``'s result when the caller graded before opening a transaction
    (the quiz page's submit, which loads the questions once and grades outside the lock).
    ``saved`` is the attempt's saved answers as the caller just read them: when there were
    none (no question checked inline, the usual submit) the submit takes three statements
    (:func:`_submit_unanswered`); otherwise, or when a Check saved one meanwhile, the saved
    answers are read again under the attempt's lock (:func:`_submit_with_saved`).
    """
    if graded is None:
        if questions is None:
            questions = quiz_active_questions(quiz=attempt.quiz)
        graded = quiz_submit_grade(questions=questions, answers=answers or {})
    if saved is not None and not saved:
        try:
            return _submit_unanswered(attempt=attempt, graded=graded)
        except IntegrityError:
            pass  # a Check saved an answer since the caller looked: count it (below)
    return _submit_with_saved(attempt=attempt, graded=graded)


def _new_answer(
    *, attempt: Attempt, question: Question, answer: AnswerInput, grade: Grade, now: Any
) -> Answer:
    """An unsaved answer of a submit; a typed free-text one is marked pending (sent to the
    grader after the commit by ``_answers_insert``)."""
    created = Answer(
        attempt=attempt,
        question=question,
        text=answer.text,
        score=grade.score,
        is_correct=grade.is_correct,
        checked_inline=False,
    )
    if _waits_for_grade(question, answer):
        free_text_mark_new_pending(created, now=now)
    return created


def _waits_for_grade(question: Question, answer: AnswerInput) -> bool:
    """A new typed free-text answer leaves the score provisional: it waits for the grader
    (or, written in Chinese, for a teacher)."""
    return question.kind == Question.Kind.FREE_TEXT and not answer.is_blank


def _answers_insert(new: list[tuple[Answer, AnswerInput]]) -> None:
    """One insert of the answers, one of their picked choices; free-text answers are sent
    to the grader once the transaction commits."""
    Answer.objects.bulk_create([created for created, _ in new])
    through = Answer.selected_choices.through
    through.objects.bulk_create(
        [
            through(answer_id=created.pk, choice_id=choice_id)
            for created, answer in new
            for choice_id in sorted(answer.choice_ids)
        ]
    )
    for created, _ in new:
        if created.grading_status == Answer.GradingStatus.PENDING:
            free_text_send_after_commit(created)


def _mean(scores: list[float]) -> float:
    return math.fsum(scores) / len(scores) if scores else 0.0


def _submitted(attempt: Attempt, *, now: Any, score: float, pending: bool) -> SubmitResult:
    """The attempt as the submit wrote it (no need to read back what this request wrote)."""
    attempt.status = Attempt.Status.SUBMITTED
    attempt.submitted_at = now
    attempt.score = score
    attempt.grading_pending = pending
    return SubmitResult(attempt=attempt, already_submitted=False)


def _already_submitted(attempt: Attempt) -> SubmitResult:
    attempt.refresh_from_db()
    return SubmitResult(attempt=attempt, already_submitted=True)


def _submit_unanswered(*, attempt: Attempt, graded: GradedSubmit) -> SubmitResult:
    """Submit an attempt with no saved answer: every active question gets a new one.

    Three statements in one transaction: the compare-and-set from open to submitted, which
    writes the score with it, one insert of the answers and one of their choices. (SQLite
    serialises writers: every statement held here makes the others wait.) An answer a Check
    saved after the caller looked makes the insert break the one-answer-per-question rule:
    the IntegrityError rolls all of it back, and the caller submits again reading it.
    """
    now = timezone.now()
    new: list[tuple[Answer, AnswerInput]] = []
    for question in graded.questions:
        answer = graded.cleaned.get(question.pk, AnswerInput())
        grade = graded.grades[question.pk]
        created = _new_answer(
            attempt=attempt, question=question, answer=answer, grade=grade, now=now
        )
        new.append((created, answer))
    score = _mean([created.score for created, _ in new])
    pending = any(_waits_for_grade(created.question, answer) for created, answer in new)
    with transaction.atomic():
        won = Attempt.objects.filter(pk=attempt.pk, status=Attempt.Status.OPEN).update(
            status=Attempt.Status.SUBMITTED, submitted_at=now, score=score, grading_pending=pending
        )
        if not won:
            return _already_submitted(attempt)
        _answers_insert(new)
    return _submitted(attempt, now=now, score=score, pending=pending)


def _submit_with_saved(*, attempt: Attempt, graded: GradedSubmit) -> SubmitResult:
    """Submit an attempt whose saved answers (checked inline) are read under its lock.

    The compare-and-set first (it locks the attempt row: a concurrent Check waits, then
    finds it submitted), then the saved answers, one insert of the new answers and one of
    their choices, the score.
    """
    questions, cleaned, grades = graded.questions, graded.cleaned, graded.grades
    with transaction.atomic():
        now = timezone.now()
        won = Attempt.objects.filter(pk=attempt.pk, status=Attempt.Status.OPEN).update(
            status=Attempt.Status.SUBMITTED, submitted_at=now
        )
        if not won:
            return _already_submitted(attempt)

        saved = {
            answer.question_id: answer
            for answer in Answer.objects.filter(attempt=attempt).prefetch_related(
                "selected_choices"
            )
        }
        scores: list[float] = []
        new: list[tuple[Answer, AnswerInput]] = []
        pending = False
        for question in questions:
            answer = cleaned.get(question.pk, AnswerInput())
            existing = saved.get(question.pk)
            if existing is not None:
                if question.pk in cleaned and AnswerInput.from_answer(existing) != answer:
                    raise AnswerLocked(
                        gettext("You already checked question %(key)s; its answer is locked.")
                        % {"key": question.key}
                    )
                scores.append(existing.score)
                # Provisional while a free-text answer waits for its grade or for an
                # instructor (lessons.free_text, as attempt_rescore judges it)
                waits_for_review = existing.reviewed_at is None and (
                    existing.grading_status == Answer.GradingStatus.FAILED
                    or (
                        existing.grading_status == Answer.GradingStatus.GRADED
                        and (existing.grading_details or {}).get("needs_review") is True
                    )
                )
                pending = pending or (
                    existing.grading_status == Answer.GradingStatus.PENDING or waits_for_review
                )
                continue
            created = _new_answer(
                attempt=attempt,
                question=question,
                answer=answer,
                grade=grades[question.pk],
                now=now,
            )
            pending = pending or _waits_for_grade(question, answer)
            new.append((created, answer))
            scores.append(created.score)
        _answers_insert(new)
        score = _mean(scores)
        Attempt.objects.filter(pk=attempt.pk).update(score=score, grading_pending=pending)
        # Taking the quiz marks nothing read: the learner says so with "Mark as read".
    return _submitted(attempt, now=now, score=score, pending=pending)


# === Accounts: anonymous learner -> account ================================================


@dataclass(frozen=True, slots=True)
class MergeResult:
    attempts: int
    reads_moved: int
    reads_dropped: int


def learner_merge_into_user(*, anon_id: str, user: Any) -> MergeResult:
    """Move an anonymous learner's attempts and reads into ``user``'s account.

    Attempts get ``user`` set and ``anon_id`` cleared. A read of a lesson the
    user has already read is dropped (one read per user and lesson); the others
    move. Runs in one transaction; an empty ``anon_id`` moves nothing.
    """
    if not anon_id:
        return MergeResult(attempts=0, reads_moved=0, reads_dropped=0)
    with transaction.atomic():
        attempts = Attempt.objects.filter(user__isnull=True, anon_id=anon_id).update(
            user=user, anon_id=""
        )
        anon_reads = LessonRead.objects.filter(user__isnull=True, anon_id=anon_id)
        already_read = LessonRead.objects.filter(user=user).values("lesson_id")
        dropped, _ = anon_reads.filter(lesson_id__in=already_read).delete()
        moved = anon_reads.update(user=user, anon_id="")
    return MergeResult(attempts=attempts, reads_moved=moved, reads_dropped=dropped)
