"""A model worker killed with SIGKILL mid-task, against gunicorn + a real worker.

What the learner must see: the page stops waiting and says the worker stopped (well
within the task's time limit), nothing keeps polling, and once a worker is back the next
demo runs. A killed task is not run a second time behind the learner's back.
"""

from __future__ import annotations

import threading
import time

import pytest
import redis

from inference.contract import kinds
from inference.web.selectors import WORKER_LOST
from tools.harness import CeleryWorker

from .flows import demo_follow, demo_submit, result_state, still_polling, task_id_from
from .stack import Browser

pytestmark = pytest.mark.integration

GENERATE = {"prompt": "the farmer went to the market and", "max_new_tokens": "48"}


class KillOnFirstToken(threading.Thread):
    """Watches the task's event stream (as the worker writes it) and SIGKILLs the worker
    as soon as the first generated token is published: mid-task, for sure."""

    def __init__(self, redis_url: str, task_id: str, worker: CeleryWorker) -> None:
        super().__init__(daemon=True)
        self.client = redis.Redis.from_url(redis_url, socket_timeout=5)
        self.key = f"demo:events:{task_id}"
        self.worker = worker
        self.killed_at: float | None = None

    def run(self) -> None:
        cursor = "0-0"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            for _key, entries in self.client.xread({self.key: cursor}, block=1000) or []:
                for entry_id, fields in entries:
                    cursor = entry_id
                    if b'"type":"token"' in fields[b"e"]:
                        self.worker.kill()
                        self.killed_at = time.monotonic()
                        self.client.close()
                        return
        self.client.close()


def test_sigkill_mid_generation_shows_a_clear_error_and_the_next_demo_runs(make_stack):
    stack = make_stack(INFERENCE_TEST_TOKEN_DELAY_MS="150")
    web = stack.start_web()
    worker = stack.start_worker()
    browser = Browser(web.base_url)
    started = time.monotonic()

    submit = demo_submit(browser, "generate", GENERATE)
    assert submit.status == 200, submit.text[-2000:]
    task_id = task_id_from(submit)
    killer = KillOnFirstToken(stack.config.redis_url, task_id, worker)
    killer.start()

    run = demo_follow(browser, submit, timeout=60)
    killer.join(5)
    assert killer.killed_at, f"the worker never streamed a token:\n{stack.logs()}"
    assert run.final is not None, "the page was still waiting after 60 s"

    # The page stops waiting with the worker-lost message...
    assert run.final.status in (200, 286), run.final.text[-2000:]
    html = run.final.text
    assert result_state(html) == "error", html[-2000:]
    assert WORKER_LOST in html
    assert "Try again" in html
    # ...and nothing on it keeps asking the server: no spinner left running.
    assert not still_polling(html)
    noticed = time.monotonic() - killer.killed_at
    print(f"worker loss shown {noticed:.1f}s after SIGKILL")
    assert noticed < kinds.require("generate").hard_seconds, noticed
    assert noticed < 20, f"took {noticed:.1f}s to notice the dead worker"

    # The result's own page (no JavaScript) says the same and doesn't refresh itself.
    page = browser.get(f"/demos/results/{task_id}/")
    assert page.status == 200
    assert result_state(page.text) == "error"
    assert not still_polling(page.text)

    # With no worker at all, a new demo is refused at once with a clear message.
    refused = demo_submit(browser, "fill-mask", {"text": "the [MASK] sat down .", "top_k": "3"})
    assert refused.status == 200 and refused.header("x-demo-status") == "503"
    assert "No model worker is running" in refused.text

    # A worker comes back: the next request succeeds.
    stack.start_worker()
    again = demo_submit(browser, "fill-mask", {"text": "the [MASK] sat down .", "top_k": "3"})
    assert again.status == 200, again.text[-2000:]
    finished = demo_follow(browser, again, timeout=30)
    assert finished.final is not None and finished.final.status in (200, 286)
    assert result_state(finished.final.text) == "done", finished.final.text[-2000:]
    assert not still_polling(finished.final.text)

    # The killed task is not re-run by the new worker: one "started", no "done".
    client = redis.Redis.from_url(stack.config.redis_url)
    events = [fields[b"e"].decode() for _id, fields in client.xrange(f"demo:events:{task_id}")]
    client.close()
    assert sum('"type":"started"' in e for e in events) == 1, events
    assert not any('"type":"done"' in e for e in events), events
    assert time.monotonic() - started < 60
