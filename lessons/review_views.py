"""Staff review of explain-in-your-words answers: accept the automatic grade or override it.

Staff only (the gradebook's rule: log in first, 403 for learners). The queue lists the
answers the grader was least sure about first; each row is a plain form (POST, redirect
back) that htmx turns into an in-place update of the row.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from . import free_text_reads
from .free_text import ReviewError, free_text_answer_review
from .gradebook_views import staff_required
from .models import Answer, Question

TEMPLATE = "lessons/review_queue.html"
PER_PAGE = 20
SHOWS = {"todo": gettext_lazy("To review"), "reviewed": gettext_lazy("Reviewed")}


class ReviewForm(forms.Form):
    """Accept the automatic score, or override it with a score (percent) and a comment."""

    action = forms.ChoiceField(
        choices=[("accept", gettext_lazy("Accept")), ("override", gettext_lazy("Override"))]
    )
    score = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=100,
        error_messages={
            # Django %-formats these messages: a literal percent sign is written %%.
            "min_value": gettext_lazy("Give a score between 0 and 100%%."),
            "max_value": gettext_lazy("Give a score between 0 and 100%%."),
            "invalid": gettext_lazy("Give the score as a whole number of percent, 0 to 100."),
        },
    )
    comment = forms.CharField(required=False, max_length=2000, widget=forms.Textarea)

    def clean(self) -> dict:
        cleaned = super().clean() or {}
        needs_score = cleaned.get("action") == "override" and cleaned.get("score") is None
        if needs_score and not self.has_error("score"):
            self.add_error("score", _("Give the score you want this answer to get (0–100%)."))
        return cleaned


def _answer_for_review(answer_id: int) -> Answer:
    answer = (
        Answer.objects.select_related(*free_text_reads.REVIEW_RELATED)
        .filter(pk=answer_id, question__kind=Question.Kind.FREE_TEXT)
        .first()
    )
    if answer is None:
        raise Http404("No such answer to review.")
    return answer


@require_GET
@staff_required
@vary_on_headers("HX-Request")
def review_queue(request: HttpRequest) -> HttpResponse:
    """The answers to review, least confident grade first (or the latest reviews)."""
    show = request.GET.get("show", "todo")
    if show not in SHOWS:
        show = "todo"
    page = Paginator(free_text_reads.review_queue(show=show), PER_PAGE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        TEMPLATE,
        {
            "page": page,
            "show": show,
            "shows": SHOWS,
            "counts": free_text_reads.review_counts(),
            "form": ReviewForm(initial={"action": "accept"}),
        },
    )


@require_POST
@staff_required
def answer_review(request: HttpRequest, answer_id: int) -> HttpResponse:
    """Accept or override one answer's score; htmx swaps the row, plain HTML redirects back."""
    answer = _answer_for_review(answer_id)
    form = ReviewForm(request.POST)
    error = ""
    if form.is_valid():
        accept = form.cleaned_data["action"] == "accept"
        score = form.cleaned_data.get("score")
        try:
            answer = free_text_answer_review(
                answer=answer,
                reviewer=request.user,
                accept=accept,
                score=None if accept or score is None else score / 100,
                comment=form.cleaned_data.get("comment", ""),
            )
        except ReviewError as exc:
            error = exc.message
    else:
        error = " ".join(" ".join(errors) for errors in form.errors.values())
    status = 422 if error else 200
    if request.htmx:
        answer = _answer_for_review(answer.pk)
        return render(
            request,
            f"{TEMPLATE}#review-row",
            {"answer": answer, "error": error, "form": form, "just_reviewed": not error},
            status=status,
        )
    if error:
        messages.error(
            request,
            _("Answer %(id)s was not reviewed: %(error)s") % {"id": answer.pk, "error": error},
        )
    else:
        messages.success(request, _("Review saved for %(key)s.") % {"key": answer.question.key})
    back = request.POST.get("next", "")
    url = reverse("lessons:review-queue")
    if back.startswith(url) and url_has_allowed_host_and_scheme(back, allowed_hosts=None):
        url = back  # stay on the same page and tab (only ever our own URL)
    return redirect(f"{url}#answer-{answer.pk}" if error else url)
