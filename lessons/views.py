"""Lesson pages: the course home and the lesson page (with "Mark as read").

Views parse input, call one selector or service, and render. Lesson HTML is
rendered and sanitized on save (``lessons.services.lesson_render``); views only
output the stored ``body_html``/``toc_html``.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET, require_POST

from inference import facade

from . import page_cache
from .learners import learner_anon_id, learner_for_request
from .models import Lesson
from .selectors.lessons import lesson_get_for_page, lesson_page
from .selectors.progress import course_overview
from .services import lesson_mark_read


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    learner = learner_for_request(request, create=False)
    overview = course_overview(user=learner.user, anon_id=learner.anon_id)
    return render(request, "lessons/home.html", {"overview": overview})


def _lesson_or_404(slug: str) -> Lesson:
    lesson = lesson_get_for_page(slug=slug)
    if lesson is None:
        raise Http404("No lesson with that address.")
    return lesson


@require_GET
def lesson_detail(request: HttpRequest, slug: str) -> HttpResponse:
    if page_cache.shareable(request):
        # a visitor without a session: the page everyone in that state gets (page_cache)
        def render_shared(csrf_placeholder: str) -> str:
            context = _lesson_context(slug, user=None, anon_id="")
            context["csrf_token"] = csrf_placeholder
            return render_to_string("lessons/lesson_detail.html", context, request=request)

        key = ("lesson", slug, facade.example_set_version())
        response = HttpResponse(page_cache.page(key, request, render_shared))
        patch_vary_headers(response, ("Cookie",))
        return response
    learner = learner_for_request(request, create=False)
    context = _lesson_context(slug, user=learner.user, anon_id=learner.anon_id)
    return render(request, "lessons/lesson_detail.html", context)


def _lesson_context(slug: str, *, user, anon_id: str) -> dict:
    page = lesson_page(slug=slug, user=user, anon_id=anon_id)
    if page is None:
        raise Http404("No lesson with that address.")
    return {
        "lesson": page.lesson,
        "quiz": page.quiz,
        "previous_lesson": page.previous,
        "next_lesson": page.next,
        "is_read": page.is_read,
    }


@require_POST
def lesson_mark_read_view(request: HttpRequest, slug: str) -> HttpResponse:
    """POST-only: record the read; htmx gets the swapped status, plain forms a redirect."""
    lesson = _lesson_or_404(slug)
    user = request.user if request.user.is_authenticated else None
    anon_id = "" if user is not None else learner_anon_id(request)
    lesson_mark_read(lesson=lesson, user=user, anon_id=anon_id)
    if request.htmx:
        return render(
            request,
            "lessons/lesson_detail.html#read-status",
            {"lesson": lesson, "is_read": True, "just_marked": True},
        )
    messages.success(request, f"Marked “{lesson.title}” as read.")
    return redirect(f"{lesson.get_absolute_url()}#read-status")
