"""Time limits that hold on the threads pool (``inference/worker/timebox.py``).

The model worker's threads pool doesn't enforce Celery's time limits, so the task envelope
runs each task's work on a run thread and gives up on it at the soft limit plus a short
grace: the learner's stream gets ``timeout``, nothing after it, and the task's thread is
free for the next task. Here the work is made to hang on purpose: every demo kind and the
grading task run on a runtime whose models don't answer until the test lets them, through
the real task functions (in this process, as the worker runs them), and a real worker
process runs a made-up kind whose "forward pass" sleeps past its limit
(``tests/inference/worker/stall_worker.py``).
"""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from dataclasses import replace
from pathlib import Path

import pytest
from celery.exceptions import SoftTimeLimitExceeded

from inference.contract import kinds, streams
from inference.worker import tasks, timebox
from tests.inference.conftest import start_worker

ROOT = Path(__file__).resolve().parents[3]

KWARGS = {
    "fill-mask": {"text": "The cat sat on the [MASK].", "top_k": 3},
    "generate": {"prompt": "The cat", "max_new_tokens": 6},
    "next-token": {"prompt": "The cat", "top_k": 5},
    "attention": {"text": "The cat sat."},
    "tokenize": {"text": "The cat sat."},
    "embeddings": {"word": "bank", "sentence_a": "The bank.", "sentence_b": "A river bank."},
    "next-sentence": {"sentence_a": "It rained.", "sentence_b": "We stayed in."},
}
GRADING = {
    "answer_id": 1,
    "text": "Attention lets each token look at the others.",
    "references": ["Each token attends to the other tokens."],
    "concepts": [{"label": "attention", "phrases": ["attends"]}],
}
LIMITS = (1, 3)  # (soft, hard) seconds for the tasks under test
SLACK = 0.5  # scheduling and Redis round trips on a busy 2-core machine


class StuckRuntime:
    """The tiny runtime, except that reaching a model blocks until ``gate`` is set: the
    task's work is stuck in its "forward pass" (at most ``limit`` seconds)."""

    def __init__(self, real, limit: float = 20.0) -> None:
        self._real, self._limit = real, limit
        self.gate = threading.Event()
        self.entered = threading.Event()

    def __getattr__(self, name: str):
        self.entered.set()
        self.gate.wait(self._limit)
        return getattr(self._real, name)


@pytest.fixture
def stuck(tiny_settings, tiny_runtime, redis_client, monkeypatch):
    """Every task's work hangs at its first model until the test ends (or sets the gate);
    the tasks under test get LIMITS. Afterwards the abandoned work is let go and the test
    waits until it has ended, checking it published nothing more."""
    runtime = StuckRuntime(tiny_runtime)
    monkeypatch.setattr(tasks, "_runtime", lambda: runtime)
    for name in KWARGS:
        monkeypatch.setitem(kinds._REGISTRY, name, replace(kinds.require(name), time_limits=LIMITS))
    monkeypatch.setattr(tasks, "SHORT_ANSWER_TIME_LIMITS", LIMITS)
    yield runtime
    runtime.gate.set()
    wait_until_idle()


def wait_until_idle(timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while timebox.pool().stats()["busy"]:
        assert time.monotonic() < deadline, timebox.pool().stats()
        time.sleep(0.02)


def run_task(name: str, kwargs: dict) -> tuple[dict, str]:
    task_id = uuid.uuid4().hex
    task = tasks.grade_short_answer if name == "grading" else tasks.demo_task(name)
    return task.apply(kwargs=kwargs, task_id=task_id).get(), task_id


def timeline(client, task_id: str) -> list[tuple[float, dict]]:
    """(seconds since the epoch when Redis stored it, event) for each event: a stream
    entry id starts with the server's clock in milliseconds."""
    return [
        (int(entry_id.split("-")[0]) / 1000.0, event)
        for entry_id, event in streams.read_events(client, task_id)
    ]


def seconds_to_timeout(client, task_id: str) -> float:
    events = timeline(client, task_id)
    started = next(at for at, event in events if event["type"] == "started")
    ended = next(at for at, event in events if event["type"] in streams.TERMINAL_TYPES)
    return ended - started


@pytest.mark.parametrize("name", [*KWARGS, "grading"])
def test_every_task_ends_with_timeout_within_its_limit_when_its_work_hangs(
    stuck, redis_client, monkeypatch, name
):
    monkeypatch.setattr(timebox, "GRACE_SECONDS", 0.25)
    kwargs = GRADING if name == "grading" else KWARGS[name]
    before = timebox.pool().stats()["abandoned"]

    started = time.monotonic()
    result, task_id = run_task(name, kwargs)
    returned_after = time.monotonic() - started

    events = streams.all_events(redis_client, task_id)
    assert [e["type"] for e in events] == ["started", "error"]
    assert events[-1]["code"] == "timeout"
    assert "over 1 seconds" in events[-1]["message"]
    assert result == {"error": events[-1]}
    assert stuck.entered.is_set()  # the work really was stuck in its model
    assert LIMITS[0] <= returned_after <= LIMITS[0] + 0.25 + SLACK, returned_after
    assert timebox.pool().stats()["abandoned"] == before + 1

    stuck.gate.set()  # the stuck "forward pass" ends; its outcome must go nowhere
    wait_until_idle()
    assert streams.all_events(redis_client, task_id) == events


def test_timeout_arrives_within_the_soft_limit_plus_grace_and_nothing_follows(
    stuck, redis_client, caplog
):
    with caplog.at_level(logging.WARNING, logger="inference.worker.timebox"):
        result, task_id = run_task("generate", {"prompt": "The cat", "max_new_tokens": 30})

        elapsed = seconds_to_timeout(redis_client, task_id)
        print(f"timeout event {elapsed:.3f} s after started (soft limit {LIMITS[0]} s)")
        assert LIMITS[0] + timebox.GRACE_SECONDS - 0.05 <= elapsed
        assert elapsed <= LIMITS[0] + timebox.GRACE_SECONDS + SLACK
        assert elapsed < LIMITS[1]
        assert result["error"]["code"] == "timeout"

        # The task's thread is free at once: the next task runs (on a healthy runtime).
        stuck.gate.set()
        tokens = tasks.demo_task("tokenize").apply(kwargs={"text": "The cat sat."}).get()
        assert "bert" in tokens
        wait_until_idle()  # the abandoned generation resumed and tried to publish tokens

    events = streams.all_events(redis_client, task_id)
    assert [e["type"] for e in events] == ["started", "error"]  # no token, no done after it
    messages = [r.getMessage() for r in caplog.records]
    assert any(f"Abandoned task {task_id} (generate): still running" in m for m in messages)
    assert any(f"Abandoned task {task_id} (generate) finished" in m for m in messages)


def test_generation_stops_itself_at_its_deadline(
    tiny_settings, tiny_runtime, redis_client, monkeypatch
):
    monkeypatch.setitem(
        kinds._REGISTRY, "generate", replace(kinds.require("generate"), time_limits=LIMITS)
    )
    monkeypatch.setenv("INFERENCE_TEST_TOKEN_DELAY_MS", "100")  # 48 tokens: 4.8 s
    before = timebox.pool().stats()["abandoned"]

    result, task_id = run_task(
        "generate", {"prompt": "The cat sat on the", "max_new_tokens": 48, "do_sample": True,
                     "seed": 7}
    )  # fmt: skip

    events = timeline(redis_client, task_id)
    types = [event["type"] for _, event in events]
    assert types[0] == "started" and types[-1] == "error"
    assert set(types[1:-1]) == {"token"} and len(types) > 5  # it streamed, then stopped
    assert result["error"]["code"] == "timeout"
    elapsed = seconds_to_timeout(redis_client, task_id)
    print(f"generation stopped itself: timeout {elapsed:.3f} s after started")
    assert LIMITS[0] <= elapsed <= LIMITS[0] + 0.3  # at its next token, before the grace ends
    assert timebox.pool().stats()["abandoned"] == before  # nothing was left running


def test_with_every_run_thread_stuck_a_new_task_still_times_out(
    stuck, redis_client, monkeypatch, caplog
):
    monkeypatch.setattr(timebox, "_pool", timebox.RunPool(1, name="test-run"))
    monkeypatch.setattr(timebox, "GRACE_SECONDS", 0.25)

    with caplog.at_level(logging.WARNING, logger="inference.worker.timebox"):
        _, first = run_task("tokenize", {"text": "The cat sat."})  # holds the only thread
        started = time.monotonic()
        _, second = run_task("attention", {"text": "The cat sat."})  # waits for a thread
        waited = time.monotonic() - started

    assert streams.outcome(redis_client, first)["code"] == "timeout"
    assert streams.outcome(redis_client, second)["code"] == "timeout"
    assert waited <= LIMITS[0] + 0.25 + SLACK, waited
    stats = timebox.pool().stats()
    assert stats["abandoned"] == 1 and stats["dropped"] == 1, stats
    assert stats["threads"] == 1 and stats["queued"] == 0  # the second never ran
    assert any(
        f"Gave up on task {second} (attention) before it started: all 1 run threads busy (1 of "
        "them with abandoned work)" in r.getMessage()
        for r in caplog.records
    )

    stuck.gate.set()
    wait_until_idle()
    result, third = run_task("tokenize", {"text": "The cat sat."})
    assert streams.outcome(redis_client, third)["type"] == "done"
    assert [e["type"] for e in streams.all_events(redis_client, first)] == ["started", "error"]
    assert [e["type"] for e in streams.all_events(redis_client, second)] == ["started", "error"]


def test_a_pool_that_enforces_soft_limits_still_reports_timeout(stuck, redis_client, monkeypatch):
    """Prefork (and solo with SIGALRM) raise SoftTimeLimitExceeded in the task's thread
    while it waits for its work: the same timeout, and the work is silenced the same way."""
    original = timebox.Run.wait
    closed = []

    def interrupted(self, until):
        time.sleep(0.2)
        closed.append(self)
        raise SoftTimeLimitExceeded()

    monkeypatch.setattr(timebox.Run, "wait", interrupted)
    result, task_id = run_task("generate", {"prompt": "The cat", "max_new_tokens": 6})
    monkeypatch.setattr(timebox.Run, "wait", original)

    assert result["error"]["code"] == "timeout"
    [run] = closed
    assert run.closed and run.abandoned
    stuck.gate.set()
    wait_until_idle()
    assert [e["type"] for e in streams.all_events(redis_client, task_id)] == ["started", "error"]


def test_work_that_finishes_in_time_is_unchanged(tiny_settings, tiny_runtime, redis_client):
    """The run thread carries the caller's context variables (the request id in logs)."""
    from config.request_id import get_request_id, reset_request_id, set_request_id

    seen = []

    def work(run):
        seen.append((get_request_id(), threading.current_thread().name, run.deadline))
        return {"ok": True}

    token = set_request_id("req-123")
    try:
        run = timebox.pool().submit(work, label="test", deadline=time.monotonic() + 5)
        assert run.wait(time.monotonic() + 5) == {"ok": True}
    finally:
        reset_request_id(token)
    run.close()
    assert not run.abandoned
    [(request_id, thread, _)] = seen
    assert request_id == "req-123"
    assert thread.startswith("demo-run-")
    with pytest.raises(Exception, match="already ended"):
        run.guard(lambda: None)()


def test_the_grace_never_passes_the_hard_limit():
    assert timebox.grace(20, 30) == timebox.GRACE_SECONDS == 1.0
    assert timebox.grace(1, 1.5) == 0.5
    assert timebox.grace(0, 0) == 0.0
    assert timebox.grace(5) == timebox.GRACE_SECONDS


# --- What the docs promise ----------------------------------------------------------------


def _deploy_limits() -> dict[str, tuple[int, int]]:
    """The rows of docs/deploy.md's time-limit table: ``| `task` | soft | hard |``."""
    text = (ROOT / "docs" / "deploy.md").read_text()
    section = text.split("### Time limits of the model tasks", 1)[1].split("\n#", 1)[0]
    rows = re.findall(r"^\| `([a-z_-]+)` \| (\d+) s \| (\d+) s \|", section, flags=re.M)
    return {name: (int(soft), int(hard)) for name, soft, hard in rows}


def test_the_deploy_docs_state_each_model_tasks_time_limits():
    documented = _deploy_limits()
    expected = {kind.name: kind.time_limits for kind in kinds.all_kinds()}
    expected["grade_short_answer"] = tasks.SHORT_ANSWER_TIME_LIMITS
    assert documented == expected
    text = (ROOT / "docs" / "deploy.md").read_text()
    assert f"{timebox.GRACE_SECONDS:g} s" in text.split("### Time limits of the model tasks")[1]


# --- A real worker process ------------------------------------------------------------------


@pytest.mark.integration
def test_a_real_worker_reports_timeout_and_answers_the_next_task(tiny_models_dir, tmp_path):
    from config.celery_app import app
    from tests.inference.worker.stall_worker import STALL, TASK_NAME

    queue = f"inference-stall-{uuid.uuid4().hex[:8]}"
    worker = start_worker(
        tiny_models_dir,
        tmp_path,
        queue=queue,
        name_prefix="stall",
        module="tests.inference.worker.stall_worker",
        INFERENCE_WORKER="1",
    )
    client = streams.redis_client()
    reader = streams.redis_client(socket_timeout=None)

    def send(seconds: float) -> str:
        task_id = uuid.uuid4().hex
        streams.publish(client, task_id, streams.queued_event(STALL.name))
        app.send_task(
            TASK_NAME, kwargs={"seconds": seconds}, task_id=task_id, queue=queue, expires=120
        )
        return task_id

    def outcome(task_id: str, timeout: float = 30.0) -> dict:
        deadline, cursor = time.monotonic() + timeout, "0-0"
        while time.monotonic() < deadline:
            for entry_id, event in streams.read_events(reader, task_id, after=cursor, block_ms=500):
                cursor = entry_id
                if event["type"] in streams.TERMINAL_TYPES:
                    return event
        raise AssertionError(f"no outcome for {task_id} in {timeout}s")

    try:
        worker.wait_ready()
        soft, hard = STALL.time_limits
        stuck = send(6.0)  # sleeps 6 s in its "forward pass"; the soft limit is 1 s
        assert outcome(stuck)["code"] == "timeout"
        elapsed = seconds_to_timeout(client, stuck)
        print(f"real worker: timeout {elapsed:.3f} s after started (soft {soft} s, hard {hard} s)")
        assert soft + timebox.GRACE_SECONDS - 0.05 <= elapsed <= soft + timebox.GRACE_SECONDS + 1
        assert elapsed < hard

        # The worker answers the next tasks while the stuck one still sleeps.
        quick = send(0.0)
        assert outcome(quick)["type"] == "done"
        assert outcome(send(0.1))["type"] == "done"

        time.sleep(6.0 - elapsed + 1.0)  # the stuck pass ends and tries to publish
        assert [e["type"] for e in streams.all_events(client, stuck)] == [
            "queued",
            "started",
            "error",
        ]
        log = worker.log()
        assert f"Abandoned task {stuck} (stall-test): still running" in log
        assert f"Abandoned task {stuck} (stall-test) finished" in log
    finally:
        code = worker.stop()
    assert code == 0, worker.log()[-3000:]
