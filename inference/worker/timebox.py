"""Time limits that hold on the threads pool: a task's work runs in a run thread, and the
task gives up on it at its deadline.

Celery's ``soft_time_limit``/``time_limit`` are enforced by the prefork pool (signals) and
gevent, and do nothing on the threads pool the model worker runs
(``inference/worker/process.py``) or on solo: Python can't interrupt a thread. So the task
envelope (``inference/worker/tasks.py``) doesn't run its work in the Celery thread. It
hands the work to this module's :class:`RunPool` (a bounded set of daemon "run threads", as
many as the worker's ``-c``) and waits for it until the deadline plus a short grace
(:data:`GRACE_SECONDS`, never past the task's hard limit):

- the work finishes in time: its result (or its error) is the task's outcome, as before;
- the deadline passes first: the task publishes ``timeout`` for the learner and returns, so
  its Celery thread (the worker's slot) takes the next task. The work is *abandoned*
  (:meth:`Run.close`): every publish it still tries (generation's ``token`` events, through
  :meth:`Run.guard`) raises :class:`~inference.worker.runners.DemoTimeout` instead of
  writing, and so does its next deadline check, so nothing reaches the learner's stream after
  the ``timeout``. Generation checks the deadline between tokens and stops by itself; a
  single forward pass that is stuck can't be stopped: it finishes in the background on its
  run thread and its result is dropped (logged, with how long it took);
- every run thread is busy (stuck passes hold them all): the work waits in the pool's queue;
  if no thread frees up before the deadline it is taken off the queue unrun and the task
  ends with the same ``timeout`` (logged as such), never hanging.

The run thread gets a copy of the Celery thread's context variables
(``contextvars.copy_context()``: the request id in the logs). A pool that does enforce
Celery's soft limit raises ``SoftTimeLimitExceeded`` in the Celery thread while it waits
here; the envelope closes the run the same way and reports a timeout.

No torch and no Django here.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, TypeVar

from inference.worker.runners import DemoTimeout

logger = logging.getLogger(__name__)

GRACE_SECONDS = 1.0  # past its deadline a task waits this much longer for its work
DEFAULT_SIZE = 16  # run threads until the worker says how many it runs (configure)

T = TypeVar("T")


def grace(soft_seconds: float, hard_seconds: float | None = None) -> float:
    """How long after the soft deadline the task still waits for its work: GRACE_SECONDS,
    but never past the hard limit."""
    if hard_seconds is None:
        return GRACE_SECONDS
    return max(0.0, min(GRACE_SECONDS, hard_seconds - soft_seconds))


class Run:
    """One task's work on a run thread, and the flag that silences it once the task has
    given up on it."""

    def __init__(self, label: str, deadline: float, pool: RunPool | None = None) -> None:
        self.label = label
        self.deadline = deadline  # time.monotonic() value: the work's own deadline
        self.future: Future = Future()
        self.submitted = time.monotonic()
        self.started: float | None = None
        self._lock = threading.Lock()
        self._closed = False
        self._abandoned = False
        self._pool = pool

    @property
    def closed(self) -> bool:
        """True once the task has its outcome: the work may no longer publish."""
        return self._closed

    @property
    def abandoned(self) -> bool:
        """True when the task gave up while the work was still running."""
        return self._abandoned

    def guard(self, publish: Callable[..., T]) -> Callable[..., T]:
        """``publish`` for the work: refused (DemoTimeout) once the run is closed. The check
        and the write happen under the run's lock, so a write either lands before the
        task's terminal event or not at all."""

        def guarded(*args: Any, **kwargs: Any) -> T:
            with self._lock:
                if self._closed:
                    raise DemoTimeout(f"{self.label}: the task has already ended")
                return publish(*args, **kwargs)

        return guarded

    def cancelled(self) -> bool:
        """For the work's deadline checks (``Job.check_deadline``)."""
        return self._closed

    def close(self) -> None:
        """The task has its outcome: silence the work from now on (idempotent). Work still
        queued is dropped unrun; work still running is abandoned (logged by the pool)."""
        self.future.cancel()  # only succeeds while it waits in the queue
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._abandoned = self.future.running()
        if self._pool is not None and (self._abandoned or self.future.cancelled()):
            self._pool.note_given_up(self)

    def wait(self, until: float) -> Any:
        """The work's result (or its exception), waiting until ``until`` (monotonic) at
        most; past it the work is given up on (:meth:`close`) and :class:`DemoTimeout` is
        raised."""
        try:
            return self.future.result(timeout=max(0.0, until - time.monotonic()))
        except FutureTimeout:
            pass
        self.close()
        if self.future.cancelled():
            raise DemoTimeout(f"{self.label}: no run thread was free before the deadline")
        if self.future.done():  # it finished just now, after all: its outcome stands
            return self.future.result(timeout=0)
        raise DemoTimeout(f"{self.label}: still running at its deadline; abandoned")


class RunPool:
    """At most ``size`` daemon run threads, started as needed and kept; more work waits in
    a queue. Daemon threads, so a pass that never ends can't hold the process at exit."""

    def __init__(self, size: int = DEFAULT_SIZE, *, name: str = "demo-run") -> None:
        self.name = name
        self._size = max(1, int(size))
        self._cond = threading.Condition()
        self._queue: deque[tuple[Run, Callable[[], Any]]] = deque()
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._running: set[Run] = set()
        self._stats = {"runs": 0, "abandoned": 0, "dropped": 0, "late_finished": 0}

    @property
    def size(self) -> int:
        return self._size

    def resize(self, size: int) -> None:
        """Allow ``size`` run threads (threads already started stay until the process ends)."""
        with self._cond:
            self._size = max(1, int(size))

    def submit(self, work: Callable[[Run], Any], *, label: str, deadline: float) -> Run:
        """Queue ``work(run)`` (run in a copy of the caller's context); returns its Run."""
        run = Run(label, deadline, self)
        context = contextvars.copy_context()
        with self._cond:
            self._queue.append((run, lambda: context.run(work, run)))
            if self._idle < len(self._queue) and len(self._threads) < self._size:
                thread = threading.Thread(
                    target=self._loop, name=f"{self.name}-{len(self._threads) + 1}", daemon=True
                )
                self._threads.append(thread)
                thread.start()
            self._cond.notify()
        return run

    def stats(self) -> dict[str, int]:
        """``size``, ``threads`` started, ``busy``, ``queued``, ``abandoned_running`` (given
        up on, still running), and the counters ``runs``, ``abandoned``, ``dropped`` (taken
        off the queue unrun) and ``late_finished`` (abandoned runs that ended since)."""
        with self._cond:
            return {
                **self._stats,
                "size": self._size,
                "threads": len(self._threads),
                "busy": len(self._running),
                "queued": len(self._queue),
                "abandoned_running": sum(run.abandoned for run in self._running),
            }

    def note_given_up(self, run: Run) -> None:
        """Count and log a run the task gave up on (:meth:`Run.close` calls it)."""
        with self._cond:
            if run.abandoned:
                self._stats["abandoned"] += 1
            elif run.future.cancelled():
                self._stats["dropped"] += 1
                self._queue = deque(entry for entry in self._queue if entry[0] is not run)
            busy = len(self._running)
            stuck = sum(r.abandoned for r in self._running)
            size = self._size
        if run.abandoned:
            logger.warning(
                "Abandoned %s: still running %.1f s after it was queued (its deadline: %.1f s); "
                "its result will be dropped (%d of %d run threads busy, %d of them abandoned)",
                run.label,
                time.monotonic() - run.submitted,
                run.deadline - run.submitted,
                busy,
                size,
                stuck,
            )
        elif run.future.cancelled():
            logger.warning(
                "Gave up on %s before it started: all %d run threads busy (%d of them with "
                "abandoned work)",
                run.label,
                size,
                stuck,
            )

    def _loop(self) -> None:
        while True:
            with self._cond:
                self._idle += 1
                while not self._queue:
                    self._cond.wait()
                self._idle -= 1
                run, call = self._queue.popleft()
                if not run.future.set_running_or_notify_cancel():
                    continue
                run.started = time.monotonic()
                self._running.add(run)
                self._stats["runs"] += 1
            try:
                outcome = call()
            except BaseException as exc:  # handed to the waiting task, never lost here
                run.future.set_exception(exc)
            else:
                run.future.set_result(outcome)
            finally:
                with self._cond:
                    self._running.discard(run)
                    if run.abandoned:
                        self._stats["late_finished"] += 1
                if run.abandoned:
                    logger.warning(
                        "Abandoned %s finished %.1f s after it was queued (its deadline: "
                        "%.1f s); result dropped",
                        run.label,
                        time.monotonic() - run.submitted,
                        run.deadline - run.submitted,
                    )


_pool = RunPool()


def pool() -> RunPool:
    """This process's run pool."""
    return _pool


def configure(size: int | None) -> None:
    """Size the run pool to the worker's concurrency (``-c``); called at worker start."""
    if isinstance(size, int) and size >= 1:
        _pool.resize(size)
