"""A model worker with one more, made-up demo kind whose "forward pass" sleeps.

Run as ``python -m tests.inference.worker.stall_worker <celery arguments>`` (the
``module`` option of ``tests.inference.conftest.start_worker``): the kind is registered
before Celery imports the tasks module, so the worker makes its task from the row like any
other (``inference.tasks.stall_test``, limits 1 s / 3 s). Its runner sleeps ``seconds``
(a forward pass that can't be interrupted), then tries to publish a token event and
returns: after a timeout neither may reach the learner's stream.
"""

from __future__ import annotations

import sys
import time

from inference.contract import kinds
from inference.contract.validation import DemoInputError


def validate_stall(*, seconds=0.0) -> dict:
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 <= seconds <= 30:
        raise DemoInputError("seconds must be a number from 0 to 30")
    return {"seconds": float(seconds)}


def run_stall(runtime, cleaned: dict, job) -> dict:
    time.sleep(cleaned["seconds"])
    job.publish(
        {"type": "token", "index": 0, "token": "late", "token_id": 0, "raw": "late", "prob": 1.0,
         "alternatives": []}
    )  # fmt: skip
    return {"slept": cleaned["seconds"], "elapsed_ms": cleaned["seconds"] * 1000}


STALL = kinds.DemoKind(
    name="stall-test",
    title="Sleep",
    intro="Sleeps as long as it is told.",
    validate=validate_stall,
    form="",
    present="",
    run="tests.inference.worker.stall_worker.run_stall",
    time_limits=(1, 3),
)
TASK_NAME = STALL.task_name


def main() -> None:
    kinds.register(STALL)
    from celery.__main__ import main as celery

    sys.argv[0] = "celery"
    celery()


if __name__ == "__main__":
    main()
