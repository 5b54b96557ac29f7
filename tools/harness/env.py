"""The environment of the site's processes (web, workers, ``manage.py``).

``site_env`` builds one: this process's environment (or, with ``inherit=False``, only the
few variables a clean process needs), the project on PYTHONPATH, unbuffered output, the
settings module, and Redis for the app, the Celery broker and results (and the cache).
``SiteConfig`` is the site as deployed, on loopback: production settings, its database, its
Redis, the ``tiny`` models (the fault tests and the load test).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from tools.harness.process import HOST, ROOT, SITE_DIR, free_port, run_python
from tools.harness.web import Gunicorn
from tools.harness.workers import CeleryWorker, unique_hostname

# What a clean environment keeps of ours (inherit=False).
KEPT = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "HF_HOME", "TORCH_HOME")


def redis_env(url: str, *, cache: bool = False) -> dict[str, str]:
    """REDIS_URL, the Celery broker and result backend at ``url``; with ``cache``, the
    cache (CACHE_URL) in db 1 of the same server."""
    env = {"REDIS_URL": url, "CELERY_BROKER_URL": url, "CELERY_RESULT_BACKEND": url}
    if cache:
        env["CACHE_URL"] = f"{url.rsplit('/', 1)[0]}/1"
    return env


def site_env(
    *,
    inherit: bool = True,
    drop: Iterable[str] = (),
    settings: str | None = None,
    redis_url: str | None = None,
    cache: bool = False,
    **values: str,
) -> dict[str, str]:
    """An environment for a process of this site.

    ``inherit``: this process's environment, less the names in ``drop``; otherwise only
    PATH, HOME, the locale, TMPDIR and the model caches' folders, with the Hugging Face Hub
    offline. Then the project root and ``site/`` on PYTHONPATH, unbuffered output,
    ``settings`` as DJANGO_SETTINGS_MODULE, ``redis_url`` (``redis_env``), and ``values``."""
    if inherit:
        env = {name: value for name, value in os.environ.items() if name not in set(drop)}
    else:
        env = {name: os.environ[name] for name in KEPT if name in os.environ}
        env.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})
    paths = [str(ROOT), str(SITE_DIR)]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env["PYTHONUNBUFFERED"] = "1"
    if settings:
        env["DJANGO_SETTINGS_MODULE"] = settings
    if redis_url:
        env.update(redis_env(redis_url, cache=cache))
    env.update(values)
    return env


@dataclass
class SiteConfig:
    """The site as deployed, on loopback: what its web and workers share (settings module,
    database, Redis, models). Plain HTTP (no HTTPS redirect), DEBUG off, the ``tiny``
    profile, a 6-second worker heartbeat TTL, plain warning-level logs."""

    database_url: str
    redis_url: str
    models_dir: Path
    static_root: Path
    settings_module: str = "config.settings.production"
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(50))
    extra: dict[str, str] = field(default_factory=dict)

    def env(self, **extra: str) -> dict[str, str]:
        values = {
            "SECRET_KEY": self.secret_key,
            "ALLOWED_HOSTS": f"{HOST},localhost",
            "DATABASE_URL": self.database_url,
            "SECURE_SSL_REDIRECT": "false",
            "DJANGO_DEBUG": "false",
            "STATIC_ROOT": str(self.static_root),
            "INFERENCE_PROFILE": "tiny",
            "MODELS_DIR": str(self.models_dir),
            "WORKER_HEARTBEAT_TTL": "6",
            "TOKENIZERS_PARALLELISM": "false",
            "LOG_FORMAT": "plain",
            "LOG_LEVEL": "WARNING",
            **self.extra,
            **extra,
        }
        return site_env(
            inherit=False,
            settings=self.settings_module,
            redis_url=self.redis_url,
            cache=True,
            **values,
        )

    def manage(self, *args: str, timeout: float = 180, **extra_env: str) -> str:
        """``manage.py *args`` with the site's environment; its stdout, RuntimeError if
        it fails."""
        return run_python(self.env(**extra_env), "manage.py", *args, timeout=timeout)

    def web(
        self, log_dir: Path, *, workers: int = 1, threads: int = 8, **extra_env: str
    ) -> Gunicorn:
        """This site's gunicorn (to start), on a free port, its log in ``log_dir``."""
        port = free_port()
        return Gunicorn(
            self.env(**extra_env),
            log_dir / f"gunicorn-{port}.log",
            workers=workers,
            threads=threads,
            port=port,
        )

    def model_worker(
        self, log_dir: Path, *, concurrency: int = 2, **extra_env: str
    ) -> CeleryWorker:
        """This site's model worker (to start): threads pool on the ``inference`` queue,
        one torch thread, warnings only in its log (in ``log_dir``)."""
        hostname = unique_hostname("site")
        return CeleryWorker(
            self.env(TORCH_THREADS="1", **extra_env),
            log_dir / f"worker-{hostname.split('@')[0]}.log",
            concurrency=concurrency,
            hostname=hostname,
            loglevel="warning",
            options=["--without-heartbeat"],
        )
