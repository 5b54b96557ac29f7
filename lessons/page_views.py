"""Pages of the course that are not lessons: the interview-preparation page.

A page is a Markdown file in ``lessons/content/pages/`` (English) with its translations in
``lessons/content/pages/<language>/``, rendered and sanitized by the lessons' renderer, with
links to the site's pages in the page's language. Rendered once per file version and kept.
A page missing in the request's language is shown in English with a notice, as lessons are.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET

from .markdown import render_lesson
from .translations import localize_links, translated_language

PAGES_DIR = Path(settings.BASE_DIR) / "lessons" / "content" / "pages"


@lru_cache(maxsize=16)
def _rendered(path: Path, mtime_ns: int, language: str | None) -> tuple[str, str]:
    """(title, body html) of one page file version."""
    text = path.read_text(encoding="utf-8")
    first, _, rest = text.partition("\n")
    title = first.removeprefix("# ").strip() if first.startswith("# ") else ""
    html = render_lesson(rest if title else text).html
    return title, localize_links(html, language) if language else html


def page_content(name: str, language: str | None) -> tuple[str, str, bool]:
    """(title, body html, shown in English because the language has no copy) of a page."""
    wanted = PAGES_DIR / language / f"{name}.md" if language else None
    path = wanted if wanted is not None and wanted.is_file() else PAGES_DIR / f"{name}.md"
    if not path.is_file():
        raise Http404("No such page.")
    shown = language if path == wanted else None
    title, html = _rendered(path, path.stat().st_mtime_ns, shown)
    return title, html, wanted is not None and shown is None


@require_GET
def interview(request: HttpRequest) -> HttpResponse:
    """Interview preparation: BERT vs GPT from the angles interviewers ask about, each point
    linked to the lesson that teaches it."""
    title, html, missing = page_content("interview", translated_language())
    return render(
        request,
        "lessons/page.html",
        {"title": title, "body": mark_safe(html), "translation_missing": missing},  # noqa: S308 - sanitized by render_lesson
    )
