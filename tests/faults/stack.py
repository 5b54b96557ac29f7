"""What the fault and load tests add to the process harness (``tools/harness``: Redis,
gunicorn, Celery workers, the site's environment): a throw-away PostgreSQL database, a
small cookie-keeping HTTP client that behaves like a browser, readers of the quiz pages, and
a TCP proxy a test can cut.

Nothing here is a pytest fixture: ``tests/faults/conftest.py`` and the load test
(``tools/load_test.py``, ``tools/load_driver.py``) build on these classes.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import socket
import time
import urllib.parse
import uuid
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

from tests.postgres_support import PG_HOST, PG_PORT, PG_USER
from tools.harness import HOST, free_port

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
