from __future__ import annotations

import json
from html.parser import HTMLParser

import pytest

from inference import facade
from inference.contract.demo_cards import iter_demo_slots, replace_demo_slots
from lessons.markdown import render_lesson, sanitize_html


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def parsed_tags(html: str) -> list[tuple[str, dict[str, str | None]]]:
    collector = _Collector()
    collector.feed(html)
    return collector.tags


def assert_no_active_content(html: str) -> None:
    """No script-capable element, event handler, inline style or javascript:/data: URL."""
    for tag, attrs in parsed_tags(html):
        assert tag not in {"script", "style", "iframe", "svg", "object", "embed", "form", "meta"}
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name)
            assert name != "style", tag
            if name in {"href", "src"}:
                assert value is not None
                assert not value.strip().lower().startswith(("javascript:", "data:", "vbscript:"))


# --- Headings, anchors, table of contents -------------------------------------------------


def test_headings_get_ids_permalinks_and_toc_from_levels_2_and_3():
    rendered = render_lesson(
        "## Masked language modelling\n\ntext\n\n### Why 15%?\n\nmore\n\n#### Deep detail\n"
    )

    assert '<h2 id="masked-language-modelling">' in rendered.html
    assert 'href="#masked-language-modelling"' in rendered.html
    assert 'class="headerlink"' in rendered.html
    assert '<h3 id="why-15">' in rendered.html
    assert 'href="#masked-language-modelling"' in rendered.toc_html
    assert 'href="#why-15"' in rendered.toc_html
    # h4 is anchored in the body but left out of the table of contents
    assert '<h4 id="deep-detail">' in rendered.html
    assert "deep-detail" not in rendered.toc_html


def test_duplicate_headings_get_unique_ids():
    rendered = render_lesson("## Example\n\na\n\n## Example\n\nb\n")

    assert 'id="example"' in rendered.html
    assert 'id="example_1"' in rendered.html


def test_heading_ids_never_clash_with_page_layout_ids():
    rendered = render_lesson("## Main\n\ntext\n\n## Read status\n")

    assert 'id="main"' not in rendered.html
    assert 'id="section-main"' in rendered.html
    assert 'id="section-read-status"' in rendered.html


def test_no_headings_means_empty_toc():
    assert render_lesson("Just a paragraph.").toc_html == ""


# --- Tables, code, lists --------------------------------------------------------------------


def test_tables_render_with_alignment_attributes_in_a_scroll_wrapper():
    rendered = render_lesson("| Model | Params |\n|:--|--:|\n| BERT-base | 110M |\n")

    assert '<div class="table-scroll" tabindex="0" role="region" aria-label="Table 1"><table>' in (
        rendered.html
    )
    assert '<th align="right">Params</th>' in rendered.html
    assert '<td align="left">BERT-base</td>' in rendered.html
    assert "style=" not in rendered.html  # no inline styles (strict CSP)


def test_fenced_code_is_highlighted_server_side_with_pygments_classes():
    rendered = render_lesson('```python\nfrom transformers import pipeline\nprint("hi")\n```\n')

    assert '<div class="highlight"><pre>' in rendered.html
    assert '<span class="kn">from</span>' in rendered.html
    assert '<span class="nb">print</span>' in rendered.html


def test_code_html_is_escaped_not_interpreted():
    rendered = render_lesson("```html\n<script>alert(1)</script>\n```\n\nUse `<b>` tags.\n")

    assert "<script>" not in rendered.html
    assert "&lt;" in rendered.html
    assert "<code>&lt;b&gt;</code>" in rendered.html


def test_sane_lists_keep_ordered_and_unordered_lists_apart():
    rendered = render_lesson("1. one\n2. two\n\n* a\n* b\n")

    assert "<ol>" in rendered.html
    assert "<ul>" in rendered.html


def test_attr_list_is_not_enabled():
    rendered = render_lesson('## Heading {: onclick="evil()" }\n\nparagraph {: .x }\n')

    assert_no_active_content(rendered.html)
    heading = next(attrs for tag, attrs in parsed_tags(rendered.html) if tag == "h2")
    assert set(heading) == {"id"}
    assert "{:" in rendered.html  # the syntax stays literal text


def test_images_keep_https_and_relative_sources_only():
    rendered = render_lesson(
        "![diagram](/static/diagrams/families.svg) ![remote](https://example.org/a.png) "
        "![plain](http://example.org/b.png) ![inline](data:image/png;base64,AAAA)"
    )

    assert 'src="/static/diagrams/families.svg"' in rendered.html
    assert 'src="https://example.org/a.png"' in rendered.html
    assert "http://example.org/b.png" not in rendered.html
    assert "data:image" not in rendered.html
    assert 'alt="diagram"' in rendered.html
    assert 'loading="lazy"' in rendered.html


# --- Sanitizing -------------------------------------------------------------------------------

XSS_CASES = {
    "script": "<script>alert('xss')</script>",
    "img onerror": '<img src="x.png" onerror="alert(1)">',
    "javascript href": '<a href="javascript:alert(1)">click</a>',
    "javascript href mixed case": '<a href="JaVaScRiPt:alert(1)">click</a>',
    "svg onload": '<svg onload="alert(1)"><circle r="1"/></svg>',
    "iframe": '<iframe src="https://evil.example/"></iframe>',
    "style": "<style>body { display: none }</style>",
    "markdown javascript link": "[click me](javascript:alert(1))",
    "markdown image onerror trick": '![x" onerror="alert(1)](x.png)',
    "object": '<object data="evil.swf"></object>',
    "form": '<form action="https://evil.example/"><input name="q"></form>',
    "inline style": '<p style="position:fixed">x</p>',
    "event on div": '<div onmouseover="alert(1)">hover</div>',
    "meta refresh": '<meta http-equiv="refresh" content="0;url=https://evil.example/">',
}
FORBIDDEN = ("<script", "javascript:", "<iframe", "<svg", "<style", "alert('xss')", "display: none")


@pytest.mark.parametrize("payload", XSS_CASES.values(), ids=XSS_CASES.keys())
def test_dangerous_markup_never_survives(payload):
    rendered = render_lesson(f"## Title\n\nBefore.\n\n{payload}\n\nAfter.\n")
    lowered = rendered.html.lower()

    assert_no_active_content(rendered.html)
    for marker in FORBIDDEN:
        assert marker not in lowered, (marker, rendered.html)
    assert "Before." in rendered.html
    assert "After." in rendered.html


def test_safe_author_html_and_allowed_classes_survive():
    rendered = render_lesson(
        '<div class="note evil-class">A <strong>note</strong></div>\n\n'
        '<figure><img src="/static/a.svg" alt="A"><figcaption>Cap</figcaption></figure>\n'
    )

    assert '<div class="note">' in rendered.html
    assert "evil-class" not in rendered.html
    assert "<figcaption>Cap</figcaption>" in rendered.html


def test_links_keep_http_https_mailto_and_relative():
    html = sanitize_html(
        '<a href="https://a.org">a</a><a href="http://b.org">b</a>'
        '<a href="mailto:x@y.org">m</a><a href="/lessons/bert/">r</a><a href="ftp://f">f</a>'
    )

    for href in ("https://a.org", "http://b.org", "mailto:x@y.org", "/lessons/bert/"):
        assert f'href="{href}"' in html
    assert "ftp://" not in html


# --- Demo blocks --------------------------------------------------------------------------------


def test_demo_block_becomes_a_readable_placeholder_card():
    rendered = render_lesson(
        'Intro.\n\n```demo fill-mask\ntext: "The capital of France is [MASK]."\n```\n\nOutro.\n'
    )

    assert rendered.warnings == ()
    assert 'class="demo-slot" data-demo-kind="fill-mask"' in rendered.html
    assert "data-demo-defaults=" in rendered.html
    assert "Live demo" in rendered.html
    assert (
        "Fill in the blank with BERT" in rendered.html
    )  # the kind's title (inference.contract.kinds)
    assert "The capital of France is [MASK]." in rendered.html
    assert "on the lesson page this box runs the real model" in rendered.html
    assert "<p>demoslot" not in rendered.html


def test_demo_block_defaults_round_trip_through_iter_demo_slots():
    rendered = render_lesson(
        '```demo generate\nprompt: "Say \\"hi\\" <b>"\nmax_new_tokens: 20\n```\n\n'
        "```demo attention\n```\n"
    )

    slots = list(iter_demo_slots(rendered.html))

    assert [slot.kind for slot in slots] == ["generate", "attention"]
    assert slots[0].defaults == {"prompt": 'Say "hi" <b>', "max_new_tokens": 20}
    assert slots[1].defaults == {}
    assert "<b>" not in rendered.html  # defaults are shown escaped


def test_replace_demo_slots_swaps_each_card():
    rendered = render_lesson("A\n\n```demo tokenize\ntext: hello\n```\n\nB\n")

    swapped = replace_demo_slots(
        rendered.html, lambda slot: f"<widget {slot.kind} {json.dumps(slot.defaults)}>"
    )

    assert '<widget tokenize {"text": "hello"}>' in swapped
    assert "demo-slot" not in swapped
    assert "<p>A</p>" in swapped
    assert "<p>B</p>" in swapped


@pytest.mark.parametrize("kind", list(facade.demo_titles()))
def test_every_demo_kind_renders(kind):
    rendered = render_lesson(f"```demo {kind}\n```\n")

    assert [slot.kind for slot in iter_demo_slots(rendered.html)] == [kind]


@pytest.mark.parametrize(
    ("block", "reason"),
    [
        ("```demo nonsense\ntext: x\n```", "unknown demo kind"),
        ("```demo fill-mask\ntext: [unclosed\n```", "YAML"),
        ("```demo fill-mask\n- a list\n```", "mapping"),
        ("```demo\ntext: x\n```", "names no demo kind"),
        ("```demo generate\nprompt: {nested: map}\n```", "must be text"),
        ("```demo fill-mask\ntext: x\n", "no closing fence"),
    ],
)
def test_broken_demo_block_shows_an_escaped_error_and_a_warning(block, reason):
    rendered = render_lesson(f"Before.\n\n{block}\n\nAfter.\n")

    assert len(rendered.warnings) == 1
    assert reason in rendered.warnings[0]
    assert "line 3" in rendered.warnings[0]
    assert 'class="demo-error" role="note"' in rendered.html
    assert "Demo block error" in rendered.html
    assert list(iter_demo_slots(rendered.html)) == []
    assert "Before." in rendered.html


def test_demo_error_message_is_escaped():
    rendered = render_lesson("```demo <img/src=x/onerror=alert(1)>\n```\n")

    assert_no_active_content(rendered.html)
    assert "Demo block error" in rendered.html
    assert "&lt;img/src=x/onerror=alert(1)&gt;" in rendered.html


def test_demo_fence_shown_inside_a_longer_code_fence_stays_code():
    rendered = render_lesson("````markdown\n```demo fill-mask\ntext: hi\n```\n````\n")

    assert list(iter_demo_slots(rendered.html)) == []
    assert "```demo" in rendered.html
    assert "fill-mask" in rendered.html
    assert "demo-error" not in rendered.html
    assert rendered.warnings == ()


def test_authors_cannot_forge_a_demo_slot():
    forged = (
        '<!-- demo-slot -->\n<div class="demo-slot" data-demo-kind="generate" '
        'data-demo-defaults="{}">x</div>\n<!-- /demo-slot -->'
    )
    rendered = render_lesson(f"Text\n\n{forged}\n")

    assert list(iter_demo_slots(rendered.html)) == []
    assert "data-demo-kind" not in rendered.html


def test_each_table_region_has_a_name_of_its_own():
    table = "| A | B |\n|--|--|\n| 1 | 2 |\n"
    rendered = render_lesson(f"{table}\nBetween.\n\n{table}")
    assert 'aria-label="Table 1"><table>' in rendered.html
    assert 'aria-label="Table 2"><table>' in rendered.html
    assert rendered.html.count("</table></div>") == 2
