"""`make test`'s Redis: run a command with a Redis at 127.0.0.1:PORT (default 6379).

    python -m tools.with_redis [--port PORT] -- COMMAND [ARG...]

When a Redis already answers there, the command just runs, and that Redis is left alone.
When nothing does, a redis-server is started there for the command's run (the same helpers
as `manage.py devstack`'s embedded Redis: ``tools/embedded_redis.py``) and
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

from tools.embedded_redis import (
    RedisServerMissing,
    redis_answers,
    redis_server_args,
    redis_server_executable,
    wait_until_answers,
)

HOST = "127.0.0.1"
STOP_GRACE_S = 10.0


def say(message: str) -> None:
    print(f"with_redis: {message}", file=sys.stderr, flush=True)


def start(port: int, work_dir: Path) -> subprocess.Popen | None:
    """A redis-server on HOST:port working in ``work_dir``, answering; None if it didn't
    start (said why)."""
    try:
        executable = redis_server_executable()
    except RedisServerMissing as exc:
        say(f"nothing answers at {HOST}:{port} and {exc}")
        return None
    log_path = work_dir / "redis.log"
    with log_path.open("ab") as log:
        proc = subprocess.Popen(  # noqa: S603 - a redis-server and fixed arguments
            redis_server_args(executable, port=port, data_dir=work_dir),
            cwd=work_dir,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C at the terminal reaches us, not it
        )
    try:
        started = wait_until_answers(f"redis://{HOST}:{port}/0", proc)
    except BaseException:  # a Ctrl-C while it starts: don't leave it behind
        stop(proc)
        raise
    if started:
        say(
            f"nothing answered at {HOST}:{port}: started {executable} there for this run "
            f"(pid {proc.pid}, no data kept); it stops when the command ends"
        )
        return proc
    stop(proc)
    tail = log_path.read_text(errors="replace").strip().splitlines()[-5:]
    say(f"the redis-server at {HOST}:{port} didn't start: " + " | ".join(tail))
    return None


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM (redis-server shuts down; nothing to save), SIGKILL after a grace."""
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(timeout=STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


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
        proc = start(args.port, work_dir)
        if proc is None:
            return 1
        try:
            return run(command)
        finally:
            stop(proc)
            say(f"stopped the redis-server it started at {HOST}:{args.port}")
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
