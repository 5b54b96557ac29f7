"""Pages under gunicorn: requests per second and p99 for a lesson page, a graded quiz
submission and the trivial ``/healthz`` view (the baseline), on SQLite and PostgreSQL.

For each database: a scratch database (a fresh SQLite file; ``CREATE DATABASE bench`` on the
local PostgreSQL, dropped afterwards) is migrated and loaded with the course (``manage.py
migrate``, ``load_course``); a pool of open quiz attempts is created, one anonymous learner
(its own session) per attempt; gunicorn starts with the deploy config
(``site/config/gunicorn.py``: gthread, 2 processes x 8 threads) with the production settings
(``bench/settings.py`` says what serving plain HTTP over loopback changes); wrk drives it
from a second process over loopback (``bench/pages.lua``): ``/healthz``, the lesson page,
then ``POST /attempts/<token>/submit/`` with the learner's session cookie and CSRF token,
each request grading and closing a different attempt. Afterwards the database is asked how
many attempts were really submitted, and that count is reported beside wrk's. Every question
gets an answer (choices, a short text, a sentence for "explain in your words"; those are
queued for grading by the model worker, as the site does, and are not graded within the
measured request: no model worker runs during this section).

Without wrk (``apt-get install wrk``; ``make bench`` does it) a small Python load
generator stands in and the section says so.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

from bench.common import Config, log, ratio, target
from bench.load import CSRF_TOKEN, WRK_THREADS, run_python_load, run_wrk, wrk_path
from bench.stack import base_env, scratch_sqlite, start_web
from tools.harness import run_python

LESSON_RATIO_TARGET = 0.5  # visitor without a session
LEARNER_RATIO_TARGET = 0.4  # learner with a session
QUIZ_RATIO_TARGET = 0.15
QUIZ_P99_TARGET_MS = 150.0
PAGE_ROUNDS = 5
FREE_TEXT_ANSWER = (  # an answer to the first lesson's "explain in your words" question
    "The training targets come from the text itself: hide a word or take the next one and make "
    "the model predict it, so nobody has to label data and it can learn from huge amounts of text."
)


# --- Preparing a database (runs in a subprocess configured for that database) --------------


def _prepare_main(pool: int, out_path: Path) -> None:
    import random
    import uuid
    from datetime import timedelta

    import django

    django.setup()
    from django.contrib.sessions.backends.db import SessionStore
    from django.contrib.sessions.models import Session
    from django.db import transaction
    from django.utils import timezone

    from lessons.forms import question_field_name
    from lessons.models import Attempt, Question, Quiz

    quiz = (
        Quiz.objects.filter(questions__is_active=True)
        .select_related("lesson")
        .order_by("lesson__order", "lesson__id")
        .first()
    )
    if quiz is None:
        raise SystemExit("No quiz with questions: did load_course run?")
    questions = list(
        quiz.questions.filter(is_active=True)
        .prefetch_related("choices", "accepted_answers")
        .order_by("order", "id")
    )
    body: list[tuple[str, str]] = []
    for question in questions:
        name = question_field_name(question.pk)
        choices = sorted(question.choices.all(), key=lambda c: (c.order, c.pk))
        if question.kind == Question.Kind.MULTIPLE and choices:
            body.extend((name, str(choice.pk)) for choice in choices[:2])
        elif choices:  # single choice, true/false
            body.append((name, str(choices[0].pk)))
        elif question.kind == Question.Kind.SHORT_TEXT:
            accepted = list(question.accepted_answers.all())
            body.append((name, accepted[0].text if accepted else "attention"))
        else:  # explain in your words (free text), or any other text question
            body.append((name, FREE_TEXT_ANSWER))
    from urllib.parse import urlencode

    encoded_body = urlencode(body)
    rng = random.Random(7)
    expire = timezone.now() + timedelta(days=1)
    sessions, attempts = [], []
    for _ in range(pool):
        anon_id = str(uuid.uuid4())
        key = uuid.uuid4().hex
        sessions.append(
            Session(
                session_key=key,
                session_data=SessionStore().encode({"learner_id": anon_id}),
                expire_date=expire,
            )
        )
        attempts.append(
            Attempt(
                quiz=quiz, anon_id=anon_id, shuffle_seed=rng.randrange(2**31), token=uuid.uuid4()
            )
        )
    with transaction.atomic():
        Session.objects.bulk_create(sessions, batch_size=500)
        Attempt.objects.bulk_create(attempts, batch_size=500)
    with out_path.open("w") as handle:
        for session, attempt in zip(sessions, attempts, strict=True):
            cookie = f"sessionid={session.session_key}; csrftoken={CSRF_TOKEN}"
            handle.write(f"/attempts/{attempt.token}/submit/\t{cookie}\t{encoded_body}\n")
    print(
        json.dumps(
            {
                "lesson": quiz.lesson.slug,
                "lesson_path": quiz.lesson.get_absolute_url(),
                "questions": len(questions),
                "question_kinds": sorted({q.kind for q in questions}),
                "pool": pool,
            }
        )
    )


def _count_main() -> None:
    import django

    django.setup()
    from lessons.models import Answer, Attempt

    print(
        json.dumps(
            {
                "submitted": Attempt.objects.filter(status=Attempt.Status.SUBMITTED).count(),
                "open": Attempt.objects.filter(status=Attempt.Status.OPEN).count(),
                "answers": Answer.objects.count(),
            }
        )
    )


# --- Databases -------------------------------------------------------------------------------


def _postgres_admin(url: str):
    import psycopg

    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    return psycopg.connect(admin_url, autocommit=True, connect_timeout=3)


def _postgres_db_name(url: str) -> str:
    name = url.rsplit("/", 1)[1].split("?", 1)[0]
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        raise ValueError(f"Unexpected scratch database name {name!r}")
    return name


def postgres_create(url: str) -> None:
    name = _postgres_db_name(url)
    with _postgres_admin(url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def postgres_drop(url: str) -> None:
    name = _postgres_db_name(url)
    with _postgres_admin(url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _pool(path: Path) -> list[tuple[str, ...]]:
    return [tuple(line.split("\t", 2)) for line in path.read_text().splitlines()]


def _count(cfg: Config, env: dict) -> dict:
    return json.loads(run_python(env, "-m", "bench.pages", "--count").splitlines()[-1])


# --- One database ----------------------------------------------------------------------------


def measure_database(cfg: Config, *, label: str, database_url: str) -> dict:
    env = base_env(cfg, database_url=database_url)
    log(f"pages on {label}: migrate, load the course, create {cfg.quiz_pool} open attempts")
    run_python(env, "manage.py", "migrate", "--noinput")
    run_python(env, "manage.py", "load_course")
    warm_pool = max(50, cfg.quiz_pool // 20)
    pool_file = cfg.work_dir / f"quiz-pool-{label}.tsv"
    warm_file = cfg.work_dir / f"quiz-pool-{label}-warmup.tsv"
    info = json.loads(
        run_python(
            env,
            "-m",
            "bench.pages",
            "--prepare",
            str(cfg.quiz_pool + warm_pool),
            str(pool_file),
        ).splitlines()[-1]
    )
    lines = pool_file.read_text().splitlines(keepends=True)
    warm_file.write_text("".join(lines[:warm_pool]))
    pool_file.write_text("".join(lines[warm_pool:]))

    web = start_web(cfg, name=f"web-pages-{label}", database_url=database_url)
    base_url = f"http://127.0.0.1:{web.port}"
    use_wrk = wrk_path() is not None
    # The lesson page twice: as a first-time visitor (no session: the page kept per lesson,
    # lessons.page_cache) and as a learner with a session (rendered for them every time).
    learner_cookie = lines[0].split("\t")[1]
    targets = {
        "healthz": ("/healthz", ["get"]),
        "lesson": (info["lesson_path"], ["get"]),
        "lesson_session": (info["lesson_path"], ["getcookie", learner_cookie]),
    }
    results: dict = {}
    runs: dict[str, list[dict]] = {name: [] for name in targets}
    try:
        # Each page is measured PAGE_ROUNDS times, the pages interleaved, and the median run
        # is kept: on this shared 2-core machine one 10 s window can be twice as fast as the
        # next for the same page.
        for round_number in range(PAGE_ROUNDS):
            for name, (path, wrk_args) in targets.items():
                if use_wrk:
                    if round_number == 0:
                        run_wrk(base_url + path, 1, cfg.page_connections, wrk_args)  # warm-up
                    run = run_wrk(base_url + path, cfg.page_seconds, cfg.page_connections, wrk_args)
                elif name == "lesson_session":
                    continue  # the Python stand-in sends no cookies
                else:
                    if round_number == 0:
                        run_python_load(web.port, path, 1, cfg.page_connections, None)
                    run = run_python_load(
                        web.port, path, cfg.page_seconds, cfg.page_connections, None
                    )
                runs[name].append(run)
        for name, measured in runs.items():
            if not measured:
                continue
            ordered = sorted(measured, key=lambda run: run["per_second"])
            results[name] = dict(ordered[len(ordered) // 2])
            results[name]["path"] = targets[name][0]
            results[name]["rounds_per_second"] = [run["per_second"] for run in measured]
        # Each round's page against the same round's /healthz (measured a few seconds
        # apart): the median of those ratios, and their spread.
        for name in ("lesson", "lesson_session"):
            if runs[name] and runs["healthz"]:
                results[f"{name}_rounds_vs_healthz"] = round_ratios(runs[name], runs["healthz"])
        quiz_args = ["quiz", "", str(WRK_THREADS), CSRF_TOKEN]
        if use_wrk:
            quiz_args[1] = str(warm_file)
            run_wrk(base_url + "/", 1, min(cfg.page_connections, 4), quiz_args)
        else:
            run_python_load(web.port, "", 1, min(cfg.page_connections, 4), _pool(warm_file))
        before = _count(cfg, env)
        if use_wrk:
            quiz_args[1] = str(pool_file)
            quiz = run_wrk(base_url + "/", cfg.page_seconds, cfg.page_connections, quiz_args)
        else:
            quiz = run_python_load(
                web.port, "", cfg.page_seconds, cfg.page_connections, _pool(pool_file)
            )
        results["quiz_submit"] = quiz
    finally:
        web.stop()
    after = _count(cfg, env)
    quiz["path"] = "/attempts/<token>/submit/"
    quiz["graded_in_database"] = after["submitted"] - before["submitted"]
    quiz["graded_per_second"] = round(quiz["graded_in_database"] / quiz["seconds"], 2)
    results["lesson_vs_healthz"] = results["lesson_rounds_vs_healthz"]["median"]
    # the submits run once (each consumes open attempts): against the median /healthz round
    results["quiz_vs_healthz"] = ratio(
        results["quiz_submit"]["per_second"], results["healthz"]["per_second"]
    )
    if "lesson_session_rounds_vs_healthz" in results:
        results["lesson_session_vs_healthz"] = results["lesson_session_rounds_vs_healthz"]["median"]
    # A page can't be faster than a view that does nothing: if one is, the comparison is
    # broken (the baseline ran extra work, or the windows were too noisy), and it says so.
    results["broken_comparisons"] = [
        name
        for name in ("lesson", "lesson_session")
        if (results.get(f"{name}_vs_healthz") or 0) > 1.0
    ]
    results["lesson_p99_minus_healthz_ms"] = round(
        results["lesson"]["latency_ms"]["p99"] - results["healthz"]["latency_ms"]["p99"], 3
    )
    results["quiz"] = info
    return results


def round_ratios(pages: list[dict], baselines: list[dict]) -> dict:
    """Each round's requests/s over the same round's baseline: median, spread, all."""
    values = [
        ratio(page["per_second"], base["per_second"])
        for page, base in zip(pages, baselines, strict=False)
        if base.get("per_second")
    ]
    values = [v for v in values if v is not None]
    if not values:
        return {"median": None, "rounds": []}
    ordered = sorted(values)
    median = ordered[len(ordered) // 2]
    spread = round((ordered[-1] - ordered[0]) / median, 3) if median else None
    return {
        "median": median,
        "min": ordered[0],
        "max": ordered[-1],
        "spread": spread,
        "rounds": values,
    }


def run(cfg: Config) -> dict:
    section: dict = {
        "description": "Requests per second and latency under gunicorn (deploy config) with "
        "the production settings (bench/settings.py lists what loopback changes), load "
        f"from {'wrk' if wrk_path() else 'the Python stand-in (no wrk)'} over loopback, "
        f"{cfg.page_connections} connections, {cfg.page_seconds}s per page after a 1 s warm-up, "
        f"{PAGE_ROUNDS} rounds with the pages interleaved; each page's median round is shown "
        "(all rounds' requests/s in the JSON). "
        + (
            "Each request on a connection of its own, as gunicorn gets them behind the "
            "documented nginx proxy (BENCH_KEEPALIVE=1 keeps connections open)."
            if wrk_path() and os.environ.get("BENCH_KEEPALIVE") != "1"
            else "Keep-alive connections."
        ),
        "tool": "wrk" if wrk_path() else "python-fallback",
        "connections": cfg.page_connections,
        "connection_per_request": bool(wrk_path()) and os.environ.get("BENCH_KEEPALIVE") != "1",
        "wrk_threads": WRK_THREADS if wrk_path() else None,
        "gunicorn": {
            "workers": int(os.environ.get("BENCH_WEB_CONCURRENCY", "2")),
            "threads": int(os.environ.get("BENCH_GUNICORN_THREADS", "8")),
            "worker_class": "gthread",
        },
        "databases": {},
    }
    sqlite_path = scratch_sqlite(cfg, "pages.sqlite3")
    section["databases"]["sqlite"] = measure_database(
        cfg, label="sqlite", database_url=f"sqlite:///{sqlite_path}"
    )
    try:
        postgres_create(cfg.postgres_url)
    except Exception as exc:  # no PostgreSQL here: say so rather than fail the whole run
        section["databases"]["postgresql"] = {"error": f"PostgreSQL unavailable: {exc}"}
    else:
        try:
            section["databases"]["postgresql"] = measure_database(
                cfg, label="postgresql", database_url=cfg.postgres_url
            )
        finally:
            postgres_drop(cfg.postgres_url)
    targets = []
    for label, data in section["databases"].items():
        checks = [
            ("lesson_vs_healthz", "visitor without a session", LESSON_RATIO_TARGET),
            ("lesson_session_vs_healthz", "learner with a session", LEARNER_RATIO_TARGET),
        ]
        for key, who, goal in checks:
            if key in data:
                value = data[key]
                targets.append(
                    target(
                        f"lesson page throughput vs /healthz ({label}, {who})",
                        f">= {goal:g}x",
                        value,
                        value is not None and value >= goal and value <= 1.0,
                    )
                )
        if "quiz_vs_healthz" in data:
            value = data["quiz_vs_healthz"]
            targets.append(
                target(
                    f"graded quiz submits vs /healthz ({label})",
                    f">= {QUIZ_RATIO_TARGET:g}x",
                    value,
                    value is not None and value >= QUIZ_RATIO_TARGET,
                )
            )
            p99 = ((data.get("quiz_submit") or {}).get("latency_ms") or {}).get("p99")
            targets.append(
                target(
                    f"graded quiz submit p99 at {cfg.page_connections} connections ({label})",
                    f"<= {QUIZ_P99_TARGET_MS:g} ms",
                    p99,
                    p99 is not None and p99 <= QUIZ_P99_TARGET_MS,
                )
            )
    section["targets"] = targets
    return section


if __name__ == "__main__":
    if sys.argv[1:2] == ["--prepare"]:
        _prepare_main(int(sys.argv[2]), Path(sys.argv[3]))
    elif sys.argv[1:] == ["--count"]:
        _count_main()
    else:
        raise SystemExit("usage: python -m bench.pages --prepare N FILE | --count")
