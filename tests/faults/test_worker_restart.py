"""A model worker restarted while demo tasks wait in the queue (gunicorn + real workers).

Every queued demo ends one way for the learner: it runs after the restart, or it ends
with a clear message (the worker stopped, or none came back in time). None runs twice in
a way a learner could see: at most one ``started`` and one outcome per task, never a
result that flips from an error to an answer, no token generated twice.
"""

from __future__ import annotations

import json
import threading
import time

import pytest
import redis
from django.utils.html import escape

from inference.web.selectors import NO_WORKER, WORKER_LOST
from tools.harness import wait_for

from .flows import demo_follow, demo_submit, result_state, still_polling
from .stack import Browser

pytestmark = pytest.mark.integration

LONG = {"prompt": "once upon a time the king", "max_new_tokens": "40"}
QUEUED = [{"text": f"the {word} sat on the [MASK] ."} for word in ("cat", "dog", "bird")]
CLEAR_ERRORS = tuple(
    escape(m) for m in (WORKER_LOST, NO_WORKER, "too busy to start this in time", "stopped twice")
)


def stream_events(redis_url: str, task_id: str) -> list[dict]:
    client = redis.Redis.from_url(redis_url)
    try:
        return [json.loads(fields[b"e"]) for _id, fields in client.xrange(f"demo:events:{task_id}")]
    finally:
        client.close()


def assert_seen_once(events: list[dict]) -> str:
    """The task's visible story is consistent; returns its outcome: "done" or "error" as
    published, or "judged" when nothing was (a quiet task's verdict is judged by every
    reader, never written down by one: ``inference.contract.verdicts``)."""
    types = [event["type"] for event in events]
    assert types.count("started") <= 1, types
    assert types.count("done") <= 1, types
    assert not ("done" in types and "error" in types), types
    indexes = [event["index"] for event in events if event["type"] == "token"]
    assert len(indexes) == len(set(indexes)), indexes
    outcome = [t for t in types if t in ("done", "error")]
    assert len(outcome) <= 1, types
    return outcome[0] if outcome else "judged"


def submit_all(base_url: str) -> list[tuple[Browser, object]]:
    runs = []
    for kind, data in [("generate", LONG)] + [("fill-mask", q) for q in QUEUED]:
        browser = Browser(base_url)
        response = demo_submit(browser, kind, data)
        assert response.status == 200 and response.header("hx-push-url"), response.text[-1500:]
        runs.append((browser, response))
    return runs


def follow_all(runs) -> list:
    results: list = [None] * len(runs)

    def follow(index: int) -> None:
        browser, response = runs[index]
        results[index] = demo_follow(browser, response, timeout=45)

    threads = [threading.Thread(target=follow, args=(i,)) for i in range(len(runs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def wait_streaming(browser: Browser, task_id: str) -> None:
    def streaming() -> bool:
        page = browser.get(f"/demos/results/{task_id}/", htmx=True)
        return result_state(page.text) == "streaming"

    wait_for(streaming, timeout=30, interval=0.2, what="the long demo to start streaming")


@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
def test_queued_demos_run_after_a_restart_or_end_clearly_never_twice(make_stack, how):
    stack = make_stack(INFERENCE_TEST_TOKEN_DELAY_MS="100")
    web = stack.start_web()
    first = stack.start_worker(concurrency=1)
    started = time.monotonic()

    runs = submit_all(web.base_url)
    task_ids = [r.header("hx-push-url").rstrip("/").rsplit("/", 1)[1] for _, r in runs]
    wait_streaming(runs[0][0], task_ids[0])
    if how == "SIGTERM":
        first.stop()  # warm shutdown: finishes the running task, leaves the queue alone
    else:
        first.kill()
    # The learners come back to their pages once the new worker is up.
    stack.start_worker(concurrency=1)

    results = follow_all(runs)
    outcomes = []
    for task_id, run in zip(task_ids, results, strict=True):
        assert run is not None and run.final is not None, f"{task_id} never finished"
        assert run.final.status in (200, 286), run.final.text[-1500:]
        assert not still_polling(run.final.text)
        outcome = assert_seen_once(stream_events(stack.config.redis_url, task_id))
        outcomes.append(outcome)
        if outcome != "done":
            assert any(message in run.final.text for message in CLEAR_ERRORS), run.final.text
        else:
            assert result_state(run.final.text) == "done"
    # The queued demos (never started before the restart) are served by the new worker.
    assert outcomes[1:] == ["done"] * len(QUEUED), outcomes
    # A warm shutdown lets the running demo finish; a killed worker's demo is reported lost.
    if how == "SIGTERM":
        assert outcomes[0] == "done"
    else:  # nobody finishes it: every reader judges it lost
        assert outcomes[0] in ("error", "judged")
        assert escape(WORKER_LOST) in results[0].final.text
    assert time.monotonic() - started < 60


def test_demos_queued_when_the_worker_goes_away_end_clearly_and_never_run_later(make_stack):
    stack = make_stack(INFERENCE_TEST_TOKEN_DELAY_MS="100")
    web = stack.start_web()
    first = stack.start_worker(concurrency=1)

    runs = submit_all(web.base_url)
    task_ids = [r.header("hx-push-url").rstrip("/").rsplit("/", 1)[1] for _, r in runs]
    wait_streaming(runs[0][0], task_ids[0])
    first.stop()  # and nobody restarts it for a while: the pages keep polling

    results = follow_all(runs)
    before = {}
    for task_id, run in zip(task_ids[1:], results[1:], strict=True):
        assert run.final is not None and run.final.status in (200, 286), task_id
        assert escape(NO_WORKER) in run.final.text, run.final.text[-1500:]
        assert not still_polling(run.final.text)
        before[task_id] = stream_events(stack.config.redis_url, task_id)
        assert assert_seen_once(before[task_id]) == "judged"  # the pages wrote nothing

    # A worker comes back and consumes the old messages: it finds the span without a
    # worker on record, as the pages did, and publishes their verdict instead of running
    # the task, so the learner's "didn't finish" stays the truth.
    second = stack.start_worker(concurrency=1)
    browser = Browser(web.base_url)
    fresh = demo_follow(
        browser, demo_submit(browser, "fill-mask", {"text": "a [MASK] day ."}), timeout=30
    )
    assert fresh.state == "done"  # it ran, so the queue ahead of it was drained
    for task_id, events in before.items():
        after = stream_events(stack.config.redis_url, task_id)
        assert after[: len(events)] == events
        assert [(e["type"], e.get("code")) for e in after[len(events) :]] == [
            ("error", "unavailable")
        ]
    assert second.running()
