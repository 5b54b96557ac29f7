"""Scale-out, shown with real processes: two Celery workers share the default queue.

Two ``celery worker`` processes (as the compose ``worker`` service starts them, one slot
each) consume the default queue of one Redis. Twenty ``lessons.tasks.ping_worker`` tasks
are spread over both (prefetch 1 keeps it fair), the request id of the publisher reaches
the worker's logs, /readyz sees both workers, and stopping one leaves the other serving.

Redis db: TEST_REDIS_DB (default 15; use 12 while developing).
"""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from celery import Celery
from django.test import override_settings

from config.health import check_default_workers, readiness_report
from config.request_id import reset_request_id, set_request_id
from inference.contract.heartbeat import beat, clear

from .helpers import ROOT

pytestmark = pytest.mark.integration

TASK = "lessons.tasks.ping_worker"


class Worker:
    def __init__(self, name: str, redis_url: str, log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        env = {
            key: value
            for key, value in os.environ.items()
            if key not in {"CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "CACHE_URL"}
        }
        env.update(
            {
                "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'site'}",
                "DJANGO_SETTINGS_MODULE": "config.settings.test",
                "REDIS_URL": redis_url,
            }
        )
        self._log = log_path.open("w")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "--app=config.celery_app",
                "worker",
                "--queues=default",
                "--concurrency=1",
                f"--hostname={name}",
                "--prefetch-multiplier=1",
                "--without-gossip",
                "--without-mingle",
                "--loglevel=INFO",
            ],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def stop(self, timeout: float = 30) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log.close()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture(scope="module")
def broker(redis_url):
    app = Celery("scale-out-test", broker=redis_url, backend=redis_url, set_as_current=False)
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=True,
    )
    yield app
    app.close()


@pytest.fixture(scope="module")
def workers(broker, redis_url, tmp_path_factory):
    logs = tmp_path_factory.mktemp("workers")
    tag = uuid.uuid4().hex[:6]
    pool = [Worker(f"scale-{tag}-{n}@%h", redis_url, logs / f"{n}.log") for n in ("a", "b")]
    names: set[str] = set()
    deadline = time.monotonic() + 120
    try:
        while True:
            replies = broker.control.ping(timeout=0.5) or []
            names = {name for reply in replies for name in reply}
            found = {
                w.name: next((n for n in names if n.startswith(w.name[:-2])), None) for w in pool
            }
            if all(found.values()):
                for worker in pool:
                    worker.node = found[worker.name]
                break
            dead = [w for w in pool if w.process.poll() is not None]
            if dead or time.monotonic() > deadline:
                pytest.fail(
                    "workers did not start:\n" + "\n---\n".join(w.log()[-3000:] for w in pool)
                )
            time.sleep(0.5)
        yield pool
    finally:
        for worker in pool:
            worker.stop()


def send_pings(broker, count: int, delay_ms: int = 100) -> list[dict]:
    results = [
        broker.send_task(TASK, kwargs={"delay_ms": delay_ms}, queue="default") for _ in range(count)
    ]
    return [result.get(timeout=60) for result in results]


def test_tasks_are_shared_by_every_worker(broker, workers):
    served = send_pings(broker, 20)

    by_worker = collections.Counter(result["hostname"] for result in served)
    assert set(by_worker) == {worker.node for worker in workers}
    assert sum(by_worker.values()) == 20
    assert min(by_worker.values()) >= 4, by_worker  # prefetch 1: nobody hoards the queue
    assert {result["queue"] for result in served} == {"default"}


def test_the_publishers_request_id_reaches_the_worker_and_its_logs(broker, workers):
    request_id = f"scale-{uuid.uuid4().hex[:10]}"
    token = set_request_id(request_id)
    try:
        served = send_pings(broker, 4, delay_ms=0)
    finally:
        reset_request_id(token)

    assert {result["request_id"] for result in served} == {request_id}
    time.sleep(0.5)  # let the log lines reach the files
    logs = "".join(worker.log() for worker in workers)
    lines = [line for line in logs.splitlines() if "ping_worker" in line and "served by" in line]
    tagged = [line for line in lines if f"[{request_id}]" in line]
    assert len(tagged) == 4
    # ...and the next task, published outside any request, doesn't inherit it.
    (untagged,) = send_pings(broker, 1, delay_ms=0)
    assert untagged["request_id"] is None


@pytest.mark.django_db
def test_readiness_sees_the_workers(broker, workers, redis_url, redis_client):
    default = check_default_workers(broker)
    assert default["ok"] is True
    assert default["live"] >= 2

    model_worker = f"inference-{uuid.uuid4().hex[:8]}@probe"
    beat(
        redis_client,
        {
            "hostname": model_worker,
            "pid": 1,
            "queues": ["inference"],
            "profile": "tiny",
            "ready": True,
            "models": {},
        },
        ttl=30,
    )
    try:
        with override_settings(REDIS_URL=redis_url):
            report = readiness_report(celery_app=broker)
    finally:
        clear(redis_client, model_worker)

    assert report["status"] == "ok", report
    assert "tiny" in report["checks"]["inference_workers"]["profiles"]


def test_work_goes_on_when_a_worker_stops(broker, workers):
    first, second = workers
    first.stop()

    served = send_pings(broker, 5, delay_ms=0)

    assert {result["hostname"] for result in served} == {second.node}
    assert "Warm shutdown" in first.log() or "warm shutdown" in first.log().lower()
