"""The suite's Redis: the real one at 127.0.0.1:6379, database ``TEST_REDIS_DB`` (default
15), so a test run never touches what a developer's `make run` keeps in database 0. The
fixtures on top of it are in ``tests/conftest.py`` (``redis_url``, ``redis_client``) and,
for the demo tests, ``tests/inference/conftest.py`` (settings and Celery pointed at it)."""

from __future__ import annotations

import os

TEST_REDIS_DB = int(os.environ.get("TEST_REDIS_DB", "15"))
TEST_REDIS_URL = f"redis://127.0.0.1:6379/{TEST_REDIS_DB}"
