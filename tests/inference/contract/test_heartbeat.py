from __future__ import annotations

import json
import time
import uuid

import pytest

from inference.contract import heartbeat


def hostname() -> str:
    return f"hb-{uuid.uuid4().hex[:8]}@test"


def info(name: str, **extra) -> dict:
    return {
        "hostname": name,
        "pid": 123,
        "queues": ["inference"],
        "profile": "tiny",
        "ready": False,
        "models": {},
        **extra,
    }


def test_beat_writes_json_with_ttl_and_timestamp(redis_client):
    name = hostname()
    before = time.time()
    heartbeat.beat(redis_client, info(name), ttl=7)

    raw = redis_client.get(f"demo:workers:{name}")
    stored = json.loads(raw)
    assert stored["hostname"] == name
    assert stored["queues"] == ["inference"]
    assert before <= stored["at"] <= time.time()
    assert 0 < redis_client.ttl(f"demo:workers:{name}") <= 7
    assert heartbeat.is_alive(redis_client, name)


def test_beat_needs_a_hostname(redis_client):
    with pytest.raises(ValueError):
        heartbeat.beat(redis_client, {"ready": True}, ttl=5)


def test_live_workers_lists_beating_workers_and_ready_workers_filters(redis_client):
    ready, loading, other_queue = hostname(), hostname(), hostname()
    heartbeat.beat(redis_client, info(ready, ready=True), ttl=10)
    heartbeat.beat(redis_client, info(loading), ttl=10)
    heartbeat.beat(redis_client, info(other_queue, ready=True, queues=["default"]), ttl=10)

    live = {w["hostname"] for w in heartbeat.live_workers(redis_client)}
    ready_names = {w["hostname"] for w in heartbeat.ready_workers(redis_client)}

    assert {ready, loading, other_queue} <= live
    assert ready in ready_names
    assert loading not in ready_names
    assert other_queue not in ready_names


def test_expired_and_cleared_workers_disappear(redis_client):
    expiring, cleared = hostname(), hostname()
    heartbeat.beat(redis_client, info(expiring), ttl=1)
    heartbeat.beat(redis_client, info(cleared), ttl=10)
    heartbeat.clear(redis_client, cleared)
    time.sleep(1.2)

    names = {w["hostname"] for w in heartbeat.live_workers(redis_client)}
    assert expiring not in names
    assert cleared not in names
    assert not heartbeat.is_alive(redis_client, expiring)


def test_garbage_values_are_skipped(redis_client):
    redis_client.set(f"demo:workers:{hostname()}", b"not json", ex=10)
    assert all(isinstance(w, dict) for w in heartbeat.live_workers(redis_client))


def test_thread_beats_updates_and_deletes_on_stop(redis_client):
    name = hostname()
    thread = heartbeat.HeartbeatThread(
        client_factory=lambda: redis_client, info=info(name), ttl=5, interval=0.1
    )
    thread.start()
    try:
        deadline = time.monotonic() + 5
        while not heartbeat.is_alive(redis_client, name) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert heartbeat.is_alive(redis_client, name)

        thread.update(ready=True, status="ready")
        deadline = time.monotonic() + 5
        stored = {}
        while time.monotonic() < deadline:
            stored = json.loads(redis_client.get(f"demo:workers:{name}"))
            if stored.get("ready"):
                break
            time.sleep(0.02)
        assert stored["ready"] is True
        assert stored["status"] == "ready"
    finally:
        thread.stop(delete=True)

    assert not thread.is_alive()
    assert not heartbeat.is_alive(redis_client, name)


def test_thread_survives_redis_errors():
    import redis

    calls = []

    def broken_factory():
        calls.append(1)
        raise redis.ConnectionError("down")

    thread = heartbeat.HeartbeatThread(
        client_factory=broken_factory, info=info(hostname()), ttl=5, interval=0.05
    )
    thread.start()
    time.sleep(0.3)
    assert thread.is_alive()
    thread.stop(delete=True)
    assert len(calls) >= 2
