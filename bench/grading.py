"""Free-text grades: how long a learner waits for the grade of an "explain in your words"
answer, from pressing Submit to seeing it on the result page.

The stack is the deployed one: gunicorn (deploy config, production settings) on a scratch
SQLite database loaded with the course, the model worker that the round-trip section started
(threads pool; its ``encoder`` role is the real all-MiniLM-L6-v2 that grades answers), and a
default-queue worker, as compose runs one, that records grades through the grading task's
link. Each learner (an anonymous session of its own, ``bench.pages --prepare``) submits an
open attempt of the first lesson's quiz, whose "explain in your words" question gets a real
answer, then loads the result page and asks its result block, as htmx does, until the block
says nothing waits (HTTP 286, htmx's "stop polling").

Three series, each submit timed from sending the POST:

- ``ready``: the block asked every ``FAST_POLL_S`` from the page's load on, one learner at a
  time: what the site takes to have the grade ready (queueing, the worker, the recording);
- ``ready_concurrent``: the same with ``CONCURRENT`` learners submitting at once;
- ``seen``: the block asked on the page's own schedule (its ``hx-trigger``, read from the
  page: a first ask after ``load delay`` when it has one, then ``every`` N seconds), one
  learner at a time: when a learner in a browser sees the grade.
"""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path

from bench.common import Config, log, summary
from bench.load import CSRF_TOKEN
from bench.pages import FREE_TEXT_ANSWER
from bench.stack import Client, base_env, scratch_sqlite, start_web
from tools.harness import CeleryWorker, run_python, unique_hostname

FAST_POLL_S = 0.05
CONCURRENT = 4
GIVE_UP_S = 60.0
RESULT_BLOCK_RE = re.compile(
    r'<div id="attempt-result"[^>]*\bhx-get="(?P<url>[^"]+)"[^>]*\bhx-trigger="(?P<trigger>[^"]+)"'
)


class GradingError(RuntimeError):
    pass


def schedule(trigger: str) -> tuple[float, float]:
    """(first ask, interval) in seconds from an ``hx-trigger`` such as "load delay:500ms,
    every 2s" (no load trigger: the first ask comes after one interval, as htmx does)."""

    def seconds(value: str, unit: str) -> float:
        return float(value) / 1000 if unit == "ms" else float(value)

    every = re.search(r"every\s+([\d.]+)(ms|s)\b", trigger)
    if every is None:
        raise GradingError(f"the result block doesn't poll: hx-trigger={trigger!r}")
    interval = seconds(*every.groups())
    load = re.search(r"\bload(?:\s+delay:([\d.]+)(ms|s))?", trigger)
    if load is None:
        return interval, interval
    return (seconds(*load.groups()) if load.group(1) else 0.0), interval


def one_submit(port: int, line: str, *, page_schedule: bool) -> dict:
    """Submit one attempt, load its result page, ask its result block until the grade is
    there; the times (ms from sending the submit) of each step."""
    path, cookie, body = line.rstrip("\n").split("\t")
    # the learner's own session cookie (which carries the CSRF cookie) on a keep-alive client
    learner = Client(port, timeout=30)
    as_learner = {"Cookie": cookie, "X-CSRFToken": CSRF_TOKEN}
    try:
        began = time.perf_counter()
        status, headers, _ = learner.request(
            "POST",
            path,
            body=body.encode(),
            headers={**as_learner, "Content-Type": "application/x-www-form-urlencoded"},
        )
        if status != 302:
            raise GradingError(f"submit answered {status}, not a redirect to the result")
        result_path = headers.get("Location", "")
        submitted = time.perf_counter()
        status, _, page = learner.request("GET", result_path, headers=as_learner)
        if status != 200:
            raise GradingError(f"result page answered {status}")
        loaded = time.perf_counter()
        block = RESULT_BLOCK_RE.search(page.decode(errors="replace"))
        asks = 0
        if block is not None:  # no block that polls: the grade was there at once
            url = block.group("url").replace("&amp;", "&")
            first, interval = (
                schedule(block.group("trigger")) if page_schedule else (0.0, FAST_POLL_S)
            )
            next_ask = loaded + first
            while True:
                pause = next_ask - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
                status, _, _ = learner.request(
                    "GET", url, headers={**as_learner, "HX-Request": "true"}
                )
                asks += 1
                if status == 286:
                    break
                if status not in (200, 204):
                    raise GradingError(f"result block answered {status}")
                if time.perf_counter() - began > GIVE_UP_S:
                    raise GradingError(f"no grade after {GIVE_UP_S:.0f} s")
                next_ask += interval
        done = time.perf_counter()
        return {
            "submit_ms": round((submitted - began) * 1000, 2),
            "page_ms": round((loaded - began) * 1000, 2),
            "grade_ms": round((done - began) * 1000, 2),
            "asks": asks,
            "graded_before_page": block is None,
            "trigger": block.group("trigger") if block is not None else None,
        }
    finally:
        learner.close()


def series(port: int, lines: list[str], *, concurrency: int, page_schedule: bool) -> dict:
    rows: list[dict] = []
    errors: list[str] = []
    lock = threading.Lock()
    queue = list(lines)

    def worker() -> None:
        while True:
            with lock:
                if not queue:
                    return
                line = queue.pop()
            try:
                row = one_submit(port, line, page_schedule=page_schedule)
            except (GradingError, OSError) as exc:
                with lock:
                    errors.append(str(exc)[:200])
                continue
            with lock:
                rows.append(row)

    began = time.perf_counter()
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(GIVE_UP_S * len(lines) + 30)
    return {
        "concurrency": concurrency,
        "submits": len(rows),
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
        "seconds": round(time.perf_counter() - began, 2),
        "submit_ms": summary([r["submit_ms"] for r in rows]),
        "grade_ms": summary([r["grade_ms"] for r in rows]),
        "asks": summary([r["asks"] for r in rows]),
        "graded_before_page": sum(r["graded_before_page"] for r in rows),
        "triggers": sorted({r["trigger"] for r in rows if r["trigger"]}),
    }


def run(cfg: Config, *, model_worker: CeleryWorker) -> dict:
    """The three series against ``model_worker`` (already ready), on a database of its own."""
    if cfg.smoke:
        counts = {"ready": 3, "ready_concurrent": 4, "seen": 2}
    else:
        counts = {"ready": 30, "ready_concurrent": 32, "seen": 10}
    database = scratch_sqlite(cfg, "grading.sqlite3")
    database_url = f"sqlite:///{database}"
    env = base_env(cfg, database_url=database_url)
    total = sum(counts.values()) + 2  # two warm-up submits
    log(f"grading: migrate, load the course, create {total} open attempts")
    run_python(env, "manage.py", "migrate", "--noinput")
    run_python(env, "manage.py", "load_course")
    pool_file = cfg.work_dir / "grading-pool.tsv"
    quiz = json.loads(
        run_python(env, "-m", "bench.pages", "--prepare", str(total), str(pool_file)).splitlines()[
            -1
        ]
    )
    if "free_text" not in quiz["question_kinds"]:
        raise GradingError(f"the {quiz['lesson']} quiz has no free-text question to grade")
    lines = Path(pool_file).read_text().splitlines()
    web = start_web(cfg, name="web-grading", database_url=database_url)
    recorder = CeleryWorker(
        env,
        cfg.logs_dir / "worker-default.log",
        queue="default",
        concurrency=2,
        pool=None,
        hostname=unique_hostname("bench-default"),
        name="default worker",
        options=["--prefetch-multiplier=1"],
    ).start()
    try:
        if not model_worker.running():
            raise GradingError("the model worker is not running")
        series(web.port, lines[:2], concurrency=1, page_schedule=False)  # warm-up
        at = 2
        results: dict = {}
        for name, concurrency, page_schedule in (
            ("ready", 1, False),
            ("ready_concurrent", CONCURRENT, False),
            ("seen", 1, True),
        ):
            chunk = lines[at : at + counts[name]]
            at += counts[name]
            log(f"grading: {name}, {len(chunk)} submits, {concurrency} at a time")
            results[name] = series(
                web.port, chunk, concurrency=concurrency, page_schedule=page_schedule
            )
    finally:
        recorder.stop()
        web.stop()
    return {
        "description": (__doc__ or "").split("\n\n")[0].replace("\n", " "),
        "quiz": quiz,
        "answer": FREE_TEXT_ANSWER,
        "fast_poll_ms": FAST_POLL_S * 1000,
        "page_triggers": sorted({t for r in results.values() for t in r["triggers"]}),
        "series": results,
    }
