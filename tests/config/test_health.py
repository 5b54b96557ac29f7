"""/healthz and /readyz against the real database and Redis.

The "everything is up" case needs real Celery workers: tests/deploy/test_scale_out.py.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest
from django.test import override_settings

from config.health import check_inference_workers, readiness_report
from inference.contract.heartbeat import beat, clear

UNREACHABLE = "redis://:s3cret-pass@127.0.0.1:1/0"


def test_healthz_is_ok_without_touching_the_database(client):
    # No django_db mark: any database access here would raise.
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.content == b"ok"
    assert response["Content-Type"].startswith("text/plain")
    assert "no-store" in response["Cache-Control"]


def test_healthz_answers_head_and_refuses_writes(client):
    assert client.head("/healthz").status_code == 200
    assert client.post("/healthz").status_code == 405


@pytest.mark.django_db
def test_readyz_is_503_with_reasons_when_redis_is_down(client):
    started = time.monotonic()
    with override_settings(REDIS_URL=UNREACHABLE, CELERY_BROKER_URL=UNREACHABLE):
        response = client.get("/readyz")
    elapsed = time.monotonic() - started

    assert response.status_code == 503
    assert elapsed < 3
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["profile"] is None
    checks = body["checks"]
    assert checks["database"]["ok"] is True
    assert checks["redis"] == {"ok": False, "error": "ConnectionError", "ms": checks["redis"]["ms"]}
    assert checks["inference_workers"]["ok"] is False
    assert checks["inference_workers"]["skipped"] == "redis unreachable"
    assert checks["default_workers"]["ok"] is False
    assert "s3cret" not in response.content.decode()  # no URLs or credentials leak out
    assert "no-store" in response["Cache-Control"]


@pytest.mark.django_db
def test_readyz_reports_a_broken_database(client, django_db_blocker):
    def broken_execute(execute, sql, params, many, context):
        raise RuntimeError("database is gone")

    from django.db import connection

    with (
        override_settings(REDIS_URL=UNREACHABLE, CELERY_BROKER_URL=UNREACHABLE),
        connection.execute_wrapper(broken_execute),
    ):
        response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["checks"]["database"]["ok"] is False
    assert response.json()["checks"]["database"]["error"] == "RuntimeError"


@pytest.fixture
def heartbeats(redis_client):
    written: list[str] = []

    def write(*, queues, ready, profile="tiny", models=None):
        hostname = f"test-{uuid.uuid4().hex[:8]}@probe"
        info = {
            "hostname": hostname,
            "pid": 1,
            "queues": queues,
            "profile": profile,
            "ready": ready,
            "models": models or {},
        }
        beat(redis_client, info, ttl=30)
        written.append(hostname)
        return hostname

    yield write
    for hostname in written:
        clear(redis_client, hostname)


def test_inference_check_counts_only_ready_workers_on_the_inference_queue(redis_client, heartbeats):
    before = check_inference_workers(redis_client)
    heartbeats(
        queues=["inference"],
        ready=True,
        models={
            "bert": {"name": "tiny-bert", "parameters": 1, "device": "cpu", "dtype": "float32"}
        },
    )
    heartbeats(queues=["inference"], ready=False)
    heartbeats(queues=["default"], ready=True, profile="elsewhere")

    after = check_inference_workers(redis_client)

    assert after["ok"] is True
    assert after["ready"] == before["ready"] + 1
    assert after["starting"] == before["starting"] + 1
    assert "tiny" in after["profiles"]
    assert "elsewhere" not in after["profiles"]
    assert after["models"].get("bert") in {"tiny-bert", *before["models"].values()}


def test_inference_check_fails_when_workers_are_only_loading(redis_client, heartbeats):
    if check_inference_workers(redis_client)["ready"]:
        pytest.fail("a ready inference worker is already beating in this Redis db")
    heartbeats(queues=["inference"], ready=False)

    result = check_inference_workers(redis_client)

    assert result["ok"] is False
    assert result["starting"] >= 1


@pytest.mark.django_db
def test_report_names_the_profile_the_workers_serve(redis_url, heartbeats):
    heartbeats(queues=["inference"], ready=True, profile="tiny")

    started = time.monotonic()
    with override_settings(REDIS_URL=redis_url):
        report = readiness_report(celery_app=_no_broker_app())

    assert time.monotonic() - started < 3

    assert report["checks"]["redis"]["ok"] is True
    assert report["checks"]["inference_workers"]["ok"] is True
    assert report["profile"] == "tiny"
    # No default-queue worker answers on an unreachable broker, so not ready overall.
    assert report["checks"]["default_workers"] == {
        "ok": False,
        "error": "OperationalError",
        "ms": report["checks"]["default_workers"]["ms"],
    }
    assert report["status"] == "unavailable"
    json.dumps(report)  # the view returns it as JSON


def _no_broker_app():
    from celery import Celery

    return Celery("no-broker", broker=UNREACHABLE, set_as_current=False)
