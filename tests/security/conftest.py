"""Fixtures for the security and bad-input tests.

- ``tiny_runtime_loaded``: the ``tiny`` models built once per session and loaded into
  this process, so a demo task can run in-process with ``task.apply`` exactly as the
  worker runs it (events published to Redis, result in the stream).
(``test_redis`` and ``fake_ready_worker`` are the whole suite's, in tests/conftest.py.)
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.test import override_settings


@pytest.fixture(scope="session")
def tiny_models_for_security(tmp_path_factory) -> Path:
    from inference.worker.tiny import build_tiny_models

    base = tmp_path_factory.mktemp("security-models")
    build_tiny_models(base / "tiny")
    return base


@pytest.fixture
def tiny_runtime_loaded(tiny_models_for_security, settings):
    from inference.worker import runtime

    previous = getattr(runtime, "_runtime", None)  # another package's tests may hold one
    settings.MODELS_DIR = tiny_models_for_security
    settings.INFERENCE_PROFILE = "tiny"
    with override_settings(MODELS_DIR=tiny_models_for_security, INFERENCE_PROFILE="tiny"):
        loaded = runtime.load_runtime(profile="tiny", device="cpu")
    yield loaded
    runtime.reset_runtime()
    if previous is not None:
        runtime._runtime = previous
