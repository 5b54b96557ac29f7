"""The one way a web process hands work to the model workers.

Demo requests (``inference.web.services``) and free-text grading (``lessons``, through
``inference.facade``) both send their task here: to the inference queue, over a pooled
broker connection that tries once. The app's default producer retries a dead broker for
seconds, and a learner should hear about it at once; opening a connection per submit cost
about 10 ms of every demo round trip, hence the pool (one per process and broker URL).

Uses Celery's ``current_app`` (the project's app once Django has started), never
``config`` itself.
"""

from __future__ import annotations

import threading
from typing import Any

from celery import current_app
from django.conf import settings

BROKER_FAIL_FAST = {"max_retries": 0, "connect_retries_timeout": 1}
POOL_LIMIT = 32

_pools: dict[str, Any] = {}
_pools_lock = threading.Lock()


def inference_queue() -> str:
    """The queue the model workers consume."""
    return str(settings.INFERENCE_QUEUE)


def _pool() -> Any:
    app = current_app._get_current_object()
    url = str(app.conf.broker_url)
    pool = _pools.get(url)
    if pool is None:
        with _pools_lock:
            pool = _pools.get(url)
            if pool is None:
                connection = app.connection_for_write(transport_options=BROKER_FAIL_FAST)
                pool = connection.Pool(limit=POOL_LIMIT)
                _pools[url] = pool
    return pool


def send(
    task_name: str,
    *,
    kwargs: dict[str, Any],
    task_id: str,
    expires: float | None = None,
    link: tuple[str, dict[str, Any]] | None = None,
) -> None:
    """Send ``task_name(**kwargs)`` as ``task_id`` to the inference queue, once.

    ``link`` is ``(task name, kwargs)`` of a task to run with the result (on its own
    queue). Raises whatever the broker raised; the caller tells the learner.
    """
    from celery import signature

    app = current_app._get_current_object()
    options: dict[str, Any] = {}
    if link is not None:
        options["link"] = signature(link[0], kwargs=link[1])
    if expires is not None:
        options["expires"] = expires
    with _pool().acquire(block=True, timeout=1) as connection:
        try:
            app.send_task(
                task_name,
                kwargs=kwargs,
                task_id=task_id,
                queue=inference_queue(),
                retry=False,
                connection=connection,
                **options,
            )
        except Exception:
            connection.collect()  # drop a broken socket before it goes back in the pool
            raise
