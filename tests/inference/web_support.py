"""Fixtures shared by the web-side unit tests (services, selectors, views).

``tests/inference/conftest.py`` imports the fixtures so every test module here can use
them. They run against the real test Redis db that ``conftest.py`` points REDIS_URL at,
but each test gets its own inference queue name, so a real model worker left running by
another test (it consumes ``inference``) never counts as "a worker" here, and heartbeats
written by these tests never reach it. Tasks are not sent to a broker: ``sent_tasks``
records what ``send_task`` was asked to publish.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

import pytest
import redis

from inference.contract import heartbeat, streams


@dataclass
class DemoEnv:
    queue: str
    client: redis.Redis
    hostnames: list[str] = field(default_factory=list)

    def beat(
        self,
        *,
        ready: bool = True,
        profile: str = "tiny",
        hostname: str | None = None,
        ttl: int = 30,
        up_for: float = 600.0,
        **extra: object,
    ) -> str:
        """Write a heartbeat for a worker consuming this test's queue; returns its name.

        The worker has covered the queue for ``up_for`` seconds (0: it starts now, so the
        queue's time without a worker until now is on record)."""
        hostname = hostname or f"web-test-{uuid.uuid4().hex[:8]}@localhost"
        info = {
            "hostname": hostname,
            "pid": 1,
            "queues": [self.queue],
            "profile": profile,
            "ready": ready,
            "models": {
                "bert": {
                    "name": "tiny bert",
                    "parameters": 12345,
                    "device": "cpu",
                    "dtype": "float32",
                }
            },
            **extra,
        }
        if up_for > 0:
            heartbeat.beat(self.client, info, int(up_for) + ttl, now=time.time() - up_for)
        heartbeat.beat(self.client, info, ttl)
        self.hostnames.append(hostname)
        return hostname

    def stream(self, *events: dict, kind: str = "fill-mask", params: dict | None = None) -> str:
        """A task stream holding ``queued`` (for ``kind``) followed by ``events``."""
        task_id = uuid.uuid4().hex
        streams.publish(
            self.client, task_id, {**streams.queued_event(kind), "params": params or {}}
        )
        for event in events:
            streams.publish(self.client, task_id, event)
        return task_id


@pytest.fixture
def demo_env(settings, tmp_path, redis_client):
    """Tiny profile without model files, a private queue, the rate-limit cache in test Redis."""
    queue = f"inference-web-test-{uuid.uuid4().hex[:8]}"
    settings.INFERENCE_QUEUE = queue
    settings.INFERENCE_PROFILE = "tiny"
    settings.MODELS_DIR = tmp_path / "models"
    settings.DEMO_RATE_LIMIT_USER = "1000/m"
    settings.DEMO_RATE_LIMIT_IP = "1000/m"
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": settings.REDIS_URL,  # the test db (conftest points REDIS_URL at it)
            "KEY_PREFIX": f"web-test-{uuid.uuid4().hex[:8]}",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    for key in redis_client.scan_iter(match="demo:cache:*"):
        redis_client.delete(key)
    env = DemoEnv(queue=queue, client=redis_client)
    yield env
    for hostname in env.hostnames:
        heartbeat.clear(redis_client, hostname)


@pytest.fixture
def sent_tasks(monkeypatch):
    """Record ``send_task`` calls instead of publishing to the broker."""
    from config.celery_app import app

    calls: list[dict] = []

    def fake_send_task(name, **options):
        calls.append({"name": name, **options})

    monkeypatch.setattr(app, "send_task", fake_send_task)
    return calls


def done_event(result: dict | None = None, **fields) -> dict:
    return streams.done_event(
        {
            "model": {
                "role": "bert",
                "name": "tiny bert",
                "parameters": 12345,
                "device": "cpu",
                "dtype": "float32",
                "profile": "tiny",
            },
            "elapsed_ms": 12.5,
            **(result or {}),
            **fields,
        }
    )


def started(hostname: str, *, ago: float = 0.0) -> dict:
    return {"type": "started", "worker": hostname, "at": time.time() - ago}
