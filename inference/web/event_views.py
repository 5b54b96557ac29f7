"""Server-Sent Events of a demo task: JSON frames for scripts, HTML fragments for the page.

``demo_events`` sends each stream event as JSON (``token`` per generated token, then
``done`` or ``error``); ``demo_stream`` sends generated tokens as ready-to-append HTML (the
htmx SSE extension appends them). Both follow ``selectors.demo_event_feed`` and resume from
``Last-Event-ID``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.template.loader import render_to_string
from django.utils import translation
from django.views.decorators.http import require_GET

from inference.contract import streams
from inference.contract.errors import DemoNotFound, DemoUnavailable
from inference.web.presenters import result_dom_id
from inference.web.result_shapes import token_view
from inference.web.selectors import demo_event_feed, demo_outcome
from inference.web.widgets import clean_widget_id


def _sse(event: str, data: Any, entry_id: str | None = None) -> str:
    lines = []
    if entry_id:
        lines.append(f"id: {entry_id}")
    lines.append(f"event: {event}")
    lines.append("data: " + json.dumps(data, separators=(",", ":"), ensure_ascii=False))
    return "\n".join(lines) + "\n\n"


def _event_data(event: dict) -> Any:
    kind = event.get("type", "message")
    if kind == "done":
        return event.get("result") or {}
    if kind == "error":
        return {"code": event.get("code"), "message": event.get("message")}
    if kind == "started" and event.get("worker"):
        return {**event, "worker": "a model worker"}  # the host's name stays in the logs
    return event


KEEP_ALIVE = ": keep-alive\n\n"
RETRY = "retry: 2000\n\n"


def sse_frames(task_id: str, after: str) -> Iterator[str]:
    """The text/event-stream body: one frame per event, ``done``/``error`` last."""
    yield RETRY
    try:
        for item in demo_event_feed(task_id=task_id, after=after):
            if item is None:
                yield KEEP_ALIVE
                continue
            entry_id, event = item
            kind = event.get("type", "message")
            yield _sse(kind, _event_data(event), entry_id)
            if kind in streams.TERMINAL_TYPES:
                return
        # Resumed after the last event (a client that reconnects once it has everything):
        # say again how it ended, or the client reconnects every `retry` forever.
        outcome = demo_outcome(task_id=task_id)
        if outcome.state in streams.TERMINAL_TYPES and outcome.entries:
            entry_id, event = outcome.entries[-1]
            if event.get("type") in streams.TERMINAL_TYPES:
                yield _sse(str(event["type"]), _event_data(event), entry_id)
    except DemoNotFound as exc:
        yield _sse("error", {"code": "not_found", "message": exc.message})
    except DemoUnavailable as exc:
        yield _sse("error", {"code": "unavailable", "message": exc.message})


@require_GET
def demo_events(request: HttpRequest, task_id: str) -> HttpResponse:
    """Server-Sent Events: ``token`` per generated token, then ``done`` or ``error``."""
    try:
        demo_outcome(task_id=task_id)
    except DemoNotFound as exc:
        return HttpResponse(exc.message, status=404, content_type="text/plain; charset=utf-8")
    except DemoUnavailable as exc:
        return HttpResponse(exc.message, status=503, content_type="text/plain; charset=utf-8")
    return _event_stream(sse_frames(task_id, _resume_from(request)))


def _resume_from(request: HttpRequest) -> str:
    return request.headers.get("Last-Event-ID") or request.GET.get("after") or "0-0"


def _event_stream(frames: Iterator[str]) -> StreamingHttpResponse:
    response = StreamingHttpResponse(frames, content_type="text/event-stream; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: don't buffer the stream
    return response


def _sse_html(event: str, html: str, entry_id: str | None = None) -> str:
    lines = [f"id: {entry_id}"] if entry_id else []
    lines.append(f"event: {event}")
    lines.extend(f"data: {line}" for line in (html.strip() or event).splitlines())
    return "\n".join(lines) + "\n\n"


def stream_frames(
    task_id: str, after: str, *, rid: str, language: str | None = None
) -> Iterator[str]:
    """``token`` (one rendered token), ``status`` and finally ``end`` (done, error, gone).

    The fragments are in ``language`` (the request's), whichever thread sends them."""
    with translation.override(language or translation.get_language()):
        yield from _stream_frames(task_id, after, rid=rid)


def _stream_frames(task_id: str, after: str, *, rid: str) -> Iterator[str]:
    yield RETRY
    try:
        for item in demo_event_feed(task_id=task_id, after=after):
            if item is None:
                yield KEEP_ALIVE
                continue
            entry_id, event = item
            kind = event.get("type")
            if kind == "token":
                html = render_to_string(
                    "inference/result.html#gen-token", {"token": token_view(event), "rid": rid}
                )
                yield _sse_html("token", html, entry_id)
            elif kind == "started":
                # The worker's host name stays internal: learners read "a model worker".
                html = render_to_string("inference/result.html#stream-status", {})
                yield _sse_html("status", html, entry_id)
            elif kind in streams.TERMINAL_TYPES:
                yield _sse_html("end", str(kind), entry_id)
                return
    except (DemoNotFound, DemoUnavailable):
        pass
    yield _sse_html("end", "gone")


@require_GET
def demo_stream(request: HttpRequest, task_id: str) -> HttpResponse:
    """Generated tokens as ready-to-append HTML (``inference:demo-events`` sends JSON)."""
    wid = clean_widget_id(request.GET.get("w"))
    return _event_stream(
        stream_frames(
            task_id,
            _resume_from(request),
            rid=result_dom_id(wid, task_id),
            language=translation.get_language(),
        )
    )
