"""The load test in its short CI form: 10 learners for 10 seconds (``make load-test`` runs
50 for 60). Real gunicorn, model worker, Redis and database; see tools/load_test.py."""

from __future__ import annotations

import pytest

from tests.faults.stack import suite_on_postgres
from tools.load_test import markdown, run_load

pytestmark = pytest.mark.integration


def test_ten_learners_for_ten_seconds_hold(tmp_path):
    report = run_load(
        learners=10,
        duration=10,
        # The suite's database: SQLite on the first pass of .ci/run, PostgreSQL on the second.
        db="postgres" if suite_on_postgres() else "sqlite",
        out=tmp_path,
        web_workers=2,
        web_threads=8,
        worker_concurrency=4,
    )
    summary, verdict = report["summary"], report["verdict"]
    assert verdict["ok"], markdown(report)
    assert summary["server_errors"] == 0
    # The learners really did the work the checks are about.
    assert verdict["attempts_checked"] >= 5, markdown(report)
    assert summary["by_label"]["lesson"]["count"] >= 10
    assert summary["by_label"].get("check", {}).get("count", 0) >= 1
    assert verdict["demo_requests"] >= 1, markdown(report)
