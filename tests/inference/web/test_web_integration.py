"""The web side against a real Celery model worker (tiny profile) and real Redis.

Requests go through Django's test client exactly as a browser's or a script's would:
form posts with and without htmx, the long-poll, Server-Sent Events and the JSON API.
The worker is the shared ``celery_worker_proc`` fixture (see conftest.py).
"""

from __future__ import annotations

import json
import re
import time
import uuid

import pytest
from django.urls import reverse

from inference.contract import heartbeat, kinds, streams
from inference.web.forms import form_class

pytestmark = pytest.mark.integration

HTMX = {"HTTP_HX_REQUEST": "true"}
CURSOR_RE = re.compile(r"\?after=([0-9]+-[0-9]+)")


@pytest.fixture
def live(celery_worker_proc, tiny_settings, settings):
    """Django configured like the worker: tiny profile, the real ``inference`` queue."""
    settings.INFERENCE_QUEUE = "inference"
    settings.DEMO_RATE_LIMIT_USER = "10000/m"
    settings.DEMO_RATE_LIMIT_IP = "10000/m"
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": settings.REDIS_URL,
            "KEY_PREFIX": f"web-it-{uuid.uuid4().hex[:8]}",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    return celery_worker_proc


def api_submit(client, kind: str, params: dict) -> dict:
    response = client.post(
        f"/demos/api/{kind}/", data=json.dumps(params), content_type="application/json"
    )
    assert response.status_code in (200, 202), response.content
    return response.json()


def api_wait(client, task_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        data = client.get(f"/demos/api/results/{task_id}/", {"wait": "10"}).json()
        if data["state"] in ("done", "error"):
            return data
    raise AssertionError(f"task {task_id} did not finish in {timeout}s")


def poll_until_finished(client, task_id: str, cursor: str = "0-0", timeout: float = 60):
    """Follow the htmx long-poll like the browser does; returns (last response, polls)."""
    url = reverse("inference:demo-poll", args=[task_id])
    deadline = time.monotonic() + timeout
    polls = 0
    while time.monotonic() < deadline:
        response = client.get(url, {"after": cursor}, **HTMX)
        polls += 1
        if response.status_code == 286:
            return response, polls
        assert response.status_code == 200
        cursor = CURSOR_RE.search(response.content.decode()).group(1)
    raise AssertionError(f"polling {task_id} did not finish in {timeout}s")


def test_fill_mask_through_the_htmx_form_and_long_poll(client, live):
    response = client.post(
        "/demos/fill-mask/", {"text": "the cat sat on the [MASK] .", "top_k": "4"}, **HTMX
    )
    assert response.status_code == 200
    task_id = response["HX-Push-Url"].rstrip("/").rsplit("/", 1)[1]
    cursor = CURSOR_RE.search(response.content.decode()).group(1)
    final, _ = poll_until_finished(client, task_id, cursor)
    html = final.content.decode()
    assert 'data-state="done"' in html

    result = streams.outcome(streams.redis_client(), task_id)["result"]
    predictions = result["masks"][0]["predictions"]
    assert len(predictions) == 4
    for prediction in predictions:
        assert f"<code>{prediction['token']}</code>" in html
    assert result["model"]["profile"] == "tiny"
    assert "tiny bert (random weights)" in html
    # The result page works after a reload at its own URL.
    page = client.get(reverse("inference:demo-result", args=[task_id]))
    assert page.status_code == 200
    assert f"<code>{predictions[0]['token']}</code>" in page.content.decode()


def test_a_quick_demo_answers_its_submit_with_the_result_itself(client, live, settings):
    settings.DEMO_SUBMIT_WAIT_MS = 20_000  # ample for a tiny model, even on a busy machine
    started = time.monotonic()
    response = client.post(
        "/demos/fill-mask/", {"text": "the cat sat on the [MASK] .", "top_k": "3"}, **HTMX
    )
    assert response.status_code == 200 and time.monotonic() - started < 20
    html = response.content.decode()
    assert 'data-state="done"' in html and not CURSOR_RE.search(html)  # nothing left to poll
    task_id = response["HX-Push-Url"].rstrip("/").rsplit("/", 1)[1]
    result = streams.outcome(streams.redis_client(), task_id)["result"]
    assert f"<code>{result['masks'][0]['predictions'][0]['token']}</code>" in html


def test_generation_never_waits_on_submit(client, live, settings):
    settings.DEMO_SUBMIT_WAIT_MS = 20_000
    started = time.monotonic()
    response = client.post(
        "/demos/generate/", {"prompt": "the cat", "max_new_tokens": "40"}, **HTMX
    )
    assert response.status_code == 200 and time.monotonic() - started < 10
    assert 'data-state="done"' not in response.content.decode()


def test_plain_post_redirects_and_the_result_page_finishes(client, live):
    response = client.post("/demos/tokenize/", {"text": "the dog ran home"})
    assert response.status_code == 303
    task_id = response["Location"].rstrip("/").rsplit("/", 1)[1]
    data = api_wait(client, task_id)
    assert data["state"] == "done"
    page = client.get(response["Location"]).content.decode()
    assert "BERT: " in page
    assert "<noscript><meta http-equiv" not in page  # finished: no more refreshing


def test_identical_request_is_answered_from_cache_without_a_task(client, live):
    params = {"text": "the bird sat on the [MASK] .", "top_k": 3}
    first = api_submit(client, "fill-mask", params)
    assert first["status"] == "queued"
    assert api_wait(client, first["task_id"])["state"] == "done"
    deliveries = streams.redis_client().get(streams.deliveries_key(first["task_id"]))
    second = api_submit(client, "fill-mask", params)
    assert second == {**first, "status": "cached"}
    assert streams.redis_client().get(streams.deliveries_key(first["task_id"])) == deliveries


def test_generate_streams_tokens_over_sse(client, live):
    submitted = api_submit(
        client, "generate", {"prompt": "the king walked to the", "max_new_tokens": 12}
    )
    response = client.get(submitted["events_url"])
    assert response["Content-Type"].startswith("text/event-stream")
    text = b"".join(response.streaming_content).decode()
    frames = []
    for block in text.split("\n\n"):
        fields = dict(
            line.split(": ", 1) for line in block.splitlines() if ": " in line and line[0] != ":"
        )
        if "event" in fields:
            frames.append(fields)
    kinds = [frame["event"] for frame in frames]
    assert kinds[:2] == ["queued", "started"]
    assert kinds[-1] == "done"
    tokens = [json.loads(frame["data"]) for frame in frames if frame["event"] == "token"]
    result = json.loads(frames[-1]["data"])
    assert [t["token_id"] for t in tokens] == [t["token_id"] for t in result["tokens"]]
    assert len(tokens) == (12 if result["finish_reason"] == "length" else len(tokens))
    assert [t["index"] for t in tokens] == list(range(len(tokens)))


def test_next_token_then_reshape_from_the_stored_logits(client, live):
    submitted = api_submit(client, "next-token", {"prompt": "the queen said", "top_k": 10})
    data = api_wait(client, submitted["task_id"])
    assert data["state"] == "done", data
    candidates = data["result"]["candidates"]
    url = reverse("inference:next-token-reshape", args=[submitted["task_id"]])
    plain = client.get(url, {"format": "json"}).json()
    assert [row["token_id"] for row in plain["rows"][:10]] == [c["token_id"] for c in candidates]
    for row, candidate in zip(plain["rows"], candidates, strict=False):
        assert row["prob"] == pytest.approx(candidate["prob"], rel=1e-3, abs=1e-6)
    hot = client.get(url, {"temperature": "0.05", "format": "json"}).json()
    assert hot["rows"][0]["prob"] > plain["rows"][0]["prob"]
    top = client.get(url, {"top_k": "2", "format": "json"}).json()
    assert top["kept"] == 2
    assert sum(row["prob"] for row in top["rows"]) == pytest.approx(1.0)


@pytest.mark.parametrize("kind", kinds.names())
def test_every_demo_runs_with_its_default_form_values(client, live, kind):
    form = form_class(kind)()
    data = {
        name: str(form.get_initial_for_field(field, name))
        for name, field in form.fields.items()
        if form.get_initial_for_field(field, name) not in (None, False)
    }
    response = client.post(f"/demos/{kind}/", data, **HTMX)
    assert response.status_code == 200, response.content
    assert "HX-Push-Url" in response, response.content.decode()
    task_id = response["HX-Push-Url"].rstrip("/").rsplit("/", 1)[1]
    final, _ = poll_until_finished(client, task_id)
    html = final.content.decode()
    assert 'data-state="done"' in html, html
    page = client.get(reverse("inference:demo-result", args=[task_id]))
    assert page.status_code == 200
    assert "didn&#x27;t finish" not in page.content.decode()


def test_killing_the_worker_mid_task_reports_worker_lost(client, live):
    submitted = api_submit(
        client, "generate", {"prompt": "the farmer went to the", "max_new_tokens": 48}
    )
    task_id = submitted["task_id"]
    client_redis = streams.redis_client()
    cursor = "0-0"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        entries = streams.read_events(client_redis, task_id, after=cursor, block_ms=1000)
        if entries:
            cursor = entries[-1][0]
            if any(event.get("type") == "token" for _, event in entries):
                break
    else:
        raise AssertionError("no token was generated before the kill")
    live.kill()
    killed_at = time.monotonic()
    ttl = int(live.env["WORKER_HEARTBEAT_TTL"])

    final, _ = poll_until_finished(client, task_id, cursor, timeout=ttl + 20)
    elapsed = time.monotonic() - killed_at
    html = final.content.decode()
    assert "The model worker stopped while working on this. Please try again." in html
    assert elapsed < ttl + 5, elapsed
    events = streams.all_events(client_redis, task_id)
    assert not any(event["type"] == "done" for event in events)
    assert api_wait(client, task_id)["error"]["code"] == "worker_lost"


def test_with_no_worker_the_message_comes_at_once(client, live):
    live.stop()
    # A clean shutdown removes the heartbeat at once; a worker stopped while still starting
    # up leaves it to expire, so allow for its TTL.
    deadline = time.monotonic() + int(live.env["WORKER_HEARTBEAT_TTL"]) + 2
    while heartbeat.is_alive(streams.redis_client(), live.hostname):
        assert time.monotonic() < deadline, "the stopped worker's heartbeat never went away"
        time.sleep(0.2)
    began = time.monotonic()
    response = client.post("/demos/tokenize/", {"text": "is anyone there"}, **HTMX)
    assert time.monotonic() - began < 2
    html = response.content.decode()
    assert "No model worker is running right now" in html
    api = client.post("/demos/api/tokenize/", {"text": "is anyone there"})
    assert api.status_code == 503
