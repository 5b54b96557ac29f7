"""Production: behind a TLS-terminating proxy, PostgreSQL and Redis from the environment.

Required environment (the process refuses to start without them): ``SECRET_KEY``,
``ALLOWED_HOSTS``, ``DATABASE_URL``, ``REDIS_URL``. See docs/deploy.md for the rest.
``manage.py check --deploy --settings=config.settings.production`` prints no warnings
(tests/config/test_production_settings.py runs it).
"""

from __future__ import annotations

import copy
from pathlib import Path

from .base import *  # noqa: F403
from .base import BASE_DIR, DATABASES, LOGGING, env, sqlite_options

DEBUG = False

# --- Required settings: no defaults, so a missing variable fails at start-up --------
SECRET_KEY = env("SECRET_KEY")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
DATABASES = {**DATABASES, "default": sqlite_options(env.db("DATABASE_URL"))}
env("REDIS_URL")  # base derives the cache and the Celery broker from it; require it here

DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # A database host that went away fails a request (and /readyz) in seconds, not minutes.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 5)

# --- HTTPS and browser security headers --------------------------------------------
# The proxy terminates TLS and must set X-Forwarded-Proto (and drop a client's own).
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
# Container health checks talk plain HTTP to the web process itself.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "strict-origin-when-cross-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_SECURE = True
LANGUAGE_COOKIE_SECURE = True

# --- Static files: hashed names, compressed, served by WhiteNoise -------------------
STATIC_ROOT = Path(env("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# --- Logging: JSON lines with the request id (LOG_FORMAT=plain for humans) ----------
LOGGING = copy.deepcopy(LOGGING)
LOGGING["handlers"]["console"]["formatter"] = env("LOG_FORMAT", default="json")
