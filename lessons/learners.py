"""Who is learning: the logged-in user, or an anonymous learner id kept in the session.

Anonymous learners get a random UUID stored in ``request.session["learner_id"]``.
Reads and quiz attempts made before signing up are recorded against that id and
move into the account on login (see ``lessons.receivers``). Django's ``login()``
keeps session data, so the id survives the login that triggers the merge.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from django.http import HttpRequest

SESSION_KEY = "learner_id"


def _is_valid_uuid(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def learner_anon_id(request: HttpRequest, *, create: bool = True) -> str:
    """Return this browser's anonymous learner id (a UUID string).

    With ``create=True`` (the default) a new id is made and stored in the session
    when there is none yet; with ``create=False`` an empty string is returned
    instead, so read-only pages don't start a session for every visitor.
    A tampered or malformed value in the session is replaced (or ignored).
    """
    value = request.session.get(SESSION_KEY)
    if _is_valid_uuid(value):
        return value
    if not create:
        return ""
    value = str(uuid.uuid4())
    request.session[SESSION_KEY] = value
    return value


@dataclass(frozen=True)
class Learner:
    """The learner behind a request: ``user`` when logged in, else ``anon_id``."""

    user: Any | None
    anon_id: str

    @property
    def is_known(self) -> bool:
        return self.user is not None or bool(self.anon_id)


def learner_for_request(request: HttpRequest, *, create: bool = True) -> Learner:
    """The learner for a request: the user if authenticated, else the anonymous id.

    For a logged-in user ``anon_id`` is empty: their records hang off the account.
    """
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return Learner(user=user, anon_id="")
    return Learner(user=None, anon_id=learner_anon_id(request, create=create))
