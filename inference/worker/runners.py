"""What the worker runs for each demo kind: cleaned input -> result dict.

One function per kind, named by its row in ``inference.contract.kinds`` (``run``). A runner gets
the loaded runtime (``inference.worker.runtime.Runtime``), the validated keyword arguments and a
:class:`Job` that says what else it may do: publish intermediate events (generation's
tokens), keep next-token logits for the reshape view, meet a deadline, share a forward
pass with concurrent requests. The Celery task envelope (``inference.worker.tasks``), the stored
example recorder (``inference.worker.recording``) and the worker's warm-up each build
their own Job; the runners don't know which one called them.

Worker side: the engines below import torch inside their functions.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from inference.worker import batching


class DemoTimeout(Exception):
    """The run passed its deadline (checked between generated tokens and batch waits), or
    its task already gave up on it (``inference.worker.timebox``)."""


def _ignore(*_args: Any, **_kwargs: Any) -> None:
    return None


def _never() -> bool:
    return False


@dataclass
class Job:
    """How one run reaches the world outside the engine."""

    deadline: float = math.inf  # time.monotonic() value
    publish: Callable[[dict[str, Any]], None] = _ignore  # an intermediate event (a generated token)
    # next-token's full distribution: keep_logits(output) with the engine's NextTokenOutput
    keep_logits: Callable[[Any], None] = _ignore
    batch: bool = True  # may share a forward pass with concurrent requests
    token_delay: float = 0.0  # test hook: seconds to sleep after each generated token
    # True once the task has ended without this run (timed out): stop at the next check
    cancelled: Callable[[], bool] = _never

    def check_deadline(self) -> None:
        if self.cancelled() or time.monotonic() > self.deadline:
            raise DemoTimeout


def _batched(call: Callable[..., Any], *models: Any, job: Job, **cleaned: Any) -> Any:
    try:
        return call(*models, deadline=job.deadline, **cleaned)
    except batching.BatchTimeout as exc:
        raise DemoTimeout from exc


def fill_mask(runtime: Any, cleaned: dict[str, Any], job: Job) -> dict[str, Any]:
    if job.batch:
        batched: dict[str, Any] = _batched(batching.fill_mask, runtime.bert, job=job, **cleaned)
        return batched
    from inference.worker.engine.fill_mask import fill_mask as engine

    result: dict[str, Any] = engine(runtime.bert, **cleaned)
    return result


def generate(runtime: Any, cleaned: dict[str, Any], job: Job) -> dict[str, Any]:
    from inference.worker.engine.generate import generate as engine

    def on_token(event: dict[str, Any]) -> None:
        job.publish(event)
        if job.token_delay:
            time.sleep(job.token_delay)
        job.check_deadline()

    result: dict[str, Any] = engine(runtime.gpt, on_token=on_token, **cleaned)
    return result


def next_token(runtime: Any, cleaned: dict[str, Any], job: Job) -> dict[str, Any]:
    if job.batch:
        output = _batched(batching.next_token, runtime.gpt, job=job, **cleaned)
    else:
        from inference.worker.engine.next_token import next_token as engine

        output = engine(runtime.gpt, **cleaned)
    job.keep_logits(output)
    result: dict[str, Any] = output.result
    return result


def attention(runtime: Any, cleaned: dict[str, Any], job: Job) -> dict[str, Any]:
    from inference.worker.engine.attention import attention as engine

    return engine(runtime.bert, runtime.gpt, **cleaned)


def tokenize(runtime: Any, cleaned: dict[str, Any], job: Job) -> dict[str, Any]:
    from inference.worker.engine.tokenize import tokenize as engine

    return engine(runtime.bert, runtime.gpt, **cleaned)


def embeddings(runtime: Any, cleaned: dict[str, Any], job: Job) -> dict[str, Any]:
    if job.batch:
        models = (runtime.bert, runtime.encoder)
        batched: dict[str, Any] = _batched(batching.embeddings, *models, job=job, **cleaned)
        return batched
    from inference.worker.engine.embeddings import embeddings as engine

    result: dict[str, Any] = engine(runtime.bert, runtime.encoder, **cleaned)
    return result


def next_sentence(runtime: Any, cleaned: dict[str, Any], job: Job) -> dict[str, Any]:
    from inference.worker.engine.next_sentence import next_sentence as engine

    return engine(runtime.bert, **cleaned)
