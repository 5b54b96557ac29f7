"""Model-worker start-up and shutdown: load the models once, then keep a heartbeat.

Run the model worker from ``site/`` (so ``config`` imports; ``config/paths.py`` adds the
repository root)::

    celery -A config.celery_app worker -Q inference -P threads -c 16 \\
        --without-gossip --without-mingle -l info

Why the threads pool: the threads share ONE copy of the models in one process
(BERT, GPT-2 and MiniLM take ~1 GB as float32 for the ``full`` profile; prefork would hold
one copy per child), torch releases the GIL inside its kernels so threads do run
concurrently, and nothing forks after torch/CUDA are initialised (neither is fork-safe:
see pytorch's notes on forked subprocesses and celery#3402). ``-P solo`` works too (one
task at a time). Prefork is refused: its children would fork from a parent holding the
models; such a worker announces itself as not ready and says why.

How many threads (``-c``): fill-mask, next-token and embeddings requests are batched
(``inference/worker/batching.py``): concurrent requests of a kind share one forward pass, up to
``INFERENCE_MAX_BATCH`` (16) of them, so a batch can only be as large as the number of
tasks running at once. Run the model worker with ``-c`` at least the batch size (16 is a
good default; ``INFERENCE_BATCHING=0`` turns batching off). More threads do not multiply
the CPU work: torch's intra-op threads (``TORCH_THREADS``, default cores / model workers
on the machine) are set once here, and batched forward passes run one at a time on the
batcher's thread; waiting threads cost next to nothing. Each task's work runs on one of
as many "run threads" (``inference/worker/timebox.py``), so the task's own thread can give
up on it at its time limit, which the threads pool would not enforce.

Which workers load models: only those consuming the ``INFERENCE_QUEUE`` (``-Q inference``),
read from the worker's own queue selection (``worker.app.amqp.queues.consume_from``) at
``worker_init``, after ``-Q`` has been applied. A worker for the default queue (emails,
imports) starts in a second and never imports torch. ``INFERENCE_WORKER=0``/``1`` in the
environment overrides the detection.

Start-up (``worker_init``, in the worker's main process, before it consumes anything):
set HF offline mode, choose the device and torch threads, start the heartbeat thread
(``ready: false``), load the active profile's three models, warm them up and publish the
models' info; ``ready: true`` follows at ``worker_ready``, when Celery consumes the queue.
While the models are missing (``demo`` models not built yet) the worker does NOT exit (a
supervisor would restart it in a loop): it beats ``ready: false`` with a status saying what
to run and checks again every 5 s; SIGTERM or Ctrl-C stops it cleanly during the wait.
On ``worker_shutdown`` the batchers finish their queued requests and stop, and the
heartbeat key is deleted so the site knows at once.

New demo models while serving: ``build_demo_models`` publishes twice, an early checkpoint
after a couple of minutes and the finished models later, each time swapping new folders
into ``MODELS_DIR/demo`` and then rewriting ``training.json`` with a new release id
(``registry.demo_release()``). A worker serving the ``demo`` profile runs a
:class:`ReleaseWatcher` thread that reads the release every ``POLL_SECONDS``; when its id
differs from the one the models were loaded from, the thread loads and warms the new
models while the old ones keep answering, swaps them in (``load_runtime(warm=True)``) and
updates the heartbeat (models, ``release``, ``status``). A load that fails is logged, the
old models keep serving, and the next poll tries again. The heartbeat's ``release`` is
``{"id", "stage": "early"|"final", "published_at", ...}`` (None for other profiles).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from typing import TYPE_CHECKING

from celery import signals
from django.conf import settings

from inference.contract import heartbeat, registry, streams
from inference.worker import batching, timebox

if TYPE_CHECKING:
    from inference.worker.runtime import Runtime

logger = logging.getLogger(__name__)

POLL_SECONDS = 5.0
WAITING_STATUS = "waiting for models (run manage.py build_demo_models)"
WAITING_FULL_STATUS = "waiting for models (run manage.py download_models)"

_state_lock = threading.Lock()
_heartbeat: heartbeat.HeartbeatThread | None = None
_watcher: ReleaseWatcher | None = None


def connect_signals() -> None:
    """Connect the handlers (cheap: no torch). Called from InferenceConfig.ready()."""
    signals.worker_init.connect(on_worker_init, weak=False, dispatch_uid="inference-worker-init")
    signals.worker_ready.connect(on_worker_ready, weak=False, dispatch_uid="inference-worker-ready")
    signals.worker_shutdown.connect(
        on_worker_shutdown, weak=False, dispatch_uid="inference-worker-shutdown"
    )


def consumed_queues(worker) -> list[str]:
    try:
        return sorted(worker.app.amqp.queues.consume_from.keys())
    except AttributeError:
        return []


def is_inference_worker(worker) -> bool:
    override = os.environ.get("INFERENCE_WORKER", "").strip().lower()
    if override in {"1", "true", "yes", "on"}:
        return True
    if override in {"0", "false", "no", "off"}:
        return False
    return settings.INFERENCE_QUEUE in consumed_queues(worker)


def _pool_name(worker) -> str:
    pool_cls = getattr(worker, "pool_cls", None)
    if isinstance(pool_cls, str):
        return "prefork" if pool_cls in {"prefork", "processes"} else pool_cls
    module = getattr(pool_cls, "__module__", "") or ""
    return module.rsplit(".", 1)[-1] or "unknown"


def heartbeat_ttl() -> int:
    return int(settings.WORKER_HEARTBEAT_TTL)


def _waiting_status(profile: str) -> str:
    return WAITING_FULL_STATUS if profile == "full" else WAITING_STATUS


class _Stop(Exception):
    pass


def on_worker_init(sender=None, **_kwargs) -> None:
    global _heartbeat
    if sender is None or not is_inference_worker(sender):
        return

    from inference.worker.loading import set_offline_env

    set_offline_env()
    pool = _pool_name(sender)
    ttl = heartbeat_ttl()
    info = {
        "hostname": sender.hostname,
        "pid": os.getpid(),
        "queues": consumed_queues(sender),
        "profile": registry.active_profile_name(),
        "ready": False,
        "models": {},
        "release": None,
        "status": "starting",
        "pool": pool,
        "concurrency": getattr(sender, "concurrency", None),
        "batching": batching.describe(),
        "started_at": time.time(),
    }
    beat = heartbeat.HeartbeatThread(
        client_factory=streams.redis_client,
        info=info,
        ttl=ttl,
        interval=min(heartbeat.BEAT_INTERVAL, max(1.0, ttl / 3)),
    )
    with _state_lock:
        _heartbeat = beat

    _check_batching(info["batching"], info["concurrency"])
    timebox.configure(info["concurrency"])  # as many run threads as task threads
    if pool == "prefork":
        message = (
            "not serving: the prefork pool would fork after the models load; "
            "restart with -P threads (or -P solo)"
        )
        logger.error("Inference worker %s: %s", sender.hostname, message)
        beat.update(status=message)
        beat.start()
        return

    with _StopOnSignal() as stop:
        beat.start()
        runtime = _load_models(beat, stop)
    if runtime.profile == "demo":
        _start_watcher(beat, device=runtime.device)


def _check_batching(settings_info: dict, concurrency) -> None:
    enabled, size = settings_info["enabled"], settings_info["max_batch"]
    if enabled and isinstance(concurrency, int) and concurrency < size:
        logger.warning(
            "Batching: batches can hold %d requests but this worker runs %d task threads "
            "(-c), so they stay smaller; run it with -c %d or more",
            size,
            concurrency,
            size,
        )


def _load_models(beat: heartbeat.HeartbeatThread, stop: threading.Event) -> Runtime:
    from inference.worker.loading import choose_device, configure_threads
    from inference.worker.runtime import load_runtime

    device = choose_device()
    threads = configure_threads() if device == "cpu" else None
    announced = ""
    while True:
        if stop.is_set():
            raise _Stop
        profile = registry.active_profile_name()  # "auto" may change once models appear
        missing = registry.missing_specs(registry.profile_specs(profile))
        if missing:
            status = _waiting_status(profile)
            if status != announced:
                folders = ", ".join(str(spec.path) for spec in missing)
                logger.warning("Inference worker is %s; missing: %s", status, folders)
                announced = status
            beat.update(profile=profile, ready=False, status=status)
            stop.wait(POLL_SECONDS)
            continue
        beat.update(profile=profile, ready=False, status="loading models")
        started = time.monotonic()
        try:
            runtime = load_runtime(profile=profile, device=device, warm=True)
        except Exception as exc:  # a half-written or corrupt folder: report, retry
            logger.exception("Could not load the %s models; retrying", profile)
            status = f"could not load models ({type(exc).__name__}); retrying"
            beat.update(ready=False, status=status)
            stop.wait(POLL_SECONDS)
            continue
        if stop.is_set():
            raise _Stop
        # ``ready`` turns true at ``worker_ready``, once Celery consumes the queue (and has
        # installed its own signal handlers): not a moment earlier.
        beat.update(
            profile=profile,
            ready=False,
            status="models loaded; connecting to the broker",
            models=runtime.models_info(),
            release=runtime.release,
            device=device,
            torch_threads=threads,
            load_seconds=round(time.monotonic() - started, 2),
        )
        logger.info(
            "Inference worker loaded its models: profile %s on %s in %.1fs%s",
            profile,
            device,
            time.monotonic() - started,
            f" ({describe_release(runtime.release)})" if runtime.release else "",
        )
        return runtime


class _StopOnSignal:
    """During start-up Celery's own signal handlers aren't installed yet. SIGTERM and SIGINT
    only set an event here; the start-up loop checks it between steps (never in the middle
    of an import or a model load, which could leave torch half-initialised) and then ends
    the worker cleanly, heartbeat removed."""

    def __enter__(self) -> threading.Event:
        self._previous: dict = {}
        self.event = threading.Event()
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGTERM, signal.SIGINT):
                self._previous[signum] = signal.signal(signum, self._request_stop)
        return self.event

    def _request_stop(self, signum, _frame) -> None:
        self.event.set()

    def __exit__(self, exc_type, exc, _tb):
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        if exc_type is _Stop:
            logger.warning("Inference worker stopped during start-up")
            on_worker_shutdown()
            raise SystemExit(0)
        return False


def on_worker_ready(sender=None, **_kwargs) -> None:
    from inference.worker.runtime import is_loaded

    beat = _heartbeat
    if beat is not None and is_loaded():
        beat.update(ready=True, status="ready")


def on_worker_shutdown(sender=None, **_kwargs) -> None:
    global _heartbeat, _watcher
    with _state_lock:
        beat, _heartbeat = _heartbeat, None
        watcher, _watcher = _watcher, None
    if watcher is not None:
        watcher.stop()
    batching.shutdown()
    if beat is not None:
        beat.stop(delete=True)


def current_heartbeat() -> heartbeat.HeartbeatThread | None:
    return _heartbeat


def current_watcher() -> ReleaseWatcher | None:
    return _watcher


# --- New demo models while serving ---------------------------------------------------------

STAGE_NAMES = {"early": "early checkpoint", "final": "final build"}


def describe_release(release: dict | None) -> str:
    """``"early checkpoint (release 3f2a…)"`` for logs."""
    if not release:
        return "no release"
    stage = STAGE_NAMES.get(str(release.get("stage")), str(release.get("stage")))
    return f"{stage} (release {release.get('id')})"


def _start_watcher(beat: heartbeat.HeartbeatThread, *, device: str) -> None:
    global _watcher
    watcher = ReleaseWatcher(beat=beat, device=device)
    with _state_lock:
        previous, _watcher = _watcher, watcher
    if previous is not None:
        previous.stop()
    watcher.start()


class ReleaseWatcher(threading.Thread):
    """Daemon thread: swaps in the demo build's newer release while the old one serves.

    :meth:`check_once` does one poll (tests call it directly); :meth:`run` calls it every
    ``interval`` seconds until :meth:`stop`. Loading happens in this thread, so the task
    threads keep serving the current runtime until ``load_runtime`` replaces it.
    """

    def __init__(
        self,
        *,
        beat: heartbeat.HeartbeatThread | None,
        device: str,
        interval: float | None = None,
        profile: str = "demo",
    ) -> None:
        super().__init__(name="demo-release-watcher", daemon=True)
        self.beat = beat
        self.device = device
        self.interval = POLL_SECONDS if interval is None else interval
        self.profile = profile
        self.swaps = 0
        self._stopping = threading.Event()
        self._failed: set[str] = set()  # release ids whose load failed (logged in full once)

    def run(self) -> None:
        while not self._stopping.wait(self.interval):
            try:
                self.check_once()
            except Exception:  # never let one bad poll end the thread
                logger.exception("Checking for new demo models failed")

    def stop(self, timeout: float = 5.0) -> None:
        """Stop polling; a load in progress finishes on its own (the thread is a daemon)."""
        self._stopping.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout)

    def check_once(self) -> bool:
        """Swap in the published release when it is new; True when a swap happened."""
        from inference.worker.runtime import current_runtime, load_runtime

        current = current_runtime()
        release = registry.demo_release()
        if current is None or release is None or release["id"] == current.release_id:
            return False
        if registry.missing_specs(registry.profile_specs(self.profile)):
            return False  # mid-publish or removed: keep serving, look again next time
        started = time.monotonic()
        try:
            runtime = load_runtime(profile=self.profile, device=self.device, warm=True)
        except Exception as exc:
            if release["id"] in self._failed:
                logger.warning(
                    "Still cannot load the demo models' %s (%s); serving %s",
                    describe_release(release),
                    exc,
                    describe_release(current.release),
                )
            else:
                self._failed.add(release["id"])
                logger.exception(
                    "Could not load the demo models' %s; still serving %s, retrying in %.0f s",
                    describe_release(release),
                    describe_release(current.release),
                    self.interval,
                )
            return False
        self.swaps += 1
        self._failed.discard(str(runtime.release_id))
        self._announce(runtime, load_seconds=time.monotonic() - started)
        return True

    def _announce(self, runtime: Runtime, *, load_seconds: float) -> None:
        release = runtime.release or {}
        published = release.get("published_at")
        after = (
            f", swapped in {max(0.0, time.time() - published):.1f} s after it was published"
            if isinstance(published, int | float)
            else ""
        )
        logger.info(
            "Serving the demo models' %s%s (loaded and warmed up in %.1f s)",
            describe_release(release),
            after,
            load_seconds,
        )
        if self.beat is None:
            return
        changes: dict[str, object] = {
            "models": runtime.models_info(),
            "release": runtime.release,
            "load_seconds": round(load_seconds, 2),
        }
        if self.beat.info.get("ready") is True:  # before worker_ready, that one sets it
            changes["status"] = "ready"
        self.beat.update(**changes)
