"""Quiz pages: take a quiz, check a question inline, submit, review an attempt.

Views parse input and pick a template (or a partial for htmx); the services
grade and lock, the selectors build what the templates show. Every page works
as plain HTML: the inline "Check" is a normal submit button with ``formaction``
and htmx only makes it swap the feedback in place.

Over 450 lines on purpose: the three quiz requests (open, check, submit) share their
attempt lookup, their refusal paths and the template context; split apart, each view would
import the others' private helpers.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from typing import Any

from django.contrib import messages
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect

from .forms import QuizAnswersForm, question_field_name
from .free_text_reads import grading_service_ready
from .learners import learner_for_request
from .models import Answer, Attempt, Question
from .selectors.quiz_keys import quiz_questions_for_grading
from .selectors.quiz_view import QuestionItem, quiz_question_items
from .selectors.quizzes import (
    attempt_answers,
    attempt_get_for_learner,
    attempt_get_for_submit,
    attempt_open_for_learner,
    quiz_active_questions,
    quiz_get_for_lesson,
    quiz_standing,
)
from .services import (
    AnswerInput,
    AnswerLocked,
    AttemptClosed,
    InvalidAnswer,
    QuizError,
    question_check,
    quiz_attempt_open,
    quiz_attempt_submit,
    quiz_submit_grade,
)
from .translations import localize_quiz

TEMPLATE = "lessons/quiz_detail.html"
DRAFTS_KEY = "quiz_drafts"
MAX_DRAFT_ATTEMPTS = 10
ALREADY_SUBMITTED = gettext_lazy("You already submitted this attempt; here is its result.")
NO_ATTEMPTS_LEFT = gettext_lazy("You have used every attempt at this quiz.")
NOT_THE_QUIZ_FORM = gettext_lazy(
    "The submission carried none of this quiz's answers, so your attempt is still open. "
    "Answer the questions below, then press “Submit answers”."
)


# --- Drafts: answers typed before a no-JavaScript "Check" reloads the page ---------------------


def _drafts_get(request: HttpRequest, attempt: Attempt) -> dict[int, AnswerInput]:
    stored = request.session.get(DRAFTS_KEY, {}).get(str(attempt.token), {})
    drafts = {}
    for key, value in stored.items():
        try:
            drafts[int(key)] = AnswerInput(
                choice_ids=frozenset(int(pk) for pk in value.get("choices", [])),
                text=str(value.get("text", "")),
            )
        except (TypeError, ValueError, AttributeError):
            continue
    return drafts


def _drafts_save(request: HttpRequest, attempt: Attempt, answers: dict[int, AnswerInput]) -> None:
    drafts = dict(request.session.get(DRAFTS_KEY, {}))
    drafts.pop(str(attempt.token), None)
    if answers:
        drafts[str(attempt.token)] = {
            str(question_id): {"choices": sorted(answer.choice_ids), "text": answer.text}
            for question_id, answer in answers.items()
        }
    # Keep the session small: only the most recent attempts' drafts.
    request.session[DRAFTS_KEY] = dict(list(drafts.items())[-MAX_DRAFT_ATTEMPTS:])


def _drafts_clear(request: HttpRequest, attempt: Attempt) -> None:
    drafts = request.session.get(DRAFTS_KEY)
    if drafts and str(attempt.token) in drafts:
        drafts = dict(drafts)
        drafts.pop(str(attempt.token))
        request.session[DRAFTS_KEY] = drafts


# --- Helpers ------------------------------------------------------------------------------------


def _learner_attempt(request: HttpRequest, token: Any, *, for_submit: bool = False) -> Attempt:
    """The current learner's attempt with ``token``, or 404 (someone else's looks absent)."""
    learner = learner_for_request(request, create=False)
    read = attempt_get_for_submit if for_submit else attempt_get_for_learner
    attempt = read(token=token, user=learner.user, anon_id=learner.anon_id)
    if attempt is None:
        raise Http404("No such attempt.")
    return attempt


def _redirect(request: HttpRequest, url: str) -> HttpResponse:
    if request.htmx:
        return HttpResponseClientRedirect(url)
    return redirect(url)


def _to_result(request: HttpRequest, attempt: Attempt, note: str) -> HttpResponse:
    messages.info(request, note)
    return _redirect(request, reverse("lessons:attempt-detail", kwargs={"token": attempt.token}))


def _locked_inputs(answers: dict[int, Answer]) -> dict[int, AnswerInput]:
    return {question_id: AnswerInput.from_answer(a) for question_id, a in answers.items()}


def _quiz_context(
    request: HttpRequest,
    *,
    attempt: Attempt,
    questions: list[Question],
    answers: dict[int, Answer],
    drafts: dict[int, AnswerInput] | None = None,
    errors: dict[int, str] | None = None,
    form_errors: list[str] | None = None,
    focus: int | None = None,
) -> dict[str, Any]:
    items = quiz_question_items(
        attempt=attempt, questions=questions, answers=answers, drafts=drafts
    )
    errors = errors or {}
    quiz = attempt.quiz
    localize_quiz(quiz)  # its title and lesson in the request's language
    slug = quiz.lesson.slug
    started = attempt.pk is not None
    for item in items:
        item.error = errors.get(item.pk, "")
        item.focus = item.pk == focus
        item.check_url = (
            reverse("lessons:question-check", args=[attempt.token, item.pk])
            if started
            else reverse("lessons:quiz-start-check", args=[slug, item.pk])
        )
    learner = learner_for_request(request, create=False)
    return {
        "quiz": quiz,
        "lesson": quiz.lesson,
        "attempt": attempt,
        # Before the first answer the attempt is not saved: the page carries its choice
        # order (the seed) and its first Check or Submit starts it (reading writes nothing).
        "started": started,
        "submit_url": (
            reverse("lessons:quiz-submit", args=[attempt.token])
            if started
            else reverse("lessons:quiz-start-submit", args=[slug])
        ),
        "items": items,
        "form_errors": form_errors or [],
        "standing": quiz_standing(quiz=quiz, user=learner.user, anon_id=learner.anon_id),
        "grader_ready": _grader_ready(items),
    }


def _pending_state(context: dict[str, Any], *, pending: int = 1) -> str:
    """What a pending page shows (how many wait, and whether the grader is up), so a poll
    that would show the same answers 204 and the page (and screen readers) stay quiet."""
    return f"{pending}-{'down' if context.get('grader_ready') is False else 'up'}"


def _grader_ready(items: list[QuestionItem]) -> bool | None:
    """Whether the grading worker is up; only asked when an answer waits for it."""
    if not any(item.grading_pending for item in items):
        return None
    return grading_service_ready()


def _form_errors(form: QuizAnswersForm) -> tuple[dict[int, str], list[str]]:
    by_question: dict[int, str] = {}
    for question in form.questions:
        errors = form.errors.get(question_field_name(question.pk))
        if errors:
            by_question[question.pk] = " ".join(errors)
    return by_question, list(form.non_field_errors())


def _item_for(context: dict[str, Any], question_id: int) -> QuestionItem:
    return next(item for item in context["items"] if item.pk == question_id)


# --- Views --------------------------------------------------------------------------------------


@require_GET
def quiz_detail(request: HttpRequest, slug: str) -> HttpResponse:
    """The questions of the learner's open attempt, or of a new one that is not saved until
    its first answer; the standing when every allowed attempt is used. Reads only."""
    quiz = quiz_get_for_lesson(slug=slug)
    if quiz is None:
        raise Http404("This lesson has no quiz.")
    learner = learner_for_request(request, create=False)
    attempt = _next_attempt(quiz, learner)
    if attempt is None:
        standing = quiz_standing(quiz=quiz, user=learner.user, anon_id=learner.anon_id)
        localize_quiz(quiz)  # its title and lesson in the request's language
        return render(
            request,
            TEMPLATE,
            {"quiz": quiz, "lesson": quiz.lesson, "attempt": None, "standing": standing},
        )
    focus = request.GET.get("checked", "")
    context = _quiz_context(
        request,
        attempt=attempt,
        questions=quiz_active_questions(quiz=quiz),
        answers=attempt_answers(attempt=attempt) if attempt.pk else {},
        drafts=_drafts_get(request, attempt) if attempt.pk else None,
        focus=int(focus) if focus.isascii() and focus.isdecimal() and len(focus) <= 18 else None,
    )
    return render(request, TEMPLATE, context)


def _no_attempt_left(request: HttpRequest, quiz: Any) -> HttpResponse:
    messages.info(request, NO_ATTEMPTS_LEFT)
    return _redirect(request, reverse("lessons:quiz-detail", kwargs={"slug": quiz.lesson.slug}))


def _next_attempt(
    quiz: Any, learner: Any, *, seed: int | None = None, token: uuid.UUID | None = None
) -> Attempt | None:
    """The learner's open attempt at ``quiz``, else the next one unsaved (with ``seed`` and
    ``token`` when the page sent them), else None when every allowed attempt is used."""
    attempt = attempt_open_for_learner(quiz=quiz, user=learner.user, anon_id=learner.anon_id)
    if attempt is not None:
        return attempt
    standing = quiz_standing(quiz=quiz, user=learner.user, anon_id=learner.anon_id)
    if standing.remaining is not None and standing.remaining <= 0:
        return None
    if seed is None:
        seed = _fresh_seed(quiz, learner, standing.used)
    return Attempt(quiz=quiz, shuffle_seed=seed, token=token or uuid.uuid4())


def _fresh_seed(quiz: Any, learner: Any, used: int) -> int:
    """The choice order of a learner's next, not yet started attempt: the same on every
    reload (a page read twice looks the same), different for the next attempt. A visitor
    the site doesn't know yet (no session) gets a random order."""
    if learner.user is None and not learner.anon_id:
        return secrets.randbelow(2**31)
    who = f"user:{learner.user.pk}" if learner.user is not None else f"anon:{learner.anon_id}"
    digest = hashlib.sha256(f"{quiz.pk}:{who}:{used}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 2**31


def _token(request: HttpRequest) -> uuid.UUID | None:
    try:
        return uuid.UUID(request.POST.get("attempt", "")[:36])
    except ValueError:
        return None


def _seed(request: HttpRequest) -> int | None:
    raw = request.POST.get("seed", "")
    return int(raw) if raw.isascii() and raw.isdecimal() and len(raw) <= 10 else None


def _start(request: HttpRequest, slug: str) -> Attempt | HttpResponse:
    """The attempt the page's first answer is for: the one it already started (a repeated
    first submit), the learner's open one, or an unsaved one with the token and choice
    order the page showed (saved by :func:`_saved` once the answer is valid); a redirect
    when no attempt is left."""
    quiz = quiz_get_for_lesson(slug=slug)
    if quiz is None:
        raise Http404("This lesson has no quiz.")
    learner = learner_for_request(request, create=False)
    token = _token(request)
    if token is not None:
        same = attempt_get_for_learner(token=token, user=learner.user, anon_id=learner.anon_id)
        if same is not None and same.quiz_id == quiz.pk:
            return same
    attempt = _next_attempt(quiz, learner, seed=_seed(request), token=token)
    return attempt if attempt is not None else _no_attempt_left(request, quiz)


def _saved(request: HttpRequest, attempt: Attempt) -> Attempt | None:
    """``attempt`` itself once saved; an unsaved one is started now (the first valid
    answer), None when the learner has no attempt left meanwhile."""
    if attempt.pk is not None:
        return attempt
    learner = learner_for_request(request, create=True)
    return quiz_attempt_open(
        quiz=attempt.quiz,
        user=learner.user,
        anon_id=learner.anon_id,
        seed=attempt.shuffle_seed,
        token=attempt.token,
    )


@require_POST
def quiz_start_check(request: HttpRequest, slug: str, question_id: int) -> HttpResponse:
    """The first Check on a quiz page: start the attempt, then check like any other."""
    attempt = _start(request, slug)
    if isinstance(attempt, HttpResponse):
        return attempt
    return _check(request, attempt, question_id)


@require_POST
def quiz_start_submit(request: HttpRequest, slug: str) -> HttpResponse:
    """Submit straight from a new quiz page: start the attempt and submit it."""
    attempt = _start(request, slug)
    if isinstance(attempt, HttpResponse):
        return attempt
    return _submit(request, attempt)


@require_POST
def question_check_view(request: HttpRequest, token: Any, question_id: int) -> HttpResponse:
    """Grade one question now, lock it, and show its feedback (partial for htmx)."""
    return _check(request, _learner_attempt(request, token), question_id)


def _check(request: HttpRequest, attempt: Attempt, question_id: int) -> HttpResponse:
    if attempt.status != Attempt.Status.OPEN:
        return _to_result(request, attempt, ALREADY_SUBMITTED)
    questions = quiz_active_questions(quiz=attempt.quiz)
    question = next((q for q in questions if q.pk == question_id), None)
    if question is None:
        raise Http404("That question is not part of this quiz.")
    answers = attempt_answers(attempt=attempt) if attempt.pk else {}
    form = QuizAnswersForm(request.POST, questions=questions, locked=_locked_inputs(answers))

    def reject(status: int, *, errors: dict[int, str], form_errors: list[str]) -> HttpResponse:
        context = _quiz_context(
            request,
            attempt=attempt,
            questions=questions,
            answers=answers,
            drafts=form.raw_answers(),
            errors=errors,
            form_errors=form_errors,
            focus=question.pk,
        )
        if request.htmx:
            item = _item_for(context, question.pk)
            if not item.error:
                item.error = " ".join(form_errors) or _("That answer could not be checked.")
            return render(
                request, f"{TEMPLATE}#question-feedback", {**context, "item": item}, status=status
            )
        return render(request, TEMPLATE, context, status=status)

    if not form.is_valid():
        errors, form_errors = _form_errors(form)
        return reject(400, errors=errors, form_errors=form_errors)
    shown = attempt
    try:
        # A first answer starts the attempt in the same transaction: refused, it starts nothing.
        with transaction.atomic():
            attempt = _saved(request, shown)
            if attempt is None:
                return _no_attempt_left(request, question.quiz)
            question_check(attempt=attempt, question=question, answer=form.answer_for(question))
    except AttemptClosed:
        return _to_result(request, attempt, ALREADY_SUBMITTED)
    except AnswerLocked as exc:
        attempt = shown if shown.pk is None else attempt
        return reject(409, errors={question.pk: exc.message}, form_errors=[])
    except InvalidAnswer as exc:
        attempt = shown if shown.pk is None else attempt
        return reject(422, errors={question.pk: exc.message}, form_errors=[])

    if request.htmx:
        context = _quiz_context(
            request,
            attempt=attempt,
            questions=questions,
            answers=attempt_answers(attempt=attempt),
            focus=question.pk,
        )
        return render(
            request,
            "lessons/quiz_check.html",
            {**context, "item": _item_for(context, question.pk), "oob": True},
        )
    # Without JavaScript the whole form came along: keep the other answers as drafts.
    others = {pk: answer for pk, answer in form.answers().items() if pk != question.pk}
    _drafts_save(request, attempt, others)
    url = reverse("lessons:quiz-detail", kwargs={"slug": attempt.quiz.lesson.slug})
    return redirect(f"{url}?checked={question.pk}#question-{question.pk}")


@require_POST
def quiz_submit(request: HttpRequest, token: Any) -> HttpResponse:
    """Grade the whole attempt on the server, once, and go to its result."""
    return _submit(request, _learner_attempt(request, token, for_submit=True))


def _submit(request: HttpRequest, attempt: Attempt) -> HttpResponse:
    """A submit costs the session, the attempt (which says whether it has saved answers),
    those answers if it has, and the writes (``quiz_attempt_submit``); the questions and
    their answer keys are kept between submits (``quiz_keys``). A refused submit shows the
    page again from questions of its own (the page translates them in place)."""
    if attempt.status != Attempt.Status.OPEN:
        return _to_result(request, attempt, ALREADY_SUBMITTED)
    questions = quiz_questions_for_grading(quiz_id=attempt.quiz_id)
    has_answers = attempt.pk is not None and getattr(attempt, "has_answers", True)
    answers = attempt_answers(attempt=attempt) if has_answers else {}
    form = QuizAnswersForm(request.POST, questions=questions, locked=_locked_inputs(answers))

    def reject(status: int, *, errors: dict[int, str], form_errors: list[str]) -> HttpResponse:
        context = _quiz_context(
            request,
            attempt=attempt,
            questions=quiz_active_questions(quiz=attempt.quiz),
            answers=answers,
            drafts=form.raw_answers(),
            errors=errors,
            form_errors=form_errors,
        )
        template = f"{TEMPLATE}#quiz-form" if request.htmx else TEMPLATE
        return render(request, template, context, status=status)

    if not form.is_valid():
        errors, form_errors = _form_errors(form)
        return reject(400, errors=errors, form_errors=form_errors)
    if not form.is_the_quiz_form():
        # An empty or foreign body (a JSON one, a replayed request cut short) would close
        # the attempt with nothing answered; blanks the learner left in the form still count.
        return reject(400, errors={}, form_errors=[NOT_THE_QUIZ_FORM])
    shown = attempt
    try:
        # Graded before the transaction (on SQLite every transaction holds the one write lock).
        graded = quiz_submit_grade(questions=questions, answers=form.answers())
        if shown.pk is not None:
            result = quiz_attempt_submit(attempt=shown, graded=graded, saved=answers)
        else:
            # A first answer starts the attempt in the same transaction: refused, it starts
            # nothing. (The learner's open attempt may come back instead, answers and all: a
            # Check's saved answer is then found by the submit itself.)
            with transaction.atomic():
                started = _saved(request, shown)
                if started is None:
                    return _no_attempt_left(request, shown.quiz)
                result = quiz_attempt_submit(attempt=started, graded=graded, saved=answers)
    except AnswerLocked as exc:
        return reject(409, errors={}, form_errors=[exc.message])
    except QuizError as exc:
        return reject(400, errors={}, form_errors=[exc.message])
    attempt = result.attempt
    _drafts_clear(request, attempt)
    if result.already_submitted:
        return _to_result(request, result.attempt, ALREADY_SUBMITTED)
    return _redirect(
        request, reverse("lessons:attempt-detail", kwargs={"token": result.attempt.token})
    )
