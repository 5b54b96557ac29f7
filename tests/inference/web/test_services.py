from __future__ import annotations

import json
import time
from types import SimpleNamespace

import pytest

from inference.contract import streams
from inference.contract.errors import DemoRateLimited, DemoUnavailable
from inference.contract.validation import DemoInputError
from inference.web import services
from tests.inference.web_support import done_event

ANON = SimpleNamespace(is_authenticated=False, pk=None)
FILL = {"text": "The cat sat on the [mask].", "top_k": "3"}


def submit(kind="fill-mask", params=None, *, user=ANON, ip="203.0.113.7"):
    return services.demo_submit(kind=kind, params=params or FILL, user=user, ip=ip)


def test_submit_publishes_queued_and_sends_the_task(demo_env, sent_tasks):
    demo_env.beat()
    submission = submit()
    assert submission.status == "queued"
    assert submission.kind == "fill-mask"
    assert sent_tasks == [
        {
            "name": "inference.tasks.fill_mask",
            "kwargs": {"text": "The cat sat on the [MASK].", "top_k": 3},
            "task_id": submission.task_id,
            "queue": demo_env.queue,
            "expires": 60,
            "retry": False,
            "connection": sent_tasks[0]["connection"],
        }
    ]
    events = streams.all_events(demo_env.client, submission.task_id)
    assert [e["type"] for e in events] == ["queued"]
    assert events[0]["kind"] == "fill-mask"
    assert events[0]["params"] == {"text": "The cat sat on the [MASK].", "top_k": 3}


def test_invalid_input_sends_nothing(demo_env, sent_tasks):
    demo_env.beat()
    with pytest.raises(DemoInputError) as info:
        submit(params={"text": "no blank"})
    assert "[MASK]" in info.value.message
    assert sent_tasks == []


def test_identical_deterministic_request_is_answered_from_cache(demo_env, sent_tasks):
    demo_env.beat()
    first = submit()
    streams.publish(demo_env.client, first.task_id, done_event({"masks": []}))
    second = submit(params={"text": " The cat sat on the [MASK]. ", "top_k": 3})
    assert second.task_id == first.task_id
    assert second.status == "cached"
    assert len(sent_tasks) == 1


def test_cache_answers_even_with_no_worker(demo_env, sent_tasks):
    hostname = demo_env.beat()
    first = submit()
    streams.publish(demo_env.client, first.task_id, done_event())
    from inference.contract import heartbeat

    heartbeat.clear(demo_env.client, hostname)
    assert submit().task_id == first.task_id


def test_cache_is_not_used_while_the_first_run_is_unfinished_or_failed(demo_env, sent_tasks):
    demo_env.beat()
    first = submit()
    second = submit()  # first has no result yet
    assert second.task_id != first.task_id
    streams.publish(
        demo_env.client, second.task_id, streams.error_event("internal", "Something broke.")
    )
    third = submit()
    assert third.task_id not in {first.task_id, second.task_id}
    assert len(sent_tasks) == 3


def test_cache_ignores_results_from_another_profile(demo_env, sent_tasks):
    demo_env.beat(profile="tiny")
    first = submit()
    result = done_event()
    result["result"]["model"]["profile"] = "demo"
    streams.publish(demo_env.client, first.task_id, result)
    assert submit().task_id != first.task_id


def test_unseeded_sampling_is_never_cached_but_seeded_is(demo_env, sent_tasks):
    demo_env.beat()
    sampled = {"prompt": "Once", "do_sample": True, "temperature": "0.8"}
    a = submit("generate", sampled)
    streams.publish(demo_env.client, a.task_id, done_event())
    b = submit("generate", sampled)
    assert a.task_id != b.task_id
    seeded = {**sampled, "seed": "7"}
    c = submit("generate", seeded)
    streams.publish(demo_env.client, c.task_id, done_event())
    assert submit("generate", seeded).task_id == c.task_id


def test_cache_key_depends_on_kind_profile_and_params():
    key = services.demo_cache_key
    base = key(kind="tokenize", profile="tiny", params={"text": "a"})
    assert base == key(kind="tokenize", profile="tiny", params={"text": "a"})
    assert base != key(kind="attention", profile="tiny", params={"text": "a"})
    assert base != key(kind="tokenize", profile="demo", params={"text": "a"})
    assert base != key(kind="tokenize", profile="tiny", params={"text": "b"})
    assert key(kind="generate", profile="t", params={"a": 1, "b": 2}) == key(
        kind="generate", profile="t", params={"b": 2, "a": 1}
    )
    demo = key(kind="tokenize", profile="demo", params={"text": "a"})
    assert demo == key(kind="tokenize", profile="demo", params={"text": "a"}, release=None)
    early = key(kind="tokenize", profile="demo", params={"text": "a"}, release="e1")
    assert early != demo
    assert early != key(kind="tokenize", profile="demo", params={"text": "a"}, release="f2")


def test_ip_rate_limit(demo_env, sent_tasks, settings):
    settings.DEMO_RATE_LIMIT_IP = "2/m"
    demo_env.beat()
    texts = [f"Rate {n} [MASK]" for n in range(3)]
    submit(params={"text": texts[0]}, ip="198.51.100.1")
    submit(params={"text": texts[1]}, ip="198.51.100.1")
    with pytest.raises(DemoRateLimited) as info:
        submit(params={"text": texts[2]}, ip="198.51.100.1")
    assert info.value.message.startswith("You're running demos faster than the models can keep up.")
    assert 1 <= info.value.retry_after <= 65
    assert f"Wait {info.value.retry_after} seconds" in info.value.message
    submit(params={"text": texts[2]}, ip="198.51.100.2")  # another address is not limited
    assert len(sent_tasks) == 3


def test_user_rate_limit_applies_across_addresses(demo_env, sent_tasks, settings):
    settings.DEMO_RATE_LIMIT_USER = "1/m"
    demo_env.beat()
    user = SimpleNamespace(is_authenticated=True, pk=987654)
    submit(params={"text": "One [MASK]"}, user=user, ip="192.0.2.1")
    with pytest.raises(DemoRateLimited):
        submit(params={"text": "Two [MASK]"}, user=user, ip="192.0.2.2")
    submit(params={"text": "Two [MASK]"}, user=SimpleNamespace(is_authenticated=True, pk=987655))


def test_redis_down_fails_fast_with_a_clear_message(demo_env, sent_tasks, settings):
    settings.REDIS_URL = "redis://127.0.0.1:6399/0"
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:6399/1",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    started = time.monotonic()
    with pytest.raises(DemoUnavailable) as info:
        submit()
    assert time.monotonic() - started < 2
    assert info.value.message == (
        "The demo service is temporarily unavailable. Lessons and quizzes still work."
    )
    assert sent_tasks == []


def test_broker_down_fails_fast_and_marks_the_stream(demo_env, monkeypatch):
    from config.celery_app import app

    monkeypatch.setattr(app.conf, "broker_url", "redis://127.0.0.1:6399/0")
    demo_env.beat()
    started = time.monotonic()
    with pytest.raises(DemoUnavailable):
        submit(params={"text": "Broker [MASK] down"})
    assert time.monotonic() - started < 2
    task_ids = [
        key.decode().rsplit(":", 1)[1]
        for key in demo_env.client.scan_iter(match="demo:events:*")
        if streams.all_events(demo_env.client, key.decode().rsplit(":", 1)[1])[0].get("params")
        == {"text": "Broker [MASK] down", "top_k": 5}
    ]
    assert len(task_ids) == 1
    events = streams.all_events(demo_env.client, task_ids[0])
    assert [e["type"] for e in events] == ["queued", "error"]
    assert events[1]["code"] == "unavailable"


def test_no_worker_is_reported_before_queueing(demo_env, sent_tasks):
    with pytest.raises(DemoUnavailable) as info:
        submit()
    assert info.value.reason == "no_worker"
    assert info.value.message.startswith("No model worker is running right now")
    assert sent_tasks == []


def test_a_worker_still_loading_is_not_ready(demo_env, sent_tasks):
    demo_env.beat(ready=False, status="loading models")
    with pytest.raises(DemoUnavailable) as info:
        submit()
    assert info.value.reason == "starting"
    assert "still loading" in info.value.message


def test_a_worker_on_another_queue_does_not_count(demo_env, sent_tasks):
    demo_env.beat(queues=["default"])
    with pytest.raises(DemoUnavailable) as info:
        submit()
    assert info.value.reason == "no_worker"


def write_progress(settings, **data):
    folder = settings.MODELS_DIR / "demo"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "progress.json").write_text(json.dumps(data))


def test_models_being_built_are_reported_with_progress(demo_env, sent_tasks, settings):
    write_progress(settings, state="building", stage="bert", percent=43.2, updated_at=time.time())
    with pytest.raises(DemoUnavailable) as info:
        submit()
    assert info.value.reason == "preparing"
    assert info.value.message.startswith("The demo models are being prepared (43%)…")


def test_a_worker_waiting_for_a_build_in_progress_reports_the_build(demo_env, sent_tasks, settings):
    """`make run` starts the worker at once; it waits ("starting") while the models train."""
    demo_env.beat(ready=False, status="waiting for the demo models")
    write_progress(settings, state="building", stage="gpt", percent=61.0, updated_at=time.time())
    with pytest.raises(DemoUnavailable) as info:
        submit()
    assert info.value.reason == "preparing"
    assert info.value.message.startswith("The demo models are being prepared (61%)…")


def test_a_stale_or_finished_build_is_not_reported_as_in_progress(demo_env, sent_tasks, settings):
    write_progress(settings, state="building", percent=10, updated_at=time.time() - 3600)
    with pytest.raises(DemoUnavailable) as info:
        submit()
    assert info.value.reason == "no_worker"


def test_a_worker_serving_the_early_checkpoint_runs_demos_while_the_build_continues(
    demo_env, sent_tasks, settings
):
    """27e93f4 reports the build to a waiting worker's learners; once a worker is ready on
    the early checkpoint, demos run even though progress.json still says "building"."""
    settings.INFERENCE_PROFILE = "demo"
    write_progress(settings, state="building", stage="gpt", percent=38.0, updated_at=time.time())
    demo_env.beat(ready=False, status="waiting for the demo models")
    with pytest.raises(DemoUnavailable) as info:
        submit()
    assert info.value.reason == "preparing"

    demo_env.beat(profile="demo", release={"id": "e1", "stage": "early"})
    submission = submit()
    assert submission.status == "queued"
    assert [call["task_id"] for call in sent_tasks] == [submission.task_id]


def release_beat(demo_env, release_id: str, stage: str = "final") -> str:
    return demo_env.beat(profile="demo", release={"id": release_id, "stage": stage})


def demo_done_event() -> dict:
    event = done_event({"masks": []})
    event["result"]["model"]["profile"] = "demo"
    return event


def test_answers_cached_from_the_early_checkpoint_are_not_reused_for_the_final_models(
    demo_env, sent_tasks, settings
):
    from inference.contract import heartbeat

    settings.INFERENCE_PROFILE = "demo"
    early = release_beat(demo_env, "e1", "early")
    first = submit()
    streams.publish(demo_env.client, first.task_id, demo_done_event())
    assert submit().task_id == first.task_id  # same release: answered from the cache

    heartbeat.clear(demo_env.client, early)
    release_beat(demo_env, "f2")  # the worker swapped the finished models in
    second = submit()
    assert second.status == "queued"
    assert second.task_id != first.task_id
    streams.publish(demo_env.client, second.task_id, demo_done_event())
    assert submit().task_id == second.task_id
    assert len(sent_tasks) == 2


def test_nothing_is_cached_while_workers_serve_different_releases(demo_env, sent_tasks, settings):
    settings.INFERENCE_PROFILE = "demo"
    release_beat(demo_env, "e1", "early")
    release_beat(demo_env, "f2")
    first = submit()
    streams.publish(demo_env.client, first.task_id, demo_done_event())
    assert submit().task_id != first.task_id
    assert len(sent_tasks) == 2


def test_with_no_worker_the_cache_follows_the_release_on_disk(demo_env, sent_tasks, settings):
    from inference.contract import heartbeat

    settings.INFERENCE_PROFILE = "demo"
    training = settings.MODELS_DIR / "demo" / "training.json"
    training.parent.mkdir(parents=True, exist_ok=True)
    training.write_text(json.dumps({"state": "done", "release": {"id": "f2", "stage": "final"}}))
    hostname = release_beat(demo_env, "f2")
    first = submit()
    streams.publish(demo_env.client, first.task_id, demo_done_event())
    heartbeat.clear(demo_env.client, hostname)
    assert submit().task_id == first.task_id
    training.write_text(json.dumps({"state": "done", "release": {"id": "f3", "stage": "final"}}))
    with pytest.raises(DemoUnavailable):
        submit()


def test_inside_a_transaction_the_task_is_sent_after_commit(
    demo_env, sent_tasks, django_capture_on_commit_callbacks, db
):
    demo_env.beat()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        submission = submit(params={"text": "After [MASK] commit"})
        assert sent_tasks == []
    assert len(callbacks) == 1
    assert [call["task_id"] for call in sent_tasks] == [submission.task_id]


@pytest.mark.parametrize(
    ("kind", "params", "deterministic"),
    [
        ("generate", {"do_sample": False}, True),
        ("generate", {"do_sample": True, "seed": None}, False),
        ("generate", {"do_sample": True, "seed": 3}, True),
        ("fill-mask", {}, True),
        ("next-token", {}, True),
    ],
)
def test_which_requests_are_deterministic(kind, params, deterministic):
    assert services.demo_is_deterministic(kind=kind, params=params) is deterministic
