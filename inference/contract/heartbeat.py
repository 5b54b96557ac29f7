"""Model-worker heartbeats in Redis: who is up, which models it serves, whether it's ready.

Each inference worker keeps the key ``demo:workers:<hostname>`` alive with a JSON value::

    {"hostname", "pid", "queues": [...], "profile", "ready": bool,
     "models": {role: {"name", "parameters", "device", "dtype"}}, "at": epoch,
     "release": {"id", "stage": "early"|"final", "published_at", "state", "mode"} | null,
     "status": "<optional human-readable state, e.g. waiting for models>"}

``release`` is the demo build's release the models were loaded from (``demo`` profile
only, see ``registry.demo_release``); it changes when the worker swaps in newer models.

and a TTL of ``WORKER_HEARTBEAT_TTL`` seconds, refreshed every 5 s by a daemon thread
(:class:`HeartbeatThread`). ``ready`` turns true only after every model is loaded and
warmed up. A worker that dies stops refreshing, so its key expires within the TTL; a
clean shutdown deletes it at once.

Each beat also keeps a record per queue, so that whether a queue had a worker at some past
moment is a fact in Redis rather than something a reader happened to see:
``demo:queue-alive:<queue>`` (sorted set: hostname -> the epoch its heartbeat lasts until;
a clean shutdown sets "now") and ``demo:queue-gaps:<queue>`` (sorted set of ``"start:end"``
spans in which no worker's heartbeat covered the queue, scored by their end). A beat that
finds the queue uncovered since ``start`` records the gap up to now; :func:`queue_gaps`
adds the gap still open, if any. Readers and workers judge a waiting task by these records
alike (``inference.contract.verdicts``), so the page never has to write its verdict down.

No torch here: the web process imports this module to tell learners whether demos can run.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import redis

logger = logging.getLogger(__name__)

WORKERS_PREFIX = "demo:workers:"
QUEUE_ALIVE_PREFIX = "demo:queue-alive:"
QUEUE_GAPS_PREFIX = "demo:queue-gaps:"
BEAT_INTERVAL = 5.0
# Queue records older than this are dropped (no task waits anywhere near this long).
KEEP_RECORDS_S = 24 * 3600.0


def worker_key(hostname: str) -> str:
    return WORKERS_PREFIX + hostname


def beat(client: redis.Redis, info: dict[str, Any], ttl: int, *, now: float | None = None) -> None:
    """Write (or refresh) one worker's heartbeat; ``info`` must carry its ``hostname``.

    ``now`` (tests only) is the moment the beat claims, so a test can give a queue a past.
    """
    hostname = info.get("hostname")
    if not hostname:
        raise ValueError("A heartbeat needs the worker's hostname.")
    at = time.time() if now is None else now
    payload = {**info, "at": at}
    client.set(worker_key(hostname), json.dumps(payload, separators=(",", ":")), ex=ttl)
    for queue in info.get("queues") or []:
        _cover(client, str(queue), hostname, now=at, until=at + ttl)


def clear(client: redis.Redis, hostname: str, queues: list[str] | tuple[str, ...] = ()) -> None:
    """Remove a worker's heartbeat (clean shutdown); its queues stop being covered now."""
    client.delete(worker_key(hostname))
    now = time.time()
    for queue in queues:
        client.zadd(QUEUE_ALIVE_PREFIX + queue, {hostname: now})


def _covered_until(client: redis.Redis, queue: str) -> float:
    """Until when some worker's heartbeat covers ``queue`` (0.0: never recorded)."""
    newest: Any = client.zrevrange(QUEUE_ALIVE_PREFIX + queue, 0, 0, withscores=True)
    return float(newest[0][1]) if newest else 0.0


def _cover(client: redis.Redis, queue: str, hostname: str, *, now: float, until: float) -> None:
    """Extend ``hostname``'s cover of ``queue`` to ``until``, first recording the gap when
    nobody covered it right up to ``now``. A queue never seen before gets a gap from 0: for
    all anyone can tell, it had no worker (which is also what a reader then saw)."""
    since = _covered_until(client, queue)
    pipe = client.pipeline(transaction=False)
    if since < now:
        gaps = QUEUE_GAPS_PREFIX + queue
        pipe.zadd(gaps, {f"{since:.3f}:{now:.3f}": now})
        pipe.zremrangebyscore(gaps, "-inf", now - KEEP_RECORDS_S)
    alive = QUEUE_ALIVE_PREFIX + queue
    pipe.zadd(alive, {hostname: until})
    pipe.zremrangebyscore(alive, "-inf", now - KEEP_RECORDS_S)
    pipe.execute()


def queue_gaps(
    client: redis.Redis, queue: str, *, since: float, now: float | None = None
) -> list[tuple[float, float]]:
    """The spans ending after ``since`` in which no worker covered ``queue``, oldest first;
    one still open (nobody covers it now) ends at infinity."""
    now = time.time() if now is None else now
    spans: list[tuple[float, float]] = []
    members: Any = client.zrangebyscore(QUEUE_GAPS_PREFIX + queue, since, "+inf")
    for member in members:
        text = member.decode() if isinstance(member, bytes) else str(member)
        start, _, end = text.partition(":")
        try:
            spans.append((float(start), float(end)))
        except ValueError:
            continue
    covered = _covered_until(client, queue)
    if covered <= now:
        spans.append((covered, float("inf")))
    return spans


def is_alive(client: redis.Redis, hostname: str) -> bool:
    return bool(client.exists(worker_key(hostname)))


def live_workers(client: redis.Redis) -> list[dict[str, Any]]:
    """Every worker whose heartbeat hasn't expired, sorted by hostname."""
    keys = list(client.scan_iter(match=WORKERS_PREFIX + "*", count=100))
    if not keys:
        return []
    workers = []
    for raw in client.mget(keys):
        if raw is None:  # expired between SCAN and MGET
            continue
        try:
            info = json.loads(raw)
        except (TypeError, ValueError):
            continue
        if isinstance(info, dict) and info.get("hostname"):
            workers.append(info)
    return sorted(workers, key=lambda info: info["hostname"])


def ready_workers(client: redis.Redis, queue: str = "inference") -> list[dict[str, Any]]:
    """Live workers that have their models loaded and consume ``queue``."""
    return [
        info
        for info in live_workers(client)
        if info.get("ready") is True and queue in (info.get("queues") or [])
    ]


class HeartbeatThread(threading.Thread):
    """Daemon thread that beats every ``interval`` seconds until :meth:`stop`.

    ``client_factory`` is called for each beat (a cheap call returning a pooled client),
    so a Redis restart only costs missed beats, never the thread. :meth:`update` changes
    the published info (e.g. ``ready=True`` once models are warm) and beats at once.
    """

    def __init__(
        self,
        *,
        client_factory: Callable[[], redis.Redis],
        info: dict[str, Any],
        ttl: int,
        interval: float = BEAT_INTERVAL,
    ) -> None:
        super().__init__(name=f"heartbeat-{info.get('hostname')}", daemon=True)
        if not info.get("hostname"):
            raise ValueError("A heartbeat needs the worker's hostname.")
        self._client_factory = client_factory
        self._info = dict(info)
        self._ttl = ttl
        self._interval = interval
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._wake = threading.Event()

    @property
    def info(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._info)

    def update(self, **changes: object) -> None:
        with self._lock:
            self._info.update(changes)
        self._wake.set()

    def beat_once(self) -> bool:
        try:
            beat(self._client_factory(), self.info, self._ttl)
        except redis.RedisError as exc:
            logger.warning("Heartbeat to Redis failed: %s", exc)
            return False
        return True

    def run(self) -> None:
        while not self._stopping.is_set():
            self.beat_once()
            self._wake.wait(self._interval)
            self._wake.clear()

    def stop(self, *, delete: bool = True, timeout: float = 6.0) -> None:
        """Stop beating; with ``delete`` remove the key so the worker vanishes at once."""
        self._stopping.set()
        self._wake.set()
        if self.is_alive():
            self.join(timeout)
        if delete:
            try:
                info = self.info
                clear(self._client_factory(), info["hostname"], info.get("queues") or ())
            except redis.RedisError as exc:
                logger.warning("Could not remove heartbeat on shutdown: %s", exc)
