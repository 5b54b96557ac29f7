from __future__ import annotations

from types import SimpleNamespace

import pytest

from inference import worker


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
    from inference import heartbeat

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
