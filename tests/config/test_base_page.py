"""What every page shares (site/templates/base.html): the main navigation, the web manifest,
the polite live region, and no htmx debugging outside development."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.urls import reverse

from lessons.loader import course_load
from tests.factories import StaffUserFactory

pytestmark = pytest.mark.django_db

CONTENT = Path(__file__).resolve().parents[2] / "lessons" / "content"


def main_nav(html: str) -> str:
    return html.split('<nav aria-label="Main">')[1].split("</nav>")[0]


@pytest.fixture
def course():
    report = course_load(directory=CONTENT)
    assert not report.errors


@pytest.mark.parametrize(
    ("path", "current"),
    [
        ("/", "Lessons"),
        ("/lessons/bert/", None),
        ("/lessons/bert/quiz/", None),
        ("/progress/", "Progress"),
        ("/demos/", "Playground"),
        ("/demos/training/", "Training"),
        ("/demos/fill-mask/", None),
        ("/accounts/login/", None),
        ("/accounts/signup/", None),
    ],
)
def test_the_playground_and_the_training_page_are_in_every_pages_navigation(
    client, course, path, current
):
    html = client.get(path).content.decode()
    nav = main_nav(html)
    assert f'<a href="{reverse("inference:playground")}"' in nav
    assert f'<a href="{reverse("inference:training")}"' in nav
    marked = re.findall(r'<a href="[^"]+" aria-current="page">([^<]+)</a>', nav)
    assert marked == ([current] if current else [])


def test_staff_see_the_gradebook_and_review_marked_when_they_are_there(client, course):
    client.force_login(StaffUserFactory())
    nav = main_nav(client.get(reverse("lessons:gradebook")).content.decode())
    assert re.findall(r'aria-current="page">([^<]+)</a>', nav) == ["Gradebook"]
    nav = main_nav(client.get(reverse("lessons:review-queue")).content.decode())
    assert re.findall(r'aria-current="page">([^<]+)</a>', nav) == ["Review"]


def test_the_home_page_points_to_the_playground_and_the_training_page(client, course):
    html = client.get("/").content.decode()
    body = html.split('<main id="main"')[1]
    assert f'href="{reverse("inference:playground")}"' in body
    assert f'href="{reverse("inference:training")}"' in body


def test_the_web_manifest_is_linked_and_names_the_favicon(client):
    html = render_to_string("base.html", request=RequestFactory().get("/"))
    assert '<link rel="manifest" href="/static/manifest.webmanifest">' in html
    manifest = json.loads(Path(finders.find("manifest.webmanifest")).read_text(encoding="utf-8"))
    assert manifest["name"] and manifest["short_name"] and manifest["start_url"] == "/"
    (icon,) = manifest["icons"]
    assert icon["src"] == "favicon.svg" and finders.find(icon["src"])  # beside the manifest
    assert '<link rel="icon" href="/static/favicon.svg"' in html


def test_every_page_has_one_polite_live_region_for_what_htmx_swaps_in(client):
    html = client.get("/").content.decode()
    assert html.count('id="live-status"') == 1
    assert '<div id="live-status" class="visually-hidden" role="status" aria-live="polite"' in html


@pytest.mark.parametrize(("debug", "shown"), [(False, False), (True, True)])
def test_htmx_debugging_only_in_development(settings, debug, shown):
    """django-htmx adds its debug script (error pages shown in the browser) with DEBUG only;
    DEBUG is off in the production and test settings."""
    settings.DEBUG = debug
    html = render_to_string("base.html", request=RequestFactory().get("/"))
    assert ("django-htmx.js" in html) is shown
    assert "logAll" not in html
