"""A child process in its own process group, its output in a log file; free ports; waiting.

A process is always started with ``start_new_session`` (a Ctrl-C at the terminal reaches
whoever started it, not the child) and stopped by its process group: SIGTERM, then SIGKILL
to whatever is left after a grace period. Never by name.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SITE_DIR = ROOT / "site"
PYTHON = sys.executable
HOST = "127.0.0.1"

_running: list[Process] = []


class NotReady(RuntimeError):
    """A process didn't get ready (``Process.wait_until``): it exited first, or the time
    was up (then it was stopped)."""


class ProcessExited(NotReady):
    """A process that was being waited for exited: ``wait_for`` stops at once."""


def free_port() -> int:
    """A TCP port nothing listens on at the moment, on HOST."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def wait_for(
    predicate: Callable[[], Any], *, timeout: float, interval: float = 0.1, what: str = "it"
) -> Any:
    """Call ``predicate`` until it returns something truthy, and return that; TimeoutError
    after ``timeout`` seconds. Its exceptions count as "not yet" (a process may still be
    starting), except ``ProcessExited``, which ends the wait."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            value = predicate()
        except ProcessExited:
            raise
        except Exception as exc:
            last_error = exc
        else:
            if value:
                return value
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    raise TimeoutError(
        f"waited {timeout:.0f}s for {what}" + (f": {last_error!r}" if last_error else "")
    )


class Process:
    """``args`` started in ``cwd`` with ``env`` in a process group of its own; stdout and
    stderr go to ``log`` (appended to with ``append``), or to ours when ``log`` is None."""

    def __init__(
        self,
        name: str,
        args: list[str],
        *,
        env: Mapping[str, str],
        cwd: Path = ROOT,
        log: Path | None = None,
        append: bool = False,
    ) -> None:
        self.name = name
        self.args = args
        self.log_path = log
        self.started_at = time.monotonic()
        output = None
        if log is not None:
            log.parent.mkdir(parents=True, exist_ok=True)
            output = log.open("ab" if append else "wb")
        try:
            self.popen = subprocess.Popen(  # noqa: S603 - our own programs, fixed arguments
                args,
                cwd=cwd,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT if output else None,
                start_new_session=True,
            )
        finally:
            if output is not None:
                output.close()  # the child has its own copy
        _running.append(self)

    def __repr__(self) -> str:
        return f"<Process {self.name} pid {self.pid}>"

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def returncode(self) -> int | None:
        return self.popen.returncode

    def running(self) -> bool:
        return self.popen.poll() is None

    def wait(self, timeout: float | None = None) -> int | None:
        """Its exit status, or None if it is still running after ``timeout`` seconds."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            return self.popen.wait(timeout)
        return None

    def log(self, tail: int | None = None) -> str:
        """Its output so far (the last ``tail`` characters)."""
        if self.log_path is None:
            return ""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return text[-tail:] if tail else text

    def wait_until(
        self, predicate: Callable[[], Any], *, timeout: float, interval: float = 0.1, what: str
    ) -> Any:
        """``wait_for(predicate)`` while this process runs. When it exits first or the time
        is up, it is stopped and ``NotReady`` says so, with the end of its log."""

        def check() -> Any:
            if not self.running():
                raise ProcessExited(
                    f"{self.name} exited ({self.returncode}) while waiting for {what}; "
                    f"the end of its log:\n{self.log(4000)}"
                )
            return predicate()

        try:
            return wait_for(check, timeout=timeout, interval=interval, what=what)
        except TimeoutError as exc:
            self.stop()
            raise NotReady(f"{exc} ({self.name}); the end of its log:\n{self.log(4000)}") from exc
        except BaseException:  # exited, or a Ctrl-C while it starts: don't leave it behind
            self.stop()
            raise

    def signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signum)

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM to its group (what a supervisor sends), SIGKILL after ``timeout``; its
        exit status."""
        stop_processes([self], timeout=timeout)
        return self.returncode

    def kill(self) -> int | None:
        """SIGKILL to its group: it dies without cleaning up; its exit status."""
        self.signal_group(signal.SIGKILL)
        self.wait(10)
        _forget(self)
        return self.returncode


def stop_processes(processes: Iterable[Process], *, timeout: float = 10.0) -> None:
    """SIGTERM to every group (in the order given), then wait for them all, sharing one
    grace period of ``timeout`` seconds; SIGKILL to each group when its time is up, and to
    whatever a finished process left behind in its group."""
    processes = list(processes)
    for process in processes:
        if process.running():
            process.signal_group(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for process in processes:
        if process.wait(max(0.1, deadline - time.monotonic())) is None:
            process.signal_group(signal.SIGKILL)
            process.wait(10)
        process.signal_group(signal.SIGKILL)  # stray children in its group, if any
        _forget(process)


def running_processes() -> list[Process]:
    """Every process started here and not stopped yet (oldest first)."""
    return list(_running)


def _forget(process: Process) -> None:
    with contextlib.suppress(ValueError):
        _running.remove(process)


def run_python(env: Mapping[str, str], *args: str, timeout: float = 300, cwd: Path = ROOT) -> str:
    """``python *args`` (this interpreter) in ``cwd`` with ``env``; its stdout, or
    RuntimeError with the end of its output when it fails."""
    done = subprocess.run(  # noqa: S603 - our own interpreter
        [PYTHON, *args],
        cwd=cwd,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(args)} failed ({done.returncode}):\n"
            f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    return done.stdout
