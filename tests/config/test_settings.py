"""The settings we rely on exist, have the values we depend on, and reach Celery.

A typo in a CELERY_* name is silently ignored by Celery (the limit just isn't set), so
these tests check both the Django settings and what the Celery app actually uses.
"""

from __future__ import annotations

from pathlib import Path

from celery.app.defaults import NAMESPACES, flatten
from django.conf import settings

from config.celery_app import app as celery_app

VALID_CELERY_KEYS = {name for name, _ in flatten(NAMESPACES)}


def test_every_celery_setting_is_a_real_celery_key():
    names = [name for name in dir(settings) if name.startswith("CELERY_")]
    assert "CELERY_TASK_ACKS_LATE" in names
    unknown = [
        name for name in names if name.removeprefix("CELERY_").lower() not in VALID_CELERY_KEYS
    ]
    assert unknown == []


def test_worker_takes_one_message_at_a_time_and_acks_late():
    assert settings.CELERY_WORKER_PREFETCH_MULTIPLIER == 1
    assert settings.CELERY_TASK_ACKS_LATE is True
    assert settings.CELERY_TASK_REJECT_ON_WORKER_LOST is False
    assert celery_app.conf.worker_prefetch_multiplier == 1
    assert celery_app.conf.task_acks_late is True
    assert celery_app.conf.task_reject_on_worker_lost is False


def test_time_limits_are_set_and_soft_comes_first():
    assert 0 < settings.CELERY_TASK_SOFT_TIME_LIMIT < settings.CELERY_TASK_TIME_LIMIT
    assert celery_app.conf.task_soft_time_limit == settings.CELERY_TASK_SOFT_TIME_LIMIT
    assert celery_app.conf.task_time_limit == settings.CELERY_TASK_TIME_LIMIT


def test_results_expire_with_the_demo_streams():
    assert settings.CELERY_RESULT_EXPIRES > 0
    assert settings.DEMO_RESULT_TTL == settings.CELERY_RESULT_EXPIRES
    assert celery_app.conf.result_expires == settings.CELERY_RESULT_EXPIRES


def test_only_json_goes_over_the_wire():
    assert settings.CELERY_TASK_SERIALIZER == "json"
    assert settings.CELERY_RESULT_SERIALIZER == "json"
    assert list(settings.CELERY_ACCEPT_CONTENT) == ["json"]
    assert celery_app.conf.task_serializer == "json"
    assert celery_app.conf.result_serializer == "json"
    assert list(celery_app.conf.accept_content) == ["json"]


def test_demo_tasks_route_to_the_inference_queue_and_the_rest_to_default():
    assert settings.INFERENCE_QUEUE == "inference"
    assert settings.CELERY_TASK_DEFAULT_QUEUE == "default"
    router = celery_app.amqp.router
    assert router.route({}, "inference.tasks.fill_mask")["queue"].name == "inference"
    assert router.route({}, "inference.tasks.generate")["queue"].name == "inference"
    assert router.route({}, "lessons.tasks.ping_worker")["queue"].name == "default"


def test_broker_and_results_use_redis_from_the_environment():
    assert settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://", "unix://"))
    assert settings.CELERY_RESULT_BACKEND.startswith(("redis://", "rediss://", "unix://"))
    assert celery_app.conf.broker_url == settings.CELERY_BROKER_URL


def test_inference_settings_match_the_contract():
    assert isinstance(settings.MODELS_DIR, Path)
    assert settings.INFERENCE_PROFILE in {"auto", "full", "demo", "tiny"}
    assert settings.DEMO_LIMITS == {
        "max_input_tokens": 64,
        "max_chars": 400,
        "max_masks": 5,
        "max_new_tokens": 48,
        "top_k_max": 100,
        "attention_max_tokens": 32,
    }
    assert settings.DEMO_RATE_LIMIT_USER == "30/m"
    assert settings.DEMO_RATE_LIMIT_IP == "60/m"
    assert settings.WORKER_HEARTBEAT_TTL == 15


def test_request_ids_and_csp_are_wired_in():
    assert settings.MIDDLEWARE[0] == "config.request_id.RequestIdMiddleware"
    assert "csp.middleware.CSPMiddleware" in settings.MIDDLEWARE
    assert "csp" in settings.INSTALLED_APPS
    console = settings.LOGGING["handlers"]["console"]
    assert "request_id" in console["filters"]
    assert "%(request_id)s" in settings.LOGGING["formatters"]["plain"]["format"]
