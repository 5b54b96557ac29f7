"""The History page of lessons, quizzes and questions: what each version changed, readably.

django-simple-history lists each version with its changes against the one before, each
change as "old → new" shortened to about 100 characters: a lesson body came out as
"[7482 chars]". Here a change of a text field (a lesson's body, a question's prompt) is a
line diff instead (``difflib``, a few lines of context around each change), every line
escaped and marked by a ``+``/``-`` sign as well as a class and an ``<ins>``/``<del>``
element. (Only fields staff edit are compared: simple-history leaves out ``editable=False``
ones such as a lesson's rendered HTML.) The list template
(``admin/lessons/object_history_list.html``) also shows a missing change reason or user as
"—", not "None".
"""

from __future__ import annotations

import difflib
from typing import Any

from django.db import models
from django.utils.html import format_html, format_html_join
from django.utils.text import capfirst
from simple_history.admin import SimpleHistoryAdmin
from simple_history.models import ModelDelta
from simple_history.template_utils import HistoricalRecordContextHelper

DIFF_CONTEXT_LINES = 2
DIFF_MAX_LINES = 400  # lines of one diff shown; the rest is counted, not listed


def _lines(value: Any) -> list[str]:
    return [] if value is None else str(value).replace("\r\n", "\n").split("\n")


def line_diff(old: Any, new: Any, *, label: str) -> str:
    """An escaped unified line diff of ``old`` → ``new`` (HTML), with a one-line summary."""
    before, after = _lines(old), _lines(new)
    unified = difflib.unified_diff(before, after, lineterm="", n=DIFF_CONTEXT_LINES)
    diff = list(unified)[2:]  # without the ---/+++ file header
    added = sum(1 for line in diff if line.startswith("+"))
    removed = sum(1 for line in diff if line.startswith("-"))
    rows = []
    for line in diff[:DIFF_MAX_LINES]:
        if line.startswith("@@"):
            rows.append(format_html('<span class="diff-line diff-hunk">{}</span>', line))
        elif line.startswith("+"):
            rows.append(format_html('<ins class="diff-line diff-added">+ {}</ins>', line[1:]))
        elif line.startswith("-"):
            rows.append(format_html('<del class="diff-line diff-removed">- {}</del>', line[1:]))
        else:
            rows.append(format_html('<span class="diff-line diff-context">  {}</span>', line[1:]))
    if len(diff) > DIFF_MAX_LINES:
        rows.append(
            format_html(
                '<span class="diff-line diff-more">… {} more diff lines not shown</span>',
                len(diff) - DIFF_MAX_LINES,
            )
        )
    summary = format_html(
        "{}: {} line{} added, {} removed",
        label,
        added,
        "" if added == 1 else "s",
        removed,
    )
    if not rows:  # the lines are the same: only their endings (CRLF or LF) changed
        summary = format_html("{}: only line endings changed", label)
    return format_html(
        '<details class="line-diff" open><summary>{}</summary>'
        '<pre class="line-diff-lines"><code>{}</code></pre></details>',
        summary,
        format_html_join("", "{}", ((row,) for row in rows)),
    )


class LineDiffContextHelper(HistoricalRecordContextHelper):
    """A text field's change as a line diff (``diff``); any other as simple-history has it
    (``old`` → ``new``)."""

    def context_for_delta_changes(self, delta: ModelDelta) -> list[dict[str, Any]]:
        changes = []
        for change in delta.changes:
            field = self.model._meta.get_field(change.field)
            label = capfirst(field.verbose_name)
            if isinstance(field, models.TextField):
                changes.append(
                    {"field": label, "diff": line_diff(change.old, change.new, label=label)}
                )
            else:
                formatted = self.format_delta_change(change)
                changes.append({"field": label, "old": formatted.old, "new": formatted.new})
        return changes


class LineDiffHistoryAdmin(SimpleHistoryAdmin):
    """``SimpleHistoryAdmin`` whose History page shows text changes as line diffs."""

    object_history_list_template = "admin/lessons/object_history_list.html"

    def get_historical_record_context_helper(self, request, historical_record):
        return LineDiffContextHelper(self.model, historical_record)
