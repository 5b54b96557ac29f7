"""Mails the account pages send besides Django's password-reset link: the notice to the
owner of an address someone signed up with.

Sign-up answers the same whether the address typed is new or already has an account (else
anyone could test addresses one by one, ``accounts.forms.SignUpForm``). The owner learns of
it here instead, in their own mailbox, with the way back into their account: the
password-reset page. At most ``SIGNUP_NOTICE_RATE_LIMIT_EMAIL`` notices per mailbox, so
signing up again and again with someone's address can't flood their inbox.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.sites.shortcuts import get_current_site
from django.core.mail import EmailMessage
from django.template import loader
from django.urls import reverse
from django.utils import translation

from .throttling import signup_notice_allowed

if TYPE_CHECKING:
    from django.http import HttpRequest

logger = logging.getLogger(__name__)

SIGNUP_NOTICE_SUBJECT = "registration/account_signup_notice_subject.txt"
SIGNUP_NOTICE_BODY = "registration/account_signup_notice_email.txt"


def send_signup_notice(request: HttpRequest, *, owner: Any) -> bool:
    """Tell ``owner`` that someone just signed up with their email address, and how to get
    back into their account; whether a mail went out. A mail that can't be sent is logged,
    never raised: the sign-up has happened, and its page must look like any other."""
    if not signup_notice_allowed(email=owner.email):
        logger.info("Sign-up notice to account %s skipped: its mailbox had enough", owner.pk)
        return False
    # In the owner's language when their account has one (its reset link too), else the page's
    with translation.override(_language_of(owner) or translation.get_language()):
        context = {
            "user": owner,
            "site_name": get_current_site(request).name,
            "reset_url": request.build_absolute_uri(reverse("accounts:password-reset")),
        }
        subject = "".join(loader.render_to_string(SIGNUP_NOTICE_SUBJECT, context).splitlines())
        body = loader.render_to_string(SIGNUP_NOTICE_BODY, context)
    try:
        EmailMessage(subject, body, settings.DEFAULT_FROM_EMAIL, [owner.email]).send()
    except Exception:
        logger.exception("Failed to send the sign-up notice to account %s", owner.pk)
        return False
    return True


def _language_of(owner: Any) -> str | None:
    """The language the owner chose on their account (``accounts.models``), if any."""
    from .models import LearnerSettings

    return LearnerSettings.objects.filter(user=owner).values_list("language", flat=True).first()
