"""What every benchmark shares: the run's settings, statistics, subprocesses, paths.

Rules the benchmarks follow (see bench/run.py): every figure is a ratio or a difference
against a baseline measured in the same run, with the raw numbers beside it; latencies
are medians and 95th percentiles over repetitions taken after warm-up; subprocesses are
started in their own process group and always killed as a group (``tools/harness``).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tools.harness import ROOT, running_processes, stop_processes

RESULTS_DIR = ROOT / "bench" / "results"
TMP_DIR = RESULTS_DIR / "tmp"

# Redis dbs the benchmark refuses to flush: the development server's broker/results (0)
# and cache (1), and the test suite's default (15).
RESERVED_REDIS_DBS = {0, 1, 15}


@dataclass
class Config:
    """How big a run is. ``smoke`` proves the code paths in seconds; ``full`` measures."""

    smoke: bool
    out_dir: Path
    work_dir: Path
    redis_db: int
    warmup: int
    reps: int  # round-trip repetitions per demo kind and transport
    stream_reps: int
    stream_tokens: int
    batch_seconds: float  # duration of each batching throughput point
    batch_concurrency: tuple[int, ...]
    batch_worker_threads: int
    page_seconds: int  # wrk duration per page and database
    page_connections: int
    quiz_pool: int  # open attempts created for the quiz-submit load
    worker_threads: int  # the model worker's pool size for round trips and streaming
    postgres_url: str
    notes: list[str] = field(default_factory=list)

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:6379/{self.redis_db}"

    @property
    def models_dir(self) -> Path:
        return self.work_dir / "models"

    @property
    def logs_dir(self) -> Path:
        return self.work_dir / "logs"

    def as_dict(self) -> dict:
        data = asdict(self)
        data["out_dir"] = _shown(self.out_dir)
        data["work_dir"] = _shown(self.work_dir)
        data["batch_concurrency"] = list(self.batch_concurrency)
        data.pop("postgres_url")
        return data


def _shown(path: Path) -> str:
    path = Path(path).resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def redis_db_from_env() -> int:
    """``BENCH_REDIS_DB``, else ``TEST_REDIS_DB``, else 11 (never one the site or tests use)."""
    raw = os.environ.get("BENCH_REDIS_DB") or os.environ.get("TEST_REDIS_DB") or "11"
    db = int(raw)
    if db in RESERVED_REDIS_DBS:
        raise SystemExit(
            f"Redis db {db} is used by the development server or the test suite and the "
            "benchmark flushes its db: set BENCH_REDIS_DB to another one (e.g. 11)."
        )
    return db


def make_config(*, smoke: bool, out_dir: Path | None = None) -> Config:
    work = Path(os.environ.get("BENCH_WORK_DIR") or TMP_DIR / ("smoke" if smoke else "full"))
    work = work.resolve()
    out_dir = Path(out_dir).resolve() if out_dir else None
    postgres = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/bench")
    if smoke:
        return Config(
            smoke=True,
            out_dir=out_dir or TMP_DIR,
            work_dir=work,
            redis_db=redis_db_from_env(),
            warmup=2,
            reps=5,
            stream_reps=2,
            stream_tokens=8,
            batch_seconds=0.75,
            batch_concurrency=(1, 4),
            batch_worker_threads=4,
            page_seconds=1,
            page_connections=4,
            quiz_pool=400,
            worker_threads=2,
            postgres_url=postgres,
        )
    return Config(
        smoke=False,
        out_dir=out_dir or RESULTS_DIR,
        work_dir=work,
        redis_db=redis_db_from_env(),
        warmup=5,
        reps=40,
        stream_reps=6,
        stream_tokens=48,
        batch_seconds=6.0,
        batch_concurrency=(1, 4, 16),
        batch_worker_threads=16,
        page_seconds=10,
        page_connections=16,
        quiz_pool=6000,
        worker_threads=2,
        postgres_url=postgres,
    )


# --- Statistics --------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default), ``q`` in 0..100."""
    if not values:
        return float("nan")
    data = sorted(values)
    pos = (len(data) - 1) * q / 100.0
    low = int(pos)
    high = min(low + 1, len(data) - 1)
    return data[low] + (data[high] - data[low]) * (pos - low)


def summary(values: Sequence[float], digits: int = 3) -> dict:
    """``{"n", "median", "p95", "mean", "min", "max"}`` of a list of numbers."""
    values = [float(v) for v in values]
    if not values:
        return {"n": 0, "median": None, "p95": None, "mean": None, "min": None, "max": None}
    return {
        "n": len(values),
        "median": round(percentile(values, 50), digits),
        "p95": round(percentile(values, 95), digits),
        "mean": round(sum(values) / len(values), digits),
        "min": round(min(values), digits),
        "max": round(max(values), digits),
    }


def ratio(value: float | None, baseline: float | None, digits: int = 3) -> float | None:
    if value is None or baseline is None or baseline == 0:
        return None
    return round(value / baseline, digits)


def target(name: str, goal: str, value: float | None, met: bool | None, **extra) -> dict:
    return {"name": name, "target": goal, "value": value, "met": met, **extra}


# --- Machine ------------------------------------------------------------------------------


def other_work(seconds: float = 1.0) -> float:
    """How busy processes outside this benchmark keep the CPUs: the CPU time they used over
    ``seconds``, as a fraction of all cores (0 = quiet, 1 = every core busy). The load
    average can't tell: a minute after the benchmark's own load it still counts it."""
    import psutil

    me = psutil.Process()
    own = {me.pid, *(child.pid for child in me.children(recursive=True))}

    def used() -> dict[int, float]:
        times = {}
        for proc in psutil.process_iter(["pid"]):
            if proc.pid in own:
                continue
            with contextlib.suppress(psutil.Error):
                cpu = proc.cpu_times()
                times[proc.pid] = cpu.user + cpu.system
        return times

    before = used()
    time.sleep(seconds)
    after = used()
    busy = sum(max(0.0, t - before.get(pid, t)) for pid, t in after.items())
    return round(busy / (seconds * (os.cpu_count() or 1)), 3)


class OtherWorkMonitor:
    """Samples ``other_work`` every ``interval`` seconds for the whole run, in a thread.

    ``average_cores`` is the CPU time processes outside the benchmark used per second of
    the run, in cores (0.1 = a tenth of one core busy on average); the report marks the run
    "busy machine" above ``BUSY_CORES``. A one-second sample at the start can't tell: a
    build that starts a minute later would go unnoticed."""

    BUSY_CORES = 0.10

    def __init__(self, interval: float = 5.0) -> None:
        import threading

        self.interval = interval
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="other-work", daemon=True)

    def _run(self) -> None:
        cores = os.cpu_count() or 1
        while not self._stop.is_set():
            # other_work sleeps `interval` seconds between its two readings
            self.samples.append(other_work(self.interval) * cores)

    def start(self) -> OtherWorkMonitor:
        self._thread.start()
        return self

    def stop(self) -> dict:
        self._stop.set()
        self._thread.join(timeout=self.interval * 3)
        samples = self.samples
        average = round(sum(samples) / len(samples), 3) if samples else None
        return {
            "interval_s": self.interval,
            "samples": len(samples),
            "average_cores": average,
            "max_cores": round(max(samples), 3) if samples else None,
            "busy": average is not None and average > self.BUSY_CORES,
        }


def machine_info() -> dict:
    import psutil

    cpu_model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    info = {
        "cpu": cpu_model or platform.processor(),
        "cores": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "other_work_at_start": other_work(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "gpu": None,
    }
    with contextlib.suppress(Exception):
        import torch

        info["torch"] = torch.__version__
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
    with contextlib.suppress(Exception):
        import transformers

        info["transformers"] = transformers.__version__
    return info


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def git_dirty() -> bool:
    """True when tracked files differ from the commit (what a run measures isn't committed)."""
    return bool(_git("status", "--porcelain", "--untracked-files=no"))


def git_commit() -> str | None:
    """The commit measured, with ``+dirty`` when the working tree had changes."""
    commit = _git("rev-parse", "--short", "HEAD")
    if commit and _git("status", "--porcelain", "--untracked-files=no"):
        commit += "+dirty"
    return commit


# --- Subprocesses --------------------------------------------------------------------------


@contextlib.contextmanager
def cleanup_on_signals() -> Iterator[None]:
    """Ctrl-C or SIGTERM: stop every subprocess we started (``tools/harness``) before
    leaving."""

    def handler(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        stop_processes(reversed(running_processes()), timeout=10)
        signal.signal(signal.SIGTERM, previous)


def write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)
