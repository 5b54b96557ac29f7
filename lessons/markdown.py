"""Render lesson Markdown to sanitized HTML, once, when a lesson is saved.

``render_lesson(text)`` runs Python-Markdown (tables, fenced code highlighted
server-side by Pygments, heading anchors and a table of contents, sane lists;
``attr_list`` is deliberately off because it lets authors set any attribute),
then sanitizes the result with nh3 against the explicit allow-list below. Lesson
authors are trusted staff, but their HTML must still never run script: no
``<script>``, ``<style>``, ``<iframe>``, event handlers or ``javascript:`` URLs
survive.

Demo blocks
-----------
A fenced block whose info string is ``demo KIND`` embeds a live demo::

    ```demo fill-mask
    text: "The capital of France is [MASK]."
    ```

The format (the block, the placeholder card it becomes, finding the cards again) is the
demos' own: ``inference.contract.demo_cards``, reached through ``inference.facade``. This
module swaps each block for its card *after* sanitizing (the card's marker comments are
ones only that module writes; nh3 strips every author comment). An unknown kind or broken
YAML renders a visible, escaped "Demo block error" note instead, and is listed in
``RenderedLesson.warnings`` (``load_course`` prints them).
"""

from __future__ import annotations

import itertools
import re
import uuid
from dataclasses import dataclass

import markdown
import nh3
from markdown.extensions.toc import slugify as toc_slugify
from markdown.extensions.toc import slugify_unicode
from pygments.token import STANDARD_TYPES

from inference.facade import demo_cards

# --- Demo kinds --------------------------------------------------------------------------


# --- Sanitizer allow-list -----------------------------------------------------------------

ALLOWED_TAGS = frozenset(
    {
        "a", "abbr", "b", "blockquote", "br", "caption", "code", "dd", "del", "details",
        "div", "dl", "dt", "em", "figcaption", "figure", "h2", "h3", "h4", "h5", "h6",
        "hr", "i", "img", "ins", "kbd", "li", "mark", "ol", "p", "pre", "q", "s",
        "samp", "section", "small", "span", "strong", "sub", "summary", "sup", "table",
        "tbody", "td", "tfoot", "th", "thead", "tr", "ul", "var",
    }
)  # fmt: skip
# Tags dropped together with everything inside them (not just unwrapped).
CLEAN_CONTENT_TAGS = frozenset(
    {
        "script", "style", "iframe", "frame", "frameset", "object", "embed", "svg", "math",
        "template", "noscript", "textarea", "select", "button", "form", "input", "link",
        "meta", "base", "title", "head", "applet", "canvas", "audio", "video",
    }
)  # fmt: skip
_CLASSED_TAGS = ("a", "aside", "code", "div", "figure", "p", "section", "span", "table")
ALLOWED_ATTRIBUTES: dict[str, set[str]] = {
    "a": {"href", "title", "class"},
    "abbr": {"title"},
    "img": {"src", "alt", "title", "width", "height", "loading"},
    "ol": {"start", "reversed"},
    "td": {"align", "colspan", "rowspan"},
    "th": {"align", "colspan", "rowspan", "scope"},
    "q": {"cite"},
    "blockquote": {"cite"},
    **{f"h{level}": {"id"} for level in range(2, 7)},
}
for _tag in _CLASSED_TAGS:
    ALLOWED_ATTRIBUTES.setdefault(_tag, set()).add("class")
ALLOWED_URL_SCHEMES = frozenset({"http", "https", "mailto"})

# Classes authors (and the renderer) may use; anything else is dropped.
PYGMENTS_CLASSES = frozenset(cls for cls in STANDARD_TYPES.values() if cls) | {"hll"}
AUTHOR_CLASSES = frozenset(
    {"callout", "note", "tip", "warning", "compare", "bert", "gpt", "lead", "figure"}
)
ALLOWED_CLASSES: dict[str, frozenset[str]] = {
    "span": PYGMENTS_CLASSES | AUTHOR_CLASSES,
    "div": AUTHOR_CLASSES | {"highlight"},
    "a": frozenset({"headerlink"}),
    "code": frozenset(),  # plus language-* (see _filter_attribute)
}
_LANGUAGE_CLASS = re.compile(r"^language-[\w+#.-]{1,40}$")
# Heading ids must not clash with ids the page layout uses.
RESERVED_IDS = frozenset(
    {
        "main",
        "content",
        "top",
        "toc",
        "toc-heading",
        "lesson-body",
        "lesson-title",
        "read-status",
        "check-title",
    }
)
_ALIGN_VALUES = frozenset({"left", "right", "center"})


def _filter_attribute(tag: str, attribute: str, value: str) -> str | None:
    if attribute == "class":
        allowed = ALLOWED_CLASSES.get(tag, AUTHOR_CLASSES)
        kept = [
            cls
            for cls in value.split()
            if cls in allowed or (tag == "code" and _LANGUAGE_CLASS.match(cls))
        ]
        return " ".join(kept) or None
    if attribute == "id":
        return None if value.lower() in RESERVED_IDS else value
    if attribute == "align":
        return value if value.lower() in _ALIGN_VALUES else None
    if tag == "img" and attribute == "src":
        # Images: https or relative only (no http mixed content, no data:, no //host).
        if value.startswith("https://"):
            return value
        if "://" in value or value.startswith("//") or ":" in value.split("/", 1)[0]:
            return None
        return value
    if attribute in {"width", "height"}:
        return value if value.isdigit() and len(value) <= 5 else None
    return value


_CLEANER = nh3.Cleaner(
    tags=set(ALLOWED_TAGS),
    clean_content_tags=set(CLEAN_CONTENT_TAGS),
    attributes=ALLOWED_ATTRIBUTES,
    attribute_filter=_filter_attribute,
    strip_comments=True,
    link_rel="noopener noreferrer",
    url_schemes=set(ALLOWED_URL_SCHEMES),
    set_tag_attribute_values={"img": {"loading": "lazy"}},
)


def sanitize_html(html: str) -> str:
    """Clean untrusted HTML against the lesson allow-list."""
    return _CLEANER.clean(html)


# --- Markdown ------------------------------------------------------------------------------


def _slugify(value: str, separator: str) -> str:
    # Chinese headings keep their characters (the ASCII slug would drop them all)
    cjk = any("\u3400" <= char <= "\u9fff" for char in value)
    slug = (slugify_unicode if cjk else toc_slugify)(value, separator) or "section"
    return f"section-{slug}" if slug in RESERVED_IDS else slug


def _markdown() -> markdown.Markdown:
    return markdown.Markdown(
        extensions=["tables", "fenced_code", "codehilite", "toc", "sane_lists"],
        extension_configs={
            "codehilite": {"css_class": "highlight", "guess_lang": False, "use_pygments": True},
            "toc": {
                "permalink": "#",
                "permalink_class": "headerlink",
                "permalink_title": "Link to this section",
                "toc_depth": "2-3",
                "slugify": _slugify,
            },
            "tables": {"use_align_attribute": True},
        },
        output_format="html",
    )


# --- Entry point ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RenderedLesson:
    html: str
    toc_html: str
    warnings: tuple[str, ...] = ()


def _wrap_tables(html: str) -> str:
    # Sanitized output writes every table tag as a bare `<table>`; wrapping lets wide
    # tables scroll on their own (keyboard reachable) instead of the whole page. Each
    # region is named apart ("Table 1", "Table 2"), so a screen reader's list of regions
    # tells them apart.
    count = itertools.count(1)
    region = '<div class="table-scroll" tabindex="0" role="region" aria-label="Table {}">'
    wrapped = re.sub("<table>", lambda _: region.format(next(count)) + "<table>", html)
    return wrapped.replace("</table>", "</table></div>")


def render_lesson(markdown_text: str) -> RenderedLesson:
    """Render lesson Markdown to sanitized body HTML and a ##/### table of contents."""
    nonce = uuid.uuid4().hex
    text, blocks = demo_cards.extract_demo_blocks(markdown_text.replace("\r\n", "\n"), nonce)
    md = _markdown()
    body = sanitize_html(md.convert(text))
    toc_html = sanitize_html(md.toc) if getattr(md, "toc_tokens", None) else ""

    warnings: list[str] = []
    for index, block in enumerate(blocks):
        if block.error:
            warnings.append(f"demo block at line {block.line}: {block.error}")
            replacement = demo_cards.demo_error_html(line=block.line, message=block.error)
        else:
            replacement = demo_cards.demo_slot_html(block.kind, block.defaults)
        token = f"demoslot{nonce}x{index}"
        body = re.sub(rf"<p>\s*{token}\s*</p>|{token}", lambda _m, r=replacement: r, body)
    return RenderedLesson(html=_wrap_tables(body), toc_html=toc_html, warnings=tuple(warnings))


__all__ = ["RenderedLesson", "render_lesson", "sanitize_html"]
