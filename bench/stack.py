"""The real site, started the way it is deployed: gunicorn (the deploy config) and a Celery
model worker (threads pool), against the benchmark's Redis db and scratch database.

Both are the process harness's (``tools/harness``): subprocesses in their own process
groups, always stopped as groups. The HTTP client here is the standard library's, one
keep-alive connection per client thread, with a CSRF cookie and header like a browser's.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import secrets
import string
from pathlib import Path
from urllib.parse import urlencode

import redis

from bench.common import Config
from tools.harness import CeleryWorker, Gunicorn, run_python, site_env, unique_hostname

CLEARED_ENV = (
    "INFERENCE_TEST_TOKEN_DELAY_MS",  # a test hook that slows generation down
    "TORCH_THREADS",
    "CACHE_URL",
    "DJANGO_DEBUG",
)


def base_env(cfg: Config, *, database_url: str | None = None, **extra: str) -> dict:
    values = {
        "DATABASE_URL": database_url or f"sqlite:///{cfg.work_dir / 'demo.sqlite3'}",
        "MODELS_DIR": str(cfg.models_dir),
        "INFERENCE_PROFILE": "tiny",
        "TOKENIZERS_PARALLELISM": "false",
        "STATIC_ROOT": str(cfg.work_dir / "static"),
        **extra,
    }
    return site_env(drop=CLEARED_ENV, settings="bench.settings", redis_url=cfg.redis_url, **values)


def collect_static(cfg: Config) -> None:
    """The hashed, compressed static files production's manifest storage needs (once a run)."""
    if (cfg.work_dir / "static" / "staticfiles.json").is_file():
        return
    run_python(base_env(cfg), "manage.py", "collectstatic", "--noinput", "-v", "0", timeout=600)


def flush_redis(cfg: Config) -> None:
    redis.Redis.from_url(cfg.redis_url, socket_connect_timeout=1).flushdb()


def start_web(
    cfg: Config, *, name: str, database_url: str | None = None, queue: str = "inference"
) -> Gunicorn:
    """gunicorn with the deploy config (gthread, 2 processes x 8 threads as in compose),
    sending demos to ``queue``; started and answering ``/healthz``."""
    collect_static(cfg)
    env = base_env(cfg, database_url=database_url, BENCH_INFERENCE_QUEUE=queue, LOG_FORMAT="json")
    return Gunicorn(
        env,
        cfg.logs_dir / f"{name}.log",
        workers=int(os.environ.get("BENCH_WEB_CONCURRENCY", "2")),
        threads=int(os.environ.get("BENCH_GUNICORN_THREADS", "8")),
        name=name,
    ).start()


def start_worker(
    cfg: Config,
    *,
    concurrency: int,
    batching: str | None = None,
    name: str,
    queue: str = "inference",
    wait: bool = True,
) -> CeleryWorker:
    """A model worker as compose's ``worker-cpu`` runs it, consuming ``queue``; waits for
    its heartbeat's ``ready: true`` unless ``wait`` is false (then call ``wait_ready``).

    ``batching`` sets ``INFERENCE_BATCHING`` (None: the worker's default)."""
    env = base_env(cfg, INFERENCE_WORKERS_PER_MACHINE="1", BENCH_INFERENCE_QUEUE=queue)
    env.pop("INFERENCE_BATCHING", None)
    if batching is not None:
        env["INFERENCE_BATCHING"] = batching
    worker = CeleryWorker(
        env,
        cfg.logs_dir / f"{name}.log",
        queue=queue,
        concurrency=concurrency,
        hostname=unique_hostname("bench"),
        name=name,
        options=["--prefetch-multiplier=1"],
    ).start()
    if wait:
        wait_ready(worker)
    return worker


def wait_ready(worker: CeleryWorker) -> None:
    """Until its heartbeat says ``ready: true``; ``worker.ready_seconds`` is the time from
    its start (to 50 ms) and ``worker.ready_info`` that heartbeat."""
    worker.wait_ready(timeout=300, interval=0.05)


# --- HTTP client ------------------------------------------------------------------------------

_CSRF_ALPHABET = string.ascii_letters + string.digits
POLL_RE = re.compile(r'hx-get="([^"]*/poll/[^"]*)"')


class Client:
    """One keep-alive HTTP/1.1 connection to the site on loopback, with a CSRF cookie."""

    def __init__(self, port: int, *, timeout: float = 60.0) -> None:
        self.port = port
        self.timeout = timeout
        self.csrf = "".join(secrets.choice(_CSRF_ALPHABET) for _ in range(32))
        self.conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        return self.conn

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def request(
        self, method: str, path: str, *, body: bytes | None = None, headers: dict | None = None
    ) -> tuple[int, dict, bytes]:
        all_headers = {
            "Host": "127.0.0.1",
            "Cookie": f"csrftoken={self.csrf}",
            "X-CSRFToken": self.csrf,
            **(headers or {}),
        }
        for attempt in range(2):
            conn = self._connection()
            try:
                conn.request(method, path, body=body, headers=all_headers)
                response = conn.getresponse()
                data = response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # The server closed an idle keep-alive connection: reconnect once.
                self.close()
                if attempt:
                    raise
                continue
            if response.getheader("Connection", "").lower() == "close":
                self.close()
            return response.status, dict(response.getheaders()), data
        raise RuntimeError("unreachable")

    def get(self, path: str, **headers: str) -> tuple[int, dict, bytes]:
        return self.request("GET", path, headers=headers)

    def post_json(self, path: str, data: dict) -> tuple[int, dict]:
        status, _, body = self.request(
            "POST",
            path,
            body=json.dumps(data).encode(),
            headers={"Content-Type": "application/json"},
        )
        return status, json.loads(body or b"{}")

    def post_form(self, path: str, data: dict, **headers: str) -> tuple[int, dict, bytes]:
        return self.request(
            "POST",
            path,
            body=urlencode(data).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded", **headers},
        )

    def get_json(self, path: str) -> tuple[int, dict]:
        status, _, body = self.get(path)
        return status, json.loads(body or b"{}")

    def sse(self, path: str, on_event) -> None:
        """Read a text/event-stream on a fresh connection, calling ``on_event(name, data)``
        for each event as it arrives, until the server ends it or ``on_event`` says stop."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        try:
            conn.request("GET", path, headers={"Host": "127.0.0.1", "Accept": "text/event-stream"})
            response = conn.getresponse()
            if response.status != 200:
                raise RuntimeError(f"SSE {path} answered {response.status}: {response.read()!r}")
            name, data_lines = None, []
            while True:
                line = response.readline()
                if not line:
                    return
                line = line.rstrip(b"\r\n")
                if not line:
                    if name is not None or data_lines:
                        data = json.loads(b"\n".join(data_lines)) if data_lines else None
                        if on_event(name or "message", data) is False:
                            return
                    name, data_lines = None, []
                elif line.startswith(b"event:"):
                    name = line[6:].strip().decode()
                elif line.startswith(b"data:"):
                    data_lines.append(line[5:].lstrip())
        finally:
            conn.close()


def events_of(redis_url: str, task_id: str) -> list[dict]:
    """The task's events straight from Redis (read after the timed part)."""
    client = redis.Redis.from_url(redis_url, socket_connect_timeout=1)
    return [
        json.loads(fields[b"e"]) for _, fields in client.xrange(f"demo:events:{task_id}", "-", "+")
    ]


def poll_path(html: bytes) -> str | None:
    match = POLL_RE.search(html.decode(errors="replace"))
    return match.group(1).replace("&amp;", "&") if match else None


def worker_pids(worker: CeleryWorker) -> list[int]:
    """The worker's process and its children (a threads pool has none)."""
    import psutil

    if worker.pid is None:
        return []
    try:
        root = psutil.Process(worker.pid)
    except psutil.NoSuchProcess:
        return []
    return [root.pid, *(child.pid for child in root.children(recursive=True))]


def memory_of(pid: int) -> dict:
    import psutil

    info = psutil.Process(pid).memory_full_info()
    return {"rss": int(info.rss), "uss": int(info.uss), "pss": int(getattr(info, "pss", 0))}


def scratch_sqlite(cfg: Config, name: str) -> Path:
    path = cfg.work_dir / name
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return path
