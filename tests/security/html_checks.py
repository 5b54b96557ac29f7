"""What "no script can run" means for a page, checked the way a browser would parse it.

:func:`executable_bits` parses HTML with the standard library's parser (which, like a
browser, decodes character references inside attributes) and lists everything that
could run script or navigate to it: inline ``<script>`` (anything but a ``src`` script
from our own origin or a JSON data block), event-handler attributes, script URLs
in any URL-carrying attribute (after the whitespace/control-character folding browsers
do), frames, objects, ``<base>``, and ``<meta http-equiv=refresh>`` to anything but a
plain reload. Used by the XSS tests on every page and partial the payloads reach.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

URL_ATTRIBUTES = {
    "href",
    "src",
    "action",
    "formaction",
    "xlink:href",
    "data",
    "poster",
    "background",
    "srcset",
    "ping",
    "cite",
    "longdesc",
    "lowsrc",
    "dynsrc",
    "manifest",
    "codebase",
    "hx-get",
    "hx-post",
    "hx-put",
    "hx-delete",
    "hx-patch",
    "sse-connect",
}
DANGEROUS_TAGS = {"iframe", "frame", "frameset", "object", "embed", "applet", "base", "portal"}
# The CSP allows no inline style, so a <style> element in a page is always injected markup
# (and inside <math>/<svg> it is where mutation-XSS payloads hide from parsers like this one).
DANGEROUS_TAGS |= {"style", "noembed", "noframes", "xmp", "plaintext"}
_SCHEME_NOISE = re.compile(r"[\x00-\x20\x7f]+")
_BAD_SCHEMES = ("javascript:", "vbscript:", "data:text/html", "data:image/svg", "livescript:")
# Same-origin script files only (what script-src 'self' allows): /static/..., /admin/jsi18n/
_STATIC_SCRIPT = re.compile(r"^/(?!/)[\w./-]*$")
# htmx attributes that would evaluate code (hx-on*, hx-vars with js:, hx-vals with js:)
_HTMX_EVAL = re.compile(r"^(hx-on|data-hx-on)", re.I)

# Payloads tried everywhere user- or model-controlled text reaches a page.
PAYLOADS = [
    "<script>alert('x1')</script>",
    "<img src=x onerror=alert('x2')>",
    "<svg onload=alert('x3')>",
    "<svg><script>alert('x4')</script></svg>",
    "<svg><a xlink:href=\"javascript:alert('x5')\"><text>x</text></a></svg>",
    "<a href=\"javascript:alert('x6')\">click</a>",
    "<a href=\"JaVaScRiPt:alert('x7')\">click</a>",
    "<a href=\"jav&#x09;ascript:alert('x8')\">click</a>",
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">d</a>',
    "<iframe src=\"javascript:alert('x9')\"></iframe>",
    "<object data=\"javascript:alert('x10')\"></object>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert('x11')>",
    "\"><script>alert('x12')</script>",
    "'><img src=x onerror=alert('x13')>",
    "<details open ontoggle=alert('x14')>",
    "<form action=\"javascript:alert('x15')\"><button>go</button></form>",
    '<base href="https://evil.example/">',
    '<meta http-equiv="refresh" content="0;url=javascript:alert(\'x16\')">',
    '<div hx-get="/demos/" hx-trigger="load" hx-on::load="alert(\'x17\')">h</div>',
    "[click](javascript:alert('x18'))",
    "![img](javascript:alert('x19'))",
    "<scr<script>ipt>alert('x20')</script>",
    "{{ request.META }}{% debug %}",
    "</textarea><script>alert('x21')</script>",
    "</title><script>alert('x22')</script>",
]


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self._script: dict[str, str] | None = None
        self._script_text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._check(tag, attrs)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._check(tag, attrs)
        if tag == "script":
            self.handle_endtag("script")

    def _check(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name.lower(): value or "" for name, value in attrs}
        if tag in DANGEROUS_TAGS:
            self.problems.append(f"<{tag}> element")
        refresh = tag == "meta" and values.get("http-equiv", "").lower() == "refresh"
        if refresh and not re.fullmatch(r"\s*\d+\s*", values.get("content", "")):
            self.problems.append(f"meta refresh to {values.get('content')!r}")
        if tag == "script":
            self._script = values
            self._script_text = []
        for name, value in values.items():
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=...> event handler")
            if _HTMX_EVAL.match(name):
                self.problems.append(f"<{tag} {name}=...> htmx inline handler")
            if name in ("hx-vals", "hx-vars") and "js:" in value.replace(" ", "").lower():
                self.problems.append(f"<{tag} {name}=js:...>")
            if name in URL_ATTRIBUTES or name.endswith(":href"):
                folded = _SCHEME_NOISE.sub("", value).lower()
                if folded.startswith(_BAD_SCHEMES):
                    self.problems.append(f"<{tag} {name}={value!r}> script URL")
            if name == "style" and re.search(r"expression\(|javascript:|url\(", value, re.I):
                self.problems.append(f"<{tag} style={value!r}>")

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            self._script_text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag != "script" or self._script is None:
            return
        attrs, text = self._script, "".join(self._script_text).strip()
        script_type = attrs.get("type", "").lower()
        if script_type in ("application/json", "application/ld+json"):
            if "<" in text:
                self.problems.append("JSON data block holding markup")
        elif text:
            self.problems.append(f"inline script: {text[:80]!r}")
        elif not _STATIC_SCRIPT.match(attrs.get("src", "")):
            self.problems.append(f"script from {attrs.get('src')!r}")
        self._script = None
        self._script_text = []


def executable_bits(html: str) -> list[str]:
    """Everything in ``html`` that could run script (empty list: nothing can)."""
    collector = _Collector()
    collector.feed(html)
    collector.close()
    return collector.problems


def assert_inert(html: str, where: str = "") -> None:
    problems = executable_bits(html)
    assert not problems, f"{where}: {problems}"
