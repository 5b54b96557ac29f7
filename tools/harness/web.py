"""gunicorn as the image runs it: the deploy config (``site/config/gunicorn.py``: gthread,
the app preloaded) on a free loopback port, ready once ``/healthz`` answers 200."""

from __future__ import annotations

import http.client
from collections.abc import Mapping
from pathlib import Path

from tools.harness.process import HOST, PYTHON, ROOT, SITE_DIR, Process, free_port

GUNICORN_CONFIG = SITE_DIR / "config" / "gunicorn.py"


class Gunicorn:
    """``workers`` processes of ``threads`` threads with ``env`` (which must allow HOST in
    ALLOWED_HOSTS), never recycled mid-run (GUNICORN_MAX_REQUESTS=0)."""

    def __init__(
        self,
        env: Mapping[str, str],
        log: Path,
        *,
        workers: int = 2,
        threads: int = 8,
        port: int | None = None,
        name: str = "gunicorn",
    ) -> None:
        self.port = port or free_port()
        self.workers = workers
        self.threads = threads
        self.env = {
            **env,
            "GUNICORN_BIND": f"{HOST}:{self.port}",
            "WEB_CONCURRENCY": str(workers),
            "GUNICORN_THREADS": str(threads),
            "GUNICORN_MAX_REQUESTS": "0",
        }
        self.log_path = log
        self.name = name
        self.process: Process | None = None

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def healthz(self) -> int:
        """The status ``/healthz`` answers with (OSError when nothing listens yet)."""
        conn = http.client.HTTPConnection(HOST, self.port, timeout=2)
        try:
            conn.request("GET", "/healthz", headers={"Host": HOST})
            return conn.getresponse().status
        finally:
            conn.close()

    def start(self, timeout: float = 60.0) -> Gunicorn:
        """Start it and wait for ``/healthz``; stopped again, and ``NotReady``, when it
        exits first or doesn't answer in time."""
        self.process = Process(
            self.name,
            [
                PYTHON,
                "-m",
                "gunicorn",
                "--config",
                str(GUNICORN_CONFIG),
                "--pythonpath",
                f"{SITE_DIR},{ROOT}",
                "config.wsgi:application",
            ],
            env=self.env,
            cwd=ROOT,
            log=self.log_path,
        )
        self.process.wait_until(
            lambda: self.healthz() == 200,
            timeout=timeout,
            interval=0.2,
            what="/healthz to answer 200",
        )
        return self

    def stop(self, timeout: float = 30.0) -> int | None:
        return self.process.stop(timeout=timeout) if self.process else None

    def log(self, tail: int | None = None) -> str:
        return self.process.log(tail) if self.process else ""
