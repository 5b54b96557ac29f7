from __future__ import annotations

import json
import threading
import time
import uuid
from unittest.mock import ANY

import numpy as np
import pytest

from inference.contract import heartbeat, kinds, streams
from inference.contract.errors import DemoNotFound
from inference.web import selectors
from tests.inference.web_support import done_event, started


def token(index: int, text: str) -> dict:
    return {
        "type": "token",
        "index": index,
        "token": text,
        "token_id": index,
        "prob": 0.5,
        "alternatives": [],
    }


# --- Folding events into a state -------------------------------------------------------


def test_fold_walks_through_the_states():
    entries = [("1-0", {"type": "queued", "kind": "generate", "at": 1.0, "params": {"p": 1}})]
    assert selectors.fold("t", entries).state == "queued"
    entries.append(("2-0", started("w@h")))
    assert selectors.fold("t", entries).state == "running"
    entries.append(("3-0", token(0, " a")))
    entries.append(("3-1", token(0, " a")))  # a duplicate (redelivery) counts once
    outcome = selectors.fold("t", entries)
    assert outcome.state == "streaming"
    assert [t["token"] for t in outcome.tokens] == [" a"]
    entries.append(("4-0", done_event({"text": " a"})))
    outcome = selectors.fold("t", entries)
    assert outcome.state == "done"
    assert outcome.finished
    assert outcome.result["text"] == " a"
    assert outcome.cursor == "4-0"
    assert outcome.kind == "generate"
    assert outcome.params == {"p": 1}
    assert outcome.worker == "w@h"


def test_a_result_wins_over_an_error_and_the_first_error_counts():
    error = streams.error_event("worker_lost", "Lost.")
    later = streams.error_event("timeout", "Slow.")
    outcome = selectors.fold("t", [("1-0", {"type": "queued"}), ("2-0", error), ("3-0", later)])
    assert outcome.state == "error"
    assert outcome.error == {"code": "worker_lost", "message": "Lost."}
    outcome = selectors.fold("t", [("1-0", error), ("2-0", done_event())])
    assert outcome.state == "done"
    assert outcome.error is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [("12-3", "12-3"), ("", "0-0"), (None, "0-0"), ("$", "0-0"), ("1-2-3", "0-0")],
)
def test_clean_cursor(value, expected):
    assert selectors.clean_cursor(value) == expected


# --- demo_outcome ----------------------------------------------------------------------------


@pytest.mark.parametrize("task_id", ["0" * 32, "../../etc", "a b", "x" * 65])
def test_unknown_or_malformed_task_ids_are_not_found(demo_env, task_id):
    with pytest.raises(DemoNotFound) as info:
        selectors.demo_outcome(task_id=task_id)
    assert "expired or never existed" in info.value.message


def test_outcome_of_a_finished_task(demo_env):
    task_id = demo_env.stream(started("w@h"), done_event({"masks": []}))
    outcome = selectors.demo_outcome(task_id=task_id)
    assert outcome.state == "done"
    assert outcome.kind == "fill-mask"


def test_long_poll_returns_as_soon_as_an_event_arrives(demo_env):
    hostname = demo_env.beat()
    task_id = demo_env.stream(started(hostname))
    cursor = selectors.demo_outcome(task_id=task_id).cursor
    timer = threading.Timer(0.3, streams.publish, (demo_env.client, task_id, token(0, " hi")))
    timer.start()
    began = time.monotonic()
    outcome = selectors.demo_outcome(task_id=task_id, after=cursor, block_ms=8000)
    elapsed = time.monotonic() - began
    timer.join()
    assert 0.2 < elapsed < 1.5
    assert outcome.state == "streaming"
    assert outcome.cursor != cursor


def test_long_poll_gives_up_after_block_ms_without_news(demo_env):
    hostname = demo_env.beat()
    task_id = demo_env.stream(started(hostname))
    cursor = selectors.demo_outcome(task_id=task_id).cursor
    began = time.monotonic()
    outcome = selectors.demo_outcome(task_id=task_id, after=cursor, block_ms=600)
    assert 0.5 < time.monotonic() - began < 1.5
    assert outcome.state == "running"
    assert outcome.cursor == cursor


def test_old_cursor_answers_at_once(demo_env):
    task_id = demo_env.stream(started(demo_env.beat()))
    began = time.monotonic()
    outcome = selectors.demo_outcome(task_id=task_id, after="0-0", block_ms=8000)
    assert time.monotonic() - began < 0.5
    assert outcome.state == "running"


def test_a_dead_worker_turns_into_worker_lost_without_writing_it(demo_env):
    task_id = demo_env.stream(started("gone@nowhere"), token(0, " a"))
    outcome = selectors.demo_outcome(task_id=task_id)
    assert outcome.state == "error"
    assert outcome.error == {"code": "worker_lost", "message": selectors.WORKER_LOST}
    assert selectors.demo_outcome(task_id=task_id, after=outcome.cursor).error == outcome.error
    events = streams.all_events(demo_env.client, task_id)
    assert [e["type"] for e in events] == ["queued", "started", "token"]


def test_a_result_that_arrives_after_all_wins_over_worker_lost(demo_env):
    task_id = demo_env.stream(started("gone@nowhere"))
    assert selectors.demo_outcome(task_id=task_id).error["code"] == "worker_lost"
    streams.publish(demo_env.client, task_id, done_event())
    assert selectors.demo_outcome(task_id=task_id).state == "done"


def test_reading_quiet_tasks_writes_nothing_to_redis(demo_env):
    """The verdicts are judged, never published: every reader path leaves Redis as it was."""
    lost = demo_env.stream(started("gone@nowhere"))
    unavailable = old_queued(demo_env, ago=selectors.NO_WORKER_GRACE_S + 1)
    hostname = demo_env.beat(up_for=0)  # the queue had no worker until now
    limit = selectors.task_time_limit_s("fill-mask")
    overrun = demo_env.stream(started(hostname, ago=limit + selectors.DEADLINE_MARGIN_S + 1))
    before = redis_values(demo_env.client)
    for task_id, code in (
        (lost, "worker_lost"),
        (unavailable, "unavailable"),
        (overrun, "timeout"),
    ):
        assert selectors.demo_outcome(task_id=task_id).error["code"] == code
        assert selectors.demo_outcome_settled(task_id=task_id, within_ms=100).state == "error"
        feed = list(selectors.demo_event_feed(task_id=task_id))
        assert feed[-1][1] == {"type": "error", "code": code, "message": ANY}
    after = redis_values(demo_env.client)
    assert {key for key, value in after.items() if before.get(key) != value} == set()


def redis_values(client) -> dict[bytes, bytes | None]:
    return {key: client.dump(key) for key in client.scan_iter(count=1000)}


def test_a_verdict_of_no_worker_stands_once_a_worker_arrives(demo_env):
    """A reader said "no worker"; the worker that starts afterwards finds the same gap on
    record, so the page keeps saying it (and the worker refuses the task: test_tasks.py)."""
    task_id = old_queued(demo_env, ago=selectors.NO_WORKER_GRACE_S + 2)
    assert selectors.demo_outcome(task_id=task_id).error["code"] == "unavailable"
    demo_env.beat(up_for=0)
    assert selectors.demo_outcome(task_id=task_id).error["code"] == "unavailable"


def test_a_worker_that_arrives_within_the_grace_period_keeps_the_task_waiting(demo_env):
    task_id = old_queued(demo_env, ago=selectors.NO_WORKER_GRACE_S - 3)
    demo_env.beat(up_for=0)
    assert selectors.demo_outcome(task_id=task_id).state == "queued"


def test_worker_death_is_noticed_during_a_long_poll(demo_env):
    hostname = demo_env.beat(ttl=1)
    task_id = demo_env.stream(started(hostname))
    cursor = selectors.demo_outcome(task_id=task_id).cursor
    began = time.monotonic()
    outcome = selectors.demo_outcome(task_id=task_id, after=cursor, block_ms=10_000)
    assert outcome.error["code"] == "worker_lost"
    assert time.monotonic() - began < 1 + selectors.BLOCK_SLICE_S + 1


def test_a_live_worker_keeps_the_task_running(demo_env):
    task_id = demo_env.stream(started(demo_env.beat()))
    assert selectors.demo_outcome(task_id=task_id).state == "running"


def test_queued_with_no_worker_becomes_unavailable_after_a_grace_period(demo_env):
    fresh = demo_env.stream()
    assert selectors.demo_outcome(task_id=fresh).state == "queued"
    old = old_queued(demo_env, ago=selectors.NO_WORKER_GRACE_S + 1)
    outcome = selectors.demo_outcome(task_id=old)
    assert outcome.state == "error"
    assert outcome.error == {"code": "unavailable", "message": selectors.NO_WORKER}


def old_queued(demo_env, *, ago: float, kind: str = "fill-mask") -> str:
    task_id = uuid.uuid4().hex
    streams.publish(
        demo_env.client, task_id, {"type": "queued", "kind": kind, "at": time.time() - ago}
    )
    return task_id


def test_queued_too_long_with_a_busy_worker_times_out(demo_env):
    demo_env.beat()
    waiting = old_queued(demo_env, ago=selectors.NO_WORKER_GRACE_S + 1)
    assert selectors.demo_outcome(task_id=waiting).state == "queued"
    expired = old_queued(
        demo_env, ago=selectors.queue_expires_s() + selectors.DEADLINE_MARGIN_S + 1
    )
    outcome = selectors.demo_outcome(task_id=expired)
    assert outcome.error == {"code": "timeout", "message": selectors.QUEUE_TIMEOUT}


def test_running_past_the_hard_time_limit_times_out(demo_env):
    hostname = demo_env.beat()
    limit = selectors.task_time_limit_s("fill-mask")
    task_id = demo_env.stream(started(hostname, ago=limit + selectors.DEADLINE_MARGIN_S + 1))
    outcome = selectors.demo_outcome(task_id=task_id)
    assert outcome.error["code"] == "timeout"
    assert f"{limit}-second limit" in outcome.error["message"]


def test_time_limits_come_from_the_kinds_rows():
    assert selectors.task_time_limit_s("generate") == kinds.require("generate").hard_seconds == 75


# --- Event feed (SSE) ----------------------------------------------------------------------


def test_event_feed_yields_every_event_then_stops_at_the_terminal_one(demo_env):
    hostname = demo_env.beat()
    task_id = demo_env.stream(started(hostname), token(0, " a"))
    timer = threading.Timer(0.3, streams.publish, (demo_env.client, task_id, done_event()))
    timer.start()
    items = list(selectors.demo_event_feed(task_id=task_id))
    timer.join()
    assert [event["type"] for _, event in items] == ["queued", "started", "token", "done"]
    ids = [entry_id for entry_id, _ in items]
    assert ids == sorted(ids, key=lambda i: tuple(map(int, i.split("-"))))


def test_event_feed_resumes_after_a_cursor(demo_env):
    task_id = demo_env.stream(started("w@h"), done_event())
    entries = streams.read_events(demo_env.client, task_id)
    items = list(selectors.demo_event_feed(task_id=task_id, after=entries[1][0]))
    assert [event["type"] for _, event in items] == ["done"]


# --- Status, build progress, logits ------------------------------------------------------------


def write_progress(settings, data) -> None:
    folder = settings.MODELS_DIR / "demo"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "progress.json").write_text(data if isinstance(data, str) else json.dumps(data))


def test_build_progress(demo_env, settings):
    assert selectors.build_progress() is None
    write_progress(settings, {"state": "building", "percent": 143, "updated_at": time.time()})
    progress = selectors.build_progress()
    assert progress["running"] is True
    assert progress["percent"] == 100
    write_progress(settings, {"state": "done", "percent": 100, "updated_at": time.time()})
    assert selectors.build_progress()["running"] is False
    write_progress(settings, "{not json")
    assert selectors.build_progress() is None


def test_worker_status_lists_workers_on_the_demo_queue(demo_env):
    ready = demo_env.beat(profile="tiny")
    loading = demo_env.beat(ready=False, status="waiting for models")
    demo_env.beat(queues=["default"])
    status = selectors.worker_status()
    assert status["redis"] is True
    assert status["ready"] is True
    assert status["profile"] == "tiny"
    assert {w["hostname"] for w in status["workers"]} == {ready, loading}


def early(release_id: str = "e1") -> dict:
    return {"id": release_id, "stage": "early", "published_at": time.time(), "state": "early"}


def final(release_id: str = "f2") -> dict:
    return {"id": release_id, "stage": "final", "published_at": time.time(), "state": "done"}


def test_worker_status_says_which_stage_of_the_demo_build_is_served(demo_env):
    status = selectors.worker_status()
    assert status["stage"] is None
    assert status["poll"] is True  # nobody ready: the strip refreshes itself

    demo_env.beat(profile="demo", release=early())
    status = selectors.worker_status()
    assert status["ready"] is True
    assert status["stage"] == "early"
    assert status["poll"] is True  # so the finished build shows when it is swapped in

    for hostname in demo_env.hostnames:
        heartbeat.clear(demo_env.client, hostname)
    demo_env.beat(profile="demo", release=final())
    status = selectors.worker_status()
    assert status["stage"] == "final"
    assert status["poll"] is False


def test_the_early_checkpoint_is_reported_while_any_ready_worker_serves_it(demo_env):
    demo_env.beat(profile="demo", release=final())
    demo_env.beat(profile="demo", release=early())
    demo_env.beat(profile="demo", release=final("f3"), ready=False)  # not serving yet
    assert selectors.worker_status()["stage"] == "early"


def test_workers_without_a_demo_release_have_no_stage(demo_env):
    demo_env.beat(profile="tiny")
    demo_env.beat(profile="demo", release=None)
    status = selectors.worker_status()
    assert status["stage"] is None
    assert status["poll"] is False
    assert selectors.served_stage([{"ready": True, "profile": "demo", "release": "x"}]) is None
    assert selectors.served_stage([{"ready": True, "profile": "tiny", "release": early()}]) is None


def test_worker_status_when_redis_is_down(demo_env, settings):
    settings.REDIS_URL = "redis://127.0.0.1:6399/0"
    status = selectors.worker_status()
    assert status["redis"] is False
    assert status["workers"] == []


def test_next_token_logits(demo_env):
    logits = np.arange(10, dtype=np.float32)
    key = streams.LOGITS_PREFIX + "web-test-" + "1" * 8
    streams.logits_store(demo_env.client, key, logits=logits.tobytes(), vocab=[[9, "nine"]])
    task_id = demo_env.stream(
        started("w@h"),
        done_event({"prompt": "p", "candidates": [], "logits_key": key}),
        kind="next-token",
    )
    outcome, raw, vocab = selectors.next_token_logits(task_id=task_id)
    assert outcome.state == "done"
    assert np.array_equal(np.frombuffer(raw, dtype=np.float32), logits)
    assert vocab == {9: "nine"}
    demo_env.client.delete(key)
    with pytest.raises(DemoNotFound):
        selectors.next_token_logits(task_id=task_id)


def test_next_token_logits_refuses_other_kinds(demo_env):
    task_id = demo_env.stream(done_event(), kind="fill-mask")
    with pytest.raises(DemoNotFound):
        selectors.next_token_logits(task_id=task_id)
