"""Fixtures for the whole suite.

- ``redis_url``/``redis_client``: the suite's real Redis (``tests/redis_support.py``).
- ``test_redis``: REDIS_URL, the broker and the cache point at the suite's Redis db
  (``TEST_REDIS_DB``, default 15) with a key prefix of this test's own, and the demo
  queue is private to the test, so no real worker on the shared Redis takes its tasks.
- ``fake_ready_worker``: a heartbeat saying a ready worker consumes the test's queue, so
  ``demo_submit`` gets as far as enqueueing (messages go to the private queue, where
  nothing consumes them; the queue is deleted afterwards).

The suite's database is SQLite unless DATABASE_URL says otherwise; a DATABASE_URL naming a
PostgreSQL that doesn't answer stops the run at once with one line saying so. Tests that
need a local PostgreSQL besides it are skipped where none answers
(``tests/postgres_support.py``).
"""

from __future__ import annotations

import contextlib
import os
import uuid

import pytest
import redis

from tests.postgres_support import answers
from tests.redis_support import TEST_REDIS_URL


def pytest_sessionstart(session) -> None:
    """DATABASE_URL=postgres://... with nothing answering there: one clear line, instead of
    an error in every test that touches the database."""
    url = os.environ.get("DATABASE_URL", "")
    if not url:
        return
    import environ

    config = environ.Env.db_url_config(url)
    host, port = str(config.get("HOST") or ""), int(config.get("PORT") or 5432)
    over_tcp = host and not host.startswith("/")  # not a Unix socket's folder
    if "postgresql" in config["ENGINE"] and over_tcp and not answers(host, port, timeout=2):
        pytest.exit(
            f"DATABASE_URL names PostgreSQL at {host}:{port}, and nothing answers there: "
            "start it (.ci/run does), or unset DATABASE_URL to run the suite on SQLite",
            returncode=pytest.ExitCode.USAGE_ERROR,
        )


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The real Redis the suite uses (``tests/redis_support.py``)."""
    return TEST_REDIS_URL


@pytest.fixture
def redis_client(redis_url):
    """A plain client on the suite's Redis (the demo tests override it with theirs)."""
    client = redis.Redis.from_url(redis_url, socket_connect_timeout=1, socket_timeout=5)
    yield client
    client.close()


@pytest.fixture(autouse=True)
def _english_after_each_test():
    """Each test ends in English. A request to a /zh-hans/ page activates Chinese for the
    thread (LocaleMiddleware), and reverse() in the next test would then build Chinese URLs."""
    yield
    from django.conf import settings
    from django.utils import translation

    translation.activate(settings.LANGUAGE_CODE)


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Each test starts with an empty Django cache.

    The cache is Redis (rate-limit counters for demos and sign-up live there), so
    without this a counter left by one test, or by an earlier run within the hour,
    would throttle the next.
    """
    from django.core.cache import cache

    from lessons import page_cache

    with contextlib.suppress(Exception):
        cache.clear()
    page_cache.clear()  # the lesson pages a web process keeps for visitors without a session
    yield


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
    from inference.contract import heartbeat

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
