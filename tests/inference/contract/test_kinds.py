"""A new demo kind is one row in ``inference.contract.kinds`` plus its validator, runner, form,
presenter and template: nothing else in the tree is edited.

The made-up "word-count" demo below is registered for one test and then goes through
everything a real demo does: its form page and playground section, a form post that
sends its task to the broker, its Celery task run as the worker runs it, the result
partial drawn by its template with its presenter's context, and the JSON API.
"""

from __future__ import annotations

import json

import pytest
from django import forms
from django.urls import reverse

from inference.contract import kinds, streams, validation
from inference.web.forms import DemoForm, form_class
from inference.worker import tasks

NAME = "word-count"
HTMX = {"HTTP_HX_REQUEST": "true"}


def validate_word_count(*, text=None) -> dict:
    text = validation.clean_text(
        text, field="text", label="The text", empty_message="Type some words first."
    )
    return {"text": text}


class WordCountForm(DemoForm):
    kind = NAME
    text = forms.CharField(required=False, label="Text", initial="The cat sat on the mat.")


def present_word_count(result: dict, params: dict) -> dict:
    return {"longest": max(result["words"], key=len)}


def run_word_count(runtime, cleaned: dict, job) -> dict:
    words = cleaned["text"].split()
    model = runtime.models_info()["bert"]
    return {"words": words, "count": len(words), "elapsed_ms": 0.0, "model": model}


WORD_COUNT = kinds.DemoKind(
    name=NAME,
    title="Count the words",
    intro="Splits your text at spaces and counts the pieces.",
    validate=validate_word_count,
    form=f"{__name__}.WordCountForm",
    present=f"{__name__}.present_word_count",
    run=f"{__name__}.run_word_count",
    template="word_count_result.html",
)


@pytest.fixture
def word_count(settings, tmp_path):
    (tmp_path / "word_count_result.html").write_text(
        '<p class="word-count">{{ result.count }} words; the longest is “{{ longest }}”.</p>'
    )
    engines = [dict(engine) for engine in settings.TEMPLATES]
    engines[0]["DIRS"] = [*engines[0].get("DIRS", []), tmp_path]
    settings.TEMPLATES = engines
    kinds.register(WORD_COUNT)
    yield WORD_COUNT
    kinds.unregister(NAME)


def test_the_row_gives_the_kind_its_task_name_fields_and_form(word_count):
    assert word_count.task_name == "inference.tasks.word_count"
    assert word_count.fields == ("text",)
    assert form_class(NAME) is WordCountForm
    assert kinds.validate(NAME, {"text": "  two words "}) == {"text": "two words"}
    with pytest.raises(validation.DemoInputError, match="Unknown field"):
        kinds.validate(NAME, {"text": "a", "top_k": 3})


def test_a_new_kind_runs_end_to_end_from_its_row(
    client, word_count, demo_env, sent_tasks, tiny_runtime, redis_client, monkeypatch
):
    # the worker's models, whatever an earlier test left as this process's runtime
    monkeypatch.setattr("inference.worker.runtime._runtime", tiny_runtime)
    page = client.get(reverse("inference:demo-form", args=[NAME]))
    assert page.status_code == 200
    assert "Count the words" in page.content.decode()
    assert "The cat sat on the mat." in page.content.decode()
    assert "Count the words" in client.get(reverse("inference:demo-index")).content.decode()

    demo_env.beat()
    response = client.post(f"/demos/{NAME}/", {"text": "The cat sat on the windowsill"}, **HTMX)
    assert response.status_code == 200
    [sent] = sent_tasks
    assert sent["name"] == "inference.tasks.word_count"
    assert sent["queue"] == demo_env.queue

    task = tasks.demo_task(NAME)  # what the worker registers from the row
    result = task.apply(kwargs=sent["kwargs"], task_id=sent["task_id"]).get()
    assert result["count"] == 6
    assert streams.outcome(redis_client, sent["task_id"])["type"] == "done"

    partial = client.get(reverse("inference:demo-result", args=[sent["task_id"]]), **HTMX)
    html = partial.content.decode()
    assert partial.status_code == 200
    assert '<p class="word-count">6 words; the longest is “windowsill”.</p>' in html

    api = client.get(f"/demos/api/results/{sent['task_id']}/")
    assert api.json()["state"] == "done"
    assert api.json()["result"]["words"][-1] == "windowsill"


def test_a_new_kind_refuses_bad_input_in_its_own_words(client, word_count, demo_env, sent_tasks):
    demo_env.beat()
    response = client.post(
        f"/demos/api/{NAME}/", data=json.dumps({"text": "   "}), content_type="application/json"
    )
    assert response.status_code == 400
    assert "Type some words first." in response.json()["error"]
    assert sent_tasks == []


def test_an_unknown_kind_has_no_task():
    with pytest.raises(validation.DemoInputError, match="no demo called"):
        tasks.demo_task("poetry")
