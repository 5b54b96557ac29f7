from __future__ import annotations

import json
import threading
import time
import uuid

import pytest

from inference.contract import streams


def new_id() -> str:
    return uuid.uuid4().hex


def entry_key(entry_id: str) -> tuple[int, int]:
    millis, seq = entry_id.split("-")
    return int(millis), int(seq)


def test_publish_then_read_all_events_in_order(redis_client):
    task_id = new_id()
    first = streams.publish(redis_client, task_id, streams.queued_event("fill-mask"))
    second = streams.publish(redis_client, task_id, streams.started_event("w1@host"))

    events = streams.all_events(redis_client, task_id)

    assert [e["type"] for e in events] == ["queued", "started"]
    assert events[0]["kind"] == "fill-mask"
    assert events[1]["worker"] == "w1@host"
    assert entry_key(first) < entry_key(second)


def test_each_entry_has_one_json_field_e_and_the_stream_expires(redis_client, settings):
    settings.DEMO_RESULT_TTL = 120
    task_id = new_id()
    streams.publish(redis_client, task_id, streams.done_event({"x": 1}))

    raw = redis_client.xrange(f"demo:events:{task_id}")
    assert len(raw) == 1
    _, fields = raw[0]
    assert list(fields) == [b"e"]
    assert json.loads(fields[b"e"]) == {"type": "done", "result": {"x": 1}}
    assert 0 < redis_client.ttl(f"demo:events:{task_id}") <= 120


def test_read_events_after_cursor_returns_only_newer(redis_client):
    task_id = new_id()
    cursor = streams.publish(redis_client, task_id, streams.queued_event("generate"))
    streams.publish(redis_client, task_id, streams.started_event("w"))

    entries = streams.read_events(redis_client, task_id, after=cursor)

    assert [event["type"] for _, event in entries] == ["started"]
    assert entry_key(entries[0][0]) > entry_key(cursor)


def test_read_events_blocks_until_a_new_event_arrives(redis_client):
    task_id = new_id()
    cursor = streams.publish(redis_client, task_id, streams.queued_event("generate"))

    def later():
        time.sleep(0.3)
        streams.publish(
            streams.redis_client(redis_client_url(redis_client)),
            task_id,
            streams.started_event("w"),
        )

    thread = threading.Thread(target=later)
    thread.start()
    started = time.monotonic()
    entries = streams.read_events(
        streams.redis_client(redis_client_url(redis_client), socket_timeout=None),
        task_id,
        after=cursor,
        block_ms=5000,
    )
    thread.join()

    assert [event["type"] for _, event in entries] == ["started"]
    assert 0.2 < time.monotonic() - started < 4


def redis_client_url(client) -> str:
    kwargs = client.connection_pool.connection_kwargs
    return f"redis://{kwargs['host']}:{kwargs['port']}/{kwargs['db']}"


def test_blocking_read_times_out_with_no_events(redis_client):
    task_id = new_id()
    cursor = streams.publish(redis_client, task_id, streams.queued_event("tokenize"))

    started = time.monotonic()
    entries = streams.read_events(redis_client, task_id, after=cursor, block_ms=200)

    assert entries == []
    assert time.monotonic() - started >= 0.15


def test_unknown_stream_reads_empty(redis_client):
    assert streams.all_events(redis_client, new_id()) == []
    assert streams.read_events(redis_client, new_id()) == []
    assert streams.outcome(redis_client, new_id()) is None


def test_outcome_finds_the_terminal_event(redis_client):
    task_id = new_id()
    streams.publish(redis_client, task_id, streams.queued_event("generate"))
    streams.publish(redis_client, task_id, streams.error_event("timeout", "Too slow."))

    assert streams.outcome(redis_client, task_id) == {
        "type": "error",
        "code": "timeout",
        "message": "Too slow.",
    }


def test_count_delivery_increments_and_expires(redis_client, settings):
    settings.DEMO_RESULT_TTL = 60
    task_id = new_id()
    assert streams.count_delivery(redis_client, task_id) == 1
    assert streams.count_delivery(redis_client, task_id) == 2
    assert 0 < redis_client.ttl(f"demo:deliveries:{task_id}") <= 60


@pytest.mark.parametrize("bad", ["", "a b", "x" * 65, "../etc", "id:with:colons", None])
def test_task_ids_that_are_not_safe_keys_are_refused(redis_client, bad):
    with pytest.raises(ValueError):
        streams.events_key(bad)
    assert not streams.is_valid_task_id(bad)


def test_uuid_forms_are_valid_task_ids():
    assert streams.is_valid_task_id(uuid.uuid4().hex)
    assert streams.is_valid_task_id(str(uuid.uuid4()))


def test_unknown_event_types_and_error_codes_are_refused(redis_client):
    with pytest.raises(ValueError):
        streams.publish(redis_client, new_id(), {"type": "bogus"})
    with pytest.raises(ValueError):
        streams.error_event("nope", "message")


def test_nan_cannot_be_published(redis_client):
    with pytest.raises(ValueError):
        streams.publish(redis_client, new_id(), streams.done_event({"x": float("nan")}))


def test_logits_round_trip_with_ttl(redis_client):
    key = "demo:logits:" + "ab" * 32
    data = bytes(range(16))
    streams.logits_store(redis_client, key, logits=data, vocab=[[1, " cat"]], ttl=30)

    assert streams.logits_read(redis_client, key) == (data, [[1, " cat"]])
    assert 0 < redis_client.ttl(key) <= 30
    assert 0 < redis_client.ttl(key + ":vocab") <= 30
    assert streams.logits_read(redis_client, "demo:logits:missing") is None
    with pytest.raises(ValueError):
        streams.logits_read(redis_client, "other:key")


def test_clients_are_shared_per_url_and_timeout():
    url = "redis://127.0.0.1:6379/15"
    assert streams.redis_client(url) is streams.redis_client(url)
    assert streams.redis_client(url) is not streams.redis_client(url, socket_timeout=None)
