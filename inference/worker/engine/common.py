"""Helpers shared by the demo engines: token limits, timing, model cards."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from inference.contract.validation import ROLE_LABELS, DemoInputError, demo_limits

if TYPE_CHECKING:
    from inference.worker.loading import Loaded


def model_card(loaded: Loaded) -> dict:
    """``{"role", "name", "parameters", "device", "dtype", "profile"}`` of a loaded role."""
    return dict(loaded.info)


def check_token_count(
    loaded: Loaded,
    text: str,
    *,
    pair: str | None = None,
    limit_name: str = "max_input_tokens",
    label: str = "The text",
    field: str | None = None,
) -> int:
    """Count tokens with the worker's own tokenizer; refuse inputs over the limit.

    The web checks the same limit with the ``tokenizers`` library before enqueueing; this
    is the authoritative check, made with exactly the tokenizer the model uses.
    """
    limit = demo_limits()[limit_name]
    encoded = loaded.tokenize(text, pair) if pair is not None else loaded.tokenize(text)
    count = len(encoded["input_ids"])
    if count > limit:
        raise DemoInputError(
            f"{label} {'become' if pair is not None else 'becomes'} {count} tokens for "
            f"{ROLE_LABELS.get(loaded.spec.role, loaded.spec.role)}; the limit is {limit} "
            "tokens. Shorten it and try again.",
            field=field,
        )
    return count


class Stopwatch:
    def __init__(self) -> None:
        self.elapsed_ms = 0.0

    @contextmanager
    def running(self) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.elapsed_ms += (time.perf_counter() - start) * 1000.0


def rounded(value: float, digits: int = 6) -> float:
    return round(float(value), digits)
