from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from django.test import Client
from django.urls import reverse

from inference.contract import kinds, streams
from tests.inference.web_support import done_event, started

ROOT = Path(__file__).resolve().parents[3]
HTMX = {"HTTP_HX_REQUEST": "true"}
XSS = "<script>alert('x')</script>"


def token(index: int, text: str, prob: float = 0.5) -> dict:
    return {
        "type": "token",
        "index": index,
        "token": text,
        "token_id": 100 + index,
        "prob": prob,
        "alternatives": [{"token": " alt", "token_id": 7, "prob": 0.1}],
    }


def body(response) -> str:
    return response.content.decode()


# --- Forms and submitting ----------------------------------------------------------------


@pytest.mark.parametrize("kind", kinds.names())
def test_each_demo_page_renders_its_form(client, demo_env, kind):
    response = client.get(reverse("inference:demo-form", args=[kind]))
    assert response.status_code == 200
    html = body(response)
    assert f'action="{reverse("inference:demo-submit", args=[kind])}"' in html
    assert 'hx-post="' in html
    assert 'id="demo-result"' in html
    assert "csrfmiddlewaretoken" in html


def test_unknown_demo_is_404(client, demo_env):
    assert client.get("/demos/poetry/").status_code == 404
    assert client.post("/demos/poetry/", {"text": "x"}).status_code == 404


def test_demo_index_lists_every_demo(client, demo_env):
    html = body(client.get(reverse("inference:demo-index")))
    for kind in kinds.names():
        assert reverse("inference:demo-form", args=[kind]) in html
    assert "No model worker is running right now" in html


def test_plain_post_redirects_to_the_result_page(client, demo_env, sent_tasks):
    demo_env.beat()
    response = client.post("/demos/fill-mask/", {"text": "The [MASK] sat.", "top_k": "5"})
    assert response.status_code == 303
    task_id = sent_tasks[0]["task_id"]
    assert response["Location"] == reverse("inference:demo-result", args=[task_id])

    page = client.get(response["Location"])
    html = body(page)
    assert page.status_code == 200
    assert "<html" in html
    assert "Waiting for a model worker…" in html
    assert '<noscript><meta http-equiv="refresh" content="2"></noscript>' in html
    poll = reverse("inference:demo-poll", args=[task_id])
    assert f'hx-get="{poll}?after=' in html
    assert 'hx-trigger="load"' in html
    assert "The [MASK] sat." in html  # the form is filled with what was run


def test_htmx_post_returns_the_panel_and_pushes_the_result_url(client, demo_env, sent_tasks):
    demo_env.beat()
    response = client.post("/demos/tokenize/", {"text": "Hello there"}, **HTMX)
    assert response.status_code == 200
    task_id = sent_tasks[0]["task_id"]
    assert response["HX-Push-Url"] == reverse("inference:demo-result", args=[task_id])
    html = body(response)
    assert "<html" not in html
    assert html.lstrip().startswith('<div id="demo-panel"')
    assert 'hx-trigger="load"' in html


def test_invalid_input_plain_is_400_with_the_message(client, demo_env, sent_tasks):
    response = client.post("/demos/fill-mask/", {"text": "no blank", "top_k": "5"})
    assert response.status_code == 400
    assert "Put [MASK] where BERT should guess a word" in body(response)
    assert sent_tasks == []


def test_invalid_input_htmx_swaps_the_form_with_the_message(client, demo_env, sent_tasks):
    response = client.post("/demos/generate/", {"prompt": "", "max_new_tokens": "5"}, **HTMX)
    assert response.status_code == 200  # htmx only swaps 2xx answers
    assert response["X-Demo-Status"] == "400"
    html = body(response)
    assert "<html" not in html
    assert "Type a sentence first." in html
    assert 'aria-invalid="true"' in html


def test_no_worker_plain_is_503_and_htmx_shows_the_message(client, demo_env, sent_tasks):
    response = client.post("/demos/tokenize/", {"text": "Hello"})
    assert response.status_code == 503
    assert "No model worker is running right now" in body(response)
    response = client.post("/demos/tokenize/", {"text": "Hello"}, **HTMX)
    assert response.status_code == 200
    assert response["X-Demo-Status"] == "503"
    assert 'role="alert"' in body(response)


def test_rate_limited_plain_is_429(client, demo_env, sent_tasks, settings):
    settings.DEMO_RATE_LIMIT_IP = "1/m"
    demo_env.beat()
    assert client.post("/demos/tokenize/", {"text": "one"}).status_code == 303
    response = client.post("/demos/tokenize/", {"text": "two"})
    assert response.status_code == 429
    assert "running demos faster than the models can keep up." in body(response)
    assert response["Retry-After"]


def test_csrf_is_enforced_on_demo_posts(demo_env, sent_tasks):
    demo_env.beat()
    client = Client(enforce_csrf_checks=True)
    assert client.post("/demos/tokenize/", {"text": "Hi"}).status_code == 403
    assert client.post("/demos/api/tokenize/", {"text": "Hi"}).status_code == 403
    client.get("/demos/tokenize/")
    token = client.cookies["csrftoken"].value
    response = client.post("/demos/tokenize/", {"text": "Hi"}, HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 303


# --- Results, polling ------------------------------------------------------------------------


def test_result_with_hx_request_is_the_partial(client, demo_env):
    hostname = demo_env.beat()
    task_id = demo_env.stream(started(hostname))
    response = client.get(reverse("inference:demo-result", args=[task_id]), **HTMX)
    html = body(response)
    assert response.status_code == 200
    assert "<html" not in html
    assert 'data-state="running"' in html
    assert "Running on a model worker…" in html and hostname not in html  # host stays internal
    assert "HX-Request" in response["Vary"]


def test_expired_result_is_a_clear_404_page(client, demo_env):
    response = client.get(reverse("inference:demo-result", args=["f" * 32]))
    assert response.status_code == 404
    assert "This result has expired or never existed." in body(response)


def test_poll_for_a_finished_task_stops_polling_with_286(client, demo_env):
    result = {"text": "The [MASK] sat.", "tokens": [], "masks": []}
    task_id = demo_env.stream(started("w@h"), done_event(result))
    response = client.get(reverse("inference:demo-poll", args=[task_id]), **HTMX)
    assert response.status_code == 286
    html = body(response)
    assert "hx-trigger" not in html
    assert 'data-state="done"' in html
    assert "tiny bert" in html
    assert "12,345 parameters" in html


def test_poll_long_polls_until_the_next_event(client, demo_env):
    hostname = demo_env.beat()
    task_id = demo_env.stream(started(hostname), kind="generate", params={"prompt": "Once"})
    cursor = streams.read_events(demo_env.client, task_id)[-1][0]
    timer = threading.Timer(0.3, streams.publish, (demo_env.client, task_id, token(0, " upon")))
    timer.start()
    began = time.monotonic()
    response = client.get(reverse("inference:demo-poll", args=[task_id]), {"after": cursor}, **HTMX)
    timer.join()
    assert time.monotonic() - began < 2
    assert response.status_code == 200
    html = body(response)
    assert '<span class="demo-token"' in html
    assert " upon</span>" in html
    assert 'hx-trigger="load"' in html
    new_cursor = streams.read_events(demo_env.client, task_id)[-1][0]
    assert f"?after={new_cursor}" in html


def test_poll_of_an_unknown_task_stops_with_a_message(client, demo_env):
    response = client.get(reverse("inference:demo-poll", args=["e" * 32]), **HTMX)
    assert response.status_code == 286
    assert "expired or never existed" in body(response)
    assert client.get(reverse("inference:demo-poll", args=["e" * 32])).status_code == 404


def test_worker_lost_error_has_a_try_again_link(client, demo_env):
    task_id = demo_env.stream(started("dead@host"), kind="tokenize")
    response = client.get(reverse("inference:demo-poll", args=[task_id]), **HTMX)
    assert response.status_code == 286
    html = body(response)
    assert "The model worker stopped while working on this. Please try again." in html
    assert f'href="{reverse("inference:demo-form", args=["tokenize"])}"' in html
    assert "Try again" in html


def test_try_again_keeps_the_input(client, demo_env):
    params = {"prompt": "Once & again", "max_new_tokens": 5, "do_sample": True, "seed": None}
    task_id = demo_env.stream(started("dead@host"), kind="generate", params=params)
    html = body(client.get(reverse("inference:demo-poll", args=[task_id]), **HTMX))
    assert (
        'href="/demos/generate/?prompt=Once+%26+again&amp;max_new_tokens=5&amp;do_sample=on"'
        in html
    )
    form = body(client.get("/demos/generate/?prompt=Once+%26+again&max_new_tokens=5&do_sample=on"))
    assert ">\nOnce &amp; again</textarea>" in form
    assert 'name="max_new_tokens" value="5"' in form
    assert (
        'name="do_sample" aria-describedby="id_do_sample_helptext" id="id_do_sample" checked'
        in form
    )
    unchecked = body(client.get("/demos/generate/?do_sample=false"))
    assert "checked" not in unchecked


def test_model_output_and_prompts_are_escaped(client, demo_env):
    params = {"prompt": XSS, "max_new_tokens": 2}
    result = {
        "prompt": XSS,
        "text": XSS,
        "tokens": [token(0, XSS)],
        "finish_reason": "length",
        "settings": {"do_sample": False},
    }
    task_id = demo_env.stream(started("w@h"), done_event(result), kind="generate", params=params)
    for response in (
        client.get(reverse("inference:demo-result", args=[task_id])),
        client.get(reverse("inference:demo-poll", args=[task_id]), **HTMX),
    ):
        html = body(response)
        assert XSS not in html
        assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html


@pytest.mark.parametrize(
    ("kind", "result", "expected"),
    [
        (
            "fill-mask",
            {
                "text": "a [MASK]",
                "tokens": ["[CLS]", "a", "[MASK]", "[SEP]"],
                "masks": [
                    {
                        "index": 2,
                        "predictions": [
                            {"token": "cat", "token_id": 5, "score": 0.4321, "sequence": "a cat"}
                        ],
                    }
                ],
            },
            ["cat", "43.2%", 'value="0.432100"', "a cat"],
        ),
        (
            "next-token",
            {
                "prompt": "The",
                "candidates": [{"token": " cat", "token_id": 3, "logit": 2.5, "prob": 0.25}],
                "logits_key": "demo:logits:abc",
            },
            ["␣cat", "25.0%", "Reshape the distribution", "/reshape/"],
        ),
        (
            "tokenize",
            {
                "text": "hi",
                "bert": {"tokens": ["[CLS]", "hi", "[SEP]"], "ids": [1, 2, 3], "name": "b"},
                "gpt": {"tokens": ["hi"], "raw_tokens": ["hi"], "ids": [9], "name": "g"},
            },
            ["BERT: 3 tokens", "GPT: 1 token", "id 9"],
        ),
        (
            "attention",
            {
                "text": "a b",
                "bert": {
                    "tokens": ["a", "b"],
                    "layers": 1,
                    "heads": 2,
                    "attentions": [[[[0.5, 0.5], [0.2, 0.8]], [[0.7, 0.3], [0.4, 0.6]]]],
                },
                "gpt": {
                    "tokens": ["a", "b"],
                    "layers": 1,
                    "heads": 1,
                    "attentions": [[[[1.0, 0.0], [0.3, 0.7]]]],
                },
            },
            ["averaged over 2 heads", "0.60", "0.40", "causal", "attn-masked"],
        ),
        (
            "embeddings",
            {
                "word": "bank",
                "sentence_a": "river bank",
                "sentence_b": "bank loan",
                "contextual": {"similarity": 0.4567, "word_pieces": ["bank"]},
                "sentence": {"similarity": 0.1234},
            },
            ["0.457", "0.123", "word pieces"],
        ),
        (
            "next-sentence",
            {
                "sentence_a": "A.",
                "sentence_b": "B.",
                "available": True,
                "is_next": 0.9,
                "not_next": 0.1,
            },
            ["90.0%", "10.0%", "B follows A"],
        ),
        (
            "next-sentence",
            {"sentence_a": "A.", "sentence_b": "B.", "available": False, "message": "No NSP head."},
            ["No NSP head."],
        ),
    ],
)
def test_each_kind_renders_its_result(client, demo_env, kind, result, expected):
    task_id = demo_env.stream(started("w@h"), done_event(result), kind=kind)
    response = client.get(reverse("inference:demo-result", args=[task_id]))
    assert response.status_code == 200
    html = body(response)
    for text in expected:
        assert text in html


def test_attention_averages_heads_of_the_last_layer():
    from inference.web.presenters import attention_layer

    view = {
        "tokens": ["a", "b"],
        "layers": 2,
        "heads": 2,
        "attentions": [
            [[[1, 0], [0, 1]], [[1, 0], [0, 1]]],
            [[[0.5, 0.5], [0.2, 0.8]], [[0.7, 0.3], [0.4, 0.6]]],
        ],
    }
    layer = attention_layer(view)
    assert layer["layer"] == 2
    assert [cell["value"] for cell in layer["rows"][0]["cells"]] == pytest.approx([0.6, 0.4])
    assert [cell["value"] for cell in layer["rows"][1]["cells"]] == pytest.approx([0.3, 0.7])


# --- Server-Sent Events ----------------------------------------------------------------------


def sse_frames(response) -> list[dict]:
    text = b"".join(response.streaming_content).decode()
    frames = []
    for block in text.split("\n\n"):
        fields = {}
        for line in block.splitlines():
            if line.startswith(":"):
                continue
            name, _, value = line.partition(": ")
            fields[name] = value
        if "event" in fields:
            frames.append(fields)
    return frames


def test_sse_streams_tokens_then_done(client, demo_env):
    hostname = demo_env.beat()
    task_id = demo_env.stream(started(hostname), token(0, " a"), kind="generate")

    def finish():
        streams.publish(demo_env.client, task_id, token(1, " b"))
        streams.publish(demo_env.client, task_id, done_event({"text": " a b"}))

    timer = threading.Timer(0.3, finish)
    timer.start()
    response = client.get(reverse("inference:demo-events", args=[task_id]))
    assert response["Content-Type"] == "text/event-stream; charset=utf-8"
    assert response["Cache-Control"] == "no-cache"
    frames = sse_frames(response)
    timer.join()
    assert [f["event"] for f in frames] == ["queued", "started", "token", "token", "done"]
    assert [json.loads(f["data"])["token"] for f in frames if f["event"] == "token"] == [" a", " b"]
    done = json.loads(frames[-1]["data"])
    assert done["text"] == " a b"
    assert done["model"]["name"] == "tiny bert"
    assert all(f.get("id") for f in frames)
    assert hostname not in "".join(f["data"] for f in frames)  # the host stays internal
    assert json.loads(frames[1]["data"])["worker"] == "a model worker"


def test_sse_ends_with_an_error_event(client, demo_env):
    task_id = demo_env.stream(started("dead@host"))
    frames = sse_frames(client.get(reverse("inference:demo-events", args=[task_id])))
    assert frames[-1]["event"] == "error"
    assert json.loads(frames[-1]["data"]) == {
        "code": "worker_lost",
        "message": "The model worker stopped while working on this. Please try again.",
    }


def test_sse_resumes_from_last_event_id(client, demo_env):
    task_id = demo_env.stream(started("w@h"), done_event())
    entries = streams.read_events(demo_env.client, task_id)
    response = client.get(
        reverse("inference:demo-events", args=[task_id]), HTTP_LAST_EVENT_ID=entries[1][0]
    )
    assert [f["event"] for f in sse_frames(response)] == ["done"]


def test_sse_resumed_after_the_last_event_says_again_how_it_ended(client, demo_env):
    # A client that reconnects with the id of the final event must not be left to
    # reconnect every two seconds forever: it gets the final event again, and the end.
    task_id = demo_env.stream(started("w@h"), done_event())
    entries = streams.read_events(demo_env.client, task_id)
    response = client.get(
        reverse("inference:demo-events", args=[task_id]), HTTP_LAST_EVENT_ID=entries[-1][0]
    )
    frames = sse_frames(response)
    assert [f["event"] for f in frames] == ["done"]
    assert frames[0]["id"] == entries[-1][0]
    assert json.loads(frames[0]["data"])["model"]["name"] == "tiny bert"


def test_sse_for_an_unknown_task_is_404(client, demo_env):
    assert client.get(reverse("inference:demo-events", args=["a" * 32])).status_code == 404


# --- JSON API --------------------------------------------------------------------------------


def test_api_submit_json(client, demo_env, sent_tasks):
    demo_env.beat()
    response = client.post(
        "/demos/api/next-token/",
        data=json.dumps({"prompt": "The capital of France is", "top_k": 5}),
        content_type="application/json",
    )
    assert response.status_code == 202
    data = response.json()
    task_id = sent_tasks[0]["task_id"]
    assert data == {
        "task_id": task_id,
        "status": "queued",
        "result_url": f"/demos/results/{task_id}/",
        "poll_url": f"/demos/results/{task_id}/poll/",
        "events_url": f"/demos/results/{task_id}/events",
        "api_url": f"/demos/api/results/{task_id}/",
    }
    assert sent_tasks[0]["kwargs"] == {"prompt": "The capital of France is", "top_k": 5}


def test_api_submit_form_encoded(client, demo_env, sent_tasks):
    demo_env.beat()
    response = client.post("/demos/api/tokenize/", {"text": "Hi"})
    assert response.status_code == 202
    assert sent_tasks[0]["kwargs"] == {"text": "Hi"}


@pytest.mark.parametrize(
    ("payload", "message", "field"),
    [
        ("{not json", "The request body isn't valid JSON.", None),
        ("[1, 2]", "Send the demo's settings as a JSON object.", None),
        ('{"text": ""}', "Type a sentence first.", "text"),
        ('{"text": "x", "top_k": 3}', "Put [MASK] where BERT should guess a word", "text"),
        (
            '{"text": "[MASK]", "top_k": "NaN"}',
            "Top-k must be a whole number from 1 to 100.",
            "top_k",
        ),
        (
            '{"text": "[MASK]", "colour": "red"}',
            "Unknown field for the fill-mask demo: colour",
            None,
        ),
    ],
)
def test_api_submit_bad_input_is_400(client, demo_env, sent_tasks, payload, message, field):
    demo_env.beat()
    response = client.post("/demos/api/fill-mask/", data=payload, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"].startswith(message)
    assert response.json()["field"] == field
    assert sent_tasks == []


def test_api_submit_errors(client, demo_env, sent_tasks, settings):
    assert client.post("/demos/api/poetry/", {"text": "x"}).status_code == 404
    assert client.get("/demos/api/tokenize/").status_code == 405
    response = client.post("/demos/api/tokenize/", {"text": "x"})
    assert response.status_code == 503
    assert response.json()["reason"] == "no_worker"
    settings.DEMO_RATE_LIMIT_IP = "1/m"
    demo_env.beat()
    client.post("/demos/api/tokenize/", {"text": "y"})
    response = client.post("/demos/api/tokenize/", {"text": "z"})
    assert response.status_code == 429
    assert int(response["Retry-After"]) >= 1


def test_api_submit_answers_from_cache_with_200(client, demo_env, sent_tasks):
    demo_env.beat()
    first = client.post("/demos/api/tokenize/", {"text": "cached"}).json()
    streams.publish(demo_env.client, first["task_id"], done_event())
    second = client.post("/demos/api/tokenize/", {"text": "cached"})
    assert second.status_code == 200
    assert second.json()["status"] == "cached"
    assert second.json()["task_id"] == first["task_id"]


def test_api_result(client, demo_env):
    task_id = demo_env.stream(started("w@h"), done_event({"masks": []}))
    data = client.get(reverse("inference:api-result", args=[task_id])).json()
    assert data["state"] == "done"
    assert data["result"]["masks"] == []
    assert data["error"] is None
    assert data["kind"] == "fill-mask"


def test_api_result_waits_for_the_result(client, demo_env):
    task_id = demo_env.stream(started(demo_env.beat()))
    timer = threading.Timer(0.4, streams.publish, (demo_env.client, task_id, done_event()))
    timer.start()
    began = time.monotonic()
    data = client.get(reverse("inference:api-result", args=[task_id]), {"wait": "5"}).json()
    timer.join()
    assert data["state"] == "done"
    assert time.monotonic() - began < 2.5


@pytest.mark.parametrize("wait", ["-1", "31", "soon", "nan"])
def test_api_result_refuses_bad_wait(client, demo_env, wait):
    task_id = demo_env.stream()
    response = client.get(reverse("inference:api-result", args=[task_id]), {"wait": wait})
    assert response.status_code == 400


def test_api_result_unknown_is_404_json(client, demo_env):
    response = client.get(reverse("inference:api-result", args=["b" * 32]))
    assert response.status_code == 404
    assert "expired or never existed" in response.json()["error"]


# --- Next-token re-shaping ----------------------------------------------------------------------


@pytest.fixture
def next_token_task(demo_env):
    logits = np.array([4.0, 3.0, 2.0, 1.0, 0.0] + [-5.0] * 95, dtype=np.float32)
    key = streams.LOGITS_PREFIX + "web-test-" + demo_env.queue
    vocab = [[i, f" w{i}"] for i in range(5)]
    streams.logits_store(demo_env.client, key, logits=logits.tobytes(), vocab=vocab)
    result = {"prompt": "Pick", "candidates": [], "logits_key": key}
    task_id = demo_env.stream(started("w@h"), done_event(result), kind="next-token")
    yield task_id
    demo_env.client.delete(key, key + ":vocab")


def test_reshape_json_sums_to_one_and_filters(client, next_token_task):
    url = reverse("inference:next-token-reshape", args=[next_token_task])
    data = client.get(url, {"temperature": "0.5", "top_k": "3", "format": "json"}).json()
    assert data["kept"] == 3
    assert data["vocab_size"] == 100
    assert len(data["rows"]) == 20
    assert sum(row["prob"] for row in data["rows"]) == pytest.approx(1.0)
    assert [row["kept"] for row in data["rows"][:4]] == [True, True, True, False]
    assert data["rows"][0]["token"] == " w0"


def test_reshape_html_partial_and_page(client, next_token_task):
    url = reverse("inference:next-token-reshape", args=[next_token_task])
    partial = client.get(url, {"temperature": "1", "top_p": "0.5"}, **HTMX)
    html = body(partial)
    assert "<html" not in html
    assert f'id="reshape-bars-{next_token_task}"' in html
    assert "␣w0" in html
    assert "filtered out" in html
    page = client.get(url)
    assert "<html" in body(page)
    assert "Prompt: <q>Pick</q>" in body(page)


def test_reshape_refuses_bad_knobs(client, next_token_task):
    url = reverse("inference:next-token-reshape", args=[next_token_task])
    assert client.get(url, {"temperature": "0"}).status_code == 400
    response = client.get(url, {"top_p": "2"}, **HTMX)
    assert response.status_code == 200
    assert "Top-p must be a number above 0 and at most 1." in body(response)
    assert client.get(url, {"top_k": "x", "format": "json"}).status_code == 400


def test_reshape_of_expired_logits_is_404(client, demo_env, next_token_task):
    demo_env.client.delete(streams.LOGITS_PREFIX + "web-test-" + demo_env.queue)
    url = reverse("inference:next-token-reshape", args=[next_token_task])
    assert client.get(url).status_code == 404


# --- Status ----------------------------------------------------------------------------------


def test_status_json_and_html(client, demo_env):
    hostname = demo_env.beat()
    data = client.get(reverse("inference:status"), {"format": "json"}).json()
    assert data["ready"] is True
    assert [w["name"] for w in data["workers"]] == ["model worker 1"]
    assert hostname not in json.dumps(data) and "pid" not in data["workers"][0]
    partial = body(client.get(reverse("inference:status"), **HTMX))
    assert "<html" not in partial
    assert "Model worker 1" in partial and hostname not in partial  # the page names no host
    assert "12,345 parameters" in partial
    assert "<html" in body(client.get(reverse("inference:status")))


# --- The web process never imports torch ---------------------------------------------------------


def test_web_modules_do_not_import_torch_or_transformers():
    script = textwrap.dedent(
        """
        import os, sys
        sys.path[:0] = [".", "site"]
        os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.test"
        import django
        django.setup()
        import inference.contract.errors, inference.contract.validation
        import inference.contract.streams, inference.contract.heartbeat, inference.contract.registry
        import inference.web.forms, inference.web.presenters, inference.web.reshape
        import inference.web.selectors, inference.web.services, inference.web.urls
        import inference.web.views
        from django.test import Client
        from django.test.utils import setup_test_environment
        setup_test_environment()
        assert Client().get("/demos/fill-mask/").status_code == 200
        heavy = sorted(m for m in ("torch", "transformers") if m in sys.modules)
        print("HEAVY", heavy)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert "HEAVY []" in out.stdout
