"""Record stored examples by running the real engine functions in this process.

Used by ``manage.py record_examples`` and, through :func:`record_to_file`, by the demo
build once it has published its models. torch and transformers are imported only through
the engine modules and ``inference.worker.runtime``, inside these functions.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from inference.contract import kinds
from inference.contract.examples import StoredExample, example_id, write_example_set
from inference.contract.examples.builds import clean_build
from inference.contract.examples.inputs import ExampleInput, example_inputs
from inference.contract.validation import DemoInputError
from inference.worker.runners import Job


def run_engine(runtime: Any, kind: str, params: dict[str, Any]) -> tuple[dict, dict[str, Any]]:
    """``(result, extra)`` of one demo on the loaded runtime, run alone (no batching) by the
    kind's runner; ``extra`` holds next-token logits (base64 float32) and the top tokens'
    strings."""
    extra: dict[str, Any] = {}

    def keep_logits(output: Any) -> None:
        extra["logits"] = base64.b64encode(output.logits).decode("ascii")
        extra["vocab"] = tuple((int(i), str(t)) for i, t in output.vocab)

    runner = kinds.require(kind).runner()
    return runner(runtime, params, Job(batch=False, keep_logits=keep_logits)), extra


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
            cleaned = kinds.validate(item.kind, item.params)
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


def record_to_file(
    runtime: Any,
    out_path: Path,
    *,
    build: dict | None,
    lessons_dir: Path | None = None,
    log: Callable[[str], None] = print,
) -> int:
    """Record every example input (``example_inputs(lessons_dir)``) on ``runtime`` (an
    object with ``.bert``, ``.gpt``, ``.encoder`` and ``.profile``, like
    ``inference.worker.runtime.Runtime``) and write them to ``out_path`` (atomically) with
    ``build`` (``{"id", "stage", "published_at"}``, see ``builds.demo_build``) as the
    file's header; None only for profiles that aren't built here (full, tiny).

    Returns how many examples were written; 0 means none could be recorded and nothing was
    written. Inputs a model can't take are skipped, each with a note to ``log``.
    """
    from django.test import override_settings

    if build is not None and clean_build(build) is None:  # before recording, not after
        raise ValueError("record_to_file needs the build's id.")
    # Validation counts tokens with the active profile's tokenizers: make it this runtime's.
    with override_settings(INFERENCE_PROFILE=runtime.profile):
        examples, skipped = record(runtime, example_inputs(lessons_dir), log=log)
    for note in skipped:
        log(f"Skipped {note}")
    if not examples:
        return 0
    write_example_set(out_path, profile=runtime.profile, examples=examples, build=build)
    return len(examples)
