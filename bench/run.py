"""Run every benchmark and write the results JSON and the Markdown report with plots.

    python -m bench.run            # make bench: full-size models, bench/results/<date>.*
    python -m bench.run --smoke    # make bench-smoke: tiny models, seconds, bench/results/tmp/

Sections (``--only`` picks some): ``roundtrip`` (demo round trip vs in-process),
``streaming`` (SSE tokens/s vs model.generate), ``batching`` (throughput at 1/4/16 clients,
worker batching on/off), ``footprint`` (worker memory vs weights, time to ready),
``grading`` (quiz submit to free-text grade seen, graded by the real MiniLM), ``pages``
(gunicorn + wrk: lesson page, quiz submit, /healthz on SQLite and PostgreSQL),
``training`` (build_demo_models' own records).

Every process it starts (gunicorn, Celery workers, wrk) runs in its own process group and
is stopped on the way out, also on Ctrl-C. It uses its own Redis db (``BENCH_REDIS_DB``,
else ``TEST_REDIS_DB``, else 11; never 0, 1 or 15), which it flushes, and scratch databases
it removes (a SQLite file, and ``BENCH_POSTGRES_URL``, default
``postgres://postgres@127.0.0.1:5432/bench``, created and dropped). Models, logs and
scratch files go to ``BENCH_WORK_DIR`` (default ``bench/results/tmp/{smoke,full}``).
A section that fails is recorded in the JSON with its error and makes the exit status 1.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
import traceback
from pathlib import Path

import redis

from bench.common import (
    ROOT,
    OtherWorkMonitor,
    cleanup_on_signals,
    git_commit,
    git_dirty,
    log,
    machine_info,
    make_config,
    other_work,
    write_json,
)

SECTIONS = ("roundtrip", "streaming", "grading", "batching", "footprint", "pages", "training")


def _configure_django(cfg) -> Path:
    """Configure this process like the bench worker (for the in-process baseline)."""
    site_models = Path(os.environ.get("MODELS_DIR") or ROOT / "var" / "models")
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "MODELS_DIR": str(cfg.models_dir),
            "INFERENCE_PROFILE": "tiny",
            "REDIS_URL": cfg.redis_url,
            "CELERY_BROKER_URL": cfg.redis_url,
            "CELERY_RESULT_BACKEND": cfg.redis_url,
            "TOKENIZERS_PARALLELISM": "false",
            "DATABASE_URL": os.environ.get("BENCH_DATABASE_URL")
            or f"sqlite:///{cfg.work_dir / 'demo.sqlite3'}",
            "STATIC_ROOT": str(cfg.work_dir / "static"),
        }
    )
    os.environ.pop("TORCH_THREADS", None)
    for path in (str(ROOT), str(ROOT / "site")):
        if path not in sys.path:
            sys.path.insert(0, path)
    import django

    django.setup()
    return site_models


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--smoke", action="store_true", help="tiny models, few repetitions")
    parser.add_argument("--only", help=f"comma-separated sections of: {', '.join(SECTIONS)}")
    parser.add_argument("--out", type=Path, help="folder for the JSON, report and plots")
    parser.add_argument("--name", help="file stem (default: the date, or smoke-<date>)")
    parser.add_argument("--reps", type=int, help="override the round-trip repetitions")
    parser.add_argument(
        "--allow-dirty",
        action="store_true",
        help="measure uncommitted changes (the report then says so in its first line)",
    )
    args = parser.parse_args(argv)
    dirty = git_dirty()
    if dirty and not args.allow_dirty and not args.smoke:
        parser.error(
            "the working tree has uncommitted changes: a benchmark measures a commit. Commit "
            "or stash them, or pass --allow-dirty (the report will say the figures are not "
            "of any commit)."
        )

    only = set(SECTIONS if not args.only else args.only.split(","))
    unknown = only - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")
    cfg = make_config(smoke=args.smoke, out_dir=args.out)
    if args.reps:
        cfg.reps = args.reps
        cfg.notes.append(f"Round-trip repetitions set to {args.reps} on the command line.")
    date = dt.date.today().isoformat()
    stem = args.name or (f"smoke-{date}" if cfg.smoke else date)
    cfg.out_dir.mkdir(parents=True, exist_ok=True)
    cfg.work_dir.mkdir(parents=True, exist_ok=True)
    cfg.logs_dir.mkdir(parents=True, exist_ok=True)

    site_models = _configure_django(cfg)
    monitor = OtherWorkMonitor().start()
    started = time.monotonic()
    command = "make bench-smoke" if cfg.smoke else "make bench"
    results: dict = {
        "meta": {
            "date": date,
            "mode": "smoke" if cfg.smoke else "full",
            "command": f"{command} (python -m bench.run{' --smoke' if cfg.smoke else ''})",
            "git_commit": git_commit(),
            "dirty_tree": dirty,
            "machine": machine_info(),
            "sections": sorted(only, key=SECTIONS.index),
            "notes": list(cfg.notes),
            "errors": {},
        },
        "config": cfg.as_dict(),
    }
    errors = results["meta"]["errors"]

    def attempt(name: str, func):
        if name not in only:
            return None
        log(f"--- {name}")
        try:
            return func()
        except KeyboardInterrupt:
            raise
        except Exception as exc:
            errors[name] = f"{type(exc).__name__}: {exc}"
            log(f"{name} FAILED:\n{traceback.format_exc()}")
            return None

    from bench import pages, training
    from bench.stack import flush_redis

    needs_models = only & {"roundtrip", "streaming", "grading", "batching", "footprint"}
    try:
        flush_redis(cfg)
    except redis.RedisError as exc:
        raise SystemExit(
            f"Redis isn't answering at {cfg.redis_url} ({exc}). The benchmarks need a Redis "
            "server on 127.0.0.1:6379 (apt-get install redis-server, or see .ci/run)."
        ) from exc
    with cleanup_on_signals():
        try:
            if needs_models:
                try:
                    _model_sections(cfg, only, results, attempt)
                except KeyboardInterrupt:
                    raise
                except Exception as exc:  # the stack didn't start: every model section fails
                    log(f"model sections FAILED:\n{traceback.format_exc()}")
                    for name in sorted(needs_models):
                        errors.setdefault(name, f"{type(exc).__name__}: {exc}")
            results["pages"] = attempt("pages", lambda: pages.run(cfg))
            results["build_demo_models"] = attempt("training", lambda: training.read(site_models))
        finally:
            flush_redis_quietly(cfg, flush_redis)

    results["meta"]["wall_seconds"] = round(time.monotonic() - started, 1)
    results["meta"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results["meta"]["other_work_at_end"] = other_work()
    results["meta"]["other_work_during_run"] = monitor.stop()
    json_path = cfg.out_dir / f"{stem}.json"
    write_json(json_path, results)
    from bench.report import render

    report = render(results, cfg.out_dir, stem)
    log(f"wrote {json_path.relative_to(ROOT) if json_path.is_relative_to(ROOT) else json_path}")
    log(f"wrote {report.relative_to(ROOT) if report.is_relative_to(ROOT) else report}")
    if errors:
        log(f"sections failed: {', '.join(errors)}")
        return 1
    return 0


def _model_sections(cfg, only: set[str], results: dict, attempt) -> None:
    """Round trip and streaming (one web + the demo worker), then batching (two stacks of
    its own), then the footprint from what was sampled along the way; the in-process
    baseline is loaded once for all of them."""
    from bench import batching, footprint, grading, roundtrip, streaming
    from bench.inprocess import InProcess
    from bench.models import ensure_models
    from bench.stack import flush_redis, start_web, start_worker

    results["models"] = ensure_models(cfg.models_dir, smoke=cfg.smoke)
    inproc = InProcess()
    results["meta"]["torch_threads"] = inproc.threads
    log(f"in-process models loaded (torch threads {inproc.threads})")
    web = worker = None
    try:
        web = start_web(cfg, name="web-demos")
        log(f"starting the model worker (threads pool, -c {cfg.worker_threads})")
        worker = start_worker(cfg, concurrency=cfg.worker_threads, name="worker")
        log(f"worker ready in {worker.ready_seconds} s")
        results["meta"]["demo_worker"] = {
            "concurrency": cfg.worker_threads,
            "pool": "threads",
            "batching": (worker.ready_info or {}).get("batching"),
        }
        samples = [footprint.sample(worker, "ready")]
        results["roundtrip"] = attempt(
            "roundtrip", lambda: roundtrip.run(cfg, web=web, inproc=inproc)
        )
        results["streaming"] = attempt(
            "streaming", lambda: streaming.run(cfg, web=web, inproc=inproc)
        )
        results["grading"] = attempt("grading", lambda: grading.run(cfg, model_worker=worker))
        samples.append(footprint.sample(worker, "after round trips, streaming and grading"))
        first = worker
        worker.stop()
        web.stop()
        worker = web = None
        flush_redis(cfg)  # the batching stacks start with an empty result cache
        results["batching"] = attempt(
            "batching", lambda: batching.run(cfg, inproc=inproc, samples=samples)
        )
        results["footprint"] = attempt(
            "footprint",
            lambda: footprint.analyse(worker=first, samples=samples, base=footprint.baseline(cfg)),
        )
    finally:
        if worker is not None:
            worker.stop()
        if web is not None:
            web.stop()
        inproc.close()


def flush_redis_quietly(cfg, flush) -> None:
    try:
        flush(cfg)
    except Exception as exc:  # Redis gone at the end: nothing left to clean
        log(f"could not flush the bench Redis db: {exc}")


if __name__ == "__main__":
    sys.exit(main())
