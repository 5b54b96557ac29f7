"""Demo pages, htmx partials, the long-poll and next-token re-shaping.

(The JSON API is in ``api_views``, the Server-Sent Events in ``event_views``, the rich
widgets' views in ``widget_views``.)

Views parse input, call one service or selector and render. Every page works as plain
HTML (forms post and redirect, unfinished results refresh themselves through
``<noscript>``); htmx swaps partials and long-polls instead. Model output reaches the
page only through auto-escaping templates.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from django.conf import settings
from django.forms import BooleanField
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    JsonResponse,
)
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseStopPolling, push_url

from accounts.client import client_ip
from inference.contract import kinds
from inference.contract.errors import DemoNotFound, DemoRateLimited, DemoUnavailable
from inference.contract.examples import example_for_params, example_get
from inference.contract.validation import DemoInputError
from inference.web.forms import ReshapeForm, form_class
from inference.web.presenters import demo_catalogue, result_context
from inference.web.reshape import logits_from_bytes, top_rows
from inference.web.selectors import (
    Outcome,
    demo_outcome,
    demo_outcome_settled,
    next_token_logits,
    public_status,
    worker_status,
)
from inference.web.services import demo_submit
from inference.web.widgets import (
    STANDALONE,
    clean_widget_id,
    default_example,
    demo_form,
    form_initial,
    panel_context,
    playground_sections,
)

# A long-poll waits this long for news before answering "no change".
POLL_BLOCK_MS = 10_000

STOP_POLLING = HttpResponseStopPolling.status_code  # 286: htmx stops polling on it


def _form_class(kind: str) -> type:
    if kinds.get(kind) is None:
        raise Http404("There is no demo with that name.")
    return form_class(kind)


def _urls(task_id: str) -> dict[str, str]:
    return {
        "result_url": reverse("inference:demo-result", args=[task_id]),
        "poll_url": reverse("inference:demo-poll", args=[task_id]),
        "events_url": reverse("inference:demo-events", args=[task_id]),
        "api_url": reverse("inference:api-result", args=[task_id]),
    }


def _initial_from_query(form_class: type, query: Any) -> dict[str, Any]:
    initial: dict[str, Any] = {}
    for name, field in form_class.base_fields.items():
        if name not in query:
            continue
        value = query[name][:2000]
        if isinstance(field, BooleanField):
            value = value.strip().lower() not in {"", "0", "false", "off", "no"}
        initial[name] = value
    return initial


def _page_context(
    kind: str,
    form: Any,
    outcome: Outcome | None = None,
    *,
    wid: str = STANDALONE,
    stored: Any = None,
) -> dict[str, Any]:
    return panel_context(kind=kind, form=form, wid=wid, outcome=outcome, stored=stored)


PANEL_TEMPLATE = "inference/widget.html#panel"


# --- Pages ----------------------------------------------------------------------------


@require_GET
def demo_index(request: HttpRequest) -> HttpResponse:
    """The playground: every demo with a ready, stored example result."""
    return render(
        request,
        "inference/playground.html",
        {"demos": demo_catalogue(), "status": worker_status(), "sections": playground_sections()},
    )


@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
def demo(request: HttpRequest, kind: str) -> HttpResponse:
    """GET: the demo's page with its form. POST: run it (``inference:demo-submit``).

    A post from an embedded widget carries its ``widget`` id; htmx then gets that widget's
    panel back (and the page URL stays as it is).
    """
    form_class = _form_class(kind)
    if request.method == "GET":
        # Query parameters pre-fill the form (lesson links, "Try again"); nothing runs on GET.
        initial = _initial_from_query(form_class, request.GET)
        stored = example_get(request.GET.get("example", ""))
        if stored is not None and stored.kind == kind:
            initial = form_initial(kind, stored.params)
        else:
            stored = default_example(kind, initial)
        form = form_class(initial=initial or None)
        return render(request, "inference/demo.html", _page_context(kind, form, stored=stored))

    wid = clean_widget_id(request.POST.get("widget"))
    form = demo_form(kind, wid=wid, data=request.POST)
    status = 200
    retry_after = None
    if form.is_valid():
        try:
            submission = demo_submit(
                kind=kind, params=form.params, user=request.user, ip=client_ip(request)
            )
        except DemoInputError as exc:  # e.g. a token limit only the tokenizer sees
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            status = 400
        except DemoRateLimited as exc:
            form.add_error(None, exc.message)
            status, retry_after = 429, exc.retry_after
        except DemoUnavailable as exc:
            form.add_error(None, exc.message)
            status = 503
        else:
            result_url = reverse("inference:demo-result", args=[submission.task_id])
            if not request.htmx:
                return HttpResponseRedirect(result_url, status=303)
            # A quick demo (fill-mask, next-token, ...) often finishes within the wait: the
            # answer is then the result itself, one request instead of two or three.
            wait_ms = 0 if kind == "generate" else int(settings.DEMO_SUBMIT_WAIT_MS)
            try:
                outcome = demo_outcome_settled(task_id=submission.task_id, within_ms=wait_ms)
            except (DemoNotFound, DemoUnavailable) as exc:  # Redis went away just now
                form.add_error(None, exc.message)
                status = 503
            else:
                response = render(
                    request, PANEL_TEMPLATE, _page_context(kind, form, outcome, wid=wid)
                )
                return push_url(response, result_url) if wid == STANDALONE else response
    else:
        status = 400

    # With no model to answer, the stored result for the same input (if any) still shows.
    stored = example_for_params(kind, form.params) if status == 503 and form.params else None
    if request.htmx:
        # htmx swaps 2xx answers only; the form with its messages replaces the panel.
        response = render(
            request, PANEL_TEMPLATE, _page_context(kind, form, wid=wid, stored=stored)
        )
        response["X-Demo-Status"] = str(status)
        return response
    response = render(
        request, "inference/demo.html", _page_context(kind, form, stored=stored), status=status
    )
    if retry_after:
        response["Retry-After"] = str(retry_after)
    return response


def _not_found(request: HttpRequest, message: str | None = None) -> HttpResponse:
    message = message or _(DemoNotFound.message)
    if request.htmx:
        return render(
            request,
            "inference/result.html#result-missing",
            {"message": message},
            status=STOP_POLLING,
        )
    return render(request, "inference/expired.html", {"message": message}, status=404)


def _unavailable(request: HttpRequest, message: str, task_id: str | None = None) -> HttpResponse:
    context = {"message": message, "task_id": task_id}
    if request.htmx:
        return render(
            request, "inference/result.html#result-unavailable", context, status=STOP_POLLING
        )
    return render(request, "inference/unavailable.html", context, status=503)


@require_GET
@vary_on_headers("HX-Request")
@never_cache
def demo_result(request: HttpRequest, task_id: str) -> HttpResponse:
    """A result at its own URL: the full page, or with HX-Request the partial."""
    try:
        outcome = demo_outcome(task_id=task_id)
    except DemoNotFound as exc:
        return _not_found(request, exc.message)
    except DemoUnavailable as exc:
        return _unavailable(request, exc.message, task_id)
    if request.htmx:
        context = result_context(
            outcome,
            wid=clean_widget_id(request.GET.get("w")),
            compact=request.GET.get("compact") == "1",
        )
        return render(request, "inference/result.html#result", context)
    kind = outcome.kind if kinds.get(outcome.kind) else None
    if kind is None:
        return _not_found(request)
    form = form_class(kind)(initial=outcome.params or None)
    return render(request, "inference/demo.html", _page_context(kind, form, outcome))


@require_GET
@never_cache
def demo_poll(request: HttpRequest, task_id: str) -> HttpResponse:
    """Long-poll: wait up to ~10 s for events after ``?after=``, answer the updated partial.

    The answer for a finished task has status 286 and no trigger, so polling stops.
    """
    try:
        outcome = demo_outcome(
            task_id=task_id, after=request.GET.get("after", "0-0"), block_ms=POLL_BLOCK_MS
        )
    except DemoNotFound as exc:
        return _not_found(request, exc.message)
    except DemoUnavailable as exc:
        return _unavailable(request, exc.message, task_id)
    context = result_context(
        outcome,
        wid=clean_widget_id(request.GET.get("w")),
        transport="poll",
        compact=request.GET.get("compact") == "1",
    )
    return render(
        request,
        "inference/result.html#result",
        context,
        status=STOP_POLLING if outcome.finished else 200,
    )


def _json_error(message: str, status: int, **extra: Any) -> JsonResponse:
    return JsonResponse({"error": message, **extra}, status=status)


# --- Next-token re-shaping and status ----------------------------------------------------


def _wants_json(request: HttpRequest) -> bool:
    return request.GET.get("format") == "json" or "application/json" in request.headers.get(
        "Accept", ""
    )


@require_GET
@vary_on_headers("HX-Request", "Accept")
def next_token_reshape(request: HttpRequest, task_id: str) -> HttpResponse:
    """Re-shape stored next-token logits for ``temperature``/``top_k``/``top_p`` (no task)."""

    def load() -> tuple[str, bytes, dict[int, str]]:
        outcome, raw, vocab = next_token_logits(task_id=task_id)
        return (outcome.result or {}).get("prompt", ""), raw, vocab

    return reshape_response(
        request,
        source_id=task_id,
        load=load,
        page_url=reverse("inference:next-token-reshape", args=[task_id]),
        back_url=reverse("inference:demo-result", args=[task_id]),
    )


def reshape_response(
    request: HttpRequest,
    *,
    source_id: str,
    load: Any,
    page_url: str,
    back_url: str,
) -> HttpResponse:
    """The re-shaped bars (partial, page or JSON) for logits ``load()`` returns as
    ``(prompt, float32 bytes, {token_id: token})``; shared by live and stored results."""
    wants_json = _wants_json(request)
    template = "inference/reshape.html#reshape-bars" if request.htmx else "inference/reshape.html"
    form = ReshapeForm(request.GET)
    base = {"form": form, "task_id": source_id, "page_url": page_url, "back_url": back_url}
    if not form.is_valid():
        if wants_json:
            errors = {name: [str(e) for e in errs] for name, errs in form.errors.items()}
            return JsonResponse({"error": _("Check the settings."), "fields": errors}, status=400)
        return render(request, template, base, status=200 if request.htmx else 400)
    try:
        prompt, raw, vocab = load()
        reshaped = top_rows(logits_from_bytes(raw), vocab=vocab, rows=20, **form.knobs)
    except DemoNotFound as exc:
        return _json_error(exc.message, 404) if wants_json else _not_found(request, exc.message)
    except DemoUnavailable as exc:
        return _json_error(exc.message, 503) if wants_json else _unavailable(request, exc.message)
    except ValueError:
        message = _("The stored probabilities for this result are unreadable. Run it again.")
        return _json_error(message, 404) if wants_json else _not_found(request, message)
    if wants_json:
        return JsonResponse(
            {
                "task_id": source_id,
                "settings": form.knobs,
                "kept": reshaped.kept,
                "vocab_size": reshaped.vocab_size,
                "entropy_bits": reshaped.entropy_bits,
                "rows": [asdict(row) for row in reshaped.rows],
            }
        )
    return render(request, template, {**base, "reshaped": reshaped, "prompt": prompt})


@require_GET
@never_cache
@vary_on_headers("HX-Request", "Accept")
def status(request: HttpRequest) -> HttpResponse:
    """Profile, live model workers and their models, demo-model build progress."""
    data = worker_status()
    if _wants_json(request):
        return JsonResponse(public_status(data))
    template = "inference/status.html#status-strip" if request.htmx else "inference/status.html"
    return render(request, template, {"status": data})
