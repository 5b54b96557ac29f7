"""`make container-check`: the production image built and the compose stack run for real here.

    python -m tools.container.check [--models auto|demo|tiny] [--rebuild-base] [--keep]
    python -m tools.container.check --down      # remove a stack --keep left up

1. The images (``images.py``): the bookworm base and its helpers when missing, then the
   project's Dockerfile on them (cached layers: a second run rebuilds only what changed).
2. docker-compose.yml + ``compose.local.yml`` under podman-compose (``stack.py``):
   PostgreSQL and Redis, ``setup`` (migrate, load the course), the models, then web, the
   default worker, beat and the CPU model worker; ``/readyz`` must answer 200.
3. Through the stack, as a learner's browser would: one fill-mask demo (web queues it, the
   model worker answers, the page follows the result to its end) and one quiz submitted
   with half its answers right, whose stored score must be exactly what the answer key
   (read from the stack's database) says.
4. The figures (build time, image size, time to ready, the round trips) printed and
   written to var/container/last-check.json; then everything torn down, also when a step
   fails (``--keep`` leaves the stack up to look at; ``--down`` removes it).

Exit status 0 only when every step passed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from .engine import ROOT, WORK, EngineError, Podman, say
from .images import APP_IMAGE, BuildTimes, make_app, make_base, make_helpers
from .stack import (
    LONG_RUNNING,
    ModelsPlan,
    Stack,
    compose_env,
    ensure_compose,
    models_plan,
    wait_until,
)

READY_TIMEOUT = 600  # model workers load and warm up on 2 shared cores
DEMO = ("fill-mask", {"text": "the cat sat on the [MASK] .", "top_k": "5"})


def readyz(base_url: str) -> tuple[int, dict]:
    """``/readyz``'s status and JSON body (0 and {} while nothing answers)."""
    request = urllib.request.Request(  # noqa: S310 - our own http:// loopback address
        f"{base_url}/readyz", headers={"Host": "localhost"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - same
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        try:
            return exc.code, json.loads(exc.read() or b"{}")
        except ValueError:
            return exc.code, {}
    except (OSError, ValueError):
        return 0, {}


def demo_round_trip(base_url: str) -> dict:
    """One fill-mask demo through web, Redis and the model worker, followed as htmx does."""
    from tests.faults.flows import demo_follow, demo_submit
    from tests.faults.stack import Browser

    kind, data = DEMO
    browser = Browser(base_url, timeout=60)
    started = time.monotonic()
    try:
        submit = demo_submit(browser, kind, data)
        run = demo_follow(browser, submit, timeout=120)
    finally:
        browser.close()
    seconds = time.monotonic() - started
    if run.state != "done":
        status = run.final.status if run.final else None
        tail = run.final.text[-400:] if run.final else ""
        raise EngineError(f"{kind} demo ended {run.state!r} (HTTP {status}): {tail!r}")
    return {"kind": kind, "task_id": run.task_id, "polls": run.polls, "seconds": round(seconds, 2)}


def quiz_round_trip(base_url: str, database_url: str) -> dict:
    """A quiz submitted through the stack with every other answer right; its stored score
    must be what the answer key says (the key read from the stack's database, never from
    the page)."""
    import psycopg

    from tests.faults.flows import (
        KEY_SQL_ACCEPTED,
        KEY_SQL_CHOICES,
        key_from_rows,
        plan_answers,
        quiz_open,
    )
    from tests.faults.stack import Browser

    with psycopg.connect(database_url, connect_timeout=10) as conn:
        row = conn.execute(
            "SELECT l.slug FROM lessons_lesson l JOIN lessons_quiz q ON q.lesson_id = l.id "
            'ORDER BY l."order" LIMIT 1'
        ).fetchone()
        if row is None:
            raise EngineError(
                "the stack's database has no lesson with a quiz: did setup load the course?"
            )
        key = key_from_rows(
            conn.execute(KEY_SQL_CHOICES, (True,)).fetchall(),
            conn.execute(KEY_SQL_ACCEPTED).fetchall(),
        )
    slug = row[0]
    browser = Browser(base_url, timeout=60)
    started = time.monotonic()
    try:
        page = quiz_open(browser, slug)
        if page.response.status != 200 or not page.submit_path:
            raise EngineError(f"quiz page /lessons/{slug}/quiz/: HTTP {page.response.status}")
        data, expected, _ = plan_answers(page, key, right=lambda index: index % 2 == 0)
        response = browser.post(page.submit_path, data)
        if response.status != 302:
            raise EngineError(f"quiz submit: HTTP {response.status}, {response.text[-300:]!r}")
        target = urllib.parse.urlsplit(response.header("location") or "/")
        result = browser.get(urllib.parse.urlunsplit(("", "", target.path, target.query, "")))
        if result.status != 200:
            raise EngineError(f"quiz result page: HTTP {result.status}")
    finally:
        browser.close()
    seconds = time.monotonic() - started
    with psycopg.connect(database_url, connect_timeout=10) as conn:
        stored = conn.execute(
            "SELECT status, score FROM lessons_attempt WHERE token = %s", (page.token,)
        ).fetchall()
    if len(stored) != 1:
        raise EngineError(f"attempt {page.token}: {len(stored)} rows in the database")
    status, score = stored[0]
    if status != "submitted" or score is None or abs(float(score) - expected) > 1e-9:
        raise EngineError(
            f"attempt {page.token}: stored {status} with score {score}, expected {expected}"
        )
    return {
        "lesson": slug,
        "questions": len(page.kinds),
        "score": float(score),
        "seconds": round(seconds, 2),
    }


def bring_up(stack: Stack, plan: ModelsPlan, base_url: str, figures: dict) -> None:
    started = time.monotonic()
    stack.up("postgres", "redis")
    for service in ("postgres", "redis"):
        wait_until(lambda s=service: stack.healthy(s), timeout=120, what=f"{service} healthy")
    figures["db_and_redis_healthy_s"] = round(time.monotonic() - started, 1)
    mark = time.monotonic()
    stack.run_once("setup", timeout=600)
    figures["setup_s"] = round(time.monotonic() - mark, 1)
    if plan.build_in_stack:
        plan.directory.mkdir(parents=True, exist_ok=True)
        plan.directory.chmod(0o777)  # written by the image's unprivileged user
        mark = time.monotonic()
        stack.run_once("models", timeout=900)
        figures["models_s"] = round(time.monotonic() - mark, 1)
    stack.up(*LONG_RUNNING)
    last: dict = {}

    def ready() -> bool:
        status, body = readyz(base_url)
        last.update(status=status, body=body)
        for service in LONG_RUNNING:
            if not stack.running(service):
                raise EngineError(f"{service} stopped:\n{stack.logs(service)}")
        return status == 200

    try:
        wait_until(ready, timeout=READY_TIMEOUT, what="/readyz 200", every=3)
    except EngineError as exc:
        raise EngineError(f"{exc}; last answer {last}") from exc
    figures["time_to_ready_s"] = round(time.monotonic() - started, 1)
    figures["readyz"] = last.get("body", {})
    unhealthy = [service for service in LONG_RUNNING if not stack.healthy(service)]
    if unhealthy:
        raise EngineError(f"compose healthchecks failing: {unhealthy}")


def seconds(value: float | None, otherwise: str = "reused") -> str:
    return otherwise if value is None else f"{value} s"


def summary(figures: dict) -> str:
    build = figures.get("build", {})
    lines = [
        f"date: {figures['date']}  machine: {figures['machine']}",
        f"base image: {seconds(build.get('base_s'))}; "
        f"helper images: {build.get('helpers', 'reused')}",
        f"app image build: {build.get('app_s')} s; "
        f"size: {figures.get('image_mb')} MB ({APP_IMAGE})",
        f"models: {figures.get('models')}",
        f"stack up to /readyz 200: {figures.get('time_to_ready_s')} s "
        f"(PostgreSQL+Redis healthy {figures.get('db_and_redis_healthy_s')} s, "
        f"setup {figures.get('setup_s')} s, models {seconds(figures.get('models_s'), 'mounted')})",
        f"demo round trip: {figures.get('demo')}",
        f"quiz round trip: {figures.get('quiz')}",
        f"result: {'PASSED' if figures.get('ok') else 'FAILED: ' + str(figures.get('error'))}",
    ]
    return "\n".join(lines)


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {model}, {platform.machine()}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="auto", help="auto (default), demo or tiny")
    parser.add_argument("--rebuild-base", action="store_true", help="make every image again")
    parser.add_argument("--keep", action="store_true", help="leave the stack running")
    parser.add_argument("--torch-wheel-dir", type=Path, default=Path("/opt/wheels"))
    parser.add_argument("--down", action="store_true", help="only remove a stack left up")
    args = parser.parse_args(argv)
    if args.down:
        podman = Podman()
        plan = ModelsPlan("tiny", WORK / "models", build_in_stack=True)
        Stack(podman, ensure_compose(podman), compose_env(podman.env, plan)).down()
        return 0

    figures: dict = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "ok": False,
    }
    stack: Stack | None = None
    try:
        podman = Podman()
        figures["storage_driver"] = podman.driver
        plan = models_plan(args.models, host_models=ROOT / "var" / "models", work=WORK)
        figures["models"] = f"{plan.profile} ({plan.directory})"
        times = BuildTimes()
        base_s = make_base(podman, rebuild=args.rebuild_base)
        if base_s is not None:
            times.add("base", base_s)
        make_helpers(podman, times, rebuild=args.rebuild_base)
        times.add("app", make_app(podman, args.torch_wheel_dir))
        podman.run("image", "prune", "--force", check=False, quiet=True, capture=True)
        figures["build"] = {
            f"{k}_s" if k in ("base", "app") else k: v for k, v in times.seconds.items()
        }
        helpers = {k: v for k, v in times.seconds.items() if k not in ("base", "app")}
        figures["build"]["helpers"] = helpers or "reused"
        figures["image_mb"] = round(podman.image_size(APP_IMAGE) / 1e6)

        env = compose_env(podman.env, plan)
        base_url = f"http://127.0.0.1:{env['LOCAL_WEB_PORT']}"
        stack = Stack(podman, ensure_compose(podman), env)
        stack.down()  # what a killed run may have left
        bring_up(stack, plan, base_url, figures)
        figures["demo"] = demo_round_trip(base_url)
        database_url = (
            f"postgresql://bertgpt:{env['POSTGRES_PASSWORD']}"
            f"@127.0.0.1:{env['LOCAL_DB_PORT']}/bertgpt"
        )
        figures["quiz"] = quiz_round_trip(base_url, database_url)
        figures["ok"] = True
    except Exception as exc:  # any failure is reported, the stack still torn down
        known = isinstance(exc, EngineError | OSError | subprocess.SubprocessError)
        figures["error"] = str(exc) if known else f"{type(exc).__name__}: {exc}"
        if not known:
            traceback.print_exc()
        if stack is not None:
            for service in ("postgres", "redis", *LONG_RUNNING):
                say(f"--- last lines of {service} ---\n{stack.logs(service)}")
    finally:
        if stack is not None and not args.keep:
            stack.down()
        WORK.mkdir(parents=True, exist_ok=True)
        (WORK / "last-check.json").write_text(json.dumps(figures, indent=1, default=str))
        print(summary(figures), flush=True)
    return 0 if figures["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
