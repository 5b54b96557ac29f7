"""What keeps a benchmark report honest, tested without running one.

Per-round ratios against the same round's baseline, a page faster than the baseline
flagged as a broken comparison, a dirty tree refused (or, with --allow-dirty, announced),
and a machine that other processes kept busy marked as such.
"""

from __future__ import annotations

import pytest

from bench import pages, report, run
from bench.common import OtherWorkMonitor


def rounds(*per_second: float) -> list[dict]:
    return [{"per_second": value} for value in per_second]


def test_each_round_is_divided_by_its_own_baseline():
    got = pages.round_ratios(rounds(50, 80, 30), rounds(100, 100, 100))
    assert got["rounds"] == [0.5, 0.8, 0.3]
    assert (got["median"], got["min"], got["max"]) == (0.5, 0.3, 0.8)
    assert got["spread"] == 1.0  # (0.8 - 0.3) / 0.5
    # not the median page over the median baseline: a slow baseline round pairs with its page
    got = pages.round_ratios(rounds(40, 90), rounds(50, 300))
    assert got["rounds"] == [0.8, 0.3]


def test_a_page_faster_than_the_baseline_is_called_a_broken_comparison():
    data = {
        "healthz": {
            "per_second": 100.0,
            "latency_ms": {"p50": 1, "p99": 2},
            "errors": 0,
            "path": "/healthz",
        },
        "lesson": {
            "per_second": 140.0,
            "latency_ms": {"p50": 1, "p99": 2},
            "errors": 0,
            "path": "/lessons/x/",
        },
        "lesson_rounds_vs_healthz": {"median": 1.4, "min": 1.2, "max": 1.6, "rounds": []},
        "broken_comparisons": ["lesson"],
        "quiz": {"lesson": "x", "questions": 1, "question_kinds": ["single"]},
        "quiz_submit": {
            "requests": 1,
            "graded_in_database": 1,
            "graded_per_second": 1.0,
            "pool_exhausted": False,
            "latency_ms": {"p50": 1, "p99": 2},
            "per_second": 1.0,
            "errors": 0,
            "path": "/attempts/<token>/submit/",
        },
    }
    text = "\n".join(report._pages({"pages": {"description": "d", "databases": {"x": data}}}, {}))
    assert "Broken comparison (x)" in text and "1.400x (1.20–1.60)" in text


def test_the_report_says_when_the_tree_was_dirty_or_the_machine_busy():
    meta = {
        "date": "2026-12-04",
        "mode": "full",
        "git_commit": "abc1234+dirty",
        "dirty_tree": True,
        "machine": {},
        "other_work_during_run": {
            "average_cores": 0.4,
            "max_cores": 1.2,
            "busy": True,
            "samples": 3,
            "interval_s": 5.0,
        },
    }
    header = "\n".join(report._header({"meta": meta}))
    assert "BUSY MACHINE" in header.splitlines()[0]
    assert "UNCOMMITTED CHANGES" in header and "0.40 of a core" in header
    quiet = {**meta, "dirty_tree": False, "other_work_during_run": {"busy": False}}
    header = "\n".join(report._header({"meta": quiet}))
    assert "BUSY" not in header and "UNCOMMITTED" not in header


def test_a_full_run_refuses_a_dirty_tree(monkeypatch, capsys):
    monkeypatch.setattr(run, "git_dirty", lambda: True)
    monkeypatch.setattr(run, "make_config", lambda **_: pytest.fail("got past the check"))
    with pytest.raises(SystemExit) as exit_info:
        run.main([])
    assert exit_info.value.code == 2
    assert "uncommitted changes" in capsys.readouterr().err


def test_the_monitor_samples_other_processes_through_the_run(monkeypatch):
    import time

    from bench import common

    def other_work(seconds):  # a tenth of all cores, every sample
        time.sleep(seconds)
        return 0.1

    monkeypatch.setattr(common, "other_work", other_work)
    monkeypatch.setattr(common.os, "cpu_count", lambda: 2)
    monitor = OtherWorkMonitor(interval=0.01).start()
    time.sleep(0.1)
    got = monitor.stop()
    assert got["samples"] >= 3
    assert got["average_cores"] == 0.2 and got["busy"] is True  # 0.2 of a core > 0.1
