"""Signal receivers: an anonymous learner's attempts and reads move into the account on login.

Django's ``login()`` keeps the session data (it only cycles the key), so the
``learner_id`` written while anonymous is still there when ``user_logged_in``
fires, on sign-up as on a plain login. The work is the
``learner_merge_into_user`` service; this only wires it to the signal.
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib import messages
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from .learners import SESSION_KEY, learner_anon_id
from .services import learner_merge_into_user

logger = logging.getLogger(__name__)


@receiver(user_logged_in, dispatch_uid="lessons.merge_anonymous_learner")
def merge_anonymous_learner(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    session = getattr(request, "session", None)
    if session is None or SESSION_KEY not in session:
        return
    anon_id = learner_anon_id(request, create=False)
    if not anon_id:
        return
    result = learner_merge_into_user(anon_id=anon_id, user=user)
    if result.attempts or result.reads_moved:
        # Said on the next page, like every change a learner's action makes.
        moved = []
        if result.attempts:
            moved.append(
                ngettext("%(count)d quiz attempt", "%(count)d quiz attempts", result.attempts)
                % {"count": result.attempts}
            )
        if result.reads_moved:
            moved.append(
                ngettext(
                    "%(count)d lesson marked read",
                    "%(count)d lesson marked reads",
                    result.reads_moved,
                )
                % {"count": result.reads_moved}
            )
        what = (
            _("%(first)s and %(second)s") % {"first": moved[0], "second": moved[1]}
            if len(moved) == 2
            else moved[0]
        )
        messages.info(
            request,
            _("What you did in this browser is now in your account: %(moved)s.") % {"moved": what},
            fail_silently=True,
        )
    if result.attempts or result.reads_moved or result.reads_dropped:
        logger.info(
            "merged anonymous learner into user %s: %d attempts, %d reads moved, %d dropped",
            user.pk,
            result.attempts,
            result.reads_moved,
            result.reads_dropped,
        )
