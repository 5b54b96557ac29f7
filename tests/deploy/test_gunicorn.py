"""The web tier as the image runs it: the Dockerfile's CMD, production settings, real HTTP."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from .helpers import (
    OPERATOR_ENV,
    ROOT,
    dockerfile_instructions,
    exec_form,
    healthcheck_python_snippets,
    interpolate,
    load_compose,
)

HOST = "bertgpt.example.org"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def image_cmd() -> list[str]:
    (cmd,) = [args for keyword, args in dockerfile_instructions() if keyword == "CMD"]
    return exec_form(cmd)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def fetch(url: str, headers: dict[str, str] | None = None):
    opener = urllib.request.build_opener(NoRedirect)
    request = urllib.request.Request(url, headers={"Host": HOST, **(headers or {})})  # noqa: S310
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("web")
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp),
        "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'site'}",
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": HOST,
        "DATABASE_URL": f"sqlite:///{tmp / 'db.sqlite3'}",
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "STATIC_ROOT": str(tmp / "static"),
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "1",
        "GUNICORN_THREADS": "2",
    }
    collect = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert collect.returncode == 0, collect.stderr
    cmd = image_cmd()
    assert cmd[0] == "gunicorn"
    gunicorn = Path(sys.executable).with_name("gunicorn")
    log = (tmp / "gunicorn.log").open("w")
    process = subprocess.Popen(
        [str(gunicorn), *cmd[1:]], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if fetch(base + "/healthz")[0] == 200:
                break
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            log.close()
            pytest.fail("gunicorn did not start:\n" + (tmp / "gunicorn.log").read_text())
        time.sleep(0.2)
    yield {"base": base, "port": port, "env": env, "log": tmp / "gunicorn.log", "tmp": tmp}
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
        log.close()


def access_log_lines(web) -> list[dict]:
    lines = []
    for line in web["log"].read_text().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("logger") == "gunicorn.access":
            lines.append(record)
    return lines


def test_healthz_answers_over_plain_http(web):
    status, headers, body = fetch(web["base"] + "/healthz")

    assert (status, body) == (200, b"ok")
    assert headers["X-Request-ID"]
    assert "Content-Security-Policy" in headers


def test_pages_redirect_to_https_unless_the_proxy_says_https(web):
    status, headers, _ = fetch(web["base"] + "/")

    assert status == 301
    assert headers["Location"] == f"https://{HOST}/"


def test_unknown_hosts_are_refused(web):
    status, _, _ = fetch(web["base"] + "/healthz", {"Host": "evil.example.com"})

    assert status == 400


def test_hsts_and_security_headers_on_https_responses(web):
    status, headers, _ = fetch(web["base"] + "/healthz", {"X-Forwarded-Proto": "https"})

    assert status == 200
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"]


def test_static_files_are_hashed_compressed_and_cached_forever(web):
    manifest = json.loads((web["tmp"] / "static" / "staticfiles.json").read_text())
    hashed = manifest["paths"]["css/site.css"]
    assert hashed != "css/site.css"

    status, headers, body = fetch(
        web["base"] + "/static/" + hashed,
        {"X-Forwarded-Proto": "https", "Accept-Encoding": "gzip"},
    )

    assert status == 200
    assert headers["Content-Encoding"] == "gzip"
    assert "immutable" in headers["Cache-Control"]
    assert body


def test_access_log_is_json_with_the_request_id(web):
    fetch(web["base"] + "/healthz?probe=1", {"X-Request-ID": "trace-42"})
    time.sleep(0.3)

    lines = [line for line in access_log_lines(web) if line.get("request_id") == "trace-42"]

    assert len(lines) == 1
    assert lines[0]["path"] == "/healthz"
    assert lines[0]["status"] == 200
    assert lines[0]["method"] == "GET"
    assert isinstance(lines[0]["duration_ms"], int)


def test_uses_threaded_workers(web):
    text = web["log"].read_text()

    assert "Using worker: gthread" in text


def test_the_compose_healthcheck_passes_against_it(web):
    services = interpolate(load_compose(), {**OPERATOR_ENV, "ALLOWED_HOSTS": f".{HOST},other"})
    (snippet,) = healthcheck_python_snippets(services["services"]["web"])
    snippet = snippet.replace("127.0.0.1:8000", f"127.0.0.1:{web['port']}")
    env = {**web["env"], "ALLOWED_HOSTS": f".{HOST},other"}

    ok = subprocess.run([sys.executable, "-c", snippet], env=env, timeout=30, check=False)
    wrong_port = subprocess.run(
        [sys.executable, "-c", snippet.replace(str(web["port"]), str(free_port()))],
        env=env,
        capture_output=True,
        timeout=30,
        check=False,
    )

    assert ok.returncode == 0
    assert wrong_port.returncode != 0
