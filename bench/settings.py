"""Django settings for the processes a benchmark starts (gunicorn web, Celery workers).

The production settings (``config.settings.production``), with only what serving plain HTTP
over loopback to a load generator needs changed:

- ``SECURE_SSL_REDIRECT = False``: there is no TLS proxy in front, so production's redirect
  to HTTPS would answer every request with a 301;
- ``ALLOWED_HOSTS``, ``SECRET_KEY`` and ``STATIC_ROOT`` (where ``collectstatic`` put the
  hashed files for this run) come from the benchmark, as a deployment's environment would;
- the demo rate limits are raised (one client fires thousands of demos a minute from
  127.0.0.1; the limits would measure their own 429s);
- ``INFERENCE_QUEUE`` may name a queue of the benchmark's own (the batching section runs two
  model workers side by side).

Everything else (DEBUG off, persistent database connections, secure cookies, WhiteNoise's
manifest storage, JSON logging, the cache and broker on ``REDIS_URL``) is production's.
Environment (set by ``bench/stack.py``): ``REDIS_URL``, ``DATABASE_URL``, ``MODELS_DIR``,
``INFERENCE_PROFILE``, ``STATIC_ROOT``.
"""

from __future__ import annotations

import os

os.environ.setdefault("SECRET_KEY", "bench-only-" + "x" * 50)
os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost")

from config.settings.production import *  # noqa: E402, F403
from config.settings.production import env  # noqa: E402

SECURE_SSL_REDIRECT = False

INFERENCE_QUEUE = env("BENCH_INFERENCE_QUEUE", default="inference")

DEMO_RATE_LIMIT_USER = env("DEMO_RATE_LIMIT_USER", default="1000000/m")
DEMO_RATE_LIMIT_IP = env("DEMO_RATE_LIMIT_IP", default="1000000/m")
