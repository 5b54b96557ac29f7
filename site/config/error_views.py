"""Error handlers: a database outage answers 503 with a page that says what happened.

``handler500`` (``config.urls``) runs for every uncaught exception. When the exception
is the database being unreachable, locked past its timeout or gone mid-request
(``OperationalError``/``InterfaceError``), the request's transaction was rolled back,
so nothing was half-saved: the learner gets 503, ``Retry-After`` and a sentence saying
their answers were not saved and to send them again. htmx requests get a small alert
inserted *before* the element they target (``HX-Reswap: beforebegin``), so a quiz form
keeps what the learner typed. Every other error keeps Django's plain 500 page.

Nothing here touches the database (no session, no user): the page renders without the
request's context processors.
"""

from __future__ import annotations

import logging
import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.views import defaults
from django.views.decorators.csrf import requires_csrf_token

logger = logging.getLogger(__name__)

RETRY_AFTER_S = 5
DATABASE_UNAVAILABLE = (
    "The site's database is busy or briefly unavailable, so this was not saved. "
    "Nothing was recorded half-way: wait a few seconds and send it again."
)


def is_database_outage(exc: BaseException | None) -> bool:
    """True for the database being unreachable, locked or dropped (not for bad queries)."""
    while exc is not None:
        if isinstance(exc, OperationalError | InterfaceError):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


@requires_csrf_token
def server_error(request: HttpRequest, template_name: str = "500.html") -> HttpResponse:
    exc = sys.exc_info()[1]
    if not is_database_outage(exc):
        return defaults.server_error(request, template_name=template_name)
    logger.warning("Database unavailable for %s %s: %s", request.method, request.path, exc)
    is_htmx = request.headers.get("HX-Request") == "true"
    template = "errors/database_unavailable.html"
    body = render_to_string(
        template + "#alert" if is_htmx else template, {"message": DATABASE_UNAVAILABLE}
    )
    response = HttpResponse(body, status=503)
    response["Retry-After"] = str(RETRY_AFTER_S)
    response["Cache-Control"] = "no-store"
    if is_htmx:
        response["HX-Reswap"] = "beforebegin"
    return response
