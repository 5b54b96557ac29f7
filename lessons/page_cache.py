"""What every reader of a lesson shares, rendered once and kept for a short while.

A lesson page is the same for everyone except for a few small things: whether this learner
marked it as read, the navigation bar (who is signed in, a flash message) and the CSRF token.
So it is built in two layers, each kept in this process for ``TTL_SECONDS``
(``lessons/views.py``):

- the **article** (header, body with its live demo panels, quiz card, pager), with a slot
  for the reader's read mark and ``CSRF_PLACEHOLDER`` where a form's token goes;
- the **whole page** for each kind of reader (a visitor, a signed-in learner, staff) who has
  or hasn't read the lesson, rendered without a request, with the learner's name and the
  token as placeholders. Each request puts its own name and (freshly masked) token in,
  which also sets the CSRF cookie as rendering would. A signed-in learner's lesson page
  costs their session, their user and one "read?" lookup, not a render. A request with a
  flash message waiting is rendered for itself.

This is the one place a placeholder stands for a CSRF token: the demo panels inside the
article carry the same one (``inference.web.widgets.embed_demo_widgets`` renders them with the
token the template gives it).

Freshness: a save or delete of a course, lesson, quiz or question (the admin, the loader,
simple-history's revert) drops everything kept in the process that made it at once; other
web processes serve their copy for at most ``TTL_SECONDS`` more. Which examples file is
shown, and the demo build it is labelled against, are part of the key
(``inference.facade.example_set_version``). Only GETs of lesson pages are served from here.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import TypeVar

from django.conf import settings
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.http import HttpRequest
from django.middleware.csrf import get_token
from django.utils.html import escape

# Not used here: imported so that every process with the lessons app loaded (the app's
# ready() imports this module) drops its kept quiz keys when staff edit them.
from .selectors import quiz_keys as quiz_keys

TTL_SECONDS = 30.0
MAX_ENTRIES = 128
CSRF_PLACEHOLDER = "__shared-page-csrf-token__"

T = TypeVar("T")

_lock = threading.Lock()
_kept: OrderedDict[tuple, tuple[float, object]] = OrderedDict()
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


def kept(key: tuple, make: Callable[[], T | None]) -> T | None:
    """The value kept for ``key``, or ``make()``'s (kept when it is not None)."""
    now = time.monotonic()
    with _lock:
        full_key = (_generation, *key)
        found = _kept.get(full_key)
        if found is not None and now - found[0] < TTL_SECONDS:
            _kept.move_to_end(full_key)
            return found[1]  # type: ignore[return-value]
    value = make()
    if value is not None:
        with _lock:
            _kept[full_key] = (now, value)
            _kept.move_to_end(full_key)
            while len(_kept) > MAX_ENTRIES:
                _kept.popitem(last=False)
    return value


def fill(html: str, slots: Mapping[str, str]) -> str:
    """``html`` with each slot replaced by its value."""
    for slot, value in slots.items():
        html = html.replace(slot, value)
    return html


def with_token(html: str, request: HttpRequest, slots: Mapping[str, str] | None = None) -> str:
    """``html`` with each slot filled and this request's CSRF token where the placeholder is."""
    return fill(html, slots or {}).replace(CSRF_PLACEHOLDER, escape(get_token(request)))


def clear() -> None:
    global _generation
    with _lock:
        _generation += 1
        _kept.clear()


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
