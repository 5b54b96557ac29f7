"""The batcher: concurrent requests gathered into one forward pass (no Django, no torch).

:class:`Batcher` knows nothing of demos: it takes items with a key (a batch never mixes two
keys), a token length and a row count, gathers those that arrive together, cuts them by
length where padding would cost more than another call (:func:`split_by_length`), runs
each group through one ``run_batch`` call and hands each caller its own outcome. How the
model worker uses it, one batcher per demo kind, is in ``inference/worker/batching.py``; the
environment settings it reads are listed there too.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Hashable, Iterator, Sequence
from concurrent.futures import CancelledError, Future
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

ENV_ENABLED = "INFERENCE_BATCHING"
ENV_MAX_BATCH = "INFERENCE_MAX_BATCH"
ENV_WAIT_MS = "INFERENCE_BATCH_WAIT_MS"
ENV_SPLIT_TOKENS = "INFERENCE_BATCH_SPLIT_TOKENS"
DEFAULT_MAX_BATCH = 16
DEFAULT_WAIT_MS = 5.0
# What one extra forward pass costs, in padded tokens: a batch is split by length only
# when the split saves more padding than that (BERT-base on a CPU: one call's fixed cost
# is worth roughly 48 tokens of a batch's work; on a GPU it is far more).
DEFAULT_SPLIT_TOKENS = 48.0
STOP_TIMEOUT = 10.0


class BatcherStopped(RuntimeError):
    """The batcher was stopped (worker shutdown); callers run their request themselves."""


class BatchTimeout(TimeoutError):
    """The caller's deadline passed before its batch ran."""


# --- Settings ------------------------------------------------------------------------


def _env_int(name: str, default: int, *, minimum: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return max(minimum, int(raw))
    except ValueError:
        logger.warning("Ignoring %s=%r (not a whole number); using %s", name, raw, default)
        return default


def _env_float(name: str, default: float, *, minimum: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if value != value or value in (float("inf"), float("-inf")):  # NaN or infinite
        logger.warning("Ignoring %s=%r (not a number); using %s", name, raw, default)
        return default
    return max(minimum, value)


def batching_enabled() -> bool:
    """``INFERENCE_BATCHING`` (default on); ``0``/``false``/``no``/``off`` turn it off."""
    return os.environ.get(ENV_ENABLED, "1").strip().lower() not in {"0", "false", "no", "off"}


def max_batch_size() -> int:
    return _env_int(ENV_MAX_BATCH, DEFAULT_MAX_BATCH, minimum=1)


def batch_wait_ms() -> float:
    return _env_float(ENV_WAIT_MS, DEFAULT_WAIT_MS, minimum=0.0)


def split_tokens() -> float:
    return _env_float(ENV_SPLIT_TOKENS, DEFAULT_SPLIT_TOKENS, minimum=0.0)


def describe() -> dict:
    """The batching settings, for the worker's heartbeat and logs."""
    return {
        "enabled": batching_enabled(),
        "max_batch": max_batch_size(),
        "max_wait_ms": batch_wait_ms(),
        "split_tokens": split_tokens(),
    }


# --- Padding-aware split ---------------------------------------------------------------


def split_by_length(
    lengths: Sequence[int], rows: Sequence[int] | None = None, *, overhead: float
) -> list[tuple[int, int]]:
    """Cut requests sorted by ascending ``lengths`` into contiguous ``[start, end)`` batches.

    A batch costs ``overhead + rows × longest length`` (every row is padded to the longest
    one); the cuts minimise the total (dynamic programming, n ≤ a few dozen). Requests of
    similar length stay together; a few long ones don't pad many short ones.
    """
    count = len(lengths)
    if count == 0:
        return []
    if any(a > b for a, b in zip(lengths, lengths[1:], strict=False)):
        raise ValueError("lengths must be sorted in ascending order")
    rows = [1] * count if rows is None else list(rows)
    prefix = [0]
    for value in rows:
        prefix.append(prefix[-1] + value)
    best = [0.0] + [float("inf")] * count
    cut = [0] * (count + 1)
    for end in range(1, count + 1):
        for start in range(end):
            cost = best[start] + overhead + (prefix[end] - prefix[start]) * lengths[end - 1]
            if cost < best[end]:
                best[end], cut[end] = cost, start
    spans = []
    end = count
    while end > 0:
        spans.append((cut[end], end))
        end = cut[end]
    return spans[::-1]


# --- The batcher -----------------------------------------------------------------------


@dataclass(eq=False)
class _Entry:
    item: Any
    key: Hashable
    length: int
    rows: int
    future: Future
    submitted: float = field(default_factory=time.monotonic)


class Batcher:
    """Gathers concurrent requests and runs them through ``run_batch`` together.

    ``run_batch(items) -> outcomes`` gets the items of one batch (all with the same key)
    and returns one outcome per item, in order: a result, or an exception instance for an
    item that failed on its own. If it raises, the batch's items are run again one by one.
    """

    def __init__(
        self,
        name: str,
        run_batch: Callable[[list[Any]], Sequence[Any]],
        *,
        max_batch: int = DEFAULT_MAX_BATCH,
        max_wait_ms: float = DEFAULT_WAIT_MS,
        split_tokens: float = DEFAULT_SPLIT_TOKENS,
    ) -> None:
        self.name = name
        self.max_batch = max(1, int(max_batch))
        self.max_wait_ms = max(0.0, float(max_wait_ms))
        self.split_tokens = float(split_tokens)
        self._run_batch = run_batch
        self._cond = threading.Condition()
        self._queue: deque[_Entry] = deque()
        self._expected = 0  # callers that announced a request and haven't submitted it
        self._local = threading.local()
        self._thread: threading.Thread | None = None
        self._stopped = False
        self._recent = 1  # how many requests the last batch gathered
        self._stats: dict[str, Any] = {
            "batches": 0,
            "items": 0,
            "sizes": Counter(),
            "waits": 0,
            "wait_ms": 0.0,
            "queue_ms": 0.0,
            "errors": 0,
            "fallbacks": 0,
            "cancelled": 0,
        }

    # Callers ---------------------------------------------------------------------------

    @contextmanager
    def expect(self) -> Iterator[None]:
        """Announce that this thread will :meth:`submit` soon (e.g. at task start).

        While announced requests are on their way the consumer waits for them (up to the
        gather window, and no longer than until the last of them has submitted).
        """
        with self._cond:
            self._expected += 1
            self._local.open = getattr(self._local, "open", 0) + 1
            depth = self._local.open - 1
        try:
            yield
        finally:
            with self._cond:
                if self._local.open > depth:  # announced but never submitted
                    self._local.open -= 1
                    self._expected -= 1
                    self._cond.notify_all()

    def submit(self, item: Any, *, key: Hashable = None, length: int = 1, rows: int = 1) -> Future:
        """Queue ``item``; the Future resolves to its outcome once its batch has run."""
        entry = _Entry(
            item=item, key=key, length=max(1, int(length)), rows=max(1, int(rows)), future=Future()
        )
        with self._cond:
            if self._stopped:
                raise BatcherStopped(f"the {self.name} batcher has stopped")
            if getattr(self._local, "open", 0) > 0:  # the announced request is here now
                self._local.open -= 1
                self._expected -= 1
            self._queue.append(entry)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._consume, name=f"batcher-{self.name}", daemon=True
                )
                self._thread.start()
            self._cond.notify_all()
        return entry.future

    def run(
        self,
        item: Any,
        *,
        key: Hashable = None,
        length: int = 1,
        rows: int = 1,
        deadline: float | None = None,
    ) -> Any:
        """:meth:`submit` and wait for the outcome (raising the item's own error).

        ``deadline`` is a ``time.monotonic()`` value; past it, :class:`BatchTimeout`.
        """
        future = self.submit(item, key=key, length=length, rows=rows)
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
        try:
            return future.result(timeout)
        except (FutureTimeout, CancelledError) as exc:
            future.cancel()  # still queued: it won't run; already running: finishes unused
            raise BatchTimeout(f"the {self.name} request waited past its deadline") from exc

    def stats(self) -> dict:
        """Counters: ``batches`` (forward passes run), ``items``, ``sizes`` ({size: count}),
        ``waits`` (batches that waited for company) and ``wait_ms`` (their total wait),
        ``queue_ms`` (all requests' time from submit to their batch, summed), ``errors``
        (items that failed), ``fallbacks`` (batches re-run one by one), ``cancelled``, and
        the current ``queued`` and ``expected`` counts."""
        with self._cond:
            stats = dict(self._stats)
            stats["sizes"] = dict(sorted(self._stats["sizes"].items()))
            stats["wait_ms"] = round(stats["wait_ms"], 3)
            stats["queue_ms"] = round(stats["queue_ms"], 3)
            stats.update(
                queued=len(self._queue),
                expected=self._expected,
                max_batch=self.max_batch,
                max_wait_ms=self.max_wait_ms,
                running=self._thread is not None and self._thread.is_alive(),
            )
        return stats

    @property
    def stopped(self) -> bool:
        return self._stopped

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Refuse new requests, run the queued ones, end the consumer thread."""
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            if thread.is_alive():
                logger.warning("The %s batcher did not stop within %ss", self.name, timeout)

    # The consumer thread ---------------------------------------------------------------

    def _take(self, batch: list[_Entry]) -> None:
        """Move queued entries into ``batch`` (up to max_batch), dropping cancelled ones."""
        while self._queue and len(batch) < self.max_batch:
            entry = self._queue.popleft()
            if entry.future.set_running_or_notify_cancel():
                batch.append(entry)
            else:
                self._stats["cancelled"] += 1

    def _gather(self) -> list[_Entry] | None:
        """The next batch (None: stopped and drained). Called with the lock held."""
        while not self._queue:
            if self._stopped:
                return None
            self._cond.wait()
        batch: list[_Entry] = []
        self._take(batch)
        if not batch:
            return batch
        deadline = time.monotonic() + self.max_wait_ms / 1000.0
        waited_from = None
        while len(batch) < self.max_batch and self._worth_waiting(len(batch)):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            if waited_from is None:
                waited_from = time.monotonic()
            self._cond.wait(remaining)
            self._take(batch)
        if waited_from is not None:
            self._stats["waits"] += 1
            self._stats["wait_ms"] += (time.monotonic() - waited_from) * 1000.0
        self._recent = len(batch)
        now = time.monotonic()
        self._stats["queue_ms"] += sum(now - entry.submitted for entry in batch) * 1000.0
        return batch

    def _worth_waiting(self, gathered: int) -> bool:
        """Wait for company only when some is likely: a caller has announced a request
        and not submitted it yet, or the last batch was larger (the callers it served
        are probably coming back with their next requests). A lone caller after a lone
        caller never waits."""
        if self._stopped:
            return False
        return self._expected > 0 or gathered < self._recent

    def _consume(self) -> None:
        while True:
            with self._cond:
                batch = self._gather()
            if batch is None:
                return
            try:
                for group in self._plan(batch):
                    self._run_group(group)
            except Exception as exc:  # a bug here must not strand the callers
                logger.exception("The %s batcher failed", self.name)
                for entry in batch:
                    if not entry.future.done():
                        entry.future.set_exception(exc)

    def _plan(self, batch: list[_Entry]) -> list[list[_Entry]]:
        """Group by key (first-come order), sort each group by length, split by padding."""
        groups: dict[Hashable, list[_Entry]] = {}
        for entry in batch:
            groups.setdefault(entry.key, []).append(entry)
        planned = []
        for entries in groups.values():
            entries.sort(key=lambda e: e.length)
            spans = split_by_length(
                [e.length for e in entries], [e.rows for e in entries], overhead=self.split_tokens
            )
            planned.extend(entries[start:end] for start, end in spans)
        return planned

    def _run_group(self, group: list[_Entry]) -> None:
        try:
            outcomes = list(self._run_batch([entry.item for entry in group]))
            if len(outcomes) != len(group):
                raise RuntimeError(
                    f"{self.name}: {len(outcomes)} outcomes for a batch of {len(group)}"
                )
        except Exception as exc:
            if len(group) > 1:
                logger.warning(
                    "A %s batch of %d failed (%s); running its requests one by one",
                    self.name,
                    len(group),
                    type(exc).__name__,
                )
                with self._cond:
                    self._stats["fallbacks"] += 1
                for entry in group:
                    self._run_group([entry])
                return
            outcomes = [exc]
        with self._cond:
            self._stats["batches"] += 1
            self._stats["items"] += len(group)
            self._stats["sizes"][len(group)] += 1
            self._stats["errors"] += sum(isinstance(o, BaseException) for o in outcomes)
        for entry, outcome in zip(group, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                entry.future.set_exception(outcome)
            else:
                entry.future.set_result(outcome)
