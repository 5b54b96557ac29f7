"""Every demo widget in a real browser, against a real model worker (tiny profile).

Headless Chromium (Playwright) drives Django's live server; the model worker is the
``celery_worker_proc`` subprocess from tests/inference/conftest.py, sharing the test Redis
db and MODELS_DIR with the live server. Screenshots of each widget go to
test-artifacts/screenshots/ (ignored by git).
"""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from playwright.sync_api import expect

from inference.contract import streams
from tests.inference.widget_support import inline_code

# Fixtures shared with the inference tests: the test Redis db, tiny models, a real worker.

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True)]

CONTENT = Path(django_settings.BASE_DIR) / "lessons" / "content"
LIVE_TIMEOUT = 60_000  # ms: a 2-core machine running a browser, a server and a worker


def task_streams() -> frozenset[bytes]:
    """The demo tasks that exist (one event stream each). Streams of earlier tests expire
    on their own meanwhile: compare what is new, never the count."""
    return frozenset(streams.redis_client().scan_iter(match=streams.EVENTS_PREFIX + "*"))


def live_result(panel: str) -> str:
    return f"{panel} .demo-result[data-state=done]:not(.demo-result-stored)"


def run(page, panel: str) -> None:
    page.click(f"{panel} .demo-form button[type=submit]")
    page.wait_for_selector(live_result(panel), timeout=LIVE_TIMEOUT)


def test_every_playground_demo_runs_on_the_live_model(live, page):
    page.goto(f"{live.url}/demos/")
    expect(page.locator("#demo-status .badge-ok")).to_contain_text("Ready")
    # Before anything runs, every demo shows its stored example, marked as such.
    assert page.locator(".demo-result-stored").count() == 7
    for kind in ("fill-mask", "next-token", "tokenize", "embeddings", "next-sentence"):
        panel = f"#play-{kind}"
        run(page, panel)
        result = page.locator(live_result(panel))
        expect(result.locator(".demo-models")).to_contain_text("tiny")
        expect(result.locator(".demo-models")).to_contain_text("ms")
        page.locator(f"{panel}-section").scroll_into_view_if_needed()
        shoot(page.locator(f"{panel}-section"), kind)
    assert not errors(page), errors(page)


def shoot(target, name: str, **options) -> Path:
    """Screenshot a page or an element into test-artifacts/screenshots/demo-<name>.png.

    ``caret="initial"``: Playwright's default caret hiding writes a ``style`` attribute onto
    every text field, which htmx would then copy while settling a swap, and the CSP would
    (rightly) report that as an inline style.
    """
    from tests.browser.conftest import SCREENSHOTS

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"demo-{name}.png"
    target.screenshot(path=str(path), caret="initial", **options)
    return path


def errors(page) -> list[str]:
    """Console errors other than the favicon this site doesn't have (a 404)."""
    return [e for e in page.console_errors if "status of 404" not in e]


def test_generation_streams_tokens_then_compares_temperatures(live, page):
    page.goto(f"{live.url}/demos/#play-generate-section")
    panel = "#play-generate"
    page.fill(f"{panel} textarea[name=prompt]", "the king walked to the")
    page.fill(f"{panel} input[name=max_new_tokens]", "40")
    page.check(f"{panel} input[name=do_sample]")
    page.fill(f"{panel} input[name=temperature]", "0.9")
    page.fill(f"{panel} input[name=seed]", "7")
    page.click(f"{panel} .demo-form button[type=submit]")
    # Tokens appear while the worker is still generating: some, but not yet all of them.
    page.wait_for_function(
        """() => {
            const stream = document.querySelector('#play-generate .demo-stream');
            const tokens = '#play-generate .demo-stream-tokens .demo-token';
            const count = document.querySelectorAll(tokens).length;
            return stream !== null && count >= 3 && count < 40;
        }""",
        timeout=LIVE_TIMEOUT,
    )
    page.wait_for_selector(live_result(panel), timeout=LIVE_TIMEOUT)
    tokens = page.locator(f"{panel} .demo-generated .demo-token")
    final = tokens.count()
    assert 1 <= final <= 40
    # Hover or focus a token: its probability and the tokens it beat.
    tokens.nth(1).hover()
    tip = page.locator(f"{panel} .demo-token-wrap").nth(1).locator(".demo-tip")
    expect(tip).to_be_visible()
    expect(tip).to_contain_text("%")
    page.mouse.move(0, 0)
    tokens.nth(2).focus()
    expect(page.locator(f"{panel} .demo-token-wrap").nth(2).locator(".demo-tip")).to_be_visible()
    shoot(page.locator(f"{panel} .demo-generated").first, "generate")

    # Same seed, new temperature: a second run beside the first.
    before = task_streams()
    page.fill(f"{panel} .demo-compare-form input[name=temperature]", "1.6")
    expect(page.locator(f"{panel} .demo-compare-form output")).to_have_text("1.6")
    page.click(f"{panel} .demo-compare-form button")
    compare = page.locator(f"{panel} .demo-compare-result .demo-result[data-state=done]")
    compare.wait_for(timeout=LIVE_TIMEOUT)
    expect(compare).to_contain_text("sampling at temperature 1.6")
    expect(compare).to_contain_text("seed 7")
    assert len(task_streams() - before) == 1
    shoot(page.locator(f"{panel} .demo-compare"), "generate-compare")
    assert not errors(page), errors(page)


def test_next_token_sliders_reshape_the_bars_without_a_new_task(live, page):
    page.goto(f"{live.url}/demos/#play-next-token-section")
    panel = "#play-next-token"
    page.fill(f"{panel} textarea[name=prompt]", "the queen said")
    run(page, panel)
    result = page.locator(live_result(panel))
    first = result.locator(".demo-reshape-bars tbody tr").first.locator(".demo-prob")
    plain = first.inner_text()
    before = task_streams()

    with page.expect_response(re.compile(r"/reshape/\?")):
        result.locator("input[name=temperature]").fill("0.1")
    expect(result.locator(".demo-reshape-bars caption")).to_contain_text("Temperature 0.1")
    assert first.inner_text() != plain  # a colder distribution: the top token gains
    with page.expect_response(re.compile(r"/reshape/\?")):
        result.locator("input[name=top_k]").fill("2")
    expect(result.locator(".demo-reshape-bars caption")).to_contain_text("2 of ")
    expect(result.locator(".demo-reshape-bars")).to_contain_text("filtered out")
    expect(result.locator("output").nth(1)).to_have_text("2")
    assert not task_streams() - before  # the model did not run again
    shoot(page.locator(f"{panel} .demo-result-region"), "next-token")
    assert not errors(page), errors(page)


def test_fill_mask_in_a_lesson_click_a_word_to_mask_it(live, page):
    page.goto(f"{live.url}/lessons/bert/")
    panel = "#demo-1"
    expect(page.locator(f"{panel} .demo-stored-note")).to_contain_text("Stored example result")
    run(page, panel)
    word = page.locator(f"{live_result(panel)} button.demo-word", has_text="capital")
    word.click()
    page.wait_for_function(
        "() => document.querySelector('#demo-1 textarea').value.startsWith('The [MASK] of France')",
        timeout=LIVE_TIMEOUT,
    )
    page.wait_for_selector(live_result(panel), timeout=LIVE_TIMEOUT)
    sentence = page.locator(f"{live_result(panel)} .demo-sentence")
    expect(sentence.locator("button.demo-word-guess").first).to_be_visible()
    expect(page.locator(f"{panel} .demo-bars-table caption")).to_contain_text("token 2")
    assert page.url.endswith("/lessons/bert/")  # the learner stays in the lesson
    shoot(page.locator(".demo-slot").first, "fill-mask-lesson")
    assert not errors(page), errors(page)


def test_attention_layers_heads_and_positions_switch_without_a_new_task(live, page):
    page.goto(f"{live.url}/lessons/bert-vs-gpt/")
    panel = "#demo-1"
    run(page, panel)
    result = page.locator(live_result(panel))
    before = task_streams()
    bert = result.locator(".demo-attn.model-bert")
    bert.locator("select[name=bert_layer]").select_option("1")
    expect(bert.locator(".demo-attn-caption")).to_contain_text("Layer 1 of 2")
    bert = page.locator(f"{live_result(panel)} .demo-attn.model-bert")
    bert.locator("select[name=bert_head]").select_option("2")
    expect(bert.locator(".demo-attn-caption")).to_contain_text("head 2 of 2")
    gpt = page.locator(f"{live_result(panel)} .demo-attn.model-gpt")
    # GPT's upper triangle is masked, and says so.
    assert gpt.locator("td.attn-masked").count() > 0
    gpt.locator(".demo-row-pick").first.click()
    expect(page.locator(f"{live_result(panel)} .demo-attn.model-gpt .demo-sees")).to_contain_text(
        "(position 1) see?"
    )
    gpt = page.locator(f"{live_result(panel)} .demo-attn.model-gpt")
    expect(gpt.locator(".demo-sees")).to_contain_text("1 of ")
    assert not task_streams() - before
    shoot(page.locator(f"{panel} .demo-attention"), "attention")
    tokenize = page.locator("#demo-2")
    run(page, "#demo-2")
    expect(tokenize.locator(".demo-align")).to_contain_text("BERT")
    shoot(tokenize, "tokenize-lesson")
    assert not errors(page), errors(page)


PAGES = [
    "/demos/",
    "/demos/training/",
    "/demos/status/",
    "/demos/fill-mask/",
    "/demos/generate/",
    "/demos/attention/",
    "/lessons/pretraining/",
    "/lessons/bert/",
    "/lessons/gpt/",
    "/lessons/generation-parameters/",
    "/lessons/bert-vs-gpt/",
    "/lessons/choosing-and-fine-tuning/",
]


def test_no_page_or_partial_needs_inline_script(live, page):
    """Fails if a page breaks the strict CSP: violations in the console, or inline code in
    any HTML the browser receives (pages and htmx partials alike)."""
    problems: list[str] = []
    csp_errors: list[str] = []
    page.on(
        "console",
        lambda msg: csp_errors.append(msg.text) if "Content Security Policy" in msg.text else None,
    )

    def scan(response) -> None:
        if "/static/" in response.url and response.status not in (200, 304):
            problems.append(f"{response.url}: status {response.status}")
        if "text/html" in (response.headers.get("content-type") or ""):
            found = inline_code(response.text())
            problems.extend(f"{response.url}: {p}" for p in found)

    page.on("response", scan)
    for path in PAGES:
        page.goto(f"{live.url}{path}")
        page.wait_for_load_state("networkidle")
    # Partials too: run a demo and swap in a stored example.
    page.goto(f"{live.url}/demos/")
    run(page, "#play-attention")
    page.locator("#play-tokenize .demo-chip").nth(1).click()
    page.wait_for_selector("#play-tokenize .demo-chip[aria-current=true]")
    assert csp_errors == []
    assert problems == []


def test_widgets_fit_a_phone(live, chromium_browser):
    context = chromium_browser.new_context(viewport={"width": 375, "height": 800})
    page = context.new_page()
    try:
        for path, name in (("/demos/", "playground-375"), ("/lessons/bert-vs-gpt/", "lesson-375")):
            page.goto(f"{live.url}{path}")
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            shoot(page, name, full_page=True)
            assert overflow <= 1, (path, overflow)
    finally:
        context.close()


def test_gpt2s_tokenizer_row_lines_up_at_phone_width(
    live_server, chromium_browser, tiny_runtime, wordpiece_gpt
):
    """A GPT on BERT's WordPiece (the demo profile's): GPT-2's real tokenizer is a third row,
    under the other two in every column, and the result still fits a phone."""
    from inference.worker.engine.tokenize import tokenize
    from tests.inference.web_support import done_event, started
    from tests.inference.worker.test_gpt2_tokenizer import installed_tokenizer

    installed_tokenizer()
    text = "Unbelievable tokenization, isn't it? 🙂"
    result = tokenize(tiny_runtime.bert, wordpiece_gpt, text=text)
    task_id = uuid.uuid4().hex
    client = streams.redis_client()
    streams.publish(client, task_id, {**streams.queued_event("tokenize"), "params": {"text": text}})
    streams.publish(client, task_id, started("w@h"))
    streams.publish(client, task_id, done_event(result))

    context = chromium_browser.new_context(viewport={"width": 375, "height": 800})
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/demos/results/{task_id}/")
        counts = page.locator(".demo-token-counts")
        expect(counts).to_contain_text(
            "GPT-2's tokenizer (byte-level BPE, 50,257 tokens; the real gpt2 files)"
        )
        expect(counts).to_contain_text("GPT (shares BERT's WordPiece)")
        columns = page.locator(".demo-align-col:not(.demo-align-legend)")
        assert columns.count() == len(text.split()) + 2  # [CLS] and [SEP] columns
        expect(page.locator(".demo-align-legend .model-gpt2")).to_have_text("GPT-2")
        for i in range(columns.count()):
            column = columns.nth(i)
            box = column.bounding_box()
            rows = [column.locator(f".model-{role}").bounding_box() for role in ("bert", "gpt")]
            gpt2 = column.locator(".model-gpt2").bounding_box()
            assert rows[0]["y"] < rows[1]["y"] < gpt2["y"], i
            assert box["y"] <= gpt2["y"] and gpt2["y"] + gpt2["height"] <= box["y"] + box["height"]
        first = columns.nth(1)  # "Unbelievable": its tokens in all three rows
        expect(first.locator(".model-gpt2 code").first).to_have_text("Un")
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        shoot(page.locator(".demo-tokenize"), "tokenize-gpt2-375")
        assert overflow <= 1, overflow
    finally:
        context.close()


def test_training_page_draws_the_curves(live_server, page, settings, tmp_path):
    call_command("build_demo_models", "--quick", "--no-progress", "--dir", str(tmp_path))
    settings.MODELS_DIR = tmp_path
    settings.INFERENCE_PROFILE = "demo"
    page.goto(f"{live_server.url}/demos/training/")
    expect(page.locator("svg.demo-linechart polyline")).to_have_count(3)
    expect(page.locator("svg.demo-linechart")).to_contain_text("GPT causal LM")
    shoot(page, "training", full_page=True)
    assert not errors(page), errors(page)


def test_with_the_worker_stopped_a_widget_says_so_and_keeps_its_stored_result(
    live, page, celery_worker_proc
):
    from inference.contract import heartbeat

    # Stop the shared worker; the next test that needs one gets a fresh one.
    celery_worker_proc.stop()
    deadline = time.monotonic() + int(celery_worker_proc.env["WORKER_HEARTBEAT_TTL"]) + 5
    while heartbeat.is_alive(streams.redis_client(), celery_worker_proc.hostname):
        assert time.monotonic() < deadline, "the stopped worker's heartbeat never went away"
        time.sleep(0.2)
    page.goto(f"{live.url}/lessons/gpt/")
    page.click("#demo-1 .demo-form button[type=submit]")
    expect(page.locator("#demo-1 .demo-form [role=alert]")).to_contain_text(
        "No model worker is running right now"
    )
    expect(page.locator("#demo-1 .demo-stored-note")).to_contain_text("Stored example result")
    assert not [e for e in page.console_errors if "Content Security Policy" in e]


def test_a_server_error_or_lost_connection_is_reported_in_the_widget(live_server, page):
    page.goto(f"{live_server.url}/demos/")
    page.route("**/demos/fill-mask/", lambda route: route.fulfill(status=500, body="boom"))
    page.click("#play-fill-mask .demo-form button[type=submit]")
    note = page.locator("#play-fill-mask .demo-net-error[role=alert]")
    expect(note).to_contain_text("The server couldn't answer (error 500)")
    expect(page.locator("#play-fill-mask .demo-form button[type=submit]")).to_be_enabled()
    page.unroute("**/demos/fill-mask/")
    page.route("**/demos/fill-mask/", lambda route: route.abort())
    page.click("#play-fill-mask .demo-form button[type=submit]")
    expect(note).to_contain_text("can't be reached")
    assert not [e for e in page.console_errors if "Content Security Policy" in e]
