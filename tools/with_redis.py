"""`make test`'s Redis: run a command with a Redis at 127.0.0.1:PORT (default 6379).

    python -m tools.with_redis [--port PORT] -- COMMAND [ARG...]

When a Redis already answers there, the command just runs, and that Redis is left alone.
When nothing does, a redis-server is started there for the command's run (the same helpers
as `manage.py devstack`'s embedded Redis: ``tools/harness/redis_server.py``) and
stopped when the command ends, whatever its outcome. It keeps nothing: no RDB, no AOF, and its
working folder is a temporary one (so a missing /var/lib/redis doesn't matter). Where no
redis-server is installed, one line says how to install it, and the exit status is 1.
Otherwise the exit status is the command's.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from tools.harness import HOST, NotReady, RedisServer, RedisServerMissing, redis_answers


def say(message: str) -> None:
    print(f"with_redis: {message}", file=sys.stderr, flush=True)


def start(port: int, work_dir: Path) -> RedisServer | None:
    """A redis-server on HOST:port working in ``work_dir``, answering; None if it didn't
    start (said why)."""
    server = RedisServer(work_dir, port=port, log=work_dir / "redis.log")
    try:
        server.start()
    except RedisServerMissing as exc:
        say(f"nothing answers at {HOST}:{port} and {exc}")
        return None
    except NotReady:
        tail = " | ".join(server.log().strip().splitlines()[-5:])
        say(f"the redis-server at {HOST}:{port} didn't start: {tail}")
        return None
    say(
        f"nothing answered at {HOST}:{port}: started {server.executable} there for this run "
        f"(pid {server.pid}, no data kept); it stops when the command ends"
    )
    return server


def run(command: Sequence[str]) -> int:
    """Run ``command``; its exit status (128 + N when signal N ended it).

    SIGTERM and SIGHUP sent to us are passed on to the command, so our own Redis is still
    stopped afterwards. SIGINT is ignored here: a Ctrl-C at the terminal reaches the command
    too (same process group), and we wait for it to finish."""
    try:
        child = subprocess.Popen(command)  # noqa: S603 - the caller's own command line
    except OSError as exc:
        say(f"can't run {command[0]}: {exc}")
        return 127

    def forward(signum: int, frame: FrameType | None) -> None:
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signum)

    previous = {
        signal.SIGINT: signal.signal(signal.SIGINT, signal.SIG_IGN),
        signal.SIGTERM: signal.signal(signal.SIGTERM, forward),
        signal.SIGHUP: signal.signal(signal.SIGHUP, forward),
    }
    try:
        code = child.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 128 - code if code < 0 else code


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.with_redis",
        description=f"Run a command with a Redis at {HOST}:PORT, started for it if none answers.",
    )
    parser.add_argument("--port", type=int, default=6379, help="default 6379 (the suite's)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND [ARG...]")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given (python -m tools.with_redis -- COMMAND ...)")

    if redis_answers(f"redis://{HOST}:{args.port}/0"):
        say(f"using the Redis that answers at {HOST}:{args.port} (left running)")
        return run(command)
    work_dir = Path(tempfile.mkdtemp(prefix="with-redis-"))
    try:
        server = start(args.port, work_dir)
        if server is None:
            return 1
        try:
            return run(command)
        finally:
            server.stop()  # SIGTERM (nothing to save), SIGKILL after a grace
            say(f"stopped the redis-server it started at {HOST}:{args.port}")
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
