"""The model workers' compose healthcheck, run for real against Redis heartbeats."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid

import pytest

from inference.contract.heartbeat import beat, clear

from .helpers import OPERATOR_ENV, healthcheck_python_snippets, interpolate, load_compose


@pytest.fixture
def probe(redis_url):
    services = interpolate(load_compose(), OPERATOR_ENV)["services"]
    (snippet,) = healthcheck_python_snippets(services["worker-gpu"])
    assert healthcheck_python_snippets(services["worker-cpu"]) == [snippet]
    # A worker name of its own: the probe pairs it with this machine's host name, as Celery's
    # %h does; no HOSTNAME in the environment (podman's exec sessions have none).
    worker_name = f"gpu{uuid.uuid4().hex[:8]}"

    def run() -> int:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "REDIS_URL": redis_url,
            "WORKER_NAME": worker_name,
        }
        return subprocess.run(
            [sys.executable, "-c", snippet], env=env, capture_output=True, timeout=30, check=False
        ).returncode

    run.hostname = f"{worker_name}@{socket.gethostname()}"
    return run


def heartbeat(hostname: str, *, ready: bool) -> dict:
    return {
        "hostname": hostname,
        "pid": 1,
        "queues": ["inference"],
        "profile": "full",
        "ready": ready,
        "models": {},
    }


def test_worker_probe_follows_the_heartbeat(probe, redis_client):
    try:
        assert probe() == 1  # no heartbeat: the worker is down
        beat(redis_client, heartbeat(probe.hostname, ready=False), ttl=30)
        assert probe() == 1  # alive but still loading models
        beat(redis_client, heartbeat(probe.hostname, ready=True), ttl=30)
        assert probe() == 0  # ready
        clear(redis_client, probe.hostname)
        assert probe() == 1  # clean shutdown removed it
    finally:
        clear(redis_client, probe.hostname)


def test_another_workers_heartbeat_does_not_count(probe, redis_client):
    other = f"{probe.hostname.split('@')[0]}@other-{uuid.uuid4().hex[:8]}"
    try:
        beat(redis_client, heartbeat(other, ready=True), ttl=30)
        assert probe() == 1
    finally:
        clear(redis_client, other)
