"""The demo card format: how a lesson's ```demo KIND block is written, stored and found again.

A fenced block whose info string is ``demo KIND`` embeds a live demo::

    ```demo fill-mask
    text: "The capital of France is [MASK]."
    ```

KIND is a demo kind (a row of ``inference.contract.kinds``); the body is YAML with the
demo's default inputs (may be empty; values are scalars or lists of scalars). Lesson
rendering (``lessons.markdown``, through ``inference.facade``) swaps each block for a
trusted placeholder card, inserted *after* sanitizing and wrapped in marker comments that
only this module writes (the sanitizer strips every author comment)::

    <!-- demo-slot -->
    <div class="demo-slot" data-demo-kind="fill-mask" data-demo-defaults="{...}">...</div>
    <!-- /demo-slot -->

The card reads well on its own (title, default input, "on the lesson page this box runs
the real model"), wherever the stored HTML is shown without live widgets. The web side
turns cards into live panels at request time (``replace_demo_slots``); the example
recorder reads the lessons' defaults straight from their Markdown (``demo_blocks``). An
unknown kind or broken YAML gives a block with ``error`` set, which lesson rendering shows
as a visible, escaped "Demo block error" note.

The format belongs to the demos, not to the lessons: both sides read it, and neither
has to import the other to do so.
"""

from __future__ import annotations

import html as html_lib
import json
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml
from django.utils.html import format_html, format_html_join

from inference.contract import kinds

SLOT_START = "<!-- demo-slot -->"
SLOT_END = "<!-- /demo-slot -->"


@dataclass(frozen=True)
class DemoSlot:
    """One demo placeholder in rendered HTML: its kind, defaults and position."""

    kind: str
    defaults: dict[str, Any]
    start: int
    end: int
    html: str


@dataclass
class DemoBlock:
    line: int
    kind: str
    body: str
    error: str = ""
    defaults: dict[str, Any] = field(default_factory=dict)


_FENCE_OPEN = re.compile(r"^(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^\n]*)$")
_DEMO_INFO = re.compile(r"^demo(?:[ \t]+(?P<kind>\S+))?[ \t]*$")
_DEFAULT_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,40}$")
_SCALARS = (str, int, float, bool)


def parse_defaults(body: str) -> dict[str, Any]:
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


def extract_demo_blocks(text: str, nonce: str) -> tuple[str, list[DemoBlock]]:
    """Swap each top-level ```demo KIND fence for a placeholder paragraph token.

    Other fenced blocks are copied untouched (so a code sample that *shows* a demo
    fence, inside a longer fence, stays a code sample).
    """
    lines = text.split("\n")
    out: list[str] = []
    blocks: list[DemoBlock] = []
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
        block = DemoBlock(
            line=i + 1, kind=info.group("kind") or "", body="\n".join(lines[i + 1 : end])
        )
        if end >= len(lines):
            block.error = "it has no closing fence"
        elif not block.kind:
            block.error = "it names no demo kind (write e.g. ```demo fill-mask)"
        elif kinds.get(block.kind) is None:
            known = ", ".join(kind.name for kind in kinds.all_kinds())
            block.error = f"unknown demo kind {block.kind!r} (known kinds: {known})"
        else:
            try:
                block.defaults = parse_defaults(block.body)
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
        kinds.require(kind).title,
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


def demo_blocks(markdown_text: str) -> list[DemoBlock]:
    """The well-formed demo blocks of a lesson's Markdown, in order (no rendering)."""
    _text, blocks = extract_demo_blocks(markdown_text.replace("\r\n", "\n"), "x")
    return [block for block in blocks if not block.error]


__all__ = [
    "SLOT_END",
    "SLOT_START",
    "DemoBlock",
    "DemoSlot",
    "demo_blocks",
    "demo_error_html",
    "demo_slot_html",
    "extract_demo_blocks",
    "iter_demo_slots",
    "parse_defaults",
    "replace_demo_slots",
]
