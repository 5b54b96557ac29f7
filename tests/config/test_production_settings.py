"""config.settings.production, loaded the way a server loads it: in a fresh process."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "config.settings.production",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "bertgpt.example.org",
    "CSRF_TRUSTED_ORIGINS": "https://bertgpt.example.org",
    "DATABASE_URL": "postgres://bertgpt:pw@db.internal:5432/bertgpt",
    "REDIS_URL": "redis://:pw@redis.internal:6379/0",
}


def run_manage(*args: str, env: dict[str, str], timeout: int = 60):
    clean = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/")}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_check_deploy_prints_no_warnings():
    result = run_manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        "--settings=config.settings.production",
        env=PRODUCTION_ENV,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
    assert "WARNING" not in result.stderr


@pytest.mark.parametrize("missing", ["SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "REDIS_URL"])
def test_required_variables_have_no_default(missing):
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != missing}

    result = run_manage("check", env=env)

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert missing in result.stderr


SHOW_SETTINGS = """
import json
from django.conf import settings
db = settings.DATABASES["default"]
print(json.dumps({
    "DEBUG": settings.DEBUG,
    "SECURE_SSL_REDIRECT": settings.SECURE_SSL_REDIRECT,
    "SECURE_PROXY_SSL_HEADER": list(settings.SECURE_PROXY_SSL_HEADER),
    "SECURE_HSTS_SECONDS": settings.SECURE_HSTS_SECONDS,
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": settings.SECURE_HSTS_INCLUDE_SUBDOMAINS,
    "SECURE_HSTS_PRELOAD": settings.SECURE_HSTS_PRELOAD,
    "SECURE_REFERRER_POLICY": settings.SECURE_REFERRER_POLICY,
    "X_FRAME_OPTIONS": settings.X_FRAME_OPTIONS,
    "SESSION_COOKIE_SECURE": settings.SESSION_COOKIE_SECURE,
    "CSRF_COOKIE_SECURE": settings.CSRF_COOKIE_SECURE,
    "CSRF_TRUSTED_ORIGINS": settings.CSRF_TRUSTED_ORIGINS,
    "ALLOWED_HOSTS": settings.ALLOWED_HOSTS,
    "STATICFILES": settings.STORAGES["staticfiles"]["BACKEND"],
    "DB_ENGINE": db["ENGINE"],
    "DB_HOST": db["HOST"],
    "DB_CONNECT_TIMEOUT": db.get("OPTIONS", {}).get("connect_timeout"),
    "CACHE": settings.CACHES["default"]["LOCATION"],
    "BROKER": settings.CELERY_BROKER_URL,
    "LOG_FORMATTER": settings.LOGGING["handlers"]["console"]["formatter"],
    "CSP": settings.CONTENT_SECURITY_POLICY["DIRECTIVES"]["script-src"],
}))
"""


def test_security_settings_are_on():
    result = run_manage("shell", "-c", SHOW_SETTINGS, env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout.strip().splitlines()[-1])

    assert values["DEBUG"] is False
    assert values["SECURE_SSL_REDIRECT"] is True
    assert values["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert values["SECURE_HSTS_SECONDS"] == 31536000
    assert values["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert values["SECURE_HSTS_PRELOAD"] is True
    assert values["SECURE_REFERRER_POLICY"]
    assert values["X_FRAME_OPTIONS"] == "DENY"
    assert values["SESSION_COOKIE_SECURE"] is True
    assert values["CSRF_COOKIE_SECURE"] is True
    assert values["CSRF_TRUSTED_ORIGINS"] == ["https://bertgpt.example.org"]
    assert values["ALLOWED_HOSTS"] == ["bertgpt.example.org"]
    assert values["STATICFILES"] == "whitenoise.storage.CompressedManifestStaticFilesStorage"
    assert values["DB_ENGINE"] == "django.db.backends.postgresql"
    assert values["DB_HOST"] == "db.internal"
    assert values["DB_CONNECT_TIMEOUT"] == 5
    assert values["CACHE"].startswith("redis://:pw@redis.internal:6379/")
    assert values["BROKER"] == "redis://:pw@redis.internal:6379/0"
    assert values["LOG_FORMATTER"] == "json"
    assert values["CSP"] == ["'self'"]


def test_debug_cannot_be_switched_on_from_the_environment():
    result = run_manage(
        "shell",
        "-c",
        "from django.conf import settings; print(settings.DEBUG)",
        env={**PRODUCTION_ENV, "DJANGO_DEBUG": "true"},
    )

    assert result.stdout.strip().splitlines()[-1] == "False"
