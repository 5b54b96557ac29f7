"""The lesson page as a first-time visitor sees it, rendered once and kept for a short while.

Most lesson views come from visitors without a session: not logged in, no quiz answered yet,
nothing marked as read, no flash message waiting. For them the page is the same for
everyone except for the CSRF token, so it is rendered once per lesson and kept in this
process for ``TTL_SECONDS``, with a placeholder where the token goes; each request puts its
own (freshly masked) token in, which also sets the CSRF cookie as rendering would.

Freshness: a save or delete of a course, lesson, quiz or question (the admin, the loader,
simple-history's revert) drops every kept page in the process that made it at once; other
web processes serve their copy for at most ``TTL_SECONDS`` more. Which examples file is
shown, and the demo build it is labelled against, are part of the key
(``inference.examples.example_set_version``). Visitors with a session, and anything but a
plain GET, always get a freshly rendered page.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from django.conf import settings
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.http import HttpRequest
from django.middleware.csrf import get_token
from django.utils.html import escape

TTL_SECONDS = 30.0
MAX_PAGES = 64
CSRF_PLACEHOLDER = "__shared-page-csrf-token__"

_lock = threading.Lock()
_pages: OrderedDict[tuple, tuple[float, str]] = OrderedDict()
_generation = 0


def shareable(request: HttpRequest) -> bool:
    """True when the page can't depend on who asks: a GET with no session and no message."""
    cookies = request.COOKIES
    return (
        request.method == "GET"
        and settings.SESSION_COOKIE_NAME not in cookies
        and "messages" not in cookies
        and not request.GET
    )


def page(key: tuple, request: HttpRequest, render: Callable[[str], str]) -> str:
    """The kept page for ``key`` with this request's CSRF token; ``render(placeholder)``
    renders it (with ``placeholder`` as the CSRF token) when none is kept."""
    now = time.monotonic()
    with _lock:
        full_key = (_generation, *key)
        kept = _pages.get(full_key)
        if kept is not None and now - kept[0] < TTL_SECONDS:
            _pages.move_to_end(full_key)
            html = kept[1]
        else:
            html = None
    if html is None:
        html = render(CSRF_PLACEHOLDER)
        with _lock:
            _pages[full_key] = (now, html)
            _pages.move_to_end(full_key)
            while len(_pages) > MAX_PAGES:
                _pages.popitem(last=False)
    return html.replace(CSRF_PLACEHOLDER, escape(get_token(request)))


def clear() -> None:
    global _generation
    with _lock:
        _generation += 1
        _pages.clear()


@receiver(post_save, dispatch_uid="lessons.page_cache.saved")
@receiver(post_delete, dispatch_uid="lessons.page_cache.deleted")
def _content_changed(sender, **kwargs) -> None:
    if sender._meta.app_label == "lessons" and sender.__name__ in {
        "Course",
        "Lesson",
        "Quiz",
        "Question",
    }:
        clear()
