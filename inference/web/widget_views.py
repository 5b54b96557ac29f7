"""Views behind the rich demo widgets.

Stored examples (a panel showing one, re-shaping its stored logits, its attention maps),
attention layer/head/position selectors (re-rendered from the stored result: no new
task), the "same seed, new temperature" comparison, generated tokens streamed as HTML
fragments over Server-Sent Events (the htmx SSE extension appends them), and the page
with the demo models' training curves. Every view works without htmx too: plain
requests get a full page or a redirect to one.
"""

from __future__ import annotations

from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
)
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from accounts.client import client_ip
from inference.contract.errors import DemoNotFound, DemoRateLimited, DemoUnavailable
from inference.contract.examples import StoredExample, example_get
from inference.contract.registry import active_profile_name
from inference.contract.validation import DemoInputError
from inference.web.attention_maps import attention_maps
from inference.web.presenters import result_context, result_dom_id
from inference.web.selectors import build_progress, demo_outcome
from inference.web.services import demo_submit
from inference.web.training_report import training_report
from inference.web.views import _not_found, _unavailable, reshape_response
from inference.web.widgets import clean_widget_id, demo_form, form_initial, panel_context


def _stored_or_404(example_id: str, kind: str | None = None) -> StoredExample:
    example = example_get(example_id)
    if example is None or (kind and example.kind != kind):
        raise Http404("There is no stored example with that name.")
    return example


# --- Stored examples ------------------------------------------------------------------------


@require_GET
@vary_on_headers("HX-Request")
def example(request: HttpRequest, example_id: str) -> HttpResponse:
    """A panel showing a stored example (htmx), else the demo page showing it."""
    stored = _stored_or_404(example_id)
    if not request.htmx:
        url = reverse("inference:demo-form", args=[stored.kind])
        return HttpResponseRedirect(f"{url}?example={stored.id}")
    wid = clean_widget_id(request.GET.get("w"))
    form = demo_form(stored.kind, wid=wid, initial=form_initial(stored.kind, stored.params))
    context = panel_context(kind=stored.kind, form=form, wid=wid, stored=stored)
    return render(request, "inference/widget.html#panel", context)


@require_GET
@vary_on_headers("HX-Request", "Accept")
def example_reshape(request: HttpRequest, example_id: str) -> HttpResponse:
    """Re-shape a stored next-token example's logits (kept in the examples file)."""
    stored = _stored_or_404(example_id, "next-token")

    def load() -> tuple[str, bytes, dict[int, str]]:
        raw = stored.logits_bytes()
        if raw is None:
            raise DemoNotFound(_("This stored example has no probabilities to re-shape."))
        return str(stored.result.get("prompt", "")), raw, stored.vocab_map()

    return reshape_response(
        request,
        source_id=stored.id,
        load=load,
        page_url=reverse("inference:example-reshape", args=[stored.id]),
        back_url=f"{reverse('inference:demo-form', args=['next-token'])}?example={stored.id}",
    )


# --- Attention: layer, head and "what can this position see" --------------------------------


def _attention_response(
    request: HttpRequest, result: dict, *, attention_url: str, back_url: str, source: str
) -> HttpResponse:
    wid = clean_widget_id(request.GET.get("w"))
    context = {
        "result": result,
        "attention_maps": attention_maps(result, request.GET),
        "attention_url": attention_url,
        "back_url": back_url,
        "wid": wid,
        "rid": result_dom_id(wid, source),
    }
    if request.htmx:
        return render(request, "inference/results/attention.html#attention-maps", context)
    return render(request, "inference/attention_page.html", context)


@require_GET
@vary_on_headers("HX-Request")
def attention_view(request: HttpRequest, task_id: str) -> HttpResponse:
    """A finished attention result drawn for other layers, heads or positions."""
    try:
        outcome = demo_outcome(task_id=task_id)
    except DemoNotFound as exc:
        return _not_found(request, exc.message)
    except DemoUnavailable as exc:
        return _unavailable(request, exc.message, task_id)
    if outcome.kind != "attention" or outcome.state != "done":
        return _not_found(request, _("This isn't a finished attention result."))
    return _attention_response(
        request,
        outcome.result or {},
        attention_url=reverse("inference:attention-view", args=[task_id]),
        back_url=reverse("inference:demo-result", args=[task_id]),
        source=task_id,
    )


@require_GET
@vary_on_headers("HX-Request")
def example_attention(request: HttpRequest, example_id: str) -> HttpResponse:
    stored = _stored_or_404(example_id, "attention")
    return _attention_response(
        request,
        stored.result,
        attention_url=reverse("inference:example-attention", args=[stored.id]),
        back_url=f"{reverse('inference:demo-form', args=['attention'])}?example={stored.id}",
        source=stored.id,
    )


# --- Generation: same seed, new temperature ---------------------------------------------------


@require_POST
def generate_compare(request: HttpRequest) -> HttpResponse:
    """Run the same prompt, seed and filters at another temperature, shown beside the first."""
    wid = clean_widget_id(request.POST.get("widget"))
    form = demo_form("generate", wid=f"{wid}-compare", data=request.POST)
    message = ""
    if form.is_valid():
        try:
            submission = demo_submit(
                kind="generate", params=form.params, user=request.user, ip=client_ip(request)
            )
            outcome = demo_outcome(task_id=submission.task_id)
        except DemoInputError as exc:
            message = exc.message
        except (DemoRateLimited, DemoUnavailable, DemoNotFound) as exc:
            message = exc.message
        else:
            if not request.htmx:
                result_url = reverse("inference:demo-result", args=[submission.task_id])
                return HttpResponseRedirect(result_url, status=303)
            context = result_context(outcome, wid=wid, compact=True)
            return render(request, "inference/result.html#result", context)
    else:
        message = " ".join(str(e) for errors in form.errors.values() for e in errors)
    if not request.htmx:
        return render(
            request, "inference/unavailable.html", {"message": message, "task_id": None}, status=400
        )
    return render(request, "inference/result.html#compare-error", {"message": message})


# --- How the demo models were trained ------------------------------------------------------------


@require_GET
def training(request: HttpRequest) -> HttpResponse:
    """The demo models' loss curves, data and size (``MODELS_DIR/demo/training.json``)."""
    try:
        profile = active_profile_name()
    except Exception:  # misconfigured profile: the page still explains the demo models
        profile = ""
    return render(
        request,
        "inference/training.html",
        {"report": training_report(), "build": build_progress(), "profile": profile},
    )
