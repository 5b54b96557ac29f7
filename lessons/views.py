"""Lesson pages: the course home and the lesson page (with "Mark as read").

Views parse input, call one selector or service, and render. Lesson HTML is
rendered and sanitized on save (``lessons.services.lesson_render``); views only
output the stored ``body_html``/``toc_html``. What every reader of a lesson shares is
rendered once and kept (``lessons.page_cache``).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.html import escape
from django.utils.safestring import mark_safe
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from inference import facade

from . import page_cache
from .learners import learner_anon_id, learner_for_request
from .models import Lesson
from .selectors.lessons import lesson_get_for_page, lesson_is_read, lesson_page
from .selectors.progress import course_overview
from .services import lesson_mark_read
from .translations import localize_lessons


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


# Where a learner's own bits go in the kept article (HTML comments: the sanitizer strips
# comments from lesson bodies, so no lesson text can contain them).
READ_BADGE_SLOT = "<!--learner:read-badge-->"
READ_STATUS_SLOT = "<!--learner:read-status-->"


@dataclass(frozen=True)
class SharedLesson:
    """A lesson page's shared part (``lessons/lesson_article.html``), kept by page_cache."""

    lesson_id: int
    slug: str
    title: str
    summary: str
    article_html: str  # with the two slots and page_cache.CSRF_PLACEHOLDER


def _shared_lesson(slug: str, version: object) -> SharedLesson | None:
    def make() -> SharedLesson | None:
        page = lesson_page(slug=slug)
        if page is None:
            return None
        context = {
            "lesson": page.lesson,
            "quiz": page.quiz,
            "previous_lesson": page.previous,
            "next_lesson": page.next,
            "read_badge_slot": READ_BADGE_SLOT,
            "read_status_slot": READ_STATUS_SLOT,
            "csrf_token": page_cache.CSRF_PLACEHOLDER,
        }
        return SharedLesson(
            lesson_id=page.lesson.pk,
            slug=page.lesson.slug,
            title=page.lesson.title,
            summary=page.lesson.summary,
            article_html=render_to_string("lessons/lesson_article.html", context),
        )

    # the language is part of the key: each is rendered in the language active now
    return page_cache.kept(("article", slug, version, get_language()), make)


def _reader_slots(shared: SharedLesson, *, is_read: bool) -> dict[str, str]:
    """This reader's read mark, for the article's two slots (forms carry the placeholder)."""
    context = {"lesson": shared, "is_read": is_read, "csrf_token": page_cache.CSRF_PLACEHOLDER}
    template = "lessons/lesson_article.html#"
    return {
        READ_BADGE_SLOT: render_to_string(template + "read-badge", context),
        READ_STATUS_SLOT: render_to_string(template + "read-status", context),
    }


# Where the signed-in learner's name goes in a kept page (escaped on the way in).
NAV_USERNAME_SLOT = "__nav-username__"


@dataclass(frozen=True)
class _NavUser:
    """What base.html asks of ``user``, for a page kept for every reader of one kind."""

    is_authenticated: bool
    is_staff: bool

    def get_username(self) -> str:
        return NAV_USERNAME_SLOT


def _kept_page(shared: SharedLesson, version: object, *, is_read: bool, nav: str) -> str:
    """The whole page for one kind of reader (``visitor``, ``learner`` signed in, ``staff``)
    who has or hasn't read the lesson, with the name and token left as placeholders."""

    def make() -> str:
        article = page_cache.fill(shared.article_html, _reader_slots(shared, is_read=is_read))
        context = {
            "shared": shared,
            "article": mark_safe(article),  # noqa: S308 - sanitized on save + our templates
            "user": _NavUser(is_authenticated=nav != "visitor", is_staff=nav == "staff"),
            "messages": (),
            "csrf_token": page_cache.CSRF_PLACEHOLDER,
            "page_path": reverse("lessons:lesson-detail", kwargs={"slug": shared.slug}),
        }
        # No request: nothing of this reader's may reach the kept page.
        return render_to_string("lessons/lesson_detail.html", context)

    key = ("page", shared.slug, version, is_read, nav, get_language())
    page = page_cache.kept(key, make)
    assert page is not None  # noqa: S101 - make always renders
    return page


@require_GET
def lesson_detail(request: HttpRequest, slug: str) -> HttpResponse:
    """Every reader gets a kept page: the article every reader shares, around it the page
    for their kind of reader (a visitor, a signed-in learner, staff) who has or hasn't read
    the lesson; only their name and CSRF token go in per request (page_cache). A learner
    costs their session, their user and one "read?" lookup. A flash message waiting (just
    after logging in, say) gets the page rendered for that request."""
    version = facade.example_set_version()  # part of every key: the examples shown
    shared = _shared_lesson(slug, version)
    if shared is None:
        raise Http404("No lesson with that address.")
    if page_cache.shareable(request):
        page = _kept_page(shared, version, is_read=False, nav="visitor")
        response = HttpResponse(page_cache.with_token(page, request))
        patch_vary_headers(response, ("Cookie",))
        return response
    learner = learner_for_request(request, create=False)
    is_read = lesson_is_read(lesson_id=shared.lesson_id, user=learner.user, anon_id=learner.anon_id)
    if len(messages.get_messages(request)):
        slots = _reader_slots(shared, is_read=is_read)
        article = page_cache.with_token(shared.article_html, request, slots)
        return render(
            request,
            "lessons/lesson_detail.html",
            {"shared": shared, "article": mark_safe(article)},  # noqa: S308 - our templates
        )
    user = request.user
    nav = "staff" if user.is_staff else "learner" if user.is_authenticated else "visitor"
    slots = {NAV_USERNAME_SLOT: escape(user.get_username())} if user.is_authenticated else {}
    page = _kept_page(shared, version, is_read=is_read, nav=nav)
    response = HttpResponse(page_cache.with_token(page, request, slots))
    patch_vary_headers(response, ("Cookie",))
    return response


@require_POST
def lesson_mark_read_view(request: HttpRequest, slug: str) -> HttpResponse:
    """POST-only: record the read; htmx gets the swapped status, plain forms a redirect."""
    lesson = _lesson_or_404(slug)
    localize_lessons([lesson])
    user = request.user if request.user.is_authenticated else None
    anon_id = "" if user is not None else learner_anon_id(request)
    lesson_mark_read(lesson=lesson, user=user, anon_id=anon_id)
    if request.htmx:
        return render(
            request,
            "lessons/lesson_article.html#read-status",
            {"lesson": lesson, "is_read": True, "just_marked": True},
        )
    messages.success(request, _("Marked “%(title)s” as read.") % {"title": lesson.title})
    return redirect(f"{lesson.get_absolute_url()}#read-status")
