from __future__ import annotations

import os

import pytest
import redis


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The real Redis the suite uses (db from TEST_REDIS_DB, default 15)."""
    return f"redis://127.0.0.1:6379/{int(os.environ.get('TEST_REDIS_DB', '15'))}"


@pytest.fixture
def redis_client(redis_url):
    client = redis.Redis.from_url(redis_url, socket_connect_timeout=1, socket_timeout=5)
    yield client
    client.close()
