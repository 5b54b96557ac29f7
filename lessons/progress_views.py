"""The learner's progress page: lessons read, quiz scores, attempt history."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from .learners import learner_for_request
from .selectors.progress import learner_progress


@require_GET
def progress(request: HttpRequest) -> HttpResponse:
    """Every lesson with read state and quiz standing, for the user or anonymous learner.

    An anonymous visitor without a learner id yet sees the empty state; no
    session is started just to show it.
    """
    learner = learner_for_request(request, create=False)
    items = learner_progress(user=learner.user, anon_id=learner.anon_id)
    return render(
        request,
        "lessons/progress.html",
        {
            "items": items,
            "learner": learner,
            "read_count": sum(1 for item in items if item.read),
            "quiz_count": sum(1 for item in items if item.standing is not None),
            "passed_count": sum(1 for item in items if item.standing and item.standing.passed),
        },
    )
