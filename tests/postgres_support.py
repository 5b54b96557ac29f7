"""The local PostgreSQL that some tests need besides the suite's own database (the fault and
load tests' throw-away databases, the benchmark smoke test's PostgreSQL pages):
``TEST_PG_HOST``, ``TEST_PG_PORT`` and ``TEST_PG_USER`` (default postgres@127.0.0.1:5432,
the cluster .ci/run starts). Where nothing answers there, those tests are skipped, and
pytest's summary says why (``require_postgres``).

The suite's own database is DATABASE_URL (SQLite by default); when DATABASE_URL points at a
PostgreSQL that doesn't answer, ``tests/conftest.py`` stops the run at once, saying so.
"""

from __future__ import annotations

import os
import socket

import pytest

PG_HOST = os.environ.get("TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("TEST_PG_USER", "postgres")


def answers(host: str, port: int, *, timeout: float = 1.0) -> bool:
    """True when something accepts a TCP connection at host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def postgres_available() -> bool:
    return answers(PG_HOST, PG_PORT)


def skip_reason() -> str:
    return (
        f"needs PostgreSQL at {PG_HOST}:{PG_PORT} and nothing answers there "
        "(.ci/run starts it; TEST_PG_HOST/TEST_PG_PORT/TEST_PG_USER point elsewhere)"
    )


def require_postgres() -> None:
    """Skip the calling test (or fixture) unless the local PostgreSQL answers."""
    if not postgres_available():
        pytest.skip(skip_reason())
