"""Throttling the account pages: sign-up per address, and how long a login lockout lasts.

Logins are throttled by django-axes (settings ``AXES_*``): five wrong passwords for one
username from one address lock that username *from that address* for
``AXES_COOLOFF_TIME``. The lock never reaches the same username from another address,
so an attacker can't lock a learner out of their account, and it always ends on its own.
:func:`login_lockout_remaining` tells the lockout page how long is left.

Sign-up is rate-limited per address with django-ratelimit (``SIGNUP_RATE_LIMIT_IP``,
generous enough for a class behind one school NAT). The counters live in the cache
(Redis); when the cache is down the limit fails open (sign-up keeps working, a warning
is logged), since the rest of the site keeps working without Redis too. Both count
against ``accounts.client.client_ip``, the learner's own address behind a proxy too.
"""

from __future__ import annotations

import logging
import math
from datetime import timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.utils import timezone
from django_ratelimit.core import get_usage

if TYPE_CHECKING:
    from django.http import HttpRequest

logger = logging.getLogger(__name__)

SIGNUP_GROUP = "lessons.signup.ip"


def axes_username(request: HttpRequest, credentials: dict | None = None) -> str:
    """The username django-axes records a login attempt under (``AXES_USERNAME_CALLABLE``):
    what the form sent, cut to the longest username an account can have. (Its table holds
    255 characters: a longer "username" must be refused like any wrong one, not fail to
    save.)"""
    from django.contrib.auth import get_user_model

    field = get_user_model().USERNAME_FIELD
    value = (credentials or {}).get(field)
    if value is None:
        value = request.POST.get(field, "") if request is not None else ""
    limit = get_user_model()._meta.get_field(field).max_length or 150
    return str(value)[:limit]


def signup_wait_seconds(*, ip: str | None) -> int:
    """Count one sign-up attempt from ``ip``; seconds to wait when over the limit, else 0."""
    rate = settings.SIGNUP_RATE_LIMIT_IP
    try:
        usage = get_usage(
            None,
            group=SIGNUP_GROUP,
            key=lambda _group, _request: f"ip:{ip or 'unknown'}",
            rate=rate,
            increment=True,
        )
    except Exception:  # the cache is Redis: an outage there must not block sign-up
        logger.warning("Sign-up rate limit skipped: the cache is unreachable", exc_info=True)
        return 0
    if not usage or not usage["should_limit"]:
        return 0
    return max(1, int(usage.get("time_left") or 60))


def _cool_off() -> timedelta | None:
    value = settings.AXES_COOLOFF_TIME
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float):
        return timedelta(hours=value)
    return None


def login_lockout_remaining(*, username: str, ip: str | None) -> timedelta | None:
    """How long ``username`` stays locked out from ``ip`` (None: no lock on record)."""
    from axes.models import AccessAttempt

    cool_off = _cool_off()
    if cool_off is None:
        return None
    attempt = (
        AccessAttempt.objects.filter(username=username, ip_address=ip)
        .order_by("-attempt_time")
        .first()
    )
    if attempt is None:
        return None
    remaining = attempt.attempt_time + cool_off - timezone.now()
    return remaining if remaining > timedelta(0) else timedelta(0)


def minutes_label(delta: timedelta | None) -> int:
    """Whole minutes to tell a person (rounded up, at least 1)."""
    if delta is None:
        return max(1, math.ceil((_cool_off() or timedelta(minutes=15)).total_seconds() / 60))
    return max(1, math.ceil(delta.total_seconds() / 60))
