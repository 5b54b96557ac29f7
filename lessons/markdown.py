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

KIND is a demo kind (``inference.facade.demo_titles``); the body is YAML with the demo's
default inputs (may be empty; values are scalars or lists of scalars). Each block becomes a
trusted placeholder card, inserted *after* sanitizing and wrapped in marker
comments that only this module writes (nh3 strips every author comment)::

    <!-- demo-slot -->
    <div class="demo-slot" data-demo-kind="fill-mask" data-demo-defaults="{...}">...</div>
    <!-- /demo-slot -->

The card reads well on its own (title, default input, "on the lesson page this box runs
the real model"), wherever the stored HTML is shown without live widgets. (The admin's
live preview swaps the cards for the panels, as the lesson page does.)
To turn the cards into live widgets at request time, use ``iter_demo_slots(html)``
to read kind and defaults back, or ``replace_demo_slots(html, func)`` to swap
each card for whatever ``func(slot)`` returns (e.g. a rendered widget template).
An unknown kind or broken YAML renders a visible, escaped "Demo block error"
note instead, and is listed in ``RenderedLesson.warnings`` (``load_course``
prints them).
"""

from __future__ import annotations

import itertools
import json
import math
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import markdown
import nh3
import yaml
from django.utils.html import format_html, format_html_join
from markdown.extensions.toc import slugify as toc_slugify
from pygments.token import STANDARD_TYPES

from inference import facade

# --- Demo kinds --------------------------------------------------------------------------

SLOT_START = "<!-- demo-slot -->"
SLOT_END = "<!-- /demo-slot -->"

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
    slug = toc_slugify(value, separator) or "section"
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


# --- Demo blocks ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoSlot:
    """One demo placeholder in rendered HTML: its kind, defaults and position."""

    kind: str
    defaults: dict[str, Any]
    start: int
    end: int
    html: str


@dataclass
class _DemoBlock:
    line: int
    kind: str
    body: str
    error: str = ""
    defaults: dict[str, Any] = field(default_factory=dict)


_FENCE_OPEN = re.compile(r"^(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^\n]*)$")
_DEMO_INFO = re.compile(r"^demo(?:[ \t]+(?P<kind>\S+))?[ \t]*$")
_DEFAULT_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,40}$")
_SCALARS = (str, int, float, bool)


def _parse_defaults(body: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(body) if body.strip() else {}
    except yaml.YAMLError as exc:
        reason = str(getattr(exc, "problem", None) or "invalid YAML")
        raise ValueError(f"its YAML defaults could not be read ({reason})") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError("its YAML defaults must be a mapping like `text: ...`")
    for key, value in data.items():
        if not isinstance(key, str) or not _DEFAULT_KEY.match(key):
            raise ValueError(f"default name {key!r} is not a simple name")
        values = value if isinstance(value, list) else [value]
        if not all(item is None or isinstance(item, _SCALARS) for item in values):
            raise ValueError(f"default {key!r} must be text, a number, true/false or a list")
        if any(isinstance(item, float) and not math.isfinite(item) for item in values):
            raise ValueError(f"default {key!r} must be a finite number")
    return data


def _extract_demo_blocks(text: str, nonce: str) -> tuple[str, list[_DemoBlock]]:
    """Swap each top-level ```demo KIND fence for a placeholder paragraph token.

    Other fenced blocks are copied untouched (so a code sample that *shows* a demo
    fence, inside a longer fence, stays a code sample).
    """
    lines = text.split("\n")
    out: list[str] = []
    blocks: list[_DemoBlock] = []
    i = 0
    while i < len(lines):
        match = _FENCE_OPEN.match(lines[i])
        if not match:
            out.append(lines[i])
            i += 1
            continue
        fence = match.group("fence")
        closing = re.compile(rf"^{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
        end = i + 1
        while end < len(lines) and not closing.match(lines[end]):
            end += 1
        info = _DEMO_INFO.match(match.group("info").strip())
        if not info:  # an ordinary code block: keep it verbatim
            out.extend(lines[i : end + 1])
            i = end + 1
            continue
        block = _DemoBlock(
            line=i + 1, kind=info.group("kind") or "", body="\n".join(lines[i + 1 : end])
        )
        if end >= len(lines):
            block.error = "it has no closing fence"
        elif not block.kind:
            block.error = "it names no demo kind (write e.g. ```demo fill-mask)"
        elif block.kind not in facade.demo_titles():
            known = ", ".join(facade.demo_titles())
            block.error = f"unknown demo kind {block.kind!r} (known kinds: {known})"
        else:
            try:
                block.defaults = _parse_defaults(block.body)
            except ValueError as exc:
                block.error = str(exc)
        out.extend(["", f"demoslot{nonce}x{len(blocks)}", ""])
        blocks.append(block)
        i = end + 1
    return "\n".join(out), blocks


def _label(key: str) -> str:
    return key.replace("_", " ").capitalize()


def _value_html(value: Any) -> str:
    if isinstance(value, list):
        return format_html(
            '<ul class="demo-slot-list">{}</ul>',
            format_html_join("", "<li><code>{}</code></li>", ((item,) for item in value)),
        )
    if isinstance(value, bool):
        value = "yes" if value else "no"
    return format_html("<code>{}</code>", "" if value is None else value)


def demo_slot_html(kind: str, defaults: dict[str, Any]) -> str:
    """The trusted placeholder card for one demo block (everything escaped)."""
    rows = format_html_join(
        "",
        "<dt>{}</dt><dd>{}</dd>",
        ((_label(key), _value_html(value)) for key, value in defaults.items()),
    )
    defaults_html = (
        format_html('<dl class="demo-slot-defaults">{}</dl>', rows)
        if defaults
        else format_html('<p class="demo-slot-defaults">{}</p>', "You choose the input.")
    )
    card = format_html(
        '<div class="demo-slot" data-demo-kind="{}" data-demo-defaults="{}">'
        '<p class="demo-slot-title"><span class="demo-slot-badge">Live demo</span> {}</p>'
        "{}"
        '<p class="demo-slot-note">Live demo: on the lesson page this box runs the real model.</p>'
        "</div>",
        kind,
        json.dumps(defaults, ensure_ascii=False, sort_keys=True),
        facade.demo_titles()[kind],
        defaults_html,
    )
    return f"{SLOT_START}\n{card}\n{SLOT_END}"


def demo_error_html(*, line: int, message: str) -> str:
    return format_html(
        '<div class="demo-error" role="note"><strong>Demo block error</strong> (line {}): {}</div>',
        line,
        message,
    )


_SLOT_RE = re.compile(
    re.escape(SLOT_START) + r'\s*(?P<card><div class="demo-slot" data-demo-kind="(?P<kind>[^"]*)" '
    r'data-demo-defaults="(?P<defaults>[^"]*)">.*?</div>)\s*' + re.escape(SLOT_END),
    re.DOTALL,
)


def iter_demo_slots(html: str) -> Iterator[DemoSlot]:
    """Yield the demo placeholders of rendered lesson HTML, in page order."""
    import html as html_lib

    for match in _SLOT_RE.finditer(html):
        defaults = json.loads(html_lib.unescape(match.group("defaults")))
        yield DemoSlot(
            kind=html_lib.unescape(match.group("kind")),
            defaults=defaults,
            start=match.start(),
            end=match.end(),
            html=match.group(0),
        )


def replace_demo_slots(html: str, func: Callable[[DemoSlot], str]) -> str:
    """Return ``html`` with each demo placeholder replaced by ``func(slot)``."""
    parts: list[str] = []
    position = 0
    for slot in iter_demo_slots(html):
        parts.append(html[position : slot.start])
        parts.append(func(slot))
        position = slot.end
    parts.append(html[position:])
    return "".join(parts)


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
    text, blocks = _extract_demo_blocks(markdown_text.replace("\r\n", "\n"), nonce)
    md = _markdown()
    body = sanitize_html(md.convert(text))
    toc_html = sanitize_html(md.toc) if getattr(md, "toc_tokens", None) else ""

    warnings: list[str] = []
    for index, block in enumerate(blocks):
        if block.error:
            warnings.append(f"demo block at line {block.line}: {block.error}")
            replacement = demo_error_html(line=block.line, message=block.error)
        else:
            replacement = demo_slot_html(block.kind, block.defaults)
        token = f"demoslot{nonce}x{index}"
        body = re.sub(rf"<p>\s*{token}\s*</p>|{token}", lambda _m, r=replacement: r, body)
    return RenderedLesson(html=_wrap_tables(body), toc_html=toc_html, warnings=tuple(warnings))


__all__ = [
    "DemoSlot",
    "RenderedLesson",
    "demo_slot_html",
    "iter_demo_slots",
    "render_lesson",
    "replace_demo_slots",
    "sanitize_html",
]
