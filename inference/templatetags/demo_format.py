"""Small display filters for demo results: percentages, bar widths, visible whitespace."""

from __future__ import annotations

import math

from django import template
from django.utils.translation import gettext as _

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
def probability(value: object) -> str:
    """A probability as the learner reads it: 0.4321 → "43.2%"; one too small to show at
    one decimal says so (0.00002 → "< 0.1%") instead of claiming "0.0%"."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return ""
    if not math.isfinite(number):
        return ""
    if 0 < number < 0.0005:
        return "< 0.1%"
    return percent(number)


@register.filter
def bar_width(value: object, top: object = None) -> str:
    """A probability as the width of a bar on a 0–100 SVG track. With ``top`` (the largest
    value in the chart) the bars are scaled to it, so the largest fills the track and the
    others keep their proportions: 0.25 with top 0.5 → "50". Without, 0–1: 0.4321 → "43.21"."""
    scale = charts.scale_top(top)
    return f"{charts.bar_width(value, hi=scale):g}"


@register.filter
def largest(rows: object, fields: str) -> float:
    """The largest of ``fields`` (comma-separated keys or attributes) over ``rows``: the
    ``top`` a chart's bars are scaled to. 0.0 for no rows or no numbers."""
    found = 0.0
    names = [name.strip() for name in str(fields).split(",") if name.strip()]
    for row in rows or []:  # type: ignore[attr-defined]
        for name in names:
            value = row.get(name) if isinstance(row, dict) else getattr(row, name, None)
            try:
                number = float(value)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                continue
            if math.isfinite(number) and number > found:
                found = number
    return found


@register.filter
def duration(value: object) -> str:
    """Seconds as "40 s", "3 min" or "1 h 5 min"."""
    try:
        seconds = max(0, round(float(value)))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return ""
    if seconds < 90:
        return _("%(seconds)s s") % {"seconds": seconds}
    minutes = round(seconds / 60)
    if minutes < 60:
        return _("%(minutes)s min") % {"minutes": minutes}
    return _("%(hours)s h %(minutes)s min") % {"hours": minutes // 60, "minutes": minutes % 60}


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


@register.filter
def learner_message(value: object) -> object:
    """A sentence a task's events carry (an error's), in the page's language when it is one
    of the demos' own (``inference.web.messages``); anything else as it is."""
    from inference.web.messages import learner_message as translate

    return translate(value)
