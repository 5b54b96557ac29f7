"""The free-text grade bench asks the result block on the page's own schedule: read right."""

from __future__ import annotations

import pytest

from bench.grading import RESULT_BLOCK_RE, GradingError, schedule


@pytest.mark.parametrize(
    ("trigger", "expected"),
    [
        ("every 2s", (2.0, 2.0)),  # htmx: the first ask after one interval
        ("load delay:500ms, every 2s", (0.5, 2.0)),
        ("load, every 1500ms", (0.0, 1.5)),
        ("load delay:1s, every 3s", (1.0, 3.0)),
    ],
)
def test_schedule_reads_the_first_ask_and_the_interval(trigger, expected):
    assert schedule(trigger) == expected


def test_a_block_that_does_not_poll_is_an_error():
    with pytest.raises(GradingError):
        schedule("load delay:500ms")


def test_the_result_block_of_the_real_template_is_found():
    from django.template.loader import render_to_string

    html = render_to_string(
        "lessons/quiz_attempt.html#attempt-result",
        {
            "attempt": type("A", (), {"token": "2b1f6c0e-2c52-4bde-9a4e-2f6d1b5e0c11"})(),
            "review": type("R", (), {"pending_count": 1, "items": []})(),
            "grader_ready": True,
        },
    )
    match = RESULT_BLOCK_RE.search(html)
    assert match is not None, html[:500]
    first, interval = schedule(match.group("trigger"))
    assert 0 <= first <= interval
