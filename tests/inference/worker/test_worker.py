from __future__ import annotations

import logging
import time
import uuid
from types import SimpleNamespace

import pytest

from inference.worker import process as worker
from inference.worker import runtime
from tests.inference.conftest import publish_demo


def fake_worker(queues, pool_module="celery.concurrency.thread"):
    pool_cls = type("TaskPool", (), {"__module__": pool_module})
    consume_from = {name: object() for name in queues}
    app = SimpleNamespace(amqp=SimpleNamespace(queues=SimpleNamespace(consume_from=consume_from)))
    return SimpleNamespace(app=app, pool_cls=pool_cls, hostname="w@h", concurrency=4)


def test_only_workers_consuming_the_inference_queue_load_models(monkeypatch):
    monkeypatch.delenv("INFERENCE_WORKER", raising=False)
    assert worker.is_inference_worker(fake_worker(["inference"]))
    assert worker.is_inference_worker(fake_worker(["default", "inference"]))
    assert not worker.is_inference_worker(fake_worker(["default"]))


@pytest.mark.parametrize(("value", "expected"), [("1", True), ("true", True), ("0", False)])
def test_environment_overrides_the_queue_detection(monkeypatch, value, expected):
    monkeypatch.setenv("INFERENCE_WORKER", value)
    assert worker.is_inference_worker(fake_worker(["default"] if expected else ["inference"])) is (
        expected
    )


def test_pool_names():
    assert worker._pool_name(fake_worker([], "celery.concurrency.thread")) == "thread"
    assert worker._pool_name(fake_worker([], "celery.concurrency.prefork")) == "prefork"
    assert worker._pool_name(SimpleNamespace(pool_cls="processes")) == "prefork"


def test_a_non_inference_worker_is_left_alone(monkeypatch):
    monkeypatch.delenv("INFERENCE_WORKER", raising=False)
    worker.on_worker_init(sender=fake_worker(["default"]))
    assert worker.current_heartbeat() is None


def test_a_prefork_inference_worker_says_why_it_is_not_ready(monkeypatch, redis_client, settings):
    from inference.contract import heartbeat

    monkeypatch.delenv("INFERENCE_WORKER", raising=False)
    sender = fake_worker(["inference"], "celery.concurrency.prefork")
    sender.hostname = "prefork-test@h"
    worker.on_worker_init(sender=sender)
    try:
        beat = worker.current_heartbeat()
        assert beat is not None
        assert beat.info["ready"] is False
        assert "-P threads" in beat.info["status"]
    finally:
        worker.on_worker_shutdown()
    assert worker.current_heartbeat() is None
    assert not heartbeat.is_alive(redis_client, "prefork-test@h")


def test_signal_handlers_are_connected_once():
    from celery import signals

    worker.connect_signals()
    worker.connect_signals()
    receivers = [r for r in signals.worker_init.receivers if "inference-worker-init" in str(r[0])]
    assert len(receivers) == 1


# --- Swapping in the demo build's newer release while serving ------------------------------


@pytest.fixture
def watch_beat(redis_client):
    """A heartbeat (not started: tests beat by hand) for a demo worker that is serving."""
    from inference.contract import heartbeat

    hostname = f"watch-test-{uuid.uuid4().hex[:8]}@localhost"
    beat = heartbeat.HeartbeatThread(
        client_factory=lambda: redis_client,
        info={
            "hostname": hostname,
            "queues": [f"inference-watch-test-{uuid.uuid4().hex[:8]}"],
            "profile": "demo",
            "ready": True,
            "status": "ready",
        },
        ttl=30,
    )
    yield beat
    heartbeat.clear(redis_client, hostname)


def published_heartbeat(redis_client, beat) -> dict:
    from inference.contract import heartbeat

    beat.beat_once()
    hostname = beat.info["hostname"]
    return next(w for w in heartbeat.live_workers(redis_client) if w["hostname"] == hostname)


def test_the_watcher_swaps_in_a_new_release_while_the_old_one_serves(
    tiny_demo, tiny_models_dir, watch_beat, redis_client, caplog
):
    old = runtime.load_runtime(profile="demo", device="cpu", warm=True)
    watch_beat.update(models=old.models_info(), release=old.release)
    watcher = worker.ReleaseWatcher(beat=watch_beat, device="cpu")

    assert watcher.check_once() is False  # the release it was loaded from: nothing to do
    assert runtime.get_runtime() is old

    # The build has swapped the folders in but not yet written training.json: the release
    # is still the old one, and so are the models that serve.
    publish_demo(tiny_demo, tiny_models_dir, release_id="early-1", stage="early")
    assert watcher.check_once() is False
    assert runtime.get_runtime() is old

    published = time.time() - 3
    publish_demo(
        tiny_demo, tiny_models_dir, release_id="final-2", stage="final", published_at=published
    )
    with caplog.at_level(logging.INFO, logger="inference.worker.process"):
        assert watcher.check_once() is True
    new = runtime.get_runtime()
    assert new is not old
    assert new.release_id == "final-2"
    assert set(new.roles) == {"bert", "gpt", "encoder"}
    assert all(new.roles[role].model is not old.roles[role].model for role in new.roles)
    assert watcher.swaps == 1
    assert any(
        "Serving the demo models' final build (release final-2), swapped in" in message
        and "after it was published" in message
        for message in caplog.messages
    )

    info = published_heartbeat(redis_client, watch_beat)
    assert info["release"]["id"] == "final-2"
    assert info["release"]["stage"] == "final"
    assert info["status"] == "ready"
    assert info["ready"] is True
    assert info["models"] == new.models_info()

    assert watcher.check_once() is False  # loaded once, not on every poll
    assert runtime.get_runtime() is new


def test_a_release_that_will_not_load_keeps_the_old_models_and_is_retried(
    tiny_demo, tiny_models_dir, watch_beat, redis_client, caplog
):
    old = runtime.load_runtime(profile="demo", device="cpu", warm=True)
    watch_beat.update(models=old.models_info(), release=old.release)
    watcher = worker.ReleaseWatcher(beat=watch_beat, device="cpu")

    publish_demo(tiny_demo, tiny_models_dir, release_id="final-2", stage="final", break_role="bert")
    with caplog.at_level(logging.INFO, logger="inference.worker.process"):
        assert watcher.check_once() is False
        assert watcher.check_once() is False
    assert runtime.get_runtime() is old
    assert "Could not load the demo models' final build (release final-2)" in caplog.text
    assert "Still cannot load the demo models' final build (release final-2)" in caplog.text
    info = published_heartbeat(redis_client, watch_beat)
    assert info["release"]["stage"] == "early"
    assert info["status"] == "ready"

    # The folder is repaired (the build ran again): the next poll loads it.
    publish_demo(tiny_demo, tiny_models_dir, release_id="final-2", stage="final")
    assert watcher.check_once() is True
    assert runtime.get_runtime() is not old
    assert runtime.get_runtime().release_id == "final-2"
    assert published_heartbeat(redis_client, watch_beat)["release"]["stage"] == "final"


def test_missing_folders_or_release_leave_the_models_alone(tiny_demo, tiny_models_dir):
    import shutil

    old = runtime.load_runtime(profile="demo", device="cpu", warm=True)
    watcher = worker.ReleaseWatcher(beat=None, device="cpu")
    (tiny_demo / "demo" / "training.json").unlink()
    assert watcher.check_once() is False
    publish_demo(tiny_demo, tiny_models_dir, release_id="final-2", stage="final")
    shutil.rmtree(tiny_demo / "demo" / "gpt")  # caught between two renames
    assert watcher.check_once() is False
    assert runtime.get_runtime() is old


def test_a_swap_before_worker_ready_leaves_the_status_to_worker_ready(
    tiny_demo, tiny_models_dir, watch_beat
):
    runtime.load_runtime(profile="demo", device="cpu", warm=True)
    watch_beat.update(ready=False, status="models loaded; connecting to the broker")
    watcher = worker.ReleaseWatcher(beat=watch_beat, device="cpu")
    publish_demo(tiny_demo, tiny_models_dir, release_id="final-2", stage="final")
    assert watcher.check_once() is True
    assert watch_beat.info["ready"] is False
    assert watch_beat.info["status"] == "models loaded; connecting to the broker"
    assert watch_beat.info["release"]["stage"] == "final"


def test_a_demo_worker_watches_for_new_releases_until_it_shuts_down(
    tiny_demo, tiny_models_dir, monkeypatch, redis_client
):
    import torch

    from inference.contract import heartbeat

    monkeypatch.setenv("INFERENCE_WORKER", "1")
    monkeypatch.setenv("TORCH_THREADS", str(torch.get_num_threads()))  # leave it as it is
    monkeypatch.setattr(worker, "POLL_SECONDS", 0.2)
    sender = fake_worker([f"inference-watch-test-{uuid.uuid4().hex[:8]}"])
    sender.hostname = f"watch-test-{uuid.uuid4().hex[:8]}@localhost"
    worker.on_worker_init(sender=sender)
    try:
        worker.on_worker_ready(sender=sender)
        first = runtime.get_runtime()
        assert first.release_id == "early-1"
        watcher = worker.current_watcher()
        assert watcher is not None
        assert watcher.is_alive()
        assert worker.current_heartbeat().info["release"]["stage"] == "early"

        publish_demo(tiny_demo, tiny_models_dir, release_id="final-2", stage="final")
        deadline = time.monotonic() + 60
        while runtime.get_runtime() is first:
            assert time.monotonic() < deadline, "the watcher never swapped the models in"
            time.sleep(0.1)
        assert runtime.get_runtime().release_id == "final-2"
        deadline = time.monotonic() + 10
        while (worker.current_heartbeat().info.get("release") or {}).get("stage") != "final":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        info = worker.current_heartbeat().info
        assert info["ready"] is True
        assert info["status"] == "ready"
    finally:
        worker.on_worker_shutdown()
    assert worker.current_watcher() is None
    assert not watcher.is_alive()
    assert not heartbeat.is_alive(redis_client, sender.hostname)


def test_workers_on_other_profiles_do_not_watch(tiny_settings, monkeypatch, redis_client):
    import torch

    monkeypatch.setenv("INFERENCE_WORKER", "1")
    monkeypatch.setenv("TORCH_THREADS", str(torch.get_num_threads()))
    sender = fake_worker([f"inference-watch-test-{uuid.uuid4().hex[:8]}"])
    sender.hostname = f"watch-test-{uuid.uuid4().hex[:8]}@localhost"
    saved = runtime._runtime
    worker.on_worker_init(sender=sender)
    try:
        assert runtime.get_runtime().profile == "tiny"
        assert worker.current_watcher() is None
        assert worker.current_heartbeat().info["release"] is None
    finally:
        worker.on_worker_shutdown()
        runtime._runtime = saved
