"""Load generators for the page benchmarks: wrk (with ``bench/pages.lua``), or a small
Python stand-in when wrk is missing. Both report requests, requests per second, latency
percentiles and errors in the same shape.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path

from bench.common import percentile, summary
from bench.stack import Client

WRK_THREADS = 2
CSRF_TOKEN = "benchCsrfToken0123456789abcdefgh"  # noqa: S105 - 32 characters, a test value
LUA = Path(__file__).with_name("pages.lua")


def wrk_path() -> str | None:
    """wrk, unless missing or ``BENCH_LOAD_TOOL=python`` asks for the Python stand-in."""
    if os.environ.get("BENCH_LOAD_TOOL") == "python":
        return None
    return shutil.which("wrk")


def run_wrk(url: str, seconds: float, connections: int, args: list[str]) -> dict:
    cmd = [
        wrk_path() or "wrk",
        f"-t{WRK_THREADS}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "-s",
        str(LUA),
        url,
        "--",
        *args,
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60, check=False)
    match = re.search(r"^WRK_JSON (\{.*\})$", out.stdout, flags=re.MULTILINE)
    if out.returncode != 0 or not match:
        raise RuntimeError(
            f"wrk failed ({out.returncode}):\n{out.stdout[-1500:]}\n{out.stderr[-1500:]}"
        )
    raw = json.loads(match.group(1))
    seconds_run = raw["duration_us"] / 1e6
    errors = sum(raw[key] for key in raw if key.startswith("errors_"))
    return {
        "tool": "wrk",
        "requests": raw["requests"],
        "seconds": round(seconds_run, 3),
        "per_second": round(raw["requests"] / seconds_run, 2),
        "latency_ms": {
            "mean": round(raw["latency_mean_us"] / 1000, 3),
            "p50": round(raw["latency_p50_us"] / 1000, 3),
            "p90": round(raw["latency_p90_us"] / 1000, 3),
            "p99": round(raw["latency_p99_us"] / 1000, 3),
            "max": round(raw["latency_max_us"] / 1000, 3),
        },
        "errors": errors,
        "errors_by_kind": {
            key[7:]: raw[key] for key in raw if key.startswith("errors_") and raw[key]
        },
        "pool_exhausted": raw["exhausted"],
    }


def run_python_load(
    port: int, path: str, seconds: float, connections: int, pool: list | None
) -> dict:
    """Fallback when wrk is missing: closed-loop threads, one keep-alive connection each."""
    latencies: list[float] = []
    errors = [0]
    exhausted = [0]
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds
    items = list(pool or [])

    def loop(offset: int) -> None:
        client = Client(port)
        mine = items[offset::connections]
        index = 0
        try:
            while time.perf_counter() < stop_at:
                start = time.perf_counter()
                if pool is None:
                    status, _, _ = client.get(path)
                else:
                    if index >= len(mine):
                        with lock:
                            exhausted[0] += 1
                        index = 0
                    submit, cookie, body = mine[index]
                    index += 1
                    status, _, _ = client.request(
                        "POST",
                        submit,
                        body=body.encode(),
                        headers={
                            "Cookie": cookie,
                            "X-CSRFToken": CSRF_TOKEN,
                            "Content-Type": "application/x-www-form-urlencoded",
                        },
                    )
                elapsed = (time.perf_counter() - start) * 1000
                with lock:
                    latencies.append(elapsed)
                    if status >= 400:
                        errors[0] += 1
        finally:
            client.close()

    began = time.perf_counter()
    threads = [threading.Thread(target=loop, args=(i,), daemon=True) for i in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 60)
    wall = time.perf_counter() - began
    stats = summary(latencies)
    return {
        "tool": "python-fallback",
        "requests": len(latencies),
        "seconds": round(wall, 3),
        "per_second": round(len(latencies) / wall, 2),
        "latency_ms": {
            "mean": stats["mean"],
            "p50": stats["median"],
            "p90": round(percentile(latencies, 90), 3),
            "p99": round(percentile(latencies, 99), 3),
            "max": stats["max"],
        },
        "errors": errors[0],
        "errors_by_kind": {"status": errors[0]} if errors[0] else {},
        "pool_exhausted": exhausted[0],
    }
