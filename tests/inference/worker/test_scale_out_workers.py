"""Scale-out with model workers: two real worker processes share the ``inference`` queue.

Two ``celery worker`` processes (threads pool, 2 task threads each, tiny models, prefetch
1 from the settings, different hostnames) consume the same queue of one Redis. A batch of
demos of every kind is spread over both, each outcome naming its worker (the ``started``
event carries the worker's hostname, and the learner's read, ``selectors.demo_outcome``,
reports it). Then one worker is SIGKILLed while it holds two generations and the other
finishes the queue.

What the learner sees of the killed worker's tasks (the real settings: late acks,
``task_reject_on_worker_lost`` off, the broker's ``visibility_timeout`` of 300 s): their
messages stay unacknowledged in the broker, so nobody runs them again for 300 s; every
read after the dead worker's heartbeat expires (``WORKER_HEARTBEAT_TTL``, 6 s here) judges
them ``worker_lost`` ("The model worker stopped while working on this..."), writing nothing.
When the broker does hand such a message back (simulated here the way kombu restores an
unacknowledged message once its visibility timeout is over), the surviving worker finds that
another worker started it and is gone, publishes that verdict and does not run it: the
learner's error never turns into a result.
"""

from __future__ import annotations

import collections
import json
import time
import uuid

import pytest

from inference.contract import streams
from inference.web import selectors
from inference.worker import tasks
from tests.inference.conftest import WORKER_HEARTBEAT_TTL, start_worker

pytestmark = pytest.mark.integration

TOKEN_DELAY_MS = 40  # per generated token: a generation of 40 tokens holds a thread ~1.6 s
OTHERS = {
    "fill-mask": {"text": "The cat sat on the [MASK].", "top_k": 3},
    "next-token": {"prompt": "The cat", "top_k": 5},
    "attention": {"text": "The cat sat."},
    "tokenize": {"text": "The cat sat."},
    "embeddings": {"word": "bank", "sentence_a": "The bank.", "sentence_b": "A river bank."},
    "next-sentence": {"sentence_a": "It rained.", "sentence_b": "We stayed in."},
}


def generation(tokens: int, n: int) -> dict:
    return {"prompt": f"Story {n}: the cat", "max_new_tokens": tokens, "do_sample": True, "seed": n}


def enqueue(kind: str, params: dict) -> str:
    """What the web does: ``queued``, then the task to the inference queue."""
    task_id = uuid.uuid4().hex
    streams.publish(streams.redis_client(), task_id, streams.queued_event(kind, params))
    tasks.demo_task(kind).apply_async(
        kwargs=params, task_id=task_id, queue="inference", expires=120
    )
    return task_id


def follow(task_ids: list[str], timeout: float) -> dict[str, tuple[selectors.Outcome, float]]:
    """Read every task the way the pages do until each has finished: {id: (outcome, when
    its outcome was first seen, time.monotonic())}. Fails if any is still open."""
    finished: dict[str, tuple[selectors.Outcome, float]] = {}
    deadline = time.monotonic() + timeout
    while len(finished) < len(task_ids):
        assert time.monotonic() < deadline, {
            t: selectors.demo_outcome(task_id=t).state for t in task_ids if t not in finished
        }
        for task_id in task_ids:
            if task_id not in finished:
                outcome = selectors.demo_outcome(task_id=task_id)
                if outcome.finished:
                    finished[task_id] = (outcome, time.monotonic())
        time.sleep(0.1)
    return finished


def in_flight(client, task_ids: list[str], hostname: str) -> list[str]:
    """Tasks ``hostname`` has started and not finished (with at least one token out)."""
    held = []
    for task_id in task_ids:
        events = streams.all_events(client, task_id)
        types = [e["type"] for e in events]
        started = [e.get("worker") for e in events if e["type"] == "started"]
        if started == [hostname] and "token" in types and not streams.TERMINAL_TYPES & set(types):
            held.append(task_id)
    return held


def unacked(client) -> dict[str, str]:
    """{task id: delivery tag} of the messages the broker holds unacknowledged."""
    held = {}
    for tag, raw in client.hgetall("unacked").items():
        message = json.loads(raw)[0]
        held[message["headers"]["id"]] = tag.decode()
    return held


def done_at(client, task_id: str) -> float:
    """When Redis stored the task's ``done`` (its entry id starts with the server's clock)."""
    for entry_id, event in streams.read_events(client, task_id):
        if event["type"] == "done":
            return int(entry_id.split("-")[0]) / 1000.0
    raise AssertionError(f"{task_id} has no done event")


def started_by(client, task_id: str) -> list[str]:
    return [e["worker"] for e in streams.all_events(client, task_id) if e["type"] == "started"]


def test_two_model_workers_share_the_demos_and_the_survivor_finishes_the_queue(
    tiny_models_dir, tmp_path, _worker_manager
):
    _worker_manager.close()  # the session's shared worker would take a share too
    client = streams.redis_client()
    delay = {"INFERENCE_TEST_TOKEN_DELAY_MS": str(TOKEN_DELAY_MS)}
    one = start_worker(tiny_models_dir, tmp_path, name_prefix="scale-one", **delay)
    two = start_worker(tiny_models_dir, tmp_path, name_prefix="scale-two", **delay)
    workers = {one.hostname, two.hostname}
    try:
        one.wait_ready(timeout=120)
        two.wait_ready(timeout=120)

        # 1. A batch of demos, generations first (each holds a thread for a while): both
        # workers get a share, and every outcome names the worker that produced it.
        batch = [enqueue("generate", generation(16, n)) for n in range(6)]
        batch += [enqueue(kind, params) for kind, params in OTHERS.items()]
        outcomes = follow(batch, timeout=90)

        assert {o.state for o, _ in outcomes.values()} == {"done"}
        spread = collections.Counter(o.worker for o, _ in outcomes.values())
        print(f"spread of {len(batch)} demos: {dict(spread)}")
        assert set(spread) == workers
        assert min(spread.values()) >= 2  # each held its two threads' worth at least
        for task_id, (outcome, _) in outcomes.items():
            assert started_by(client, task_id) == [outcome.worker]

        # 2. Eight more generations; SIGKILL the first worker while it holds two of them.
        queue = [enqueue("generate", generation(40, 100 + n)) for n in range(8)]
        deadline = time.monotonic() + 60
        while len(held := in_flight(client, queue, one.hostname)) < 2:
            assert time.monotonic() < deadline, "the first worker never held two generations"
            time.sleep(0.02)
        one.kill()
        killed_at, killed_wall = time.monotonic(), time.time()

        outcomes = follow(queue, timeout=90)

        spread = collections.Counter(
            (o.worker, o.state, (o.error or {}).get("code")) for o, _ in outcomes.values()
        )
        print(f"after the kill: {dict(spread)}")
        for task_id in held:  # what the killed worker held: reported lost, soon
            outcome, seen_at = outcomes[task_id]
            assert outcome.state == "error"
            assert outcome.error == {"code": "worker_lost", "message": selectors.WORKER_LOST}
            assert outcome.worker == one.hostname
            print(f"{task_id} reported lost {seen_at - killed_at:.1f} s after the kill")
            assert seen_at - killed_at < WORKER_HEARTBEAT_TTL + 3, seen_at - killed_at
            assert started_by(client, task_id) == [one.hostname]  # not run again
        rest = [t for t in queue if t not in held]
        assert {outcomes[t][0].state for t in rest} == {"done"}  # the survivor did the rest
        for task_id in rest:
            if outcomes[task_id][0].worker != two.hostname:  # finished before the kill
                assert outcomes[task_id][0].worker == one.hostname
                assert done_at(client, task_id) <= killed_wall
        assert all(len(started_by(client, t)) == 1 for t in queue)

        # 3. The lost tasks' messages are still unacknowledged in the broker (for the 300 s
        # visibility timeout). Hand them back as kombu would then: the survivor takes them,
        # finds them started by a worker that is gone, and reports them lost unrun.
        leftover = unacked(client)
        assert set(leftover) & set(queue) == set(held)
        from config.celery_app import app

        with app.connection_for_write() as connection:
            qos = connection.default_channel.qos
            for task_id in held:
                qos.restore_by_tag(leftover[task_id])
        deadline = time.monotonic() + 30
        while not all(streams.outcome(client, t) for t in held):
            assert time.monotonic() < deadline, two.log()[-3000:]
            time.sleep(0.2)
        for task_id in held:  # still the killed worker's tokens, then the one error
            events = streams.all_events(client, task_id)
            types = [e["type"] for e in events]
            assert types[:2] == ["queued", "started"] and types[-1] == "error"
            assert set(types[2:-1]) == {"token"}
            assert events[-1]["code"] == "worker_lost"
        assert not set(held) & set(unacked(client))  # acknowledged this time
        assert two.running()
    finally:
        for worker in (one, two):
            worker.stop()
