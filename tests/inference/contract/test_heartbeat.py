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


# --- The queue records: when a queue had no worker ----------------------------------------


def test_a_queue_never_seen_has_been_without_a_worker_since_forever(redis_client):
    queue = f"q-{uuid.uuid4().hex[:8]}"
    now = time.time()
    assert heartbeat.queue_gaps(redis_client, queue, since=now - 60, now=now) == [
        (0.0, float("inf"))
    ]


def test_beats_close_the_gap_before_them_and_cover_the_queue_for_their_ttl(redis_client):
    queue = f"q-{uuid.uuid4().hex[:8]}"
    name = hostname()
    now = time.time()
    heartbeat.beat(redis_client, info(name, queues=[queue]), ttl=10, now=now - 100)
    heartbeat.beat(redis_client, info(name, queues=[queue]), ttl=10, now=now - 95)  # covered
    # silence from now - 85 (the last beat's cover ran out) until this beat
    heartbeat.beat(redis_client, info(name, queues=[queue]), ttl=10, now=now - 40)

    def relative(gaps):
        return [(round(a - now), b if b == float("inf") else round(b - now)) for a, b in gaps]

    gaps = heartbeat.queue_gaps(redis_client, queue, since=0, now=now - 35)
    assert relative(gaps) == [(round(-now), -100), (-85, -40)]
    # the last beat's cover ran out at now - 30: by now a gap is open again
    later = heartbeat.queue_gaps(redis_client, queue, since=now - 50, now=now)
    assert relative(later) == [(-85, -40), (-30, float("inf"))]


def test_two_workers_cover_a_queue_together_and_a_clean_stop_uncovers_it(redis_client):
    queue = f"q-{uuid.uuid4().hex[:8]}"
    first, second = hostname(), hostname()
    heartbeat.beat(redis_client, info(first, queues=[queue]), ttl=30)
    heartbeat.beat(redis_client, info(second, queues=[queue]), ttl=30)
    now = time.time()  # after the gap the first beat closed (a queue never seen before)
    assert heartbeat.queue_gaps(redis_client, queue, since=now, now=now) == []
    heartbeat.clear(redis_client, first, [queue])
    assert heartbeat.queue_gaps(redis_client, queue, since=now, now=now) == []
    heartbeat.clear(redis_client, second, [queue])
    gaps = heartbeat.queue_gaps(redis_client, queue, since=now)
    assert len(gaps) == 1 and gaps[0][1] == float("inf")
