"""Fixtures for the whole suite."""

from __future__ import annotations

import contextlib

import pytest
import redis

from tests.redis_support import TEST_REDIS_URL


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
