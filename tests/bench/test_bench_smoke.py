"""The benchmark scripts work: ``python -m bench.run --smoke`` end to end.

Not a timed test: it checks that every section ran and produced numbers (and the report
and plots were written), never how big the numbers are. It starts a real gunicorn, real
Celery model workers, wrk (or the Python fallback) and uses Redis db ``BENCH_REDIS_DB``
(default 12 here, so it never flushes the suite's db) and a scratch PostgreSQL database
of its own (its PostgreSQL pages test is skipped, saying so, where none answers:
``tests/postgres_support.py``).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.postgres_support import PG_HOST, PG_PORT, PG_USER, postgres_available, skip_reason

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _positive(value) -> bool:
    return _number(value) and value > 0


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench-out")
    postgres = f"postgres://{PG_USER}@{PG_HOST}:{PG_PORT}/bench_smoke_test"
    env = {
        **os.environ,
        "BENCH_REDIS_DB": os.environ.get("BENCH_REDIS_DB", "12"),
        "BENCH_WORK_DIR": str(tmp_path_factory.mktemp("bench-work")),
        "BENCH_POSTGRES_URL": postgres,
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    proc = subprocess.run(
        [sys.executable, "-m", "bench.run", "--smoke", "--out", str(out), "--name", "smoke"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    path = out / "smoke.json"
    assert path.is_file(), f"no results JSON:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return {
        "proc": proc,
        "results": json.loads(path.read_text()),
        "out": out,
    }


def test_every_section_ran_without_errors(smoke_run):
    results, proc = smoke_run["results"], smoke_run["proc"]
    assert results["meta"]["errors"] == {}, proc.stdout[-3000:]
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert results["meta"]["mode"] == "smoke"
    for section in ("roundtrip", "streaming", "batching", "pages", "footprint"):
        assert results[section], section
        assert results[section]["targets"], section
    assert results["grading"]["series"]  # a figure to report, no target
    assert "available" in results["build_demo_models"]


def test_round_trip_has_site_and_in_process_numbers(smoke_run):
    kinds = smoke_run["results"]["roundtrip"]["kinds"]
    assert set(kinds) == {"fill-mask", "next-token"}
    for data in kinds.values():
        for transport in ("api", "htmx"):
            row = data["transports"][transport]
            assert _positive(row["site_ms"]["median"])
            assert _positive(row["inprocess_ms"]["median"])
            assert _number(row["overhead_ms_p50"])
            assert _number(row["overhead_outside_model_ms_p50"])
            assert all(_number(row["split_ms"][key]["median"]) for key in row["split_ms"])
        assert _positive(data["cached_api_ms"]["median"])


def test_streaming_batching_and_footprint_have_numbers(smoke_run):
    results = smoke_run["results"]
    streaming = results["streaming"]
    for path in ("site", "generate", "engine"):
        assert _positive(streaming["rates"][path]["end_to_end_tps"]["median"])
    assert _positive(streaming["site_vs_generate_end_to_end"])
    assert streaming["greedy_ids_match_generate"] is True

    batching = results["batching"]
    for rows in batching["modes"]["off"].values():
        assert [row["concurrency"] for row in rows] == batching["concurrency"]
        assert all(_positive(row["per_second"]) and row["errors"] == 0 for row in rows)
    if batching["implemented"]:
        for rows in batching["modes"]["on"].values():
            assert all(_positive(row["per_second"]) and row["errors"] == 0 for row in rows)

    footprint = results["footprint"]
    assert _positive(footprint["weights_bytes"])
    assert _positive(footprint["peak_rss"]) and _positive(footprint["baseline"]["rss"])
    assert _positive(footprint["time_to_ready_s"])
    assert footprint["processes"] == 1


def test_free_text_grades_were_timed_until_the_result_page_showed_them(smoke_run):
    grading = smoke_run["results"]["grading"]
    assert set(grading["series"]) == {"ready", "ready_concurrent", "seen"}
    for name, row in grading["series"].items():
        assert row["errors"] == 0, (name, row["first_error"])
        assert row["submits"] > 0, name
        assert _positive(row["grade_ms"]["median"]), name
        # the grade can't be seen before the submit that asks for it has answered
        assert row["grade_ms"]["min"] >= row["submit_ms"]["min"], name
    assert grading["series"]["ready_concurrent"]["concurrency"] > 1
    assert "## Free-text grades" in (smoke_run["out"] / "smoke.md").read_text()


@pytest.mark.parametrize("db", ["sqlite", "postgresql"])
def test_pages_were_served_and_quiz_attempts_graded(db, request):
    if db == "postgresql" and not postgres_available():
        pytest.skip(skip_reason())  # the run measures SQLite only, and its report says so
    data = request.getfixturevalue("smoke_run")["results"]["pages"]["databases"][db]
    assert "error" not in data, data
    for page in ("healthz", "lesson", "quiz_submit"):
        assert _positive(data[page]["per_second"]), (db, page)
        assert _number(data[page]["latency_ms"]["p99"]), (db, page)
        assert data[page]["errors"] == 0, (db, page, data[page])
    assert data["quiz_submit"]["graded_in_database"] > 0
    assert data["quiz_submit"]["pool_exhausted"] == 0
    assert _positive(data["lesson_vs_healthz"])


def test_report_and_plots_were_written(smoke_run):
    out = smoke_run["out"]
    report = (out / "smoke.md").read_text()
    assert "## Targets" in report and "## Figures for the README" in report
    for name in ("roundtrip", "batching", "streaming", "pages", "footprint"):
        plot = out / f"smoke-{name}.png"
        assert plot.is_file() and plot.stat().st_size > 1000, name
        assert f"smoke-{name}.png" in report
