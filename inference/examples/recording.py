"""Record stored examples by running the real engine functions in this process.

Used by ``manage.py record_examples``. torch and transformers are imported only through
the engine modules and ``inference.runtime``, inside these functions.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterable
from typing import Any

from inference.examples import StoredExample, example_id
from inference.examples.inputs import ExampleInput
from inference.validation import DemoInputError, validate


def run_engine(runtime: Any, kind: str, params: dict[str, Any]) -> tuple[dict, dict[str, Any]]:
    """``(result, extra)`` of one demo on the loaded runtime; ``extra`` holds next-token
    logits (base64 float32) and the top tokens' strings."""
    extra: dict[str, Any] = {}
    if kind == "fill-mask":
        from inference.engine.fill_mask import fill_mask

        return fill_mask(runtime.bert, **params), extra
    if kind == "generate":
        from inference.engine.generate import generate

        return generate(runtime.gpt, **params), extra
    if kind == "next-token":
        from inference.engine.next_token import next_token

        output = next_token(runtime.gpt, **params)
        extra["logits"] = base64.b64encode(output.logits).decode("ascii")
        extra["vocab"] = tuple((int(i), str(t)) for i, t in output.vocab)
        return output.result, extra
    if kind == "attention":
        from inference.engine.attention import attention

        return attention(runtime.bert, runtime.gpt, **params), extra
    if kind == "tokenize":
        from inference.engine.tokenize import tokenize

        return tokenize(runtime.bert, runtime.gpt, **params), extra
    if kind == "embeddings":
        from inference.engine.embeddings import embeddings

        return embeddings(runtime.bert, runtime.encoder, **params), extra
    if kind == "next-sentence":
        from inference.engine.next_sentence import next_sentence

        return next_sentence(runtime.bert, **params), extra
    raise DemoInputError(f"There is no demo called “{kind}”.")


def record(
    runtime: Any,
    inputs: Iterable[ExampleInput],
    *,
    log: Callable[[str], None] = print,
    clock: Callable[[], float] = time.time,
) -> tuple[list[StoredExample], list[str]]:
    """Run every input once (duplicates merged); returns the examples and the skip notes."""
    examples: dict[str, StoredExample] = {}
    skipped: list[str] = []
    for item in inputs:
        label = f"{item.kind} “{item.title}” ({item.source})"
        try:
            cleaned = validate(item.kind, item.params)
        except DemoInputError as exc:
            skipped.append(f"{label}: {exc.message}")
            continue
        key = example_id(item.kind, cleaned)
        if key in examples:
            previous = examples[key]
            if item.source not in previous.sources:
                examples[key] = StoredExample(
                    **{**previous.__dict__, "sources": (*previous.sources, item.source)}
                )
            continue
        try:
            result, extra = run_engine(runtime, item.kind, cleaned)
        except DemoInputError as exc:
            skipped.append(f"{label}: {exc.message}")
            continue
        examples[key] = StoredExample(
            id=key,
            kind=item.kind,
            title=item.title,
            params=cleaned,
            result=result,
            recorded_at=clock(),
            profile=runtime.profile,
            sources=(item.source,),
            logits=extra.get("logits"),
            vocab=extra.get("vocab", ()),
        )
        log(f"  {label}: {result.get('elapsed_ms', 0):.0f} ms")
    return list(examples.values()), skipped
