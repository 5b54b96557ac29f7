"""Gunicorn settings for the web tier: ``gunicorn -c site/config/gunicorn.py config.wsgi``.

Why gthread: a demo's result arrives over server-sent events (or long polls) that hold
a connection open for seconds while waiting on Redis. With sync workers each open
stream would pin a whole process; with threads it pins one thread, so a couple of
processes with a handful of threads each serve many learners. Python threads are fine
here because the web process does no model work (that happens in Celery workers).

``timeout`` for gthread is the worker heartbeat, not a per-request limit, so a
long-lived stream doesn't get its worker killed; streams end on their own (the demo
finishes, errors or times out on the web side).

Environment (all optional): ``GUNICORN_BIND`` (default ``0.0.0.0:8000``),
``WEB_CONCURRENCY`` (worker processes, default 2 per CPU up to 8),
``GUNICORN_THREADS`` (default 8), ``GUNICORN_TIMEOUT`` (default 60),
``GUNICORN_MAX_REQUESTS`` (recycle a worker after N requests, default 2000, 0 = never),
``FORWARDED_ALLOW_IPS`` (proxies trusted for X-Forwarded-*, default ``*``: only the
proxy can reach the container), ``LOG_FORMAT`` (``json``, the default, or ``plain``),
``LOG_LEVEL``.
"""

from __future__ import annotations

import os


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


bind = [os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")]  # noqa: S104  (inside a container)
workers = _int("WEB_CONCURRENCY", min(8, 2 * (os.cpu_count() or 1)))
worker_class = "gthread"
threads = _int("GUNICORN_THREADS", 8)
timeout = _int("GUNICORN_TIMEOUT", 60)
graceful_timeout = 30
keepalive = 5
max_requests = _int("GUNICORN_MAX_REQUESTS", 2000)
max_requests_jitter = max_requests // 10
# Heartbeat files in memory: a container's /tmp may be an overlay on slow disk.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "*")
# Load the app once in the master, so a broken deploy fails at start, not per worker.
preload_app = True
# No runtime control socket (gunicornc): containers are restarted, not tuned live.
control_socket_disable = True

accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
# The request id is the X-Request-ID response header set by config.request_id.
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms request_id=%({x-request-id}o)s "%(a)s"'

if os.environ.get("LOG_FORMAT", "json") == "json":
    # Gunicorn's own loggers as JSON lines too (config.logging.JsonFormatter turns the
    # access log's atoms into fields: method, path, status, duration_ms, request_id).
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "config.logging.JsonFormatter"}},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stdout",
            }
        },
        "loggers": {
            "gunicorn.error": {
                "handlers": ["console"],
                "level": loglevel.upper(),
                "propagate": False,
            },
            "gunicorn.access": {"handlers": ["console"], "level": "INFO", "propagate": False},
        },
    }
