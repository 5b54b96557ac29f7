"""Throttling the account pages: sign-up and password reset per address, the mails they send
per mailbox, and how long a login lockout lasts.

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

Password resets are counted the same way twice: per client address
(``PASSWORD_RESET_RATE_LIMIT_IP``; over it the page says to wait, 429) and per mailbox
(``PASSWORD_RESET_RATE_LIMIT_EMAIL``; over it the page says "check your email" as always and
no mail goes out, so nobody can flood a learner's inbox and the answer still reveals nothing).
The notice a sign-up with an already registered address sends its owner is capped per
mailbox too (``SIGNUP_NOTICE_RATE_LIMIT_EMAIL``). Mailbox counters are keyed by the address
in lower case; django-ratelimit stores only a hash of the key.
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
SIGNUP_NOTICE_GROUP = "accounts.signup-notice.email"
RESET_IP_GROUP = "accounts.password-reset.ip"
RESET_EMAIL_GROUP = "accounts.password-reset.email"


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
    return _count(
        group=SIGNUP_GROUP, key=_ip_key(ip), rate=settings.SIGNUP_RATE_LIMIT_IP, what="Sign-up"
    )


def password_reset_wait_seconds(*, ip: str | None) -> int:
    """Count one password-reset request from ``ip``; seconds to wait when over the limit,
    else 0."""
    return _count(
        group=RESET_IP_GROUP,
        key=_ip_key(ip),
        rate=settings.PASSWORD_RESET_RATE_LIMIT_IP,
        what="Password-reset",
    )


def password_reset_mail_allowed(*, email: str) -> bool:
    """Count one reset asked for ``email`` (whether an account uses it or not, so counting
    reveals nothing); False when that mailbox had its share of reset mails for now."""
    return not _count(
        group=RESET_EMAIL_GROUP,
        key=_email_key(email),
        rate=settings.PASSWORD_RESET_RATE_LIMIT_EMAIL,
        what="Password-reset mail",
    )


def signup_notice_allowed(*, email: str) -> bool:
    """Count one "someone signed up with your address" notice to ``email``; False when that
    mailbox had its share of them for now."""
    return not _count(
        group=SIGNUP_NOTICE_GROUP,
        key=_email_key(email),
        rate=settings.SIGNUP_NOTICE_RATE_LIMIT_EMAIL,
        what="Sign-up notice",
    )


def _ip_key(ip: str | None) -> str:
    return f"ip:{ip or 'unknown'}"


def _email_key(email: str) -> str:
    return f"email:{email.strip().lower()}"


def _count(*, group: str, key: str, rate: str, what: str) -> int:
    """Count one event under ``key`` in django-ratelimit's cache counters; seconds to wait
    when over ``rate``, else 0. Fails open: the cache is Redis, and an outage there must
    not block the account pages (a warning is logged instead)."""
    try:
        usage = get_usage(
            None, group=group, key=lambda _group, _request: key, rate=rate, increment=True
        )
    except Exception:
        logger.warning("%s rate limit skipped: the cache is unreachable", what, exc_info=True)
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
