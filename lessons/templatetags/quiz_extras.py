"""Template filters for quiz scores."""

from __future__ import annotations

from django import template

from lessons.grading import percent_label

register = template.Library()


@register.filter
def percent(score: float | None) -> str:
    """A 0..1 score as a percentage label, rounded down to one decimal ("66.6%")."""
    return percent_label(score)
