"""The rules by which readers and workers judge a quiet demo (``inference.contract.verdicts``)."""

from __future__ import annotations

import pytest

from inference.contract import verdicts

GRACE = verdicts.NO_WORKER_GRACE_S
INF = float("inf")


def waiting(*, until: float, gaps: list[tuple[float, float]], expires: float = 1000.0):
    return verdicts.waiting_verdict(
        queued_at=100.0, until=until, gaps=gaps, queue_expires_s=expires
    )


@pytest.mark.parametrize(
    ("until", "gaps", "expected"),
    [
        (100 + GRACE + 1, [], None),  # a worker covered the queue all along: just busy
        (100 + GRACE - 1, [(0.0, INF)], None),  # no worker yet, still within the grace
        (100 + GRACE + 1, [(0.0, INF)], "unavailable"),  # none since before it was queued
        (110 + GRACE + 1, [(110.0, INF)], "unavailable"),  # its worker died while it waited
        (110 + GRACE - 1, [(110.0, INF)], None),  # ... and the grace starts then
        (300.0, [(0.0, 100 + GRACE - 1)], None),  # a worker came within the grace
        (300.0, [(0.0, 100 + GRACE + 1)], "unavailable"),  # ... or too late
        (300.0, [(150.0, 152.0)], None),  # a quick restart while it waited
        (300.0, [(150.0, 150 + GRACE + 1)], "unavailable"),  # a slow one
        (100 + 1000 + verdicts.DEADLINE_MARGIN_S + 1, [], "timeout"),  # past the queue expiry
    ],
)
def test_waiting_verdict(until, gaps, expected):
    assert waiting(until=until, gaps=gaps) == expected


def test_a_gap_after_the_task_was_picked_up_does_not_count():
    assert waiting(until=120.0, gaps=[(130.0, 140.0)]) is None


@pytest.mark.parametrize(
    ("alive", "ran", "expected"),
    [(True, 10.0, None), (False, 1.0, "worker_lost"), (True, 30 + 10 + 1, "timeout")],
)
def test_running_verdict(alive, ran, expected):
    got = verdicts.running_verdict(
        started_at=100.0, now=100.0 + ran, worker_alive=alive, hard_limit_s=30
    )
    assert got == expected


def test_messages_say_what_happened():
    assert verdicts.message("unavailable", waiting=True, hard_limit_s=30) == verdicts.NO_WORKER
    assert verdicts.message("timeout", waiting=True, hard_limit_s=30) == verdicts.QUEUE_TIMEOUT
    assert "30-second limit" in verdicts.message("timeout", waiting=False, hard_limit_s=30)
    assert verdicts.message("worker_lost", waiting=False, hard_limit_s=30) == verdicts.WORKER_LOST
