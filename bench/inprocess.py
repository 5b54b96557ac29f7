"""The in-process baseline: the same models, loaded the same way, called directly.

The models are loaded with the worker's own code (``inference.worker.runtime.load_runtime``: same
folders, loader, device, dtype and torch thread count, then ``warm_up``) in this process's
main thread, as the worker does at start-up, and every timed call runs in one long-lived
other thread, as the worker's pool threads run them. Timings are taken inside that thread,
so the hand-over between threads is not counted.

Why not simply call from the main thread, as a tutorial script would? On this 2-core
machine shared with other work, torch calls made from the thread that set the thread
count measured several times slower (and used several times more CPU) than the same calls
from another thread. That would flatter the site; the worker-like arrangement is the
faster, conservative baseline. :meth:`InProcess.run_main` measures the main-thread way too,
and the round-trip section reports it separately.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any


class InProcess:
    def __init__(self) -> None:
        from inference.worker.loading import choose_device, configure_threads
        from inference.worker.runtime import load_runtime

        device = choose_device()
        self.threads = configure_threads() if device == "cpu" else None
        self.runtime = load_runtime(profile="tiny", device=device)
        self.runtime.warm_up()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inprocess")

    def run(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``func(runtime, *args, **kwargs)`` in the baseline's (worker-like) thread."""
        return self._pool.submit(func, self.runtime, *args, **kwargs).result()

    def run_main(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``func(runtime, *args, **kwargs)`` in the calling (main) thread, tutorial style."""
        return func(self.runtime, *args, **kwargs)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self.runtime = None
