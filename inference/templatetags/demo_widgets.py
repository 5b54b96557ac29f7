"""Template tags that place live demo widgets: in lessons and on the playground."""

from __future__ import annotations

from typing import Any

from django import template
from django.template.loader import render_to_string
from django.utils.safestring import SafeString

register = template.Library()


@register.simple_tag(takes_context=True)
def demo_widgets(context: template.Context, html: str) -> SafeString:
    """A lesson's stored body HTML with its demo placeholders turned into live widgets.

    Usage: ``{% demo_widgets lesson.body_html %}`` (the HTML was sanitized on save).
    """
    from inference.web.widgets import embed_demo_widgets

    token = context.get("csrf_token")  # a shared page's placeholder, else this request's token
    return embed_demo_widgets(
        html or "",
        request=context.get("request"),
        csrf_token=str(token) if token and str(token) != "NOTPROVIDED" else None,
    )


@register.simple_tag(takes_context=True)
def demo_panel(context: template.Context, panel: dict[str, Any]) -> SafeString:
    """One demo panel from a context built by ``inference.web.widgets.panel_context``."""
    return render_to_string("inference/widget.html#panel", panel, request=context.get("request"))
