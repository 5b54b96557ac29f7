from __future__ import annotations

import logging
import time
import uuid
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest

from inference.contract import heartbeat, kinds, streams, verdicts
from inference.worker import tasks
from inference.worker.loading import ModelsMissing

KWARGS = {
    "fill_mask": {"text": "The cat sat on the [MASK].", "top_k": 3},
    "generate": {"prompt": "The cat", "max_new_tokens": 6},
    "next_token": {"prompt": "The cat", "top_k": 5},
    "attention": {"text": "The cat sat."},
    "tokenize": {"text": "The cat sat."},
    "embeddings": {"word": "bank", "sentence_a": "The bank.", "sentence_b": "A river bank."},
    "next_sentence": {"sentence_a": "It rained.", "sentence_b": "We stayed in."},
}


@pytest.fixture
def run(tiny_settings, tiny_runtime, redis_client):
    """Run a task in this process, as the worker would, and return (result, events)."""

    def runner(name: str, **kwargs):
        task_id = uuid.uuid4().hex
        task = tasks.demo_task(name.replace("_", "-"))
        result = task.apply(kwargs=kwargs, task_id=task_id).get()
        return result, streams.all_events(redis_client, task_id), task_id

    return runner


@pytest.mark.parametrize("name", sorted(KWARGS))
def test_every_demo_publishes_started_then_done_with_the_result(run, name):
    result, events, _ = run(name, **KWARGS[name])

    assert events[0]["type"] == "started"
    assert events[-1] == {"type": "done", "result": result}
    assert [e["type"] for e in events].count("done") == 1
    cards = [result["model"]] if "model" in result else list(result["models"].values())
    assert all(card["profile"] == "tiny" for card in cards)
    assert result["elapsed_ms"] >= 0


def test_generate_streams_each_token_before_done(run):
    result, events, _ = run("generate", prompt="The cat", max_new_tokens=7)

    token_events = [e for e in events if e["type"] == "token"]
    assert [e["type"] for e in events] == ["started"] + ["token"] * len(token_events) + ["done"]
    assert token_events == result["tokens"]
    assert len(token_events) == len(result["token_ids"])
    assert 1 <= len(token_events) <= 7


def test_next_token_stores_the_full_logits_for_the_web(run, redis_client, tiny_runtime):
    result, _, _ = run("next_token", prompt="The cat", top_k=5)

    stored = streams.logits_read(redis_client, result["logits_key"])
    assert stored is not None
    raw, vocab = stored
    logits = np.frombuffer(raw, dtype="<f4")
    assert logits.shape == (result["vocab_size"],)
    assert int(np.argmax(logits)) == result["candidates"][0]["token_id"]
    assert vocab[0][0] == result["candidates"][0]["token_id"]
    assert redis_client.ttl(result["logits_key"]) > 0


@pytest.mark.parametrize(
    ("name", "kwargs", "fragment"),
    [
        ("fill_mask", {"text": "No blank here.", "top_k": 3}, "[MASK]"),
        ("fill_mask", {"text": "   "}, "Type a sentence first."),
        ("generate", {"prompt": "Hi", "max_new_tokens": 0}, "New tokens"),
        ("generate", {"prompt": "Hi", "temperature": "nan", "do_sample": True}, "Temperature"),
        ("embeddings", {"word": "bank", "sentence_a": "The bank.", "sentence_b": "No."}, "word"),
        ("tokenize", {"text": "ok", "evil": 1}, "Unknown field"),
    ],
)
def test_invalid_input_becomes_an_error_event_not_a_crash(run, name, kwargs, fragment):
    result, events, _ = run(name, **kwargs)

    assert events[-1]["type"] == "error"
    assert events[-1]["code"] == "invalid_input"
    assert fragment in events[-1]["message"]
    assert result == {"error": events[-1]}
    assert "done" not in [e["type"] for e in events]


def test_too_many_tokens_for_the_worker_tokenizer(run, settings):
    settings.DEMO_LIMITS = {**settings.DEMO_LIMITS, "max_input_tokens": 6}
    _, events, _ = run("generate", prompt="the cat and the dog and the bird", max_new_tokens=2)
    assert events[-1]["code"] == "invalid_input"
    assert "limit is 6 tokens" in events[-1]["message"]


def test_generation_past_its_deadline_reports_timeout(run, monkeypatch):
    monkeypatch.setitem(
        kinds._REGISTRY, "generate", replace(kinds.require("generate"), time_limits=(0, 1))
    )
    _, events, _ = run("generate", prompt="The cat", max_new_tokens=20)

    assert events[-1]["type"] == "error"
    assert events[-1]["code"] == "timeout"
    assert "too long" in events[-1]["message"]
    assert "done" not in [e["type"] for e in events]


def test_unexpected_failure_is_internal_and_logged(run, monkeypatch, caplog):
    def boom(*args, **kwargs):
        raise RuntimeError("secret detail")

    monkeypatch.setattr("inference.worker.engine.tokenize.tokenize", boom)
    with caplog.at_level(logging.ERROR, logger="inference.worker.tasks"):
        _, events, task_id = run("tokenize", text="hello")

    assert events[-1]["code"] == "internal"
    assert "secret detail" not in events[-1]["message"]
    assert any("secret detail" in (r.exc_text or "") for r in caplog.records)
    assert any(task_id in r.getMessage() for r in caplog.records)


def test_missing_models_report_unavailable(run, monkeypatch):
    def missing():
        raise ModelsMissing("no models")

    monkeypatch.setattr("inference.worker.runtime.get_runtime", missing)
    _, events, _ = run("tokenize", text="hello")
    assert events[-1]["code"] == "unavailable"


def test_redelivered_task_with_an_outcome_does_not_run_again(
    tiny_settings, tiny_runtime, redis_client
):
    task_id = uuid.uuid4().hex
    streams.publish(redis_client, task_id, streams.done_event({"earlier": True}))

    result = tasks.demo_task("tokenize").apply(kwargs={"text": "hi"}, task_id=task_id).get()

    assert result == {"earlier": True}
    assert [e["type"] for e in streams.all_events(redis_client, task_id)] == ["done"]


def test_third_delivery_gives_up_with_an_error(tiny_settings, tiny_runtime, redis_client):
    task_id = uuid.uuid4().hex
    streams.count_delivery(redis_client, task_id)
    streams.count_delivery(redis_client, task_id)

    result = tasks.demo_task("generate").apply(kwargs={"prompt": "hi"}, task_id=task_id).get()

    events = streams.all_events(redis_client, task_id)
    assert [e["type"] for e in events] == ["error"]
    assert events[0]["code"] == "worker_lost"
    assert result == {"error": events[0]}


def test_task_names_options_and_routing():
    from config.celery_app import app

    for name in KWARGS:
        task = tasks.demo_task(name.replace("_", "-"))
        assert task.name == f"inference.tasks.{name}"
        assert task.acks_late is True
        assert task.soft_time_limit < task.time_limit
        assert app.amqp.router.route({}, task.name)["queue"].name == "inference"
    assert tasks.demo_task("generate").time_limit > tasks.demo_task("fill-mask").time_limit


def test_the_grading_task_takes_misconceptions_and_checks_them():
    from inference.contract.validation import DemoInputError
    from inference.worker.tasks import validate_short_answer

    concept = {"label": "flatter", "phrases": ["flattens"], "misconceptions": [" sharpens "]}
    cleaned = validate_short_answer(
        answer_id=1,
        text="x",
        references=["r"],
        concepts=[concept, {"label": "b", "phrases": ["p"]}],
    )
    assert cleaned["concepts"] == [
        {"label": "flatter", "phrases": ["flattens"], "misconceptions": ["sharpens"]},
        {"label": "b", "phrases": ["p"]},  # none: no key, as from a web side that predates them
    ]
    for bad in ("sharpens", ["x"] * 21, [3]):
        with pytest.raises(DemoInputError):
            validate_short_answer(
                answer_id=1,
                text="x",
                references=["r"],
                concepts=[{"label": "a", "phrases": ["p"], "misconceptions": bad}],
            )


# --- A demo that waited too long is judged as the pages judged it ---------------------------


@pytest.fixture
def private_queue(settings):
    settings.INFERENCE_QUEUE = f"tasks-test-{uuid.uuid4().hex[:8]}"
    return settings.INFERENCE_QUEUE


def queued_ago(redis_client, ago: float, kind: str = "tokenize") -> str:
    task_id = uuid.uuid4().hex
    streams.publish(
        redis_client, task_id, {"type": "queued", "kind": kind, "at": time.time() - ago}
    )
    return task_id


def worker_up(redis_client, queue: str, *, since_ago: float) -> None:
    info = {"hostname": f"tasks-{uuid.uuid4().hex[:6]}@test", "queues": [queue]}
    heartbeat.beat(redis_client, info, ttl=int(since_ago) + 30, now=time.time() - since_ago)


def test_a_demo_that_waited_while_no_worker_was_up_is_not_run(
    tiny_settings, tiny_runtime, redis_client, private_queue
):
    task_id = queued_ago(redis_client, verdicts.NO_WORKER_GRACE_S + 20)
    worker_up(redis_client, private_queue, since_ago=3)  # the pages said "no worker" before

    result = tasks.demo_task("tokenize").apply(kwargs={"text": "hi"}, task_id=task_id).get()

    events = streams.all_events(redis_client, task_id)
    assert [e["type"] for e in events] == ["queued", "error"]
    assert events[-1]["code"] == "unavailable"
    assert events[-1]["message"] == verdicts.NO_WORKER
    assert result == {"error": events[-1]}


def test_a_demo_that_waited_for_a_busy_worker_runs(
    tiny_settings, tiny_runtime, redis_client, private_queue
):
    worker_up(redis_client, private_queue, since_ago=120)
    task_id = queued_ago(redis_client, verdicts.NO_WORKER_GRACE_S + 20)

    tasks.demo_task("tokenize").apply(kwargs={"text": "hi"}, task_id=task_id).get()

    assert [e["type"] for e in streams.all_events(redis_client, task_id)][-1] == "done"


def test_a_demo_past_the_queue_expiry_times_out_unrun(
    tiny_settings, tiny_runtime, redis_client, private_queue, settings
):
    worker_up(redis_client, private_queue, since_ago=600)
    task_id = queued_ago(redis_client, settings.DEMO_QUEUE_EXPIRES + verdicts.DEADLINE_MARGIN_S + 5)

    tasks.demo_task("tokenize").apply(kwargs={"text": "hi"}, task_id=task_id).get()

    events = streams.all_events(redis_client, task_id)
    assert [e["type"] for e in events] == ["queued", "error"]
    assert events[-1]["code"] == "timeout"


def test_grading_waits_for_a_worker_however_long_it_takes(redis_client, private_queue):
    task_id = queued_ago(redis_client, 600, kind="grade-short-answer")
    request = SimpleNamespace(id=task_id, delivery_info={})
    events = streams.all_events(redis_client, task_id)
    assert tasks._waited_too_long(redis_client, SimpleNamespace(request=request), events) is None
