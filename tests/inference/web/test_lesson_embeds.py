"""Demo blocks in lessons become live widgets when the lesson page is served."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.urls import reverse

from inference.contract.demo_cards import iter_demo_slots
from lessons.loader import course_load
from lessons.models import Lesson
from tests.factories import LessonFactory
from tests.html_support import without_csrf_tokens
from tests.inference import widget_support
from tests.inference.widget_support import (
    SHIPPED_DEMO,
    inline_code,
    serve_demo_build,
    shipped_demo_examples,
)

stored_examples = widget_support.stored_examples  # the fixture, for this module

CONTENT = Path(django_settings.BASE_DIR) / "lessons" / "content"
HTMX = {"HTTP_HX_REQUEST": "true"}

pytestmark = pytest.mark.django_db


def body(response) -> str:
    return response.content.decode()


@pytest.fixture
def course(db):
    report = course_load(directory=CONTENT)
    assert not report.errors
    return {lesson.slug: lesson for lesson in Lesson.objects.all()}


def test_every_demo_block_of_the_course_becomes_a_live_widget(client, course, stored_examples):
    embedded = 0
    for lesson in course.values():
        slots = list(iter_demo_slots(lesson.body_html))
        html = body(client.get(lesson.get_absolute_url()))
        assert html.count('data-demo-live="true"') == len(slots), lesson.slug
        assert "on the lesson page this box runs the real model" not in html
        for number, slot in enumerate(slots, start=1):
            panel = html.split(f'<div id="demo-{number}" class="demo-panel')[1]
            assert f'action="{reverse("inference:demo-submit", args=[slot.kind])}"' in panel
            assert '<input type="hidden" name="widget" value="demo-' in panel
            # Every block's defaults were recorded, so each widget shows a real stored result.
            assert "Stored example result from" in panel.split('<div id="demo-')[0], lesson.slug
        if slots:
            assert "css/demos.css" in html and "django_htmx/ext/hx-sse-2" in html
            assert "js/demo-widgets.js" in html
        assert inline_code(html) == [], lesson.slug
        embedded += len(slots)
    assert embedded >= 8  # the BERT, GPT, side-by-side and generation-parameters lessons


def test_a_widget_is_prefilled_with_the_block_defaults(client, course, stored_examples):
    html = body(client.get(course["generation-parameters"].get_absolute_url()))
    generate = html.split('data-demo-kind="generate"')[1].split('class="demo-widget-more"')[0]
    assert ">\nOnce upon a time</textarea>" in generate
    assert 'name="max_new_tokens" value="30"' in generate
    assert re.search(r'name="do_sample"[^>]*checked', generate)
    assert 'name="temperature" value="0.8"' in generate and 'name="seed" value="42"' in generate
    # Lesson widgets have their own ids (the generate block is the lesson's third demo, after
    # the top-p and beam-search next-token blocks) and no playground chips.
    assert 'id="demo-3-prompt"' in generate and 'class="demo-chip"' not in generate


def test_the_side_by_side_lesson_embeds_attention_and_tokenization(client, course):
    html = body(client.get(course["bert-vs-gpt"].get_absolute_url()))
    assert 'data-demo-kind="attention"' in html and 'data-demo-kind="tokenize"' in html
    assert ">\nThe cat sat on the mat because it was tired.</textarea>" in html


def test_without_stored_examples_widgets_invite_a_run(client, course, settings, tmp_path):
    settings.DEMO_EXAMPLES_DIR = tmp_path
    settings.MODELS_DIR = tmp_path / "models"  # nor any the demo build recorded
    html = body(client.get(course["bert"].get_absolute_url()))
    assert html.count('class="demo-empty"') == html.count('data-demo-live="true"') >= 3
    assert "Stored example" not in html


def test_lesson_pages_do_not_need_redis(client, course, settings, stored_examples):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = client.get(course["gpt"].get_absolute_url())
    assert response.status_code == 200
    assert body(response).count('data-demo-live="true"') == 2


def test_unknown_defaults_are_ignored_and_odd_ones_still_render(client, db):
    text = (
        '## Try it\n\n```demo fill-mask\ntext: "no blank"\ncolour: red\n```\n\n'
        '```demo next-token\nprompt: "Hello"\ntop_k: 500\n```\n'
    )
    lesson = LessonFactory(body_markdown=text)
    html = body(client.get(lesson.get_absolute_url()))
    assert ">\nno blank</textarea>" in html and "colour" not in html.split('id="lesson-body"')[1]
    assert 'name="top_k" value="500"' in html  # the form will explain the limit on submit
    assert html.count('data-demo-live="true"') == 2


def test_a_lesson_without_demo_blocks_is_unchanged(client, db):
    lesson = LessonFactory(body_markdown="## Plain\n\nJust text.")
    html = body(client.get(lesson.get_absolute_url()))
    assert lesson.body_html in html and "demo-panel" not in html


def test_a_lesson_widget_submits_into_itself(
    client, demo_env, sent_tasks, course, django_capture_on_commit_callbacks
):
    demo_env.beat()
    html = body(client.get(course["bert"].get_absolute_url()))
    panel = html.split('<div id="demo-2" class="demo-panel')[1]
    kind = re.search(r'data-kind="([^"]+)"', panel).group(1)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("inference:demo-submit", args=[kind]),
            {"sentence_a": "The cat sat.", "sentence_b": "It slept.", "widget": "demo-2"},
            **HTMX,
        )
    assert kind == "next-sentence"
    assert body(response).lstrip().startswith('<div id="demo-2" class="demo-panel')
    assert "HX-Push-Url" not in response
    assert sent_tasks[0]["kwargs"] == {"sentence_a": "The cat sat.", "sentence_b": "It slept."}


# --- Rendered widgets are kept per lesson body and examples file ----------------------------


def _tokens(html: str) -> set[str]:
    return set(re.findall(r'name="csrfmiddlewaretoken" value="([^"]+)"', html))


def test_each_visitor_gets_their_own_csrf_token_in_kept_widgets(course, stored_examples):
    from django.test import Client

    url = course["bert"].get_absolute_url()
    first, second = Client(enforce_csrf_checks=True), Client(enforce_csrf_checks=True)
    html_1, html_2 = body(first.get(url)), body(second.get(url))
    tokens_1, tokens_2 = _tokens(html_1), _tokens(html_2)
    # (Django masks the token afresh for every form, so a page holds several spellings)
    assert tokens_1 and tokens_2 and not tokens_1 & tokens_2
    assert "__demo-widget-csrf-token__" not in html_1 + html_2
    # the same page bar the tokens, and the token a widget carries is one the site accepts
    assert without_csrf_tokens(html_1) == without_csrf_tokens(html_2)
    panel = html_1.split('<div id="demo-1" class="demo-panel')[1]
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', panel).group(1)
    kind = re.search(r'data-kind="([^"]+)"', panel).group(1)
    submit = reverse("inference:demo-submit", args=[kind])
    assert first.post(submit, {"csrfmiddlewaretoken": token}).status_code != 403
    # ...and not one that belongs to someone else
    other = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html_2).group(1)
    assert first.post(submit, {"csrfmiddlewaretoken": other}).status_code == 403


def test_kept_widgets_match_a_fresh_render(client, course, stored_examples):
    from lessons import page_cache

    url = course["gpt"].get_absolute_url()
    kept = without_csrf_tokens(body(client.get(url)))
    page_cache.clear()
    fresh = without_csrf_tokens(body(client.get(url)))
    assert kept == fresh and "data-demo-live" in kept


def test_an_edited_lesson_shows_its_new_widgets_at_once(client, course, stored_examples):
    lesson = course["gpt"]
    before = body(client.get(lesson.get_absolute_url()))
    assert before.count('data-demo-live="true"') == 2
    from lessons.services import lesson_render

    lesson.body_markdown += '\n\n```demo fill-mask\ntext: "A brand [MASK] block."\n```\n'
    lesson.save()
    lesson_render(lesson=lesson)  # what the admin and the loader do on every edit
    after = body(client.get(lesson.get_absolute_url()))
    assert after.count('data-demo-live="true"') == 3
    assert ">\nA brand [MASK] block.</textarea>" in after


def test_re_recorded_examples_show_without_a_restart(client, course, settings, tmp_path):
    import os
    import shutil

    settings.DEMO_EXAMPLES_DIR = tmp_path  # no examples yet
    settings.MODELS_DIR = tmp_path / "models"  # nor any the demo build recorded
    url = course["bert"].get_absolute_url()
    assert "Stored example" not in body(client.get(url))
    source = Path(django_settings.BASE_DIR) / "inference" / "contract" / "examples" / "demo.json"
    target = tmp_path / "demo.json"
    shutil.copy(source, target)
    os.utime(target, ns=(1, 1))
    assert "Stored example result from" in body(client.get(url))


def test_a_lesson_marks_stored_results_from_an_earlier_demo_build(
    client, course, settings, tmp_path
):
    import shutil

    from inference.contract.examples import build_examples_path, write_example_set

    models = tmp_path / "models"
    settings.INFERENCE_PROFILE = "demo"
    settings.MODELS_DIR = models
    settings.DEMO_EXAMPLES_DIR = tmp_path / "shipped"
    (tmp_path / "shipped").mkdir()
    shutil.copy(SHIPPED_DEMO, tmp_path / "shipped" / "demo.json")  # no build named
    url = course["bert"].get_absolute_url()
    serve_demo_build(models, "r1")
    html = body(client.get(url))  # a visitor without a session: the kept page
    notes = html.count("demo-stored-note")
    assert notes >= 1 and html.count('data-build="earlier"') == notes
    assert "Recorded with an earlier build of the demo models" in html

    # The build records its own examples: the kept page gives way at once.
    write_example_set(
        build_examples_path(), profile="demo", examples=shipped_demo_examples(), build={"id": "r1"}
    )
    html = body(client.get(url))
    assert html.count("demo-stored-note") == notes and 'data-build="earlier"' not in html

    # Published again, same examples file: now they come from an earlier build.
    serve_demo_build(models, "r2", when=2)
    assert body(client.get(url)).count('data-build="earlier"') == notes
