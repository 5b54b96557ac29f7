"""Error handlers: a database outage answers 503 with a page that says what happened.

``handler500`` (``config.urls``) runs for every uncaught exception. When the exception
is the database being unreachable, locked past its timeout or gone mid-request
(``OperationalError``/``InterfaceError``), the request's transaction was rolled back,
so nothing was half-saved: the learner gets 503, ``Retry-After`` and a sentence saying
their answers were not saved and to send them again. htmx requests get a small alert
inserted *before* the element they target (``HX-Reswap: beforebegin``), so a quiz form
keeps what the learner typed. Every other error keeps Django's plain 500 page.

Requests to the JSON API (``/demos/api/``, or any request that asks for JSON and not HTML)
get their 400, 404 and 500 answers as JSON (``{"error": "..."}``) rather than an HTML page; a
body over ``DATA_UPLOAD_MAX_MEMORY_SIZE`` is a 413 that names the limit.

Nothing here touches the database (no session, no user): the page renders without the
request's context processors.
"""

from __future__ import annotations

import logging
import sys

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import defaults
from django.views.decorators.csrf import requires_csrf_token

logger = logging.getLogger(__name__)

RETRY_AFTER_S = 5
# Lazy: said in the language of the request that met the outage.
DATABASE_UNAVAILABLE = gettext_lazy(
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


JSON_PATH_PREFIX = "/demos/api/"


def wants_json(request: HttpRequest) -> bool:
    """The JSON API's paths (with or without a language prefix: ``/zh-hans/demos/api/``), or
    a client that accepts JSON and not HTML."""
    prefixes = (
        JSON_PATH_PREFIX,
        *(f"/{code}{JSON_PATH_PREFIX}" for code, _name in settings.LANGUAGES),
    )
    if request.path.startswith(prefixes):
        return True
    accept = request.headers.get("Accept", "")
    return "application/json" in accept and "text/html" not in accept


def _json(message: str, status: int) -> JsonResponse:
    response = JsonResponse({"error": message}, status=status)
    response["Cache-Control"] = "no-store"
    return response


@requires_csrf_token
def bad_request(
    request: HttpRequest, exception: Exception | None = None, template_name: str = "400.html"
) -> HttpResponse:
    if wants_json(request):
        if isinstance(exception, RequestDataTooBig):
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            return _json(
                _("The request body is too large: the limit is %(limit)s bytes.")
                % {"limit": f"{limit:,}"},
                413,
            )
        return _json(_("The request could not be understood."), 400)
    return defaults.bad_request(request, exception, template_name=template_name)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """``CSRF_FAILURE_VIEW``: JSON for the API (send the csrftoken cookie's value in an
    ``X-CSRFToken`` header), Django's page for everything else."""
    if wants_json(request):
        return _json(
            _(
                "The request was refused: it carries no valid CSRF token. Send the csrftoken "
                "cookie's value in an X-CSRFToken header."
            ),
            403,
        )
    from django.views.csrf import csrf_failure as default_csrf_failure

    return default_csrf_failure(request, reason=reason)


@requires_csrf_token
def page_not_found(
    request: HttpRequest, exception: Exception | None = None, template_name: str = "404.html"
) -> HttpResponse:
    if wants_json(request):
        return _json(_("There is nothing at this address."), 404)
    return defaults.page_not_found(request, exception, template_name=template_name)


@requires_csrf_token
def server_error(request: HttpRequest, template_name: str = "500.html") -> HttpResponse:
    exc = sys.exc_info()[1]
    if not is_database_outage(exc):
        if wants_json(request):
            return _json(_("Something went wrong on our side; it has been logged."), 500)
        return defaults.server_error(request, template_name=template_name)
    logger.warning("Database unavailable for %s %s: %s", request.method, request.path, exc)
    if wants_json(request):
        response = _json(str(DATABASE_UNAVAILABLE), 503)
        response["Retry-After"] = str(RETRY_AFTER_S)
        return response
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
