"""Fixtures for the inference tests: a test Redis db, tiny models, a real model worker.

- Redis: every test in this package talks to ``redis://127.0.0.1:6379/<TEST_REDIS_DB>``
  (default 15; engineers developing in parallel use their own db). The db is flushed once
  at session start, and REDIS_URL / the Celery broker and result backend point at it.
- ``tiny_models_dir``: a MODELS_DIR holding the ``tiny`` profile, built once per session.
- ``tiny_settings``: settings for a test that runs on the tiny profile.
- ``tiny_runtime``: the tiny models loaded into this process (for engine and task tests).
- ``wordpiece_gpt``: the tiny GPT with its own copy of BERT's WordPiece tokenizer, as the
  ``demo`` profile's GPT has (for the tokenize demo's GPT-2 side).
- ``demo_runtime``: the ``demo`` profile's models from the real MODELS_DIR, when
  ``manage.py build_demo_models`` has built them (else the test is skipped, saying so);
  ``any_runtime`` runs a test on both.
- ``tiny_demo``: a MODELS_DIR whose ``demo`` profile holds copies of the tiny models, with
  a training.json naming an early release (``publish_demo`` publishes the next one the
  way ``build_demo_models`` does: folders swapped in, then training.json); the encoder
  role is the tiny encoder too (``registry._minilm_dir``), so loading takes a second.
- ``celery_worker_proc``: a real ``celery worker`` subprocess (threads pool, tiny profile),
  started on demand and reused while it lives; yields a ``tools.harness.CeleryWorker``
  with ``.stop()``, ``.kill()``, ``.env`` and ``.hostname``. A test that stops or kills it
  gets a fresh one next time the fixture is requested.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
import redis as redis_lib
from django.test import override_settings

from tests.redis_support import TEST_REDIS_URL
from tools.harness import CeleryWorker, site_env, unique_hostname

WORKER_HEARTBEAT_TTL = 6
WORKER_TOKEN_DELAY_MS = 25
WORKER_READY_TIMEOUT = 60.0


@pytest.fixture(scope="session", autouse=True)
def _inference_redis():
    """Point Redis, the Celery broker and results at the test db; flush it once."""
    client = redis_lib.Redis.from_url(TEST_REDIS_URL, socket_connect_timeout=1)
    client.flushdb()
    override = override_settings(
        REDIS_URL=TEST_REDIS_URL,
        CELERY_BROKER_URL=TEST_REDIS_URL,
        CELERY_RESULT_BACKEND=TEST_REDIS_URL,
    )
    override.enable()
    from config.celery_app import app

    previous = (app.conf.broker_url, app.conf.result_backend)
    app.conf.broker_url = TEST_REDIS_URL
    app.conf.result_backend = TEST_REDIS_URL
    yield client
    app.conf.broker_url, app.conf.result_backend = previous
    override.disable()


@pytest.fixture
def redis_client(_inference_redis):
    from inference.contract import streams

    return streams.redis_client(TEST_REDIS_URL)


@pytest.fixture(scope="session")
def tiny_models_dir(tmp_path_factory) -> Path:
    from inference.worker.tiny import build_tiny_models

    base = tmp_path_factory.mktemp("models")
    build_tiny_models(base / "tiny")
    return base


@pytest.fixture
def tiny_settings(settings, tiny_models_dir):
    settings.MODELS_DIR = tiny_models_dir
    settings.INFERENCE_PROFILE = "tiny"
    return settings


@pytest.fixture(scope="session")
def tiny_runtime(tiny_models_dir):
    from inference.worker import runtime

    with override_settings(MODELS_DIR=tiny_models_dir, INFERENCE_PROFILE="tiny"):
        loaded = runtime.load_runtime(profile="tiny", device="cpu")
    yield loaded
    runtime.reset_runtime()


@pytest.fixture(scope="session")
def wordpiece_gpt(tiny_runtime, tiny_models_dir):
    """The tiny GPT loaded with its own copy of BERT's WordPiece, as the demo profile's GPT
    (MiniLM's weights and bert-base-uncased's vocabulary) is."""
    import dataclasses
    import threading

    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_models_dir / "tiny" / "bert"))
    return dataclasses.replace(
        tiny_runtime.gpt, tokenizer=tokenizer, tokenizer_lock=threading.RLock()
    )


def _load_runtime(profile: str, models_dir: Path):
    from inference.contract import registry
    from inference.worker.loading import load_role
    from inference.worker.runtime import Runtime

    with override_settings(MODELS_DIR=models_dir):
        specs = registry.profile_specs(profile)
        missing = registry.missing_specs(specs)
        if missing:
            pytest.skip(
                f"{profile} models are not built in {models_dir} "
                f"(missing {', '.join(s.role for s in missing)}; run manage.py build_demo_models)"
            )
        roles = {
            role: load_role(spec, device="cpu", profile=profile) for role, spec in specs.items()
        }
    return Runtime(profile=profile, device="cpu", roles=roles)


def publish_demo(
    models_dir: Path,
    tiny_dir: Path,
    *,
    release_id: str,
    stage: str = "early",
    state: str | None = None,
    mode: str = "full",
    published_at: float | None = None,
    break_role: str | None = None,
) -> None:
    """Publish a demo release the way the build does: copies of the tiny ``bert`` and
    ``gpt`` swapped in by renames, then training.json written atomically. ``break_role``
    publishes that role with unreadable weights (a corrupt folder)."""
    root = models_dir / "demo"
    root.mkdir(parents=True, exist_ok=True)
    for role in ("bert", "gpt"):
        staging = root / f".{role}.staging-test"
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(tiny_dir / "tiny" / role, staging)
        if role == break_role:
            (staging / "model.safetensors").write_bytes(b"not a safetensors file")
        final, old = root / role, root / f".{role}.old-test"
        if final.exists():
            final.rename(old)
        staging.rename(final)
        shutil.rmtree(old, ignore_errors=True)
    record = {
        "state": state or ("early" if stage == "early" else "done"),
        "mode": mode,
        "built_at": time.time(),
        "release": {
            "id": release_id,
            "stage": stage,
            "published_at": time.time() if published_at is None else published_at,
        },
        "models": {},
    }
    tmp = root / ".training.json.test.tmp"
    tmp.write_text(json.dumps(record))
    tmp.replace(root / "training.json")


@pytest.fixture
def tiny_demo(settings, tiny_models_dir, tmp_path, monkeypatch) -> Path:
    """Settings for the ``demo`` profile on copies of the tiny models (release "early-1");
    the process's runtime is restored afterwards."""
    from inference.contract import registry
    from inference.worker import runtime

    models_dir = tmp_path / "models"
    publish_demo(models_dir, tiny_models_dir, release_id="early-1", stage="early")
    settings.MODELS_DIR = models_dir
    settings.INFERENCE_PROFILE = "demo"
    monkeypatch.setattr(registry, "_minilm_dir", lambda: tiny_models_dir / "tiny" / "encoder")
    saved = runtime._runtime
    yield models_dir
    runtime._runtime = saved


@pytest.fixture(scope="session")
def quick_build(tmp_path_factory) -> Path:
    """A models directory holding a `build_demo_models --quick` build (seconds): the demo
    profile's real pipeline (corpus, WordPiece and byte-level BPE tokenizers, BERT with
    MLM + NSP, GPT) on a corpus slice with tiny sizes."""
    from django.core.management import call_command

    models_dir = tmp_path_factory.mktemp("models")
    call_command("build_demo_models", "--quick", "--no-progress", "--dir", str(models_dir))
    return models_dir


@pytest.fixture(scope="session")
def demo_runtime(request):
    """The demo profile's models: the real build under MODELS_DIR when there is one (`make
    run` made it), else a quick build, so the reference checks always run on the demo
    profile's own tokenizers and architectures."""
    from django.conf import settings

    from inference.contract import registry

    models_dir = Path(settings.MODELS_DIR)
    with override_settings(MODELS_DIR=models_dir):
        built = not registry.missing_specs(registry.profile_specs("demo"))
    if not built:
        models_dir = request.getfixturevalue("quick_build")
    return _load_runtime("demo", models_dir)


@pytest.fixture(params=["tiny", "demo"])
def any_runtime(request):
    """The same reference checks on the tiny models and (when built) the demo models."""
    return request.getfixturevalue(f"{request.param}_runtime")


# --- A real model worker ---------------------------------------------------------------


def worker_env(models_dir: Path, **extra: str) -> dict[str, str]:
    """A worker's environment: the test settings, the test Redis db, the tiny profile in
    ``models_dir``, a short heartbeat TTL and slowed-down generation."""
    values = {
        "INFERENCE_PROFILE": "tiny",
        "MODELS_DIR": str(models_dir),
        "WORKER_HEARTBEAT_TTL": str(WORKER_HEARTBEAT_TTL),
        "INFERENCE_TEST_TOKEN_DELAY_MS": str(WORKER_TOKEN_DELAY_MS),
        "TORCH_THREADS": "1",
    }
    return site_env(
        settings="config.settings.test", redis_url=TEST_REDIS_URL, **{**values, **extra}
    )


def start_worker(
    models_dir: Path,
    log_dir: Path,
    *,
    queue: str = "inference",
    name_prefix: str = "test",
    module: str = "celery",
    **extra_env: str,
) -> CeleryWorker:
    """A started model worker (threads pool, 2 threads; ``tools/harness``) consuming
    ``queue``; ``module`` runs another entry point that ends in Celery's (a test's launcher
    that registers a made-up kind)."""
    hostname = unique_hostname(name_prefix)
    return CeleryWorker(
        worker_env(models_dir, **extra_env),
        log_dir / f"{hostname.split('@')[0]}.log",
        queue=queue,
        hostname=hostname,
        module=module,
        options=["--without-heartbeat"],
    ).start()


class _WorkerManager:
    def __init__(self, models_dir: Path, log_dir: Path) -> None:
        self.models_dir = models_dir
        self.log_dir = log_dir
        self.current: CeleryWorker | None = None

    def get(self) -> CeleryWorker:
        if self.current is None or not self.current.running():
            if self.current is not None:
                self.current.kill()
            self.current = start_worker(self.models_dir, self.log_dir)
            self.current.wait_ready(timeout=WORKER_READY_TIMEOUT)  # stopped if it fails
        return self.current

    def close(self) -> None:
        if self.current is not None:
            self.current.stop()
            self.current = None


@pytest.fixture(scope="session")
def _worker_manager(tiny_models_dir, tmp_path_factory, _inference_redis):
    manager = _WorkerManager(tiny_models_dir, tmp_path_factory.mktemp("worker-logs"))
    yield manager
    manager.close()


@pytest.fixture
def celery_worker_proc(_worker_manager) -> CeleryWorker:
    """A live, ready model worker (tiny profile, threads pool) consuming ``inference``."""
    return _worker_manager.get()


# Web-side fixtures (demo_env, sent_tasks) live with their helpers in web_support.py.
from tests.inference.web_support import demo_env, sent_tasks  # noqa: E402, F401
