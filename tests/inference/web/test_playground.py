"""The playground, its stored examples, and the demo models' training page."""

from __future__ import annotations

import json
import re
import time

import pytest
from django.core.management import call_command
from django.urls import reverse

from inference.contract import kinds
from tests.inference import widget_support
from tests.inference.widget_support import inline_code

stored_examples = widget_support.stored_examples  # the fixture, for this module

HTMX = {"HTTP_HX_REQUEST": "true"}


def body(response) -> str:
    return response.content.decode()


def test_the_playground_is_the_demos_home(client, demo_env):
    assert reverse("inference:playground") == reverse("inference:demo-index") == "/demos/"


def test_the_playground_shows_every_demo_with_a_stored_result(client, demo_env, stored_examples):
    html = body(client.get(reverse("inference:playground")))
    for kind in kinds.names():
        panel = html.split(f'<div id="play-{kind}" class="demo-panel')[1]
        panel = panel.split('<div id="play-')[0]
        assert f'action="{reverse("inference:demo-submit", args=[kind])}"' in panel
        assert '<input type="hidden" name="widget" value="play-' in panel
        assert "Stored example result from tiny" in panel, kind
        assert 'class="demo-chip"' in panel
    # The date and the model that produced them are named.
    example = stored_examples.examples[0]
    assert example.recorded.strftime("%-d %B %Y") in html
    assert "(random weights)" in html
    assert 'id="demo-status"' in html
    assert inline_code(html) == []


def test_without_stored_examples_the_playground_still_works(client, demo_env, settings, tmp_path):
    settings.DEMO_EXAMPLES_DIR = tmp_path
    html = body(client.get(reverse("inference:playground")))
    assert "Stored example" not in html
    assert html.count('class="demo-empty"') == len(kinds.names())
    assert "Press “Guess the missing words” to run the model" in html


def test_a_broken_examples_file_is_ignored(client, demo_env, settings, tmp_path):
    settings.DEMO_EXAMPLES_DIR = tmp_path
    (tmp_path / "tiny.json").write_text("{not json")
    assert client.get(reverse("inference:playground")).status_code == 200


def test_an_example_chip_swaps_in_that_example(client, demo_env, stored_examples):
    example = next(
        e for e in stored_examples.examples if e.kind == "generate" and e.params["do_sample"]
    )
    response = client.get(
        reverse("inference:example", args=[example.id]), {"w": "play-generate"}, **HTMX
    )
    html = body(response)
    assert html.lstrip().startswith('<div id="play-generate" class="demo-panel')
    assert f'data-example="{example.id}"' in html
    assert 'aria-current="true"' in html
    assert f'name="seed" value="{example.params["seed"]}"' in html
    checkbox = r'<input type="checkbox" name="do_sample"[^>]*id="play-generate-do_sample" checked'
    assert re.search(checkbox, html)
    # Each generated token of the stored result carries its tooltip.
    assert html.count('role="tooltip"') == len(example.result["tokens"])


def test_an_example_link_without_htmx_opens_the_demo_page(client, demo_env, stored_examples):
    example = next(e for e in stored_examples.examples if e.kind == "fill-mask")
    response = client.get(reverse("inference:example", args=[example.id]))
    assert response.status_code == 302
    page = body(client.get(response["Location"]))
    assert f'data-example="{example.id}"' in page
    assert example.params["text"] in page


@pytest.mark.parametrize("example_id", ["nope", "fill-mask-0000000000", "../../etc"])
def test_an_unknown_example_is_404(client, demo_env, stored_examples, example_id):
    assert client.get(f"/demos/examples/{example_id}/").status_code == 404


def test_a_stored_next_token_example_reshapes_from_its_stored_logits(
    client, demo_env, stored_examples
):
    example = next(e for e in stored_examples.examples if e.kind == "next-token")
    url = reverse("inference:example-reshape", args=[example.id])
    plain = client.get(url, {"format": "json"}).json()
    candidates = example.result["candidates"]
    assert [r["token_id"] for r in plain["rows"][: len(candidates)]] == [
        c["token_id"] for c in candidates
    ]
    for row, candidate in zip(plain["rows"], candidates, strict=False):
        assert row["prob"] == pytest.approx(candidate["prob"], rel=1e-3, abs=1e-6)
    cut = client.get(url, {"top_k": "3", "temperature": "0.5", "format": "json"}).json()
    assert cut["kept"] == 3
    assert sum(r["prob"] for r in cut["rows"]) == pytest.approx(1.0)
    partial = body(client.get(url, {"top_p": "0.2"}, **HTMX))
    assert 'class="demo-reshape-bars"' in partial and "<html" not in partial
    page = client.get(reverse("inference:demo-form", args=["next-token"]), {"example": example.id})
    assert f'hx-get="{url}"' in body(page)


def test_a_stored_attention_example_switches_layers_without_a_task(
    client, demo_env, stored_examples, sent_tasks
):
    example = next(e for e in stored_examples.examples if e.kind == "attention")
    url = reverse("inference:example-attention", args=[example.id])
    html = body(client.get(url, {"gpt_head": "2", "w": "play-attention"}, **HTMX))
    layers = example.result["gpt"]["layers"]
    assert f"layer {layers} of {layers}, head 2 of" in html
    assert sent_tasks == []
    assert client.get(reverse("inference:example-reshape", args=[example.id])).status_code == 404


def test_the_demo_page_shows_the_stored_result_for_its_starting_input(
    client, demo_env, stored_examples
):
    html = body(client.get(reverse("inference:demo-form", args=["tokenize"])))
    assert "Stored example result from" in html
    html = body(client.get(reverse("inference:demo-form", args=["tokenize"]), {"text": "zzz qqq"}))
    assert "Stored example" not in html  # nothing was recorded for that input


# --- Training curves ---------------------------------------------------------------------------


def test_training_page_before_a_build(client, demo_env):
    html = body(client.get(reverse("inference:training")))
    assert "haven't been built on this machine yet" in html
    assert "build_demo_models" in html


def test_training_page_while_building_shows_progress(client, demo_env, settings):
    folder = settings.MODELS_DIR / "demo"
    folder.mkdir(parents=True)
    (folder / "progress.json").write_text(
        json.dumps(
            {
                "state": "building",
                "stage": "gpt",
                "percent": 61.5,
                "eta_seconds": 150,
                "updated_at": time.time(),
            }
        )  # fmt: skip
    )
    html = body(client.get(reverse("inference:training")))
    assert "The demo models are being prepared (gpt): 62%" in html
    assert '<progress id="training-build-progress" max="100" value="61.500000">' in html


@pytest.fixture(scope="module")
def quick_models(tmp_path_factory):
    """A real (quick) ``build_demo_models`` run: seconds, tiny models, a real record."""
    models_dir = tmp_path_factory.mktemp("quick-models")
    call_command("build_demo_models", "--quick", "--no-progress", "--dir", str(models_dir))
    return models_dir


def test_training_page_draws_the_real_loss_curves(client, demo_env, settings, quick_models):
    settings.MODELS_DIR = quick_models
    settings.INFERENCE_PROFILE = "demo"
    record = json.loads((quick_models / "demo" / "training.json").read_text())
    html = body(client.get(reverse("inference:training")))
    assert '<svg class="demo-linechart"' in html and 'role="img"' in html
    # Three lines, drawn twice: the wide chart and the phone's narrower one (CSS shows one).
    assert html.count('<polyline class="chart-line') == 6
    assert 'stroke-dasharray="6 4"' in html  # next-sentence loss, dashed as well as coloured
    last_mlm = record["models"]["bert"]["loss_curve"][-1]["mlm_loss"]
    assert f"BERT masked LM {last_mlm:.2f}" in html
    last_gpt = record["models"]["gpt"]["loss_curve"][-1]["loss"]
    assert f"GPT causal LM {last_gpt:.2f}" in html
    assert f"{record['models']['bert']['parameters']:,} parameters" in html
    assert f"{record['corpus']['words']:,} words" in html
    assert "perplexity" in html and "next-sentence accuracy" in html
    # and what is left of it when random second sentences share a word as often as real ones
    balanced = record["models"]["bert"]["heldout"]["nsp_word_balanced"]
    assert "falls to" in html and "share a word with the first as often" in html
    assert f"falls to {balanced['nsp_accuracy'] * 100:.1f}%" in html
    assert "not directly comparable" in html
    # Every point is inside the chart's plot area.
    for points in re.findall(r'<polyline class="chart-line[^"]*" points="([^"]+)"', html):
        for pair in points.split():
            x, y = (float(v) for v in pair.split(","))
            assert 0 <= x <= 640 and 0 <= y <= 320
    assert inline_code(html) == []


def test_training_page_notes_when_another_profile_serves_the_demos(
    client, demo_env, settings, quick_models
):
    settings.MODELS_DIR = quick_models
    settings.INFERENCE_PROFILE = "full"
    assert "running the <strong>full</strong> profile" in body(client.get("/demos/training/"))


def test_the_status_strip_names_no_worker_host(client, demo_env):
    """Learners read "Model worker 1", never a worker's host name (an internal detail)."""
    demo_env.beat(hostname="inference@vm-internal-7")
    html = body(client.get(reverse("inference:playground")))
    assert "Model worker 1" in html
    assert "inference@vm" not in html and "vm-internal" not in html
    status = body(client.get(reverse("inference:status")))
    assert "Model worker 1" in status and "vm-internal" not in status


def test_a_running_demo_says_a_model_worker_not_its_host(client, demo_env):
    from tests.inference.web_support import started

    hostname = demo_env.beat(hostname="inference@vm-internal-7")  # alive: still running
    task_id = demo_env.stream(started(hostname), kind="fill-mask")
    html = body(client.get(reverse("inference:demo-result", args=[task_id]), **HTMX))
    assert "Running on a model worker…" in html
    assert "vm-internal" not in html
    # The status line is where focus goes after a run (demo-widgets.js).
    assert re.search(r'<p class="demo-status" tabindex="-1" data-result-status>', html)


def test_on_a_phone_the_training_chart_is_narrower_and_names_its_lines_in_a_legend(
    client, demo_env, settings, tmp_path
):
    from tests.inference.web.test_training_report import record, write

    write(settings, tmp_path, record())
    settings.INFERENCE_PROFILE = "demo"
    html = body(client.get(reverse("inference:training")))
    wide = html.split('<svg class="demo-linechart"')[1].split("</svg>")[0]
    phone = html.split('<svg class="demo-linechart-phone" viewBox="0 0 360 300"')[1]
    phone = phone.split("</svg>")[0]
    assert wide.count("<polyline") == phone.count("<polyline") == 3
    assert "BERT masked LM 1.00" in wide and "chart-end" not in phone  # no room at its end
    legend = html.split('<ul class="chart-legend">')[1].split("</ul>")[0]
    assert "BERT masked LM: 1.00 at the end" in legend and "GPT causal LM: 5.00" in legend
    assert 'id="loss-chart-phone-title"' in phone and 'id="loss-chart-title"' in wide
