"""The strict Content-Security-Policy is sent, and the base layout lives within it."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.template.loader import render_to_string
from django.test import RequestFactory

EXPECTED_POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "connect-src": "'self'",
    "frame-ancestors": "'none'",
    "form-action": "'self'",
    "base-uri": "'self'",
    "object-src": "'none'",
}


def parse_policy(header: str) -> dict[str, str]:
    directives = {}
    for part in header.split(";"):
        name, _, value = part.strip().partition(" ")
        directives[name] = value.strip()
    return directives


class ElementCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.script_bodies: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.script_bodies.append(data)


def test_every_response_carries_the_policy(client):
    response = client.get("/healthz")

    assert parse_policy(response["Content-Security-Policy"]) == EXPECTED_POLICY


def test_error_pages_carry_the_policy_too(client):
    response = client.get("/no-such-page-anywhere/")

    assert response.status_code == 404
    assert parse_policy(response["Content-Security-Policy"]) == EXPECTED_POLICY


@pytest.fixture
def base_page(db) -> ElementCollector:
    request = RequestFactory().get("/")
    html = render_to_string("base.html", request=request)
    collector = ElementCollector()
    collector.feed(html)
    return collector


def test_base_layout_has_no_inline_script_or_style(base_page):
    tags = [tag for tag, _ in base_page.elements]
    scripts = [attrs for tag, attrs in base_page.elements if tag == "script"]

    assert "style" not in tags
    assert base_page.script_bodies == []
    assert scripts, "htmx should be loaded"
    for attrs in scripts:
        assert attrs["src"].startswith("/static/"), attrs  # same origin: script-src 'self'
    for tag, attrs in base_page.elements:
        assert "style" not in attrs, tag
        assert not [name for name in attrs if name.startswith(("on", "hx-on"))], tag


def test_htmx_is_told_not_to_inject_styles_or_eval(base_page):
    metas = [attrs for tag, attrs in base_page.elements if tag == "meta"]
    config = [attrs for attrs in metas if attrs.get("name") == "htmx-config"]

    assert len(config) == 1
    htmx_config = json.loads(config[0]["content"])
    assert htmx_config["includeIndicatorStyles"] is False  # no inline <style>
    assert htmx_config["allowEval"] is False  # no eval (hx-on, js: values)


def test_htmx_indicator_styles_come_from_a_static_stylesheet():
    css = Path(finders.find("css/site.css")).read_text(encoding="utf-8")

    assert ".htmx-indicator" in css
    assert ".htmx-request .htmx-indicator" in css
