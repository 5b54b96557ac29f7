"""Small display filters for demo results (numbers as percentages, visible whitespace)."""

from __future__ import annotations

import math

from django import template

register = template.Library()


@register.filter
def percent(value: object, digits: int = 1) -> str:
    """0.4321 → "43.2%" (empty for anything that isn't a finite number)."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return ""
    if not math.isfinite(number):
        return ""
    return f"{number * 100:.{int(digits)}f}%"


@register.filter
def visible_ws(value: object) -> str:
    """Make a token's whitespace visible: leading/trailing spaces as ␣, newlines as ⏎.

    Returns plain text; the template still escapes it.
    """
    text = "" if value is None else str(value)
    return text.replace(" ", "␣").replace("\n", "⏎").replace("\t", "⇥")


@register.filter
def number(value: object, digits: int = 3) -> str:
    try:
        return f"{float(value):.{int(digits)}f}"  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return ""
