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

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def answers(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_devstack_runs_the_whole_site_and_stops_everything(tiny_models_dir, tmp_path):
    web_port, dead_redis_port = free_port(), free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
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
