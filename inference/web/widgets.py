"""Demo widgets: one form + result panel per demo, wherever it appears.

The same panel (``inference/widget.html#panel``) is the standalone demo page
(``/demos/<kind>/``, widget id ``demo-panel``), one section of the playground, and every
demo block in a lesson, where :func:`embed_demo_widgets` swaps the placeholders
``lessons.markdown`` leaves in the stored HTML for live widgets at request time.

Each panel has a widget id (``wid``), unique on its page: element ids inside it derive
from it, and htmx answers carry it back (``widget`` in posts, ``w`` in query strings) so
the swapped-in panel keeps its ids. Before any model answers, a panel shows the stored
example for its inputs (``inference.contract.examples``), marked as stored.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from django.http import HttpRequest
from django.middleware.csrf import get_token
from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe

from inference.contract import demo_cards, kinds
from inference.contract.examples import (
    StoredExample,
    example_for_params,
    playground_examples,
)
from inference.web.forms import DemoForm, form_class
from inference.web.presenters import result_context, stored_context
from inference.web.selectors import Outcome

logger = logging.getLogger(__name__)

STANDALONE = "demo-panel"
_WID_RE = re.compile(r"^[a-z][a-z0-9-]{0,47}$")


def clean_widget_id(value: object) -> str:
    """A widget id from a request, or the standalone page's id."""
    return value if isinstance(value, str) and _WID_RE.match(value) else STANDALONE


def _in_lesson(wid: str) -> bool:
    return wid != STANDALONE and not wid.startswith("play-")


def demo_form(
    kind: str,
    *,
    wid: str = STANDALONE,
    data: Any = None,
    initial: dict[str, Any] | None = None,
) -> DemoForm:
    """The kind's form with element ids unique to its widget."""
    auto_id = "id_%s" if wid == STANDALONE else f"{wid}-%s"
    return form_class(kind)(data, initial=initial or None, auto_id=auto_id)


def form_initial(kind: str, params: dict[str, Any] | None) -> dict[str, Any]:
    """Form initial values from params (lesson defaults, a stored example's inputs)."""
    fields = form_class(kind).base_fields
    initial: dict[str, Any] = {}
    for name, value in (params or {}).items():
        if name not in fields or value is None:
            continue
        initial[name] = value
    return initial


def panel_context(
    *,
    kind: str,
    form: DemoForm,
    wid: str = STANDALONE,
    outcome: Outcome | None = None,
    stored: StoredExample | None = None,
    note: str = "",
) -> dict[str, Any]:
    """Everything ``inference/widget.html#panel`` needs."""
    context: dict[str, Any] = {
        "kind": kind,
        "form": form,
        "wid": wid,
        "region_id": "demo-result" if wid == STANDALONE else f"{wid}-result",
        "intro": kinds.require(kind).intro,
        "title": kinds.require(kind).title,
        # Ready-example chips on the demo page and the playground, not inside lessons.
        "examples": playground_examples(kind) if not _in_lesson(wid) else [],
        "note": note,
    }
    if outcome is not None:
        context.update(result_context(outcome, wid=wid))
        context["kind"] = kind
        context["has_result"] = True
    elif stored is not None:
        context.update(stored_context(stored, wid=wid))
        context["has_result"] = True
    return context


def default_example(kind: str, params: dict[str, Any] | None) -> StoredExample | None:
    """The stored result for ``params`` (or, without params, the kind's first example)."""
    if params:
        return example_for_params(kind, params)
    form = form_class(kind)()
    defaults = {
        name: form.get_initial_for_field(field, name)
        for name, field in form.fields.items()
        if form.get_initial_for_field(field, name) not in (None, "")
    }
    found = example_for_params(kind, defaults)
    if found is None:
        examples = playground_examples(kind)
        found = examples[0] if examples else None
    return found


# --- Lessons ------------------------------------------------------------------------------


def embed_demo_widgets(
    html: str, *, request: HttpRequest | None, csrf_token: str | None = None
) -> SafeString:
    """``html`` (a lesson's stored, sanitized body) with each demo placeholder replaced by
    a live widget prefilled with the block's defaults. The forms carry ``csrf_token`` (the
    template's: on a lesson page, the page cache's placeholder, which each request fills in;
    lessons.page_cache keeps the rendered result), else the request's own token."""
    if csrf_token is None and request is not None:
        csrf_token = get_token(request)
    counter = {"n": 0}

    def widget(slot: Any) -> str:
        if kinds.get(slot.kind) is None:
            return slot.html
        counter["n"] += 1
        wid = f"demo-{counter['n']}"
        defaults = form_initial(slot.kind, slot.defaults)
        unknown = sorted(set(slot.defaults) - set(defaults))
        if unknown:
            logger.warning("Demo block %s ignores unknown defaults: %s", slot.kind, unknown)
        context = panel_context(
            kind=slot.kind,
            form=demo_form(slot.kind, wid=wid, initial=defaults),
            wid=wid,
            stored=example_for_params(slot.kind, defaults) if defaults else None,
        )
        context["embedded"] = True
        context["csrf_token"] = csrf_token  # None: no token field, as {% csrf_token %} does
        return render_to_string("inference/widget.html#embedded", context)

    return mark_safe(demo_cards.replace_demo_slots(html, widget))  # noqa: S308 - sanitized + our templates


# --- Playground ------------------------------------------------------------------------------


def playground_sections() -> list[dict[str, Any]]:
    """One panel per demo, each showing its first stored example."""
    sections = []
    for kind in kinds.names():
        wid = f"play-{kind}"
        stored = default_example(kind, None)
        initial = form_initial(kind, stored.params) if stored else None
        sections.append(
            panel_context(
                kind=kind,
                form=demo_form(kind, wid=wid, initial=initial),
                wid=wid,
                stored=stored,
            )
        )
    return sections
