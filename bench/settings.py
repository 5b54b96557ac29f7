"""Django settings for the processes a benchmark starts (gunicorn web, Celery model worker).

The shared ``base`` settings with DEBUG off, persistent database connections (as in
production), the cache pointed at the benchmark's own
Redis db, and the demo rate limits raised so the load generator measures the site rather
than its 429s. Nothing else changes how a request is served; logging stays as in
``base`` (the processes' output goes to files under ``bench/results/tmp/logs``).
Environment (set by ``bench/stack.py``): ``REDIS_URL``, ``DATABASE_URL``, ``MODELS_DIR``,
``INFERENCE_PROFILE``.
"""

from __future__ import annotations

from config.settings.base import *  # noqa: F403
from config.settings.base import DATABASES, REDIS_URL, env

DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

# Persistent database connections, as config.settings.production has them.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

# The cache (rate-limit counters) lives in the benchmark's Redis db too.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "bench",
        "TIMEOUT": 3600,
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
    }
}

# The batching benchmark runs two model workers side by side (batching on and off), each
# behind its own web, on queues of their own; everything else uses the usual queue.
INFERENCE_QUEUE = env("BENCH_INFERENCE_QUEUE", default="inference")

# One client fires thousands of demos a minute from 127.0.0.1.
DEMO_RATE_LIMIT_USER = env("DEMO_RATE_LIMIT_USER", default="1000000/m")
DEMO_RATE_LIMIT_IP = env("DEMO_RATE_LIMIT_IP", default="1000000/m")
