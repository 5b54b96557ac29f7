"""Where a build writes, and the guards around it: one build at a time, SIGTERM like Ctrl-C.

Layout under MODELS_DIR/demo/ (see build.py): the finished ``bert/`` and ``gpt/`` folders,
training.json, progress.json, and ``.work/`` with an unfinished build's checkpoints and its
lock file.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

from inference.training.records import read_json


class BuildError(Exception):
    """A build that cannot run (another one holds the lock, bad options)."""


class BuildTerminated(Exception):
    """SIGTERM arrived: stop like Ctrl-C, leaving the checkpoint and a 'failed' progress file."""


@contextlib.contextmanager
def terminate_cleanly() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise BuildTerminated("terminated by SIGTERM")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def demo_dir(models_dir: Path) -> Path:
    return Path(models_dir) / "demo"


def is_built(models_dir: Path, *, mode: str = "full") -> bool:
    """True when a finished build of `mode` is in place (both folders and training.json)."""
    root = demo_dir(models_dir)
    record = read_json(root / "training.json")
    return bool(
        record
        and record.get("state") == "done"
        and record.get("mode") == mode
        and (root / "bert" / "config.json").exists()
        and (root / "gpt" / "config.json").exists()
    )


@contextlib.contextmanager
def build_lock(work: Path) -> Iterator[None]:
    work.mkdir(parents=True, exist_ok=True)
    lock_path = work / "lock"
    with lock_path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            raise BuildError(
                f"another build is running (pid {handle.read().strip() or '?'}); wait for it"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
