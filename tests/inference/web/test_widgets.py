"""Demo widgets on the server: every partial and form the widgets swap in.

Tasks are never sent to a broker here (``sent_tasks``); results are event streams written
into the test Redis db, shaped like the worker's, or stored examples recorded on the tiny
models (``stored_examples``).
"""

from __future__ import annotations

import re
import shutil
import threading

import pytest
from django.urls import reverse

from inference.contract import kinds, streams
from tests.inference import widget_support
from tests.inference.web_support import done_event, started
from tests.inference.widget_support import (
    SHIPPED_DEMO,
    inline_code,
    serve_demo_build,
    shipped_demo_examples,
)

stored_examples = widget_support.stored_examples  # the fixture, for this module

HTMX = {"HTTP_HX_REQUEST": "true"}


def body(response) -> str:
    return response.content.decode()


def token(index: int, text: str, prob: float, alternatives: list[tuple[str, float]]) -> dict:
    """A token event as the worker sends it: a chosen token among the listed top candidates
    carries the same id there."""
    ids = {t: 200 + i for i, (t, _) in enumerate(alternatives)}
    return {
        "type": "token",
        "index": index,
        "token": text,
        "token_id": ids.get(text, 100 + index),
        "raw": text.replace(" ", "␣"),
        "prob": prob,
        "alternatives": [
            {"token": t, "token_id": 200 + i, "prob": p} for i, (t, p) in enumerate(alternatives)
        ],
    }


FILL_MASK = {
    "text": "The [MASK] sat on the mat.",
    "tokens": ["[CLS]", "the", "[MASK]", "sat", "on", "the", "mat", ".", "[SEP]"],
    "masks": [
        {
            "index": 2,
            "predictions": [
                {"token": "cat", "token_id": 5, "score": 0.625, "sequence": "the cat sat"},
                {"token": "dog", "token_id": 6, "score": 0.25, "sequence": "the dog sat"},
            ],
        }
    ],
}


# --- The panel and its form ----------------------------------------------------------------


def test_a_widget_post_returns_that_widget_panel_and_keeps_the_url(client, demo_env, sent_tasks):
    demo_env.beat()
    response = client.post(
        "/demos/fill-mask/", {"text": "The [MASK] sat.", "top_k": "3", "widget": "demo-3"}, **HTMX
    )
    html = body(response)
    assert response.status_code == 200
    assert "HX-Push-Url" not in response  # a lesson's URL stays the lesson's
    assert html.lstrip().startswith('<div id="demo-3" class="demo-panel')
    assert 'id="demo-3-text"' in html and 'id="id_text"' not in html
    assert '<input type="hidden" name="widget" value="demo-3">' in html
    assert 'id="demo-3-result"' in html
    task_id = sent_tasks[0]["task_id"]
    poll = reverse("inference:demo-poll", args=[task_id])
    assert f'hx-get="{poll}?after=' in html and "&amp;w=demo-3" in html
    assert 'hx-target="closest .demo-result-region"' in html
    assert sent_tasks[0]["kwargs"] == {"text": "The [MASK] sat.", "top_k": 3}


@pytest.mark.parametrize("widget", ["<b>", "Demo-1", "x" * 60, ""])
def test_an_unusable_widget_id_means_the_standalone_panel(client, demo_env, sent_tasks, widget):
    demo_env.beat()
    response = client.post("/demos/tokenize/", {"text": "Hi", "widget": widget}, **HTMX)
    assert body(response).lstrip().startswith('<div id="demo-panel"')
    assert "HX-Push-Url" in response


def test_widget_errors_come_back_in_the_same_widget(client, demo_env, sent_tasks):
    response = client.post(
        "/demos/fill-mask/", {"text": "no blank here", "top_k": "5", "widget": "demo-2"}, **HTMX
    )
    html = body(response)
    assert response["X-Demo-Status"] == "400"
    assert html.lstrip().startswith('<div id="demo-2"')
    assert "Put [MASK] where BERT should guess a word" in html
    assert 'aria-invalid="true"' in html and 'id="demo-2-text"' in html
    assert sent_tasks == []


def test_with_no_worker_the_stored_result_for_the_same_input_still_shows(
    client, demo_env, sent_tasks, stored_examples
):
    example = next(e for e in stored_examples.examples if e.kind == "tokenize")
    data = {**example.params, "widget": "play-tokenize"}
    response = client.post("/demos/tokenize/", data, **HTMX)
    html = body(response)
    assert response["X-Demo-Status"] == "503"
    assert "No model worker is running right now" in html
    assert 'role="alert"' in html
    assert "Stored example result from" in html
    assert f'data-example="{example.id}"' in html
    assert sent_tasks == []


EARLIER_BUILD = "Recorded with an earlier build of the demo models"


def test_stored_results_from_an_earlier_demo_build_say_so_wherever_they_show(
    client, demo_env, sent_tasks, settings, tmp_path
):
    from inference.contract.examples import build_examples_path, write_example_set

    settings.INFERENCE_PROFILE = "demo"
    settings.DEMO_EXAMPLES_DIR = tmp_path / "shipped"
    (tmp_path / "shipped").mkdir()
    shutil.copy(SHIPPED_DEMO, tmp_path / "shipped" / "demo.json")  # no build named
    serve_demo_build(settings.MODELS_DIR, "r2")
    example = next(e for e in shipped_demo_examples() if e.kind == "fill-mask")

    playground = body(client.get(reverse("inference:playground")))
    assert playground.count("demo-stored-note") == len(kinds.names())
    assert playground.count('data-build="earlier"') == len(kinds.names())
    assert EARLIER_BUILD in playground
    chip = client.get(
        reverse("inference:example", args=[example.id]), {"w": "play-fill-mask"}, **HTMX
    )
    page = client.get(reverse("inference:demo-form", args=["fill-mask"]), {"example": example.id})
    # With no worker, a submit falls back on the stored result for the same input.
    fallback = client.post(
        "/demos/fill-mask/", {**example.params, "widget": "play-fill-mask"}, **HTMX
    )
    assert fallback["X-Demo-Status"] == "503" and sent_tasks == []
    for response in (chip, page, fallback):
        html = body(response)
        assert f'data-example="{example.id}"' in html and EARLIER_BUILD in html

    # The build records its own examples: the same results, now the served build's.
    write_example_set(
        build_examples_path(), profile="demo", examples=shipped_demo_examples(), build={"id": "r2"}
    )
    playground = body(client.get(reverse("inference:playground")))
    assert playground.count("demo-stored-note") == len(kinds.names())
    assert "Stored example result from" in playground
    assert 'data-build="earlier"' not in playground and EARLIER_BUILD not in playground


@pytest.mark.parametrize("kind", kinds.names())
def test_every_form_has_labels_for_its_controls(client, demo_env, kind):
    html = body(client.get(reverse("inference:demo-form", args=[kind])))
    form = html.split('<form id="demo-form-')[1].split("</form>")[0]
    ids = re.findall(r'<(?:input|textarea|select)[^>]*\bid="([^"]+)"', form)
    assert ids
    for control_id in ids:
        assert f'for="{control_id}"' in form, control_id


# --- Fill-mask: click a word to mask it -----------------------------------------------------


def test_fill_mask_result_offers_every_word_as_a_mask_button(client, demo_env):
    task_id = demo_env.stream(started("w@h"), done_event(FILL_MASK), kind="fill-mask")
    html = body(
        client.get(reverse("inference:demo-result", args=[task_id]), {"w": "demo-1"}, **HTMX)
    )
    buttons = re.findall(r'<button type="submit" name="text" value="([^"]*)"', html)
    # The blank is filled with BERT's top guess; each word, guess included, can be masked.
    assert buttons == [
        "[MASK] cat sat on the mat.",
        "The [MASK] sat on the mat.",
        "The cat [MASK] on the mat.",
        "The cat sat [MASK] the mat.",
        "The cat sat on [MASK] mat.",
        "The cat sat on the [MASK].",
    ]
    assert "Mask “cat” (BERT's guess) and ask again" in html
    assert '<input type="hidden" name="widget" value="demo-1">' in html
    assert '<input type="hidden" name="top_k" value="5">' in html  # the default top-k
    # Bars scaled to the largest shown (62.5% fills the track), each with its real number.
    assert 'class="demo-bar-fill" x="0" y="0" width="100"' in html and "62.5%" in html
    assert 'class="demo-bar-fill" x="0" y="0" width="40"' in html and "25.0%" in html
    assert "(bars scaled to the largest, 62.5%)" in html


def test_clicking_a_word_runs_the_masked_sentence(client, demo_env, sent_tasks):
    demo_env.beat()
    response = client.post(
        "/demos/fill-mask/",
        {"text": "The cat sat on the [MASK].", "top_k": "5", "widget": "demo-1"},
        **HTMX,
    )
    assert response.status_code == 200
    assert sent_tasks[0]["kwargs"] == {"text": "The cat sat on the [MASK].", "top_k": 5}
    assert ">\nThe cat sat on the [MASK].</textarea>" in body(response)


# --- Generation: streamed tokens, tooltips, same seed at a new temperature -------------------


def test_pending_generation_streams_over_sse(client, demo_env):
    hostname = demo_env.beat()
    task_id = demo_env.stream(
        started(hostname),
        token(0, " upon", 0.5, [(" upon", 0.5), (" a", 0.2)]),
        kind="generate",
        params={"prompt": "Once", "max_new_tokens": 4},
    )
    html = body(
        client.get(reverse("inference:demo-result", args=[task_id]), {"w": "demo-4"}, **HTMX)
    )
    cursor = streams.read_events(demo_env.client, task_id)[-1][0]
    stream_url = reverse("inference:demo-stream", args=[task_id])
    assert f'sse-connect="{stream_url}?after={cursor}&amp;w=demo-4"' in html
    assert 'hx-ext="sse"' in html and 'sse-close="end"' in html
    assert 'sse-swap="token" hx-swap="beforeend"' in html
    result_url = reverse("inference:demo-result", args=[task_id])
    assert f'hx-get="{result_url}?w=demo-4" hx-trigger="sse:end"' in html
    assert '<span class="demo-token" tabindex="0"' in html and " upon</span>" in html


def test_the_stream_sends_tokens_as_html_then_end(client, demo_env):
    hostname = demo_env.beat()
    task_id = demo_env.stream(kind="generate", params={"prompt": "Once"})
    cursor = streams.read_events(demo_env.client, task_id)[-1][0]

    def work():
        streams.publish(demo_env.client, task_id, started(hostname))
        streams.publish(demo_env.client, task_id, token(0, " upon", 0.6, [(" a", 0.3)]))
        streams.publish(demo_env.client, task_id, token(1, "<b>", 0.1, [(" time", 0.5)]))
        streams.publish(demo_env.client, task_id, done_event({"text": " upon<b>"}))

    timer = threading.Timer(0.2, work)
    timer.start()
    url = reverse("inference:demo-stream", args=[task_id])
    response = client.get(url, {"after": cursor, "w": "demo-4"})
    text = b"".join(response.streaming_content).decode()
    timer.join()
    assert response["Content-Type"] == "text/event-stream; charset=utf-8"
    frames = [block for block in text.split("\n\n") if "event:" in block]
    assert [re.search(r"event: (\w+)", f).group(1) for f in frames] == [
        "status",
        "token",
        "token",
        "end",
    ]
    assert all(re.search(r"^id: \d+-\d+$", f, re.M) for f in frames)
    assert "Generating on a model worker" in frames[0]  # never the worker's host name
    assert "@" not in frames[0]
    assert 'data: <span class="demo-token-wrap"><span class="demo-token" tabindex="0"' in frames[1]
    assert 'id="demo-4-' in frames[1] and "60.0%" in frames[1] and "It beat" in frames[1]
    assert "&lt;b&gt;" in frames[2] and "<b>" not in frames[2].replace("data: ", "")[:0]
    # Sampled below the one listed candidate: its rank isn't known, and the tip says so.
    assert "outside the top 1: p = 10.0%" in frames[2] and "rank" not in frames[2]


def test_the_stream_of_an_unknown_task_just_ends(client, demo_env):
    response = client.get(reverse("inference:demo-stream", args=["c" * 32]))
    text = b"".join(response.streaming_content).decode()
    assert "event: end" in text


def test_the_stream_resumes_after_the_last_event_id(client, demo_env):
    task_id = demo_env.stream(
        started("w@h"), token(0, " a", 0.5, []), token(1, " b", 0.5, []), done_event({})
    )
    entries = streams.read_events(demo_env.client, task_id)
    response = client.get(
        reverse("inference:demo-stream", args=[task_id]), HTTP_LAST_EVENT_ID=entries[2][0]
    )
    text = b"".join(response.streaming_content).decode()
    assert text.count("event: token") == 1 and "> b</span>" in text and "event: end" in text


def generate_result(settings: dict) -> dict:
    return {
        "prompt": "Once",
        "text": " upon a",
        "tokens": [
            token(0, " upon", 0.4, [(" upon", 0.4), (" there", 0.3)]),
            token(1, " a", 0.2, [(" the", 0.5), (" a", 0.2), (" one", 0.1)]),
        ],
        "finish_reason": "length",
        "settings": settings,
    }


def test_generated_tokens_show_probability_and_the_tokens_they_beat(client, demo_env):
    result = generate_result(
        {"do_sample": True, "temperature": 0.8, "top_k": 0, "top_p": 0.9, "seed": 7}
    )
    task_id = demo_env.stream(started("w@h"), done_event(result), kind="generate")
    html = body(client.get(reverse("inference:demo-result", args=[task_id]), **HTMX))
    tip = r'<span class="demo-tip" role="tooltip" id="([^"]+)">(.*?)</span></span>'
    tips = re.findall(tip + r'(?=<span class="demo-token-wrap"|</p>)', html)
    assert len(tips) == 2
    assert "40.0%" in tips[0][1] and "It beat" in tips[0][1] and "␣there" in tips[0][1]
    assert "drawn at rank 2" in tips[1][1] and "More likely, not drawn" in tips[1][1]
    assert f'aria-describedby="{tips[0][0]}"' in html


def test_a_token_drawn_outside_the_shown_top_says_so_honestly(client, demo_env):
    """Sampled below the five listed candidates: its rank is unknown and its probability
    rounds to 0.0%, so the tooltip says "outside the top 5: p < 0.1%" (not "0.0%, drawn at
    rank 6")."""
    top5 = [(" the", 0.4), (" a", 0.2), (" one", 0.1), (" his", 0.05), (" her", 0.04)]
    result = generate_result({"do_sample": True, "temperature": 1.6, "top_k": 0, "top_p": 1.0})
    result["tokens"].append(token(2, " zebra", 0.00002, top5))
    task_id = demo_env.stream(started("w@h"), done_event(result), kind="generate")
    html = body(client.get(reverse("inference:demo-result", args=[task_id]), **HTMX))
    tip = html.split('id="demo-panel-' + task_id[:12] + '-tip-2">')[1].split("</p>")[0]  # last
    assert "outside the top 5: p &lt; 0.1%" in tip
    assert not re.search(r"(?<![\d.])0\.0%", tip) and "rank" not in tip
    assert "More likely, not drawn" in tip and "␣the" in tip
    # The table's number says the same.
    assert "&lt; 0.1%" in html.split("<tbody>")[1]


def test_the_compare_form_resubmits_the_same_seed_at_a_new_temperature(client, demo_env):
    sampled = generate_result(
        {"do_sample": True, "temperature": 0.8, "top_k": 0, "top_p": 0.9, "seed": None,
         "seed_used": 1234, "max_new_tokens": 2}
    )  # fmt: skip
    task_id = demo_env.stream(started("w@h"), done_event(sampled), kind="generate")
    html = body(
        client.get(reverse("inference:demo-result", args=[task_id]), {"w": "demo-5"}, **HTMX)
    )
    form = html.split('class="demo-compare-form"')[1].split("</form>")[0]
    assert f'hx-post="{reverse("inference:generate-compare")}"' in form
    assert 'name="seed" value="1234"' in form  # the random seed that was actually used
    assert 'name="top_p" value="0.9"' in form and 'name="do_sample" value="on"' in form
    assert 'type="range"' in form and 'name="temperature"' in form and 'value="1.5"' in form
    assert "Same seed, new temperature" in html
    greedy = generate_result({"do_sample": False, "temperature": 1.0, "top_k": 0, "top_p": 1.0})
    task_id = demo_env.stream(started("w@h"), done_event(greedy), kind="generate")
    html = body(client.get(reverse("inference:demo-result", args=[task_id]), **HTMX))
    assert 'name="seed" value="42"' in html and "Greedy decoding ignores temperature" in html


def test_compare_runs_a_new_task_shown_in_the_compare_column(client, demo_env, sent_tasks):
    demo_env.beat()
    data = {
        "widget": "demo-5",
        "prompt": "Once",
        "max_new_tokens": "2",
        "do_sample": "on",
        "temperature": "1.5",
        "top_k": "0",
        "top_p": "0.9",
        "seed": "1234",
    }
    response = client.post(reverse("inference:generate-compare"), data, **HTMX)
    html = body(response)
    assert sent_tasks[0]["kwargs"] == {
        "prompt": "Once",
        "max_new_tokens": 2,
        "do_sample": True,
        "temperature": 1.5,
        "top_k": 0,
        "top_p": 0.9,
        "seed": 1234,
    }
    assert html.lstrip().startswith('<div class="demo-result demo-state-queued')
    assert "demo-result-compact" in html and "&amp;w=demo-5" in html
    assert "Same seed, new temperature" not in html  # no nested comparisons
    plain = client.post(reverse("inference:generate-compare"), {**data, "seed": "99"})
    assert plain.status_code == 303


def test_compare_shows_what_is_wrong_in_place(client, demo_env, sent_tasks):
    data = {"prompt": "Once", "do_sample": "on", "temperature": "9", "seed": "1"}
    response = client.post(reverse("inference:generate-compare"), data, **HTMX)
    assert response.status_code == 200
    assert 'role="alert"' in body(response)
    assert "Temperature must be a number from 0.01 to 5." in body(response)
    assert sent_tasks == []
    assert client.post(reverse("inference:generate-compare"), data).status_code == 400


# --- Next token: sliders reshape the bars --------------------------------------------------------


def test_next_token_result_has_sliders_and_bars(client, demo_env):
    result = {
        "prompt": "The",
        "candidates": [
            {"token": " cat", "token_id": 3, "logit": 2.5, "prob": 0.25},
            {"token": " dog", "token_id": 4, "logit": 1.5, "prob": 0.125},
        ],
        "logits_key": "demo:logits:abc",
        "vocab_size": 50257,
    }
    task_id = demo_env.stream(started("w@h"), done_event(result), kind="next-token")
    html = body(
        client.get(reverse("inference:demo-result", args=[task_id]), {"w": "demo-6"}, **HTMX)
    )
    reshape = reverse("inference:next-token-reshape", args=[task_id])
    assert f'hx-get="{reshape}"' in html and 'hx-target="next .demo-reshape-bars"' in html
    assert 'hx-trigger="input changed delay:120ms, submit"' in html
    for name in ("temperature", "top_k", "top_p"):
        control = re.search(rf'<input type="range" id="([^"]+)" name="{name}"', html)
        assert control and f'<label for="{control.group(1)}">' in html
        assert f'<output id="{control.group(1)}-out" for="{control.group(1)}">' in html
    assert "50,257 of 50,257 tokens can be sampled" in html
    assert 'class="demo-bar-fill" x="0" y="0" width="50"' in html  # 12.5% of a 25% top
    assert "25.0%" in html and "12.5%" in html and "␣dog" in html


def test_reshape_bars_show_the_new_and_the_old_probability(client, demo_env):
    import numpy as np

    logits = np.array([2.0, 1.0, 0.0, -1.0], dtype=np.float32)
    key = streams.LOGITS_PREFIX + "widget-" + demo_env.queue
    vocab = [[0, " a"], [1, " b"]]
    streams.logits_store(demo_env.client, key, logits=logits.tobytes(), vocab=vocab)
    result = {"prompt": "P", "candidates": [], "logits_key": key}
    task_id = demo_env.stream(started("w@h"), done_event(result), kind="next-token")
    url = reverse("inference:next-token-reshape", args=[task_id])
    html = body(client.get(url, {"temperature": "0.5", "top_k": "2", "top_p": "1"}, **HTMX))
    assert html.lstrip().startswith(f'<div id="reshape-bars-{task_id}" class="demo-reshape-bars">')
    assert "2 of 4 tokens can be sampled" in html
    assert 'class="demo-bar-ghost"' in html  # the outline at temperature 1
    assert "filtered out" in html and "was " in html
    demo_env.client.delete(key, key + ":vocab")


# --- Attention: layer, head and position without a new task -------------------------------


ATTENTION = {
    "text": "a b c",
    "bert": {
        "tokens": ["[CLS]", "a", "b", "[SEP]"],
        "layers": 2,
        "heads": 2,
        "attentions": [
            [[[0.25] * 4] * 4, [[0.25] * 4] * 4],
            [[[0.7, 0.1, 0.1, 0.1]] * 4, [[0.1, 0.1, 0.1, 0.7]] * 4],
        ],
    },
    "gpt": {
        "tokens": ["a", "␣b", "␣c"],
        "layers": 1,
        "heads": 2,
        "attentions": [
            [
                [[1.0, 0, 0], [0.5, 0.5, 0], [0.2, 0.3, 0.5]],
                [[1.0, 0, 0], [0.9, 0.1, 0], [0.6, 0.2, 0.2]],
            ]
        ],
    },
}


@pytest.fixture
def attention_task(demo_env):
    return demo_env.stream(started("w@h"), done_event(ATTENTION), kind="attention")


def test_attention_result_has_layer_and_head_selectors_and_position_buttons(client, attention_task):
    html = body(client.get(reverse("inference:demo-result", args=[attention_task]), **HTMX))
    url = reverse("inference:attention-view", args=[attention_task])
    assert f'hx-get="{url}" hx-trigger="change, submit"' in html
    assert re.search(r'<label for="([^"]+-bert-layer)">Layer</label>\s*<select id="\1"', html)
    assert '<option value="2" selected>2 of 2</option>' in html
    assert '<option value="0" selected>All 2 (average)</option>' in html
    assert html.count('class="demo-row-pick"') == 4 + 3
    # GPT's masked upper triangle: hatched, labelled, never a bare colour.
    assert html.count('<td class="attn-masked"') == 3
    assert html.count('<span class="visually-hidden">masked</span>') == 3
    assert "1 of 3 tokens: itself and the ones before it" not in html
    assert "2 of 3 tokens: itself and the ones before it" in html  # middle token by default


def test_switching_head_and_position_rerenders_from_the_stored_result(client, attention_task):
    url = reverse("inference:attention-view", args=[attention_task])
    query = {"w": "demo-7", "bert_layer": "2", "bert_head": "2", "gpt_head": "1", "gpt_pick": "0"}
    html = body(client.get(url, query, **HTMX))
    assert html.lstrip().startswith('<form class="demo-attention-maps"')
    assert "layer 2 of 2, head 2 of 2" in html
    assert '<td class="attn attn-8" title="“a” → “[SEP]”: 0.70">70</td>' in html
    assert "What can “a” (position 1) see?" in html
    assert "1 of 3 tokens: itself and the ones before it" in html
    assert "The 2 later tokens are hidden from it." in html
    assert 'id="demo-7-' in html


@pytest.mark.parametrize(
    "query", [{"bert_layer": "99", "bert_head": "-3"}, {"bert_layer": "x", "gpt_pick": "7"}]
)
def test_out_of_range_selections_fall_back_to_sensible_ones(client, attention_task, query):
    response = client.get(reverse("inference:attention-view", args=[attention_task]), query, **HTMX)
    assert response.status_code == 200
    assert "layer 2 of 2, averaged over 2 heads" in body(response)


def test_attention_view_for_other_results_is_a_clear_miss(client, demo_env, attention_task):
    other = demo_env.stream(started("w@h"), done_event(FILL_MASK), kind="fill-mask")
    response = client.get(reverse("inference:attention-view", args=[other]), **HTMX)
    assert response.status_code == 286
    assert "isn&#x27;t a finished attention result" in body(response)
    assert client.get(reverse("inference:attention-view", args=["d" * 32])).status_code == 404
    page = client.get(reverse("inference:attention-view", args=[attention_task]))
    assert page.status_code == 200 and "<html" in body(page) and "Who attends to whom" in body(page)


# --- Tokenize, embeddings, next sentence ---------------------------------------------------


def test_tokenizations_are_aligned_word_by_word(client, demo_env):
    result = {
        "text": "Hi there",
        "bert": {
            "tokens": ["[CLS]", "hi", "the", "##re", "[SEP]"],
            "ids": [1, 2, 3, 4, 5],
            "offsets": [[0, 0], [0, 2], [3, 6], [6, 8], [0, 0]],
        },
        "gpt": {"tokens": ["Hi", "␣there"], "ids": [7, 8], "offsets": [[0, 2], [2, 8]]},
    }
    task_id = demo_env.stream(started("w@h"), done_event(result), kind="tokenize")
    html = body(client.get(reverse("inference:demo-result", args=[task_id]), **HTMX))
    columns = re.findall(r'<li class="demo-align-col[^"]*">(.*?)</li>', html, re.S)
    text = [re.sub(r"<[^>]+>", " ", c).split() for c in columns]
    assert text == [
        ["special", "BERT:", "[CLS]", "GPT:", "–"],
        ["Hi", "BERT:", "hi", "GPT:", "Hi"],
        ["there", "BERT:", "the", "##re", "GPT:", "␣there"],
        ["special", "BERT:", "[SEP]", "GPT:", "–"],
    ]
    assert "The two tokenizations" in html and "model-gpt2" not in html


def test_gpt2s_real_tokenizer_is_a_third_labelled_row(client, demo_env):
    result = {
        "text": "Hi there",
        "bert": {
            "tokens": ["[CLS]", "hi", "there", "[SEP]"],
            "ids": [1, 2, 3, 4],
            "offsets": [[0, 0], [0, 2], [3, 8], [0, 0]],
            "scheme": "WordPiece",
            "vocab_size": 30522,
            "name": "demo BERT",
        },
        "gpt": {
            "tokens": ["[CLS]", "hi", "there"],
            "ids": [1, 2, 3],
            "offsets": [[0, 0], [0, 2], [3, 8]],
            "scheme": "WordPiece",
            "vocab_size": 30522,
            "shares_bert_vocabulary": True,
            "name": "demo GPT",
        },
        "gpt2": {
            "tokens": ["Hi", "␣there"],
            "raw_tokens": ["Hi", "Ġthere"],
            "ids": [17250, 612],
            "offsets": [[0, 2], [2, 8]],
            "scheme": "byte-level BPE",
            "vocab_size": 50257,
            "name": "gpt2 (OpenAI's encoder.json and vocab.bpe)",
        },
    }
    task_id = demo_env.stream(started("w@h"), done_event(result), kind="tokenize")
    html = body(client.get(reverse("inference:demo-result", args=[task_id]), **HTMX))
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html)).replace("&#x27;", "'")

    assert (
        "GPT-2's tokenizer (byte-level BPE, 50,257 tokens; the real gpt2 files): 2 tokens" in text
    )
    assert "GPT (shares BERT's WordPiece): 3 tokens" in text
    assert "BERT: 4 tokens" in text
    assert "doesn't use byte-level BPE (shares BERT's WordPiece), so the GPT-2 row" in text
    assert "The three tokenizations, word by word" in html
    legend = re.search(r'<li class="demo-align-col demo-align-legend"[^>]*>(.*?)</li>', html, re.S)
    assert re.sub(r"<[^>]+>", " ", legend.group(1)).split() == ["Text", "BERT", "GPT", "GPT-2"]
    columns = re.findall(
        r'<li class="demo-align-col(?! demo-align-legend)[^"]*">(.*?)</li>', html, re.S
    )
    words = [re.sub(r"<[^>]+>", " ", c).split() for c in columns]
    assert words == [
        ["special", "BERT:", "[CLS]", "GPT:", "[CLS]", "GPT-2:", "–"],
        ["Hi", "BERT:", "hi", "GPT:", "hi", "GPT-2:", "Hi"],
        ["there", "BERT:", "there", "GPT:", "there", "GPT-2:", "␣there"],
        ["special", "BERT:", "[SEP]", "GPT:", "–", "GPT-2:", "–"],
    ]
    assert 'title="id 17250"' in html
    assert 'class="demo-align-row model-gpt2"' in html
    assert inline_code(html) == []


def test_embeddings_mark_the_word_and_draw_signed_bars(client, demo_env):
    result = {
        "word": "bank",
        "sentence_a": "The river Bank.",
        "sentence_b": "A bank loan.",
        "contextual": {"similarity": -0.5, "word_pieces": ["bank"]},
        "sentence": {"similarity": 0.25},
    }
    task_id = demo_env.stream(started("w@h"), done_event(result), kind="embeddings")
    html = body(client.get(reverse("inference:demo-result", args=[task_id]), **HTMX))
    assert "The river <mark>Bank</mark>." in html and "A <mark>bank</mark> loan." in html
    assert 'class="demo-bar-fill demo-bar-negative" x="25" y="0" width="25"' in html
    assert 'class="demo-bar-fill" x="50" y="0" width="12.5"' in html
    assert "-0.500" in html and "0.250" in html


def test_next_sentence_bars_and_verdict(client, demo_env):
    result = {"sentence_a": "A.", "sentence_b": "B.", "available": True, "is_next": 0.2,
              "not_next": 0.8}  # fmt: skip
    task_id = demo_env.stream(started("w@h"), done_event(result), kind="next-sentence")
    html = body(client.get(reverse("inference:demo-result", args=[task_id]), **HTMX))
    # Scaled to the larger of the two (80%): 20% is a quarter of it.
    assert 'class="demo-bar-fill" x="0" y="0" width="25"' in html and "20.0%" in html
    assert 'class="demo-bar-fill" x="0" y="0" width="100"' in html and "80.0%" in html
    assert "B doesn't follow A" in html


# --- Model card, status strip --------------------------------------------------------------


def test_every_result_carries_the_model_card(client, demo_env):
    task_id = demo_env.stream(started("w@h"), done_event(FILL_MASK), kind="fill-mask")
    html = body(client.get(reverse("inference:demo-result", args=[task_id]), **HTMX))
    card = html.split('<ul class="demo-models" aria-label="Model card">')[1].split("</ul>")[0]
    for text in ("tiny bert", "12,345 parameters", "cpu float32", "profile tiny", "12.5 ms"):
        assert text in card


def test_the_status_strip_refreshes_itself_until_a_worker_is_ready(client, demo_env, settings):
    html = body(client.get(reverse("inference:status"), **HTMX))
    assert 'hx-trigger="load delay:5s"' in html and "No model worker is running" in html
    demo_env.beat()
    html = body(client.get(reverse("inference:status"), **HTMX))
    assert "hx-trigger" not in html and "Ready" in html


def test_the_status_strip_shows_the_demo_build_progress(client, demo_env, settings):
    import json
    import time

    progress = settings.MODELS_DIR / "demo" / "progress.json"
    progress.parent.mkdir(parents=True)
    progress.write_text(
        json.dumps(
            {
                "state": "building",
                "stage": "bert",
                "percent": 43.2,
                "eta_seconds": 300,
                "updated_at": time.time(),
            }
        )  # fmt: skip
    )
    html = body(client.get(reverse("inference:status"), **HTMX))
    assert "The demo models are being prepared (bert): 43%" in html
    assert '<progress id="demo-build-progress" max="100" value="43.200000">' in html
    assert "about 5 min left" in html


def write_build_progress(settings, **data) -> None:
    import json
    import time

    progress = settings.MODELS_DIR / "demo" / "progress.json"
    progress.parent.mkdir(parents=True, exist_ok=True)
    progress.write_text(json.dumps({"state": "building", "updated_at": time.time(), **data}))


def test_the_status_strip_says_the_demos_run_on_an_early_checkpoint(client, demo_env, settings):
    settings.INFERENCE_PROFILE = "demo"
    write_build_progress(settings, stage="gpt", percent=38.4, eta_seconds=600)
    demo_env.beat(profile="demo", release={"id": "e1", "stage": "early"})
    html = body(client.get(reverse("inference:status"), **HTMX))
    assert "The demos run on an early checkpoint while training continues: 38% done" in html
    assert '<progress id="demo-build-progress" max="100" value="38.400000">' in html
    assert "the finished models take over in about 10 min" in html
    assert "being prepared" not in html
    assert 'hx-trigger="load delay:15s"' in html  # keeps refreshing until the final swap
    assert "finished build" not in html


def test_the_status_strip_says_so_when_the_early_checkpoint_is_all_there_is(
    client, demo_env, settings
):
    settings.INFERENCE_PROFILE = "demo"
    write_build_progress(settings, state="failed", stage="gpt", percent=40)
    demo_env.beat(profile="demo", release={"id": "e1", "stage": "early"})
    html = body(client.get(reverse("inference:status"), **HTMX))
    assert "The demos run on an early checkpoint; the training stopped before" in html
    assert "<progress" not in html


def test_the_status_strip_says_the_demos_run_on_the_finished_build(client, demo_env, settings):
    settings.INFERENCE_PROFILE = "demo"
    write_build_progress(settings, state="done", stage="saving", percent=100)
    demo_env.beat(profile="demo", release={"id": "f2", "stage": "final"})
    html = body(client.get(reverse("inference:status"), **HTMX))
    assert "The demos run on the finished build." in html
    assert "early checkpoint" not in html
    assert "hx-trigger" not in html


# --- Nothing the CSP would block -----------------------------------------------------------


def test_no_partial_needs_inline_script_or_style(client, demo_env, attention_task):
    generate = demo_env.stream(
        started("w@h"),
        done_event(generate_result({"do_sample": True, "temperature": 1, "seed": 1})),
        kind="generate",
    )
    fill = demo_env.stream(started("w@h"), done_event(FILL_MASK), kind="fill-mask")
    pending = demo_env.stream(started(demo_env.beat()), kind="generate", params={"prompt": "x"})
    pages = [
        client.get(reverse("inference:demo-result", args=[task]), **headers)
        for task in (generate, fill, pending, attention_task)
        for headers in ({}, HTMX)
    ]
    pages.append(client.get(reverse("inference:attention-view", args=[attention_task]), **HTMX))
    pages.append(client.get(reverse("inference:status"), **HTMX))
    for response in pages:
        assert inline_code(body(response)) == [], response.request["PATH_INFO"]
