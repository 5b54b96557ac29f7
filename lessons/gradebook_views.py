"""The staff gradebook: counted scores per learner and quiz, question statistics, CSV exports.

Staff only: anonymous visitors are sent to log in, logged-in learners get 403.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Callable, Iterable, Iterator
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from .forms import GradebookFilterForm
from .models import Lesson, Quiz
from .selectors.gradebook import (
    Gradebook,
    attempt_answer_rows,
    gradebook_build,
    quiz_question_stats,
    quiz_submitted_summary,
)

# Cells starting with these are formulas to spreadsheet programs (CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def staff_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Staff only: log in first if anonymous; 403 for a logged-in non-staff user."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not (request.user.is_active and request.user.is_staff):
            raise PermissionDenied("The gradebook is for staff.")
        return view(request, *args, **kwargs)

    return wrapper


def csv_safe(value: Any) -> str:
    """A CSV cell that spreadsheets won't run: a leading =, +, -, @ (or tab/CR) gets a quote."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


class _Echo:
    """A file-like object whose write returns the line, for streaming csv.writer output."""

    def write(self, value: str) -> str:
        return value


def _csv_lines(rows: Iterable[Iterable[Any]]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    for row in rows:
        yield writer.writerow([csv_safe(cell) for cell in row])


def _filtered_lesson(request: HttpRequest) -> tuple[GradebookFilterForm, Lesson | None]:
    form = GradebookFilterForm(request.GET or None)
    lesson = form.cleaned_data.get("lesson") if form.is_valid() else None
    return form, lesson


def _csv_response(rows: Iterable[Iterable[Any]], *, name: str) -> StreamingHttpResponse:
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    response = StreamingHttpResponse(_csv_lines(rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}-{stamp}.csv"'
    return response


@require_GET
@staff_required
@vary_on_headers("HX-Request")
def gradebook(request: HttpRequest) -> HttpResponse:
    """Learners × quizzes, filterable by lesson (htmx swaps only the table)."""
    form, lesson = _filtered_lesson(request)
    context = {"form": form, "lesson": lesson, "book": gradebook_build(lesson=lesson)}
    template = "lessons/gradebook.html"
    if request.htmx and not request.htmx.boosted:
        template += "#gradebook-table"
    status = 400 if form.is_bound and not form.is_valid() else 200
    return render(request, template, context, status=status)


def _gradebook_rows(book: Gradebook) -> Iterator[list[Any]]:
    header: list[Any] = ["username", "email"]
    for quiz in book.quizzes:
        header += [f"{quiz.title} score %", f"{quiz.title} passed", f"{quiz.title} attempts"]
    yield header
    for row in book.rows:
        line: list[Any] = [row.user.get_username(), row.user.email]
        for cell in row.cells:
            if cell is None:
                line += ["", "", 0]
            else:
                percent = "" if cell.score is None else round(cell.score * 100, 1)
                line += [percent, "yes" if cell.passed else "no", cell.attempts]
        yield line


@require_GET
@staff_required
def gradebook_csv(request: HttpRequest) -> HttpResponse:
    """The gradebook as CSV: one row per learner, score/passed/attempts per quiz."""
    _, lesson = _filtered_lesson(request)
    return _csv_response(_gradebook_rows(gradebook_build(lesson=lesson)), name="gradebook")


def _learner_label(attempt: Any) -> str:
    """The username, or a stable pseudonym for an anonymous learner (their id stays private)."""
    if attempt.user is not None:
        return attempt.user.get_username()
    digest = hashlib.sha256(attempt.anon_id.encode()).hexdigest()[:10]
    return f"anonymous-{digest}"


def _attempt_rows(answers: Iterable[Any]) -> Iterator[list[Any]]:
    yield [
        "attempt",
        "user",
        "quiz",
        "question",
        "answer",
        "score",
        "correct",
        "checked_inline",
        "submitted_at",
    ]
    for answer in answers:
        attempt = answer.attempt
        if answer.question.kind in (
            answer.question.Kind.SHORT_TEXT,
            answer.question.Kind.FREE_TEXT,
        ):
            given = answer.text
        else:
            given = " | ".join(choice.text for choice in answer.selected_choices.all())
        yield [
            attempt.token,
            _learner_label(attempt),
            attempt.quiz.title,
            answer.question.key,
            given,
            round(answer.score, 4),
            "yes" if answer.is_correct else "no",
            "yes" if answer.checked_inline else "no",
            attempt.submitted_at.isoformat() if attempt.submitted_at else "",
        ]


@require_GET
@staff_required
def attempts_csv(request: HttpRequest) -> HttpResponse:
    """Raw answers as CSV: one row per answer of every submitted attempt (streamed)."""
    _, lesson = _filtered_lesson(request)
    return _csv_response(_attempt_rows(attempt_answer_rows(lesson=lesson)), name="attempts")


@require_GET
@staff_required
def gradebook_quiz(request: HttpRequest, quiz_id: int) -> HttpResponse:
    """Per-question statistics for one quiz."""
    quiz = Quiz.objects.select_related("lesson").filter(pk=quiz_id).first()
    if quiz is None:
        raise Http404("No such quiz.")
    return render(
        request,
        "lessons/gradebook_quiz.html",
        {
            "quiz": quiz,
            "stats": quiz_question_stats(quiz=quiz),
            "summary": quiz_submitted_summary(quiz=quiz),
        },
    )
