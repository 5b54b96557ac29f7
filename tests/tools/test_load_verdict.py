"""The load test's verdict (``tools.load_test.verify``) on made-up runs: a lock wait that ran
out fails the run even when no response was a 5xx."""

from __future__ import annotations

from tools.load_test import LOCKED, markdown, verify


class _Database:
    """The rows the verdict reads back: one submitted attempt with the driver's score."""

    kind = "postgres"

    def rows(self, sql: str) -> list[tuple]:
        return [("7b0c6a2e-8a2e-4c8e-9c56-6b2f1d1c2a10", "submitted", 0.5, 2)]


def _results() -> dict:
    summary = {"server_errors": 0, "problem_count": 0, "problems": []}
    attempt = {"token": "7b0c6a2e-8a2e-4c8e-9c56-6b2f1d1c2a10", "expected": 0.5, "questions": 2}
    return {"summary": summary, "attempts": [attempt], "demos": []}


def test_a_clean_run_passes():
    verdict = verify(_results(), _Database(), logs="GET /healthz 200\n")

    assert verdict["ok"], verdict["failures"]
    assert verdict["database_locked_in_logs"] == 0


def test_database_is_locked_in_a_log_fails_the_run_without_any_5xx():
    logs = "ok\nsqlite3.OperationalError: database is locked\n...\n" + LOCKED

    verdict = verify(_results(), _Database(), logs=logs)

    assert not verdict["ok"]
    assert verdict["database_locked_in_logs"] == 2
    assert any(LOCKED in failure for failure in verdict["failures"])
    summary = {
        "learners": 1,
        "duration_s": 1.0,
        "requests": 1,
        "requests_per_s": 1.0,
        "status_counts": {"200": 1},
        "server_errors": 0,
        "demo_outcomes": {},
        "by_label": {},
    }
    report = {
        "started_at": "now",
        "database": "PostgreSQL",
        "web": "2×8 threads",
        "worker": "-c 4",
        "cpus": 2,
        "summary": summary,
        "verdict": verdict,
    }
    assert f'"{LOCKED}" in the web and worker logs: 2' in markdown(report)
