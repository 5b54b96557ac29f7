"""Small display filters for demo results: percentages, bar widths, visible whitespace."""

from __future__ import annotations

import math

from django import template

from inference.web import charts

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


@register.filter
def bar_width(value: object) -> str:
    """A probability (0–1) as the width of a bar on a 0–100 SVG track: 0.4321 → "43.21"."""
    return f"{charts.bar_width(value):g}"


@register.filter
def duration(value: object) -> str:
    """Seconds as "40 s", "3 min" or "1 h 5 min"."""
    try:
        seconds = max(0, round(float(value)))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return ""
    if seconds < 90:
        return f"{seconds} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min"


@register.filter
def ln(value: object) -> float | str:
    """Natural logarithm (the loss of a uniform guess over ``value`` choices)."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return ""
    return math.log(number) if number > 0 else ""


@register.filter(name="printable")
def printable_filter(value: object) -> str:
    """Control characters as their visible pictures (a model can emit them)."""
    from inference.web.result_shapes import printable

    return printable("" if value is None else value)


@register.filter
def svgnum(value: object) -> str:
    """A coordinate for an SVG attribute: 25.0 → "25", 12.5 → "12.5"."""
    try:
        return f"{float(value):g}"  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "0"
