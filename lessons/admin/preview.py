"""The lesson body's live preview in the admin: the page learners get, rendered from unsaved text.

The change form's body textarea posts its text here with htmx as staff type (see
``LessonAdmin.formfield_for_dbfield``); the answer replaces the preview beside the form.
The text goes through the path a saved lesson takes: ``lesson_render`` (Markdown, diagrams,
sanitizing, demo-block placeholders) without saving, then the lesson page's own
``{% demo_widgets %}`` tag, which swaps each demo placeholder for the live panel learners get
(``admin/lessons/lesson/preview.html``). Nothing is written: the lesson is an unsaved
instance and the view never calls ``save``.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.views.decorators.http import require_POST

from ..models import Lesson
from ..services import lesson_render

PREVIEW_TEMPLATE = "admin/lessons/lesson/preview.html"
# Well above the longest lesson (about 31,000 characters) and far below what a request may
# carry (DATA_UPLOAD_MAX_MEMORY_SIZE), so a refused preview says why instead of a bare 400.
PREVIEW_MAX_CHARS = 100_000


def preview_context(body: str) -> dict[str, Any]:
    """What the preview template needs for ``body`` (unsaved lesson Markdown)."""
    if len(body) > PREVIEW_MAX_CHARS:
        return {"refused": True, "length": len(body), "limit": PREVIEW_MAX_CHARS}
    if not body.strip():
        return {"empty": True}
    lesson = Lesson(body_markdown=body)
    rendered = lesson_render(lesson=lesson, save=False)
    return {"html": lesson.body_html, "toc_html": lesson.toc_html, "warnings": rendered.warnings}


@require_POST
def lesson_preview(request: HttpRequest, *, model_admin: Any) -> HttpResponse:
    """POST ``body_markdown``: the rendered preview (a fragment for htmx). Staff who may
    change or add lessons only (the admin site's ``admin_view`` sends anyone else who isn't
    staff to its log-in page); 413 with a message for a body over the limit."""
    if not (model_admin.has_change_permission(request) or model_admin.has_add_permission(request)):
        raise PermissionDenied("Previewing lessons needs the permission to change them.")
    context = preview_context(request.POST.get("body_markdown", ""))
    status = 413 if context.get("refused") else 200
    return TemplateResponse(request, PREVIEW_TEMPLATE, {"lesson_preview": context}, status=status)
