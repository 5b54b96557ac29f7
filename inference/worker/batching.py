"""Dynamic batching in the model worker: concurrent requests share one forward pass.

The model worker runs Celery's threads pool (``-P threads -c N``, see
``inference/worker/process.py``): concurrent tasks are threads of one process sharing one copy of
each model. For the demos whose work is a single forward pass (fill-mask, next-token,
embeddings) a :class:`Batcher` per demo kind gathers the requests that arrive together and
runs them as ONE right-padded batch, then hands each caller its own row. On a CPU a batch
of 16 costs about as much as five single calls, so under load throughput rises ~3×.

How a request flows (the task's run thread, ``inference/worker/timebox.py``)::

    with batching.expecting("fill-mask"):       # run start: "a request is on its way"
        ...validation...
        batching.fill_mask(bert, text=..., top_k=...)
            engine.prepare()   in the caller: checks; a bad input fails here, alone
            batcher.submit()   -> Future        (the caller's expectation is now a request)
            future.result()    waits for its batch's row
            engine.finish()    in the caller: decode, build the result dict

The batcher's single consumer thread takes the first queued request, then gathers more
for at most ``INFERENCE_BATCH_WAIT_MS`` (default 5 ms) or until ``INFERENCE_MAX_BATCH``
requests (default 16) — but it only waits when company is likely: another caller has
announced itself (entered :func:`expecting`, which the tasks' runs do as they start) and not
yet submitted, or the previous batch was larger than what has gathered so far (its
callers tend to come back with their next requests). A lone request after a lone
request runs at once: at concurrency 1 batching adds no waiting, only a hand-over
between two threads.

The gathered requests are grouped by model (a batch never mixes two models), sorted by
token length, and split where the padding would cost more than a separate call
(:func:`split_by_length`). Per-request options that only shape the output (top-k) are
applied row by row, so they never split a batch. If a batch fails as a whole, its
requests are run again one by one, so an input that breaks the model fails only its own
caller. :meth:`Batcher.stats` counts batches, items, the histogram of batch sizes and how
often the gather wait was taken.

Environment (read when a batcher is created, i.e. at the first request):

- ``INFERENCE_BATCHING`` = ``1`` (default) or ``0``: with 0 every request runs alone in its
  own thread, exactly the unbatched engine call (for benchmarks and debugging; read on
  every request).
- ``INFERENCE_MAX_BATCH`` (default 16): the most requests in one forward pass. Batches
  only form when the worker runs at least this many threads (``-c``).
- ``INFERENCE_BATCH_WAIT_MS`` (default 5): the longest a batch waits for company. The
  wait ends as soon as every announced caller has submitted, and a lone request never
  waits, so a longer window costs little; under heavy load (many tasks starting at once
  on a busy CPU) 10–25 ms gathers larger batches.
- ``INFERENCE_BATCH_SPLIT_TOKENS`` (default 48): what one more forward pass costs, in
  padded tokens; a gathered batch is cut by length only where that saves more padding
  (raise it on a GPU, where a call's fixed cost is larger; a huge value never cuts).

This module imports no torch (the engines do, inside their functions), so the tasks
module can use it in any process.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import import_module
from typing import TYPE_CHECKING, Any

from inference.contract import kinds
from inference.worker.batcher import (
    STOP_TIMEOUT,
    Batcher,
    BatcherStopped,
    BatchTimeout,
    batch_wait_ms,
    batching_enabled,
    describe,
    max_batch_size,
    split_tokens,
)

if TYPE_CHECKING:
    from inference.worker.engine.next_token import NextTokenOutput
    from inference.worker.loading import Loaded

__all__ = ["BatchTimeout", "describe", "embeddings", "expecting", "fill_mask", "next_token"]


# --- The worker's batchers, one per demo kind -------------------------------------------


@dataclass(frozen=True)
class _Request:
    models: tuple  # the Loaded roles the forward pass needs
    item: Any  # the engine's prepared item


@dataclass(frozen=True)
class Row:
    """One request's share of a batch: its raw output and the batch's model time."""

    output: Any
    elapsed_ms: float
    batch_size: int


def _forward(kind: str) -> Callable[[list[_Request]], list[Row]]:
    def run_batch(requests: list[_Request]) -> list[Row]:
        models = requests[0].models
        outputs, elapsed_ms = _engine(kind).forward(*models, [r.item for r in requests])
        return [Row(output, elapsed_ms, len(requests)) for output in outputs]

    return run_batch


def _engine(kind: str):
    """The kind's batch engine module (prepare/forward/finish), named in its row."""
    row = kinds.get(kind)
    if row is None or row.batch_engine is None:
        raise ValueError(f"No batcher for {kind!r}")
    return import_module(row.batch_engine)


_registry_lock = threading.Lock()
_batchers: dict[str, Batcher] = {}


def get_batcher(kind: str) -> Batcher:
    """This process's batcher for ``kind`` (created with the environment's settings)."""
    _engine(kind)  # a kind without a batch engine has no batcher
    with _registry_lock:
        batcher = _batchers.get(kind)
        if batcher is None or batcher.stopped:
            batcher = Batcher(
                kind,
                _forward(kind),
                max_batch=max_batch_size(),
                max_wait_ms=batch_wait_ms(),
                split_tokens=split_tokens(),
            )
            _batchers[kind] = batcher
        return batcher


def stats() -> dict[str, dict]:
    """``{kind: Batcher.stats()}`` for the batchers created so far."""
    with _registry_lock:
        batchers = dict(_batchers)
    return {kind: batcher.stats() for kind, batcher in batchers.items()}


def shutdown(timeout: float = STOP_TIMEOUT) -> None:
    """Stop every batcher (worker shutdown; tests). The next request makes new ones."""
    with _registry_lock:
        batchers = list(_batchers.values())
        _batchers.clear()
    for batcher in batchers:
        batcher.stop(timeout)


@contextmanager
def expecting(kind: str) -> Iterator[None]:
    """Announce, at task start, a request of ``kind`` that will reach its batcher soon."""
    if not batching_enabled() or max_batch_size() <= 1:
        yield
        return
    with get_batcher(kind).expect():
        yield


def _batched(
    kind: str, models: tuple, item: Any, *, length: int, rows: int, deadline: float | None
) -> Row | None:
    """The item's row from a batch, or None when batching is off (the caller runs it)."""
    if not batching_enabled() or max_batch_size() <= 1:
        return None
    key = tuple(id(model) for model in models)
    try:
        return get_batcher(kind).run(
            _Request(models, item), key=key, length=length, rows=rows, deadline=deadline
        )
    except BatcherStopped:
        return None


def _alone(kind: str, models: tuple, item: Any) -> Row:
    outputs, elapsed_ms = _engine(kind).forward(*models, [item])
    return Row(outputs[0], elapsed_ms, 1)


def fill_mask(bert: Loaded, *, text: str, top_k: int = 5, deadline: float | None = None) -> dict:
    """:func:`inference.worker.engine.fill_mask.fill_mask`, batched with concurrent requests."""
    from inference.worker.engine import fill_mask as engine

    if not batching_enabled():
        return engine.fill_mask(bert, text=text, top_k=top_k)
    item = engine.prepare(bert, text, top_k=top_k)
    models = (bert,)
    row = _batched("fill-mask", models, item, length=item.length, rows=1, deadline=deadline)
    row = row or _alone("fill-mask", models, item)
    return engine.finish(
        bert, item, row.output, elapsed_ms=row.elapsed_ms, batch_size=row.batch_size
    )


def next_token(
    gpt: Loaded, *, prompt: str, top_k: int = 20, deadline: float | None = None
) -> NextTokenOutput:
    """:func:`inference.worker.engine.next_token.next_token`, batched with concurrent requests."""
    from inference.worker.engine import next_token as engine

    if not batching_enabled():
        return engine.next_token(gpt, prompt=prompt, top_k=top_k)
    item = engine.prepare(gpt, prompt, top_k=top_k)
    models = (gpt,)
    row = _batched("next-token", models, item, length=item.length, rows=1, deadline=deadline)
    row = row or _alone("next-token", models, item)
    return engine.finish(
        gpt, item, row.output, elapsed_ms=row.elapsed_ms, batch_size=row.batch_size
    )


def embeddings(
    bert: Loaded,
    encoder: Loaded,
    *,
    word: str,
    sentence_a: str,
    sentence_b: str,
    deadline: float | None = None,
) -> dict:
    """:func:`inference.worker.engine.embeddings.embeddings`, batched with concurrent requests."""
    from inference.worker.engine import embeddings as engine

    if not batching_enabled():
        return engine.embeddings(
            bert, encoder, word=word, sentence_a=sentence_a, sentence_b=sentence_b
        )
    item = engine.prepare(bert, encoder, word=word, sentence_a=sentence_a, sentence_b=sentence_b)
    models = (bert, encoder)
    row = _batched("embeddings", models, item, length=item.length, rows=2, deadline=deadline)
    row = row or _alone("embeddings", models, item)
    return engine.finish(
        bert, encoder, item, row.output, elapsed_ms=row.elapsed_ms, batch_size=row.batch_size
    )
