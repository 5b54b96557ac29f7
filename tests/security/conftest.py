"""Fixtures for the security and bad-input tests.

- ``test_redis``: REDIS_URL and the cache point at the suite's Redis db
  (``TEST_REDIS_DB``, default 15) with a key prefix of this test's own, and the demo
  queue is private to the test, so no real worker on the shared Redis takes its tasks.
- ``tiny_runtime_loaded``: the ``tiny`` models built once per session and loaded into
  this process, so a demo task can run in-process with ``task.apply`` exactly as the
  worker runs it (events published to Redis, result in the stream).
- ``fake_ready_worker``: a heartbeat saying a ready worker consumes the test's queue, so
  ``demo_submit`` gets as far as enqueueing (messages go to the private queue, where
  nothing consumes them; the queue is deleted afterwards).
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import redis
from django.test import override_settings

from tests.redis_support import TEST_REDIS_URL


@pytest.fixture
def test_redis(settings):
    prefix = f"sec-{uuid.uuid4().hex[:8]}"
    queue = f"inference-{prefix}"
    settings.REDIS_URL = TEST_REDIS_URL
    settings.CELERY_BROKER_URL = TEST_REDIS_URL
    settings.INFERENCE_QUEUE = queue
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": TEST_REDIS_URL,
            "KEY_PREFIX": prefix,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    from config.celery_app import app

    previous = app.conf.broker_url
    app.conf.broker_url = TEST_REDIS_URL
    client = redis.Redis.from_url(TEST_REDIS_URL, socket_connect_timeout=1, socket_timeout=5)
    yield client
    client.delete(queue)
    for key in client.scan_iter(match=f"*{prefix}*", count=500):
        client.delete(key)
    client.close()
    app.conf.broker_url = previous


@pytest.fixture
def fake_ready_worker(test_redis, settings):
    from inference import heartbeat

    hostname = f"security-{uuid.uuid4().hex[:8]}@localhost"
    heartbeat.beat(
        test_redis,
        {
            "hostname": hostname,
            "pid": 1,
            "queues": [settings.INFERENCE_QUEUE],
            "profile": "tiny",
            "ready": True,
            "models": {},
        },
        60,
    )
    yield hostname
    heartbeat.clear(test_redis, hostname)


@pytest.fixture(scope="session")
def tiny_models_for_security(tmp_path_factory) -> Path:
    from inference.tiny import build_tiny_models

    base = tmp_path_factory.mktemp("security-models")
    build_tiny_models(base / "tiny")
    return base


@pytest.fixture
def tiny_runtime_loaded(tiny_models_for_security, settings):
    from inference import runtime

    previous = getattr(runtime, "_runtime", None)  # another package's tests may hold one
    settings.MODELS_DIR = tiny_models_for_security
    settings.INFERENCE_PROFILE = "tiny"
    with override_settings(MODELS_DIR=tiny_models_for_security, INFERENCE_PROFILE="tiny"):
        loaded = runtime.load_runtime(profile="tiny", device="cpu")
    yield loaded
    runtime.reset_runtime()
    if previous is not None:
        runtime._runtime = previous
