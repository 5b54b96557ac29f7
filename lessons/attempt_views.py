"""The pages that follow a quiz's answers: an inline-checked answer's feedback while its
grade is pending, and a submitted attempt's result and review (both polled by htmx while a
free-text grade is on its way; both only read)."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseStopPolling

from .learners import learner_for_request
from .models import Attempt
from .quiz_views import (
    TEMPLATE,
    _grader_ready,
    _item_for,
    _learner_attempt,
    _pending_state,
    _quiz_context,
    _redirect,
)
from .selectors.quiz_view import attempt_review
from .selectors.quizzes import (
    attempt_answers,
    attempt_get_for_learner,
    quiz_active_questions,
    quiz_standing,
)
from .translations import localize_quiz


@require_GET
@vary_on_headers("HX-Request")
def answer_feedback(request: HttpRequest, token: Any, question_id: int) -> HttpResponse:
    """The feedback of one inline-checked question whose grade comes from the worker.

    Polled by htmx while the grade is pending (the response keeps polling until the grade
    is there, then answers 286 to stop); without JavaScript it leads back to the question.
    """
    attempt = _learner_attempt(request, token)
    if attempt.status != Attempt.Status.OPEN:
        return _redirect(
            request,
            reverse("lessons:attempt-detail", kwargs={"token": attempt.token})
            + f"#question-{question_id}",
        )
    if not request.htmx:
        url = reverse("lessons:quiz-detail", kwargs={"slug": attempt.quiz.lesson.slug})
        return redirect(f"{url}?checked={question_id}#question-{question_id}")
    questions = quiz_active_questions(quiz=attempt.quiz)
    if not any(question.pk == question_id for question in questions):
        raise Http404("That question is not part of this quiz.")
    context = _quiz_context(
        request, attempt=attempt, questions=questions, answers=attempt_answers(attempt=attempt)
    )
    item = _item_for(context, question_id)
    if item.grading_pending and request.GET.get("shown") == _pending_state(context):
        return HttpResponse(status=204)  # nothing new: keep polling, swap nothing
    response = render(request, f"{TEMPLATE}#question-feedback", {**context, "item": item})
    if item.grading_pending:
        return response
    stop = HttpResponseStopPolling(response.content)
    stop["Content-Type"] = response["Content-Type"]
    return stop


@require_GET
@vary_on_headers("HX-Request")
def attempt_detail(request: HttpRequest, token: Any) -> HttpResponse:
    """A submitted attempt: score, pass or not, and a review of every question.

    While a free-text answer waits for its grade the score is provisional and the result
    block polls this view (htmx gets the block alone, and 286 once nothing waits anymore).
    """
    learner = learner_for_request(request, create=False)
    attempt = attempt_get_for_learner(
        token=token, user=learner.user, anon_id=learner.anon_id, allow_staff=True
    )
    if attempt is None:
        raise Http404("No such attempt.")
    is_owner = (
        attempt.user_id == learner.user.pk
        if learner.user is not None
        else attempt.user_id is None and attempt.anon_id == learner.anon_id
    )
    if attempt.status == Attempt.Status.OPEN:
        if is_owner:
            return redirect("lessons:quiz-detail", slug=attempt.quiz.lesson.slug)
        raise Http404("This attempt is still in progress.")
    standing = quiz_standing(quiz=attempt.quiz, user=attempt.user, anon_id=attempt.anon_id)
    review = attempt_review(attempt=attempt)
    localize_quiz(attempt.quiz)  # its title and lesson in the request's language
    context = {
        "attempt": attempt,
        "quiz": attempt.quiz,
        "lesson": attempt.quiz.lesson,
        "review": review,
        "standing": standing,
        "is_owner": is_owner,
        "grader_ready": _grader_ready(review.items),
    }
    if request.htmx and not request.htmx.boosted:
        if review.pending_count and request.GET.get("shown") == _pending_state(
            context, pending=review.pending_count
        ):
            return HttpResponse(status=204)  # nothing new: keep polling, swap nothing
        response = render(request, "lessons/quiz_attempt.html#attempt-result", context)
        if review.pending_count:
            return response
        stop = HttpResponseStopPolling(response.content)
        stop["Content-Type"] = response["Content-Type"]
        return stop
    return render(request, "lessons/quiz_attempt.html", context)
