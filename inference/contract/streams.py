"""Demo task events in Redis: one Redis Stream per task, shared by the web and the worker.

The web publishes ``queued`` when it enqueues a demo, the worker publishes ``started``,
``token`` (generate only), then exactly one terminal event: ``done`` or ``error``.
Every stream entry has a single field ``e`` holding the event as JSON, and every
publish refreshes the stream's TTL (``DEMO_RESULT_TTL``), so streams of finished
demos disappear on their own.

No torch here: the web process imports this module.

Clients made by :func:`redis_client` do NOT decode responses (``decode_responses=False``),
because the same connection also reads the raw float32 next-token logits stored by the
worker (:func:`logits_read`). The functions below decode what they return.

Keys:
  ``demo:events:<task_id>``      the event stream
  ``demo:deliveries:<task_id>``  how many times a worker picked the task up (redelivery guard)
  ``demo:logits:<sha256>``       full next-token logits (float32 bytes), ``<key>:vocab`` its
                                 top tokens as JSON ``[[token_id, token], ...]``
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Mapping
from typing import Any, Literal, NotRequired, TypedDict

import redis
from django.conf import settings

EVENTS_PREFIX = "demo:events:"
DELIVERIES_PREFIX = "demo:deliveries:"
LOGITS_PREFIX = "demo:logits:"

EVENT_TYPES = frozenset({"queued", "started", "token", "done", "error"})
TERMINAL_TYPES = frozenset({"done", "error"})
ERROR_CODES = frozenset({"invalid_input", "timeout", "worker_lost", "unavailable", "internal"})

# A generate stream holds at most ~max_new_tokens + 3 entries; the cap only guards
# against a runaway publisher.
STREAM_MAXLEN = 1000

_TASK_ID_RE = re.compile(r"^[A-Za-z0-9-]{1,64}$")
_clients: dict[tuple[str, float | None], redis.Redis] = {}
_clients_lock = threading.Lock()


def _default_url() -> str:
    return str(settings.REDIS_URL)


def _ttl() -> int:
    return int(settings.DEMO_RESULT_TTL)


def redis_client(url: str | None = None, *, socket_timeout: float | None = 5) -> redis.Redis:
    """A Redis client (one shared connection pool per URL and timeout).

    ``socket_timeout=5`` suits ordinary commands; pass ``socket_timeout=None`` for a
    client that makes blocking reads (``read_events(..., block_ms=...)``) longer than that.
    """
    url = url or _default_url()
    key = (url, socket_timeout)
    client = _clients.get(key)
    if client is None:
        with _clients_lock:
            client = _clients.get(key)
            if client is None:
                client = redis.Redis.from_url(
                    url,
                    socket_connect_timeout=1,
                    socket_timeout=socket_timeout,
                    health_check_interval=30,
                )
                _clients[key] = client
    return client


def is_valid_task_id(task_id: str) -> bool:
    """True for ids safe to put in a Redis key (uuid4 hex, or uuid with dashes)."""
    return isinstance(task_id, str) and bool(_TASK_ID_RE.match(task_id))


def _check_task_id(task_id: str) -> str:
    if not is_valid_task_id(task_id):
        raise ValueError(f"Not a valid demo task id: {task_id!r}")
    return task_id


def events_key(task_id: str) -> str:
    return EVENTS_PREFIX + _check_task_id(task_id)


def deliveries_key(task_id: str) -> str:
    return DELIVERIES_PREFIX + _check_task_id(task_id)


def _decode(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _parse_entry(entry_id: bytes | str, fields: Mapping[Any, Any]) -> tuple[str, dict[str, Any]]:
    raw = fields.get(b"e", fields.get("e"))
    try:
        event = json.loads(raw) if raw is not None else {}
    except (TypeError, ValueError):
        event = {}
    if not isinstance(event, dict):
        event = {}
    return _decode(entry_id), event


# --- Events ------------------------------------------------------------------------


def publish(client: redis.Redis, task_id: str, event: Event | Mapping[str, Any]) -> str:
    """Append ``event`` to the task's stream (and refresh its TTL); returns the entry id."""
    if event.get("type") not in EVENT_TYPES:
        raise ValueError(f"Unknown demo event type: {event.get('type')!r}")
    key = events_key(task_id)
    payload = json.dumps(event, separators=(",", ":"), allow_nan=False)
    pipe = client.pipeline(transaction=True)
    pipe.xadd(key, {"e": payload}, maxlen=STREAM_MAXLEN, approximate=True)
    pipe.expire(key, _ttl())
    entry_id, _ = pipe.execute()
    return _decode(entry_id)


def read_events(
    client: redis.Redis, task_id: str, *, after: str = "0-0", block_ms: int | None = None
) -> list[tuple[str, dict[str, Any]]]:
    """Events published after entry id ``after``, oldest first, as ``(entry_id, event)``.

    With ``block_ms`` the call waits up to that long for the first new entry (XREAD BLOCK)
    and returns ``[]`` on timeout. Use a client with ``socket_timeout=None`` (or longer than
    ``block_ms``) for blocking reads.
    """
    key = events_key(task_id)
    response: Any = client.xread({key: after}, block=block_ms)
    if not response:
        return []
    entries: list[tuple[str, dict[str, Any]]] = []
    for _stream, stream_entries in response:
        entries.extend(_parse_entry(entry_id, fields) for entry_id, fields in stream_entries)
    return entries


def all_events(client: redis.Redis, task_id: str) -> list[dict[str, Any]]:
    """Every event of the task, oldest first ([] when the stream doesn't exist)."""
    entries: Any = client.xrange(events_key(task_id), "-", "+")
    return [_parse_entry(entry_id, fields)[1] for entry_id, fields in entries]


def outcome(client: redis.Redis, task_id: str) -> dict[str, Any] | None:
    """The task's terminal event (``done`` or ``error``) if it has one, else None."""
    for event in all_events(client, task_id):
        if event.get("type") in TERMINAL_TYPES:
            return event
    return None


def stream_exists(client: redis.Redis, task_id: str) -> bool:
    return bool(client.exists(events_key(task_id)))


def count_delivery(client: redis.Redis, task_id: str) -> int:
    """Count one more delivery of the task to a worker; returns the count (1 on first)."""
    key = deliveries_key(task_id)
    pipe = client.pipeline(transaction=True)
    pipe.incr(key)
    pipe.expire(key, _ttl())
    count, _ = pipe.execute()
    return int(count)


# --- The events (so both sides spell the shapes the same way) ------------------------
#
# A stream holds, in order: one ``queued`` (the web), at most one ``started`` per delivery
# (the worker), ``token`` events (generation only), then one ``done`` or ``error``. Events
# read back from Redis are untrusted JSON: readers (inference.web.selectors.fold) check each
# field they use instead of trusting these types.


class QueuedEvent(TypedDict):
    type: Literal["queued"]
    at: float
    kind: str
    params: NotRequired[dict[str, Any]]  # the cleaned input, for the page and the API


class StartedEvent(TypedDict):
    type: Literal["started"]
    worker: str  # the worker's Celery hostname (its heartbeat key)
    at: float


class TokenAlternative(TypedDict):
    token: str
    token_id: int
    prob: float


class TokenEvent(TypedDict):
    type: Literal["token"]
    index: int
    token: str  # the text this token adds (a byte-level piece may add nothing yet)
    token_id: int
    raw: str  # the token as the tokenizer spells it
    prob: float
    alternatives: list[TokenAlternative]


class ModelCard(TypedDict):
    """Which model produced a result (every result carries one or more)."""

    role: str  # bert | gpt | encoder
    name: str
    parameters: int
    device: str
    dtype: str
    profile: str


class DoneEvent(TypedDict):
    type: Literal["done"]
    result: dict[str, Any]  # the kind's result: "model" (a ModelCard) or "models", "elapsed_ms"


class ErrorEvent(TypedDict):
    type: Literal["error"]
    code: str  # one of ERROR_CODES
    message: str  # a sentence for the learner


Event = QueuedEvent | StartedEvent | TokenEvent | DoneEvent | ErrorEvent


def queued_event(kind: str, params: dict[str, Any] | None = None) -> QueuedEvent:
    event: QueuedEvent = {"type": "queued", "at": time.time(), "kind": kind}
    if params is not None:
        event["params"] = params
    return event


def started_event(worker: str) -> StartedEvent:
    return {"type": "started", "worker": worker, "at": time.time()}


def done_event(result: dict[str, Any]) -> DoneEvent:
    return {"type": "done", "result": result}


def error_event(code: str, message: str) -> ErrorEvent:
    if code not in ERROR_CODES:
        raise ValueError(f"Unknown demo error code: {code!r}")
    return {"type": "error", "code": code, "message": message}


# --- Next-token logits ---------------------------------------------------------------


def logits_store(
    client: redis.Redis, key: str, *, logits: bytes, vocab: list[list[Any]], ttl: int | None = None
) -> None:
    """Store the full next-token logits (float32 bytes) and the top tokens' strings."""
    if not key.startswith(LOGITS_PREFIX):
        raise ValueError(f"Logits keys start with {LOGITS_PREFIX!r}: {key!r}")
    ttl = _ttl() if ttl is None else ttl
    pipe = client.pipeline(transaction=True)
    pipe.set(key, logits, ex=ttl)
    pipe.set(key + ":vocab", json.dumps(vocab, separators=(",", ":")), ex=ttl)
    pipe.execute()


def logits_read(client: redis.Redis, key: str) -> tuple[bytes, list[list[Any]]] | None:
    """``(float32 logits bytes, [[token_id, token], ...])`` or None when expired/missing."""
    if not key.startswith(LOGITS_PREFIX):
        raise ValueError(f"Logits keys start with {LOGITS_PREFIX!r}: {key!r}")
    values: Any = client.mget([key, key + ":vocab"])
    raw, vocab = values
    if raw is None or vocab is None:
        return None
    return bytes(raw), json.loads(vocab)
