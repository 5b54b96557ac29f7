"""Fixtures for the fault tests: real gunicorn, Celery worker, Redis and database processes.

Each test gets its OWN redis-server on a free port (so a test can stop it, and no other
worker on the shared Redis can take its tasks) and its own copy of a database that was
migrated and loaded with the real course once per session:

- PostgreSQL (``CREATE DATABASE ... TEMPLATE``) when the suite runs on PostgreSQL
  (``DATABASE_URL=postgres://...``, the second pass of ``.ci/run``), else
- an SQLite file (copied), the embedded default.

The web and worker run ``config.settings.production`` (SQLite: ``config.settings.local``
with DEBUG off, which is how SQLite is deployed: WAL and a busy timeout), the ``tiny``
model profile built once per session, and plain HTTP on loopback.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.postgres_support import require_postgres
from tools.harness import CeleryWorker, Gunicorn, RedisServer, SiteConfig

from .stack import PostgresDatabase, suite_on_postgres

STAFF = ("teacher", "teacher-Pass-2024!")
LEARNERS = [(f"learner{n}", f"learner{n}-Pass-2024!") for n in range(1, 4)]

CREATE_USERS = """
import os
from django.contrib.auth import get_user_model
User = get_user_model()
staff, password = os.environ["FAULT_STAFF"].split(":", 1)
User.objects.create_superuser(username=staff, email="", password=password)
for pair in os.environ["FAULT_LEARNERS"].split(","):
    name, password = pair.split(":", 1)
    User.objects.create_user(username=name, email="", password=password)
"""


@pytest.fixture(scope="session")
def fault_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("faults")


@pytest.fixture(scope="session")
def fault_models(fault_dir) -> Path:
    from inference.worker.tiny import build_tiny_models

    base = fault_dir / "models"
    build_tiny_models(base / "tiny")
    return base


@pytest.fixture(scope="session")
def fault_static(fault_dir, fault_models) -> Path:
    static_root = fault_dir / "static"
    config = SiteConfig(
        database_url=f"sqlite:///{fault_dir / 'static.sqlite3'}",
        redis_url="redis://127.0.0.1:6/0",  # not contacted
        models_dir=fault_models,
        static_root=static_root,
    )
    config.manage("collectstatic", "--noinput")
    return static_root


def _prepare(config: SiteConfig) -> None:
    config.manage("migrate", "--noinput")
    config.manage("load_course")
    config.manage(
        "shell",
        "-c",
        CREATE_USERS,
        FAULT_STAFF=":".join(STAFF),
        FAULT_LEARNERS=",".join(":".join(pair) for pair in LEARNERS),
    )


@pytest.fixture(scope="session")
def golden_sqlite(fault_dir, fault_models, fault_static) -> Path:
    path = fault_dir / "golden.sqlite3"
    _prepare(
        SiteConfig(
            database_url=f"sqlite:///{path}",
            redis_url="redis://127.0.0.1:6/0",
            models_dir=fault_models,
            static_root=fault_static,
            settings_module="config.settings.local",
        )
    )
    return path


@pytest.fixture(scope="session")
def golden_postgres(fault_models, fault_static) -> Iterator[PostgresDatabase]:
    require_postgres()
    database = PostgresDatabase(prefix="faults_golden").create()
    try:
        _prepare(
            SiteConfig(
                database_url=database.url(),
                redis_url="redis://127.0.0.1:6/0",
                models_dir=fault_models,
                static_root=fault_static,
            )
        )
        yield database
    finally:
        database.drop()


@dataclass
class SiteDatabase:
    kind: str  # "sqlite" | "postgres"
    url: str
    path: Path | None = None
    postgres: PostgresDatabase | None = None

    def connect(self):
        """A DB-API connection of our own (to count rows or hold a lock)."""
        if self.kind == "sqlite":
            import sqlite3

            return sqlite3.connect(
                self.path, timeout=10, isolation_level=None, check_same_thread=False
            )
        return self.postgres.connect()

    def scalar(self, sql: str, params: tuple = ()) -> object:
        conn = self.connect()
        try:
            cursor = conn.cursor()
            cursor.execute(sql.replace("%s", "?") if self.kind == "sqlite" else sql, params)
            row = cursor.fetchone()
            return row[0] if row else None
        finally:
            conn.close()

    def rows(self, sql: str, params: tuple = ()) -> list[tuple]:
        conn = self.connect()
        try:
            cursor = conn.cursor()
            cursor.execute(sql.replace("%s", "?") if self.kind == "sqlite" else sql, params)
            return list(cursor.fetchall())
        finally:
            conn.close()


@pytest.fixture
def make_database(request, fault_dir, tmp_path) -> Iterator[Callable[[str], SiteDatabase]]:
    """``make_database("sqlite"|"postgres"|"suite")``: a fresh copy of the golden database."""
    created: list[PostgresDatabase] = []

    def make(kind: str = "suite") -> SiteDatabase:
        if kind == "suite":
            kind = "postgres" if suite_on_postgres() else "sqlite"
        if kind == "sqlite":
            golden = request.getfixturevalue("golden_sqlite")
            path = tmp_path / "site.sqlite3"
            shutil.copyfile(golden, path)
            return SiteDatabase(kind="sqlite", url=f"sqlite:///{path}", path=path)
        golden_pg = request.getfixturevalue("golden_postgres")
        database = PostgresDatabase(prefix="faults")
        with database.admin_connect() as conn:
            conn.execute(f'CREATE DATABASE "{database.name}" TEMPLATE "{golden_pg.name}"')
        created.append(database)
        return SiteDatabase(kind="postgres", url=database.url(), postgres=database)

    yield make
    for database in created:
        with contextlib.suppress(Exception):
            database.drop()


@pytest.fixture
def redis_server(tmp_path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path).start()
    yield server
    server.stop()


@dataclass
class Stack:
    config: SiteConfig
    database: SiteDatabase
    redis: RedisServer
    log_dir: Path
    web: Gunicorn | None = None
    worker: CeleryWorker | None = None

    def start_web(self, **extra_env: str) -> Gunicorn:
        """gunicorn as the image runs it (1 process x 8 threads), answering /healthz."""
        self.web = self.config.web(self.log_dir, **extra_env).start()
        return self.web

    def start_worker(
        self, *, wait: bool = True, concurrency: int = 2, **extra_env: str
    ) -> CeleryWorker:
        """A model worker (threads pool) on the ``inference`` queue, ready unless ``wait``
        is false."""
        self.worker = self.config.model_worker(
            self.log_dir, concurrency=concurrency, **extra_env
        ).start()
        if wait:
            self.worker.wait_ready()
        return self.worker

    def logs(self) -> str:
        parts = []
        for name, thing in (("web", self.web), ("worker", self.worker)):
            if thing is not None:
                parts.append(f"--- {name} ---\n{thing.log(3000)}")
        return "\n".join(parts)


@pytest.fixture
def make_stack(
    make_database, redis_server, fault_models, fault_static, tmp_path
) -> Iterator[Callable[..., Stack]]:
    """``make_stack(db="suite", **env)``: config for web + worker on a private Redis and a
    fresh database; processes started through the returned :class:`Stack` are stopped at
    the end of the test whatever happens."""
    stacks: list[Stack] = []

    def make(db: str = "suite", **extra_env: str) -> Stack:
        database = make_database(db)
        settings_module = (
            "config.settings.local" if database.kind == "sqlite" else "config.settings.production"
        )
        config = SiteConfig(
            database_url=database.url,
            redis_url=redis_server.url(0),
            models_dir=fault_models,
            static_root=fault_static,
            settings_module=settings_module,
            extra={
                "DEMO_RATE_LIMIT_USER": "10000/m",
                "DEMO_RATE_LIMIT_IP": "10000/m",
                **extra_env,
            },
        )
        stack = Stack(config=config, database=database, redis=redis_server, log_dir=tmp_path)
        stacks.append(stack)
        return stack

    yield make
    for stack in stacks:
        print(stack.logs())  # shown by pytest only when the test failed
        for thing in (stack.worker, stack.web):
            if thing is not None:
                with contextlib.suppress(Exception):
                    thing.stop()
