"""Fixtures for the whole suite."""

from __future__ import annotations

import contextlib

import pytest


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
