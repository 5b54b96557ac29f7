"""A Celery worker of the site: a model worker on the ``inference`` queue (threads pool, so
the models are loaded once and shared) or a worker for the ``default`` queue.

A model worker says it is ready through its heartbeat in Redis (``demo:workers:<hostname>``,
``inference/contract/heartbeat.py``): ``wait_ready`` waits for ``ready: true`` there.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import redis

from tools.harness.process import PYTHON, SITE_DIR, Process


def unique_hostname(prefix: str) -> str:
    """A worker hostname of its own (``PREFIX-xxxxxxxx@localhost``): its heartbeat key."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}@localhost"


class CeleryWorker:
    """``celery worker`` consuming ``queue`` (comma-separated queues too), started in
    ``site/`` with ``env`` (REDIS_URL names the Redis of its heartbeat).

    ``pool``: ``threads`` (a model worker), ``solo``, or None for Celery's default (prefork,
    what a default-queue worker runs). ``options``: more of celery's options (``-B``,
    ``--prefetch-multiplier=1``, ``--without-heartbeat``...). ``module`` runs another entry
    point that ends in Celery's (a test's launcher that registers a made-up kind)."""

    def __init__(
        self,
        env: Mapping[str, str],
        log: Path,
        *,
        queue: str = "inference",
        concurrency: int = 2,
        pool: str | None = "threads",
        hostname: str | None = None,
        name: str = "celery worker",
        loglevel: str = "info",
        options: Sequence[str] = (),
        module: str = "celery",
        append: bool = False,
    ) -> None:
        self.env = dict(env)
        self.log_path = log
        self.queue = queue
        self.concurrency = concurrency
        self.pool = pool
        self.hostname = hostname or unique_hostname("worker")
        self.name = name
        self.loglevel = loglevel
        self.options = list(options)
        self.module = module
        self.append = append
        self.process: Process | None = None
        self.ready_info: dict[str, Any] | None = None  # its heartbeat when it became ready
        self.ready_seconds: float | None = None  # from its start to then

    def args(self) -> list[str]:
        pool = ["-P", self.pool] if self.pool else []
        return [
            PYTHON,
            "-m",
            self.module,
            "-A",
            "config.celery_app",
            "worker",
            "-Q",
            self.queue,
            *pool,
            "-c",
            str(self.concurrency),
            "--without-gossip",
            "--without-mingle",
            *self.options,
            "-n",
            self.hostname,
            "-l",
            self.loglevel,
        ]

    def start(self) -> CeleryWorker:
        self.process = Process(
            self.name,
            self.args(),
            env=self.env,
            cwd=SITE_DIR,
            log=self.log_path,
            append=self.append,
        )
        return self

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def running(self) -> bool:
        return self.process is not None and self.process.running()

    def log(self, tail: int | None = None) -> str:
        return self.process.log(tail) if self.process else ""

    def heartbeat(self) -> dict[str, Any] | None:
        """Its heartbeat in Redis now (None: none, or Redis doesn't answer)."""
        from inference.contract.heartbeat import worker_key  # Redis only, no Django

        client = redis.Redis.from_url(
            self.env["REDIS_URL"], socket_connect_timeout=0.5, socket_timeout=1
        )
        try:
            raw = client.get(worker_key(self.hostname))
        except redis.RedisError:
            return None
        finally:
            client.close()
        return json.loads(raw) if raw else None

    def wait_ready(self, timeout: float = 90.0, interval: float = 0.2) -> dict[str, Any]:
        """Its heartbeat once it says ``ready: true`` (kept as ``ready_info``, the time it
        took as ``ready_seconds``); stopped, and ``NotReady``, when it exits first or
        ``timeout`` passes."""
        if self.process is None:
            raise RuntimeError(f"{self.name} wasn't started")

        def ready() -> dict[str, Any] | None:
            info = self.heartbeat()
            return info if info and info.get("ready") is True else None

        self.ready_info = self.process.wait_until(
            ready, timeout=timeout, interval=interval, what=f"{self.hostname} to be ready"
        )
        self.ready_seconds = round(time.monotonic() - self.process.started_at, 3)
        return self.ready_info

    def stop(self, timeout: float = 30.0) -> int | None:
        """Warm shutdown (SIGTERM, as a supervisor would), SIGKILL after ``timeout``."""
        return self.process.stop(timeout=timeout) if self.process else None

    def kill(self) -> int | None:
        """SIGKILL: it dies without cleaning up (its heartbeat expires by its TTL)."""
        return self.process.kill() if self.process else None
