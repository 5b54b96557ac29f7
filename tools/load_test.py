"""Load test: a class of simulated learners against gunicorn + a model worker, then checks.

    python -m tools.load_test --learners 50 --duration 60      # what `make load-test` runs
    python -m tools.load_test --learners 10 --duration 10      # the CI smoke (tests/load)

Starts, on loopback, through the process harness (``tools/harness``): a private
redis-server, a fresh database (PostgreSQL when reachable, as production runs; ``--db
sqlite`` for the embedded default) migrated and loaded with the real course, gunicorn with
the production settings (``site/config/gunicorn.py``), and a Celery model worker on the
``tiny`` profile (the pipeline under test is the web, the queue and the database; model
time is what ``make bench`` measures). Then runs
``tools/load_driver.py`` as a second process for ``--duration`` seconds and checks:

- zero 5xx responses;
- every attempt the learners submitted is in the database exactly once, submitted, with
  one answer per question and the score the driver computed from the answer key; and no
  submitted attempt the learners didn't submit;
- every demo request was answered, or refused by the rate limit with a clear message.

Writes ``results.json`` (every request), ``report.json`` and ``report.md`` (the figures
docs/robustness.md quotes) to ``--out`` (default ``var/load-test/<UTC time>/``). Exit
status 0 only when every check holds.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from tests.faults.flows import KEY_SQL_ACCEPTED, KEY_SQL_CHOICES
from tests.faults.stack import PostgresDatabase
from tests.postgres_support import postgres_available
from tools.harness import ROOT, RedisServer, SiteConfig, run_python, site_env

ACCOUNT_SHARE = 0.4  # learners who log in; the rest are anonymous

CREATE_ACCOUNTS = """
import json, os
from django.contrib.auth import get_user_model
User = get_user_model()
for account in json.loads(os.environ["LOAD_ACCOUNTS"]):
    User.objects.create_user(username=account["username"], password=account["password"])
"""


class Database:
    def __init__(self, kind: str, workdir: Path) -> None:
        self.kind = kind
        self.pg: PostgresDatabase | None = None
        self.path = workdir / "load.sqlite3"
        if kind == "postgres":
            self.pg = PostgresDatabase(prefix="load").create()

    @property
    def url(self) -> str:
        return self.pg.url() if self.pg else f"sqlite:///{self.path}"

    def rows(self, sql: str, params: tuple = ()) -> list[tuple]:
        if self.pg:
            with self.pg.connect() as conn:
                return list(conn.execute(sql, params).fetchall())
        import sqlite3

        conn = sqlite3.connect(self.path, timeout=30)
        try:
            return list(conn.execute(sql.replace("%s", "?"), params).fetchall())
        finally:
            conn.close()

    def drop(self) -> None:
        if self.pg:
            self.pg.drop()


def build_plan(config: SiteConfig, database: Database, learners: int) -> dict:
    accounts = [
        {"username": f"loadlearner{i}", "password": f"load-Pass-{i}-2024!"}
        for i in range(math.ceil(learners * ACCOUNT_SHARE))
    ]
    config.manage("shell", "-c", CREATE_ACCOUNTS, LOAD_ACCOUNTS=json.dumps(accounts))
    lessons = [
        slug
        for (slug,) in database.rows(
            "SELECT l.slug FROM lessons_lesson l JOIN lessons_quiz q ON q.lesson_id = l.id "
            'ORDER BY l."order"'
        )
    ]
    correct: dict[str, list[int]] = {}
    for question_id, choice_id in database.rows(KEY_SQL_CHOICES, (True,)):
        correct.setdefault(str(question_id), []).append(int(choice_id))
    accepted: dict[str, list[str]] = {}
    for question_id, text in database.rows(KEY_SQL_ACCEPTED):
        accepted.setdefault(str(question_id), []).append(str(text))
    return {
        "lessons": lessons,
        "accounts": accounts,
        "key": {"correct": correct, "accepted": accepted},
    }


LOCKED = "database is locked"


def verify(results: dict, database: Database, *, logs: str = "") -> dict:
    """Check the run against the database and the processes' logs (``logs``: the web's and
    the worker's); returns the verdict with every failure named."""
    summary = results["summary"]
    failures: list[str] = []
    if summary["server_errors"]:
        failures.append(f"{summary['server_errors']} responses were 5xx")
    locked = logs.count(LOCKED)
    if locked:
        # a lock wait that ran out, even where the request recovered without a 5xx
        failures.append(f'"{LOCKED}" {locked} times in the web and worker logs')
    if summary["problem_count"]:
        failures.append(f"{summary['problem_count']} problems: {summary['problems'][:10]}")

    sqlite = database.kind == "sqlite"
    claimed = {a["token"]: a for a in results["attempts"]}
    if len(claimed) != len(results["attempts"]):
        failures.append("the same attempt was reported submitted twice by the driver")
    rows = database.rows(
        "SELECT a.token, a.status, a.score, COUNT(x.id) FROM lessons_attempt a "
        "LEFT JOIN lessons_answer x ON x.attempt_id = a.id "
        "GROUP BY a.id, a.token, a.status, a.score"
    )
    stored: dict[str, list[tuple]] = {}
    for token, status, score, answers in rows:
        key = str(token)
        if sqlite and "-" not in key:
            key = f"{key[:8]}-{key[8:12]}-{key[12:16]}-{key[16:20]}-{key[20:]}"
        stored.setdefault(key, []).append((status, score, answers))
    wrong_scores = 0
    for token, attempt in claimed.items():
        found = stored.get(token, [])
        if len(found) != 1:
            failures.append(f"attempt {token}: {len(found)} rows")
            continue
        status, score, answers = found[0]
        if status != "submitted":
            failures.append(f"attempt {token}: status {status}")
        if score is None or abs(float(score) - attempt["expected"]) > 1e-9:
            wrong_scores += 1
            failures.append(f"attempt {token}: score {score}, expected {attempt['expected']}")
        if answers != attempt["questions"]:
            failures.append(f"attempt {token}: {answers} answers for {attempt['questions']}")
    phantom = [
        token
        for token, found in stored.items()
        if token not in claimed and any(status == "submitted" for status, _, _ in found)
    ]
    if phantom:
        failures.append(f"{len(phantom)} submitted attempts nobody submitted: {phantom[:5]}")

    demos = results["demos"]
    unclear = [d for d in demos if d["outcome"] not in ("answered", "rate_limited")]
    if unclear:
        failures.append(
            f"{len(unclear)} demo requests neither answered nor rate-limited: {unclear[:5]}"
        )
    return {
        "ok": not failures,
        "failures": failures[:50],
        "attempts_checked": len(claimed),
        "attempts_in_database": sum(
            1 for found in stored.values() for status, _, _ in found if status == "submitted"
        ),
        "wrong_scores": wrong_scores,
        "phantom_attempts": len(phantom),
        "demo_requests": len(demos),
        "database_locked_in_logs": locked,
    }


def markdown(report: dict) -> str:
    s = report["summary"]
    v = report["verdict"]
    lines = [
        f"Load test {report['started_at']}: {s['learners']} learners for "
        f"{s['duration_s']:.0f} s ({report['database']}, gunicorn {report['web']}, "
        f"model worker {report['worker']}, {report['cpus']} CPUs shared with the driver)",
        "",
        f"- requests: {s['requests']} ({s['requests_per_s']}/s), statuses "
        + ", ".join(f"{k}: {n}" for k, n in s["status_counts"].items()),
        f'- 5xx: {s["server_errors"]}; "{LOCKED}" in the web and worker logs: '
        f"{v.get('database_locked_in_logs', 0)}",
        f"- attempts submitted: {v['attempts_checked']}, in the database exactly once with "
        f"the right score: {v['attempts_checked'] - v['wrong_scores']} "
        f"(phantom attempts: {v['phantom_attempts']})",
        "- demo requests: " + ", ".join(f"{k} {n}" for k, n in sorted(s["demo_outcomes"].items())),
        f"- verdict: {'PASS' if v['ok'] else 'FAIL'}",
        "",
        "| request | count | p50 ms | p95 ms | p99 ms | max ms | statuses |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for label, row in s["by_label"].items():
        statuses = ", ".join(f"{k}×{n}" for k, n in sorted(row["statuses"].items()))
        lines.append(
            f"| {label} | {row['count']} | {row['p50_ms']:.0f} | {row['p95_ms']:.0f} | "
            f"{row['p99_ms']:.0f} | {row['max_ms']:.0f} | {statuses} |"
        )
    if v["failures"]:
        lines += ["", "Failures:", *[f"- {failure}" for failure in v["failures"]]]
    return "\n".join(lines) + "\n"


def run_load(
    *,
    learners: int,
    duration: float,
    db: str,
    out: Path,
    web_workers: int,
    web_threads: int,
    worker_concurrency: int,
    models_dir: Path | None = None,
    keep: bool = False,
) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="load-", dir=out))
    if db == "auto":
        db = "postgres" if postgres_available() else "sqlite"
    redis_server = RedisServer(workdir)
    database = Database(db, workdir)
    web = worker = None
    try:
        if models_dir is None:
            models_dir = workdir / "models"
            if not (models_dir / "tiny").exists():
                env = site_env(settings="config.settings.test")
                run_python(env, "manage.py", "build_tiny_models", "--dir", str(models_dir))
        redis_server.start()
        config = SiteConfig(
            database_url=database.url,
            redis_url=redis_server.url(0),
            models_dir=models_dir,
            static_root=workdir / "static",
            settings_module="config.settings.production"
            if db == "postgres"
            else "config.settings.local",
        )
        config.manage("migrate", "--noinput")
        config.manage("load_course")
        if db == "postgres":
            config.manage("collectstatic", "--noinput")
        plan = build_plan(config, database, learners)
        plan_path = workdir / "plan.json"
        plan_path.write_text(json.dumps(plan))

        web = config.web(workdir, workers=web_workers, threads=web_threads).start()
        worker = config.model_worker(workdir, concurrency=worker_concurrency).start()
        worker.wait_ready()

        started_at = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        results_path = out / "results.json"
        run_python(
            os.environ,
            "-m",
            "tools.load_driver",
            "--base-url",
            web.base_url,
            "--plan",
            str(plan_path),
            "--learners",
            str(learners),
            "--duration",
            str(duration),
            "--out",
            str(results_path),
            timeout=duration + 300,
        )
        results = json.loads(results_path.read_text())
        logs = "\n".join(thing.log() for thing in (web, worker) if thing is not None)
        verdict = verify(results, database, logs=logs)
        report = {
            "started_at": started_at,
            "database": "PostgreSQL" if db == "postgres" else "SQLite (WAL)",
            "web": f"{web_workers}×{web_threads} threads",
            "worker": f"-P threads -c {worker_concurrency}, tiny profile",
            "cpus": os.cpu_count(),
            "summary": results["summary"],
            "verdict": verdict,
        }
        (out / "report.json").write_text(json.dumps(report, indent=1))
        (out / "report.md").write_text(markdown(report))
        if not verdict["ok"]:
            (out / "web.log").write_text(web.log() if web else "")
        return report
    finally:
        for thing in (worker, web):
            if thing is not None:
                with contextlib.suppress(Exception):
                    thing.stop()
        redis_server.stop()
        database.drop()
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Load-test the site (see the module docs).")
    parser.add_argument("--learners", type=int, default=50)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--db", choices=["auto", "postgres", "sqlite"], default="auto")
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--web-threads", type=int, default=8)
    parser.add_argument("--worker-concurrency", type=int, default=4)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    args = parser.parse_args(argv)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    out = args.out or ROOT / "var" / "load-test" / stamp
    started = time.monotonic()
    report = run_load(
        learners=args.learners,
        duration=args.duration,
        db=args.db,
        out=out,
        web_workers=args.web_workers,
        web_threads=args.web_threads,
        worker_concurrency=args.worker_concurrency,
        keep=args.keep,
    )
    print(markdown(report))
    print(f"Report: {out / 'report.md'} (whole run {time.monotonic() - started:.0f} s)")
    return 0 if report["verdict"]["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
