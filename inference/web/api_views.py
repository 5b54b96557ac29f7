"""The JSON API of the demos: start one, read its state and result (for scripts and tests).

``POST /demos/api/<kind>/`` answers 202 (200 when answered from the result cache) with the
URLs to follow the task; ``GET /demos/api/results/<task_id>/?wait=N`` long-polls up to N
seconds. Errors are ``{"error": message, ...}`` with 400, 404, 429 or 503.
"""

from __future__ import annotations

import json
import time
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from accounts.client import client_ip
from inference.contract import kinds
from inference.contract.errors import DemoNotFound, DemoRateLimited, DemoUnavailable
from inference.contract.validation import DemoInputError
from inference.web.selectors import demo_outcome
from inference.web.services import demo_submit
from inference.web.views import POLL_BLOCK_MS, _json_error, _urls

API_MAX_WAIT_S = 30.0


def _api_params(request: HttpRequest) -> dict[str, Any]:
    if request.content_type == "application/json":
        try:
            data = json.loads(request.body or b"{}")
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise DemoInputError(_("The request body isn't valid JSON.")) from None
        if not isinstance(data, dict):
            raise DemoInputError(_("Send the demo's settings as a JSON object."))
        return data
    data = request.POST.dict()
    data.pop("csrfmiddlewaretoken", None)
    return data


@require_POST
def api_submit(request: HttpRequest, kind: str) -> JsonResponse:
    """Start a demo: 202 (or 200 when answered from cache) with the URLs to follow it."""
    if kinds.get(kind) is None:
        return _json_error(_("There is no demo called “%(name)s”.") % {"name": kind}, 404)
    try:
        submission = demo_submit(
            kind=kind, params=_api_params(request), user=request.user, ip=client_ip(request)
        )
    except DemoInputError as exc:
        return _json_error(exc.message, 400, field=exc.field)
    except DemoRateLimited as exc:
        response = _json_error(exc.message, 429, retry_after=exc.retry_after)
        response["Retry-After"] = str(exc.retry_after)
        return response
    except DemoUnavailable as exc:
        return _json_error(exc.message, 503, reason=exc.reason)
    return JsonResponse(
        {"task_id": submission.task_id, "status": submission.status, **_urls(submission.task_id)},
        status=202 if submission.status == "queued" else 200,
    )


@require_GET
@never_cache
def api_result(request: HttpRequest, task_id: str) -> JsonResponse:
    """The task's state and result; ``?wait=N`` (≤ 30) waits up to N s for it to finish."""
    raw_wait = request.GET.get("wait", "0")
    try:
        wait = float(raw_wait)
    except ValueError:
        wait = -1.0
    if not 0 <= wait <= API_MAX_WAIT_S:
        return _json_error(
            _("wait must be a number of seconds from 0 to %(limit)s.")
            % {"limit": f"{API_MAX_WAIT_S:g}"},
            400,
        )
    deadline = time.monotonic() + wait
    try:
        outcome = demo_outcome(task_id=task_id)
        while not outcome.finished and (remaining := deadline - time.monotonic()) > 0:
            outcome = demo_outcome(
                task_id=task_id,
                after=outcome.cursor,
                block_ms=int(min(remaining, POLL_BLOCK_MS / 1000) * 1000),
            )
    except DemoNotFound as exc:
        return _json_error(exc.message, 404)
    except DemoUnavailable as exc:
        return _json_error(exc.message, 503)
    return JsonResponse({**outcome.as_dict(), **_urls(task_id)})
