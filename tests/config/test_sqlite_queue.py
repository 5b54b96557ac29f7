"""The SQLite backend's queue for the write lock (``config/sqlite_queue``), on real files:
writers wait their turn in the queue for exactly the span of a transaction, across threads
and across processes, and a writer that can't get a turn still falls back to SQLite's own
busy wait instead of hanging."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.db import connections, transaction

from config.sqlite_queue.base import DatabaseWrapper, _file_path, queue_for


@pytest.fixture
def file_db(tmp_path, django_db_blocker):
    """A connection alias of this test's own on a SQLite file with the site's options (not
    the test database: nothing here needs it)."""
    from config.settings.base import SQLITE_ENGINE, sqlite_options

    alias = f"queue_{os.getpid()}_{id(tmp_path)}"
    path = tmp_path / "site.sqlite3"
    entry = sqlite_options({"ENGINE": "django.db.backends.sqlite3", "NAME": str(path)})
    assert entry["ENGINE"] == SQLITE_ENGINE
    default = connections.settings["default"]
    configured = connections.configure_settings({"default": default, alias: entry})
    connections.settings[alias] = configured[alias]
    with django_db_blocker.unblock():
        with connections[alias].cursor() as cursor:
            cursor.execute("CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER)")
            cursor.execute("INSERT INTO counter VALUES (1, 0)")
        yield alias, str(path)
        connections[alias].close()
    del connections[alias]
    del connections.settings[alias]


def _file_is_locked(lock_path: str) -> bool:
    """Whether a process holds the queue's file lock, asked from a new process (flock locks
    belong to open files, so this process could always take its own again; a new
    interpreter rather than a fork, which can hang in a process that runs threads)."""
    probe = (
        "import fcntl, os, sys\n"
        "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)\n"
        "try:\n"
        "    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
        "except BlockingIOError:\n"
        "    print('locked')\n"
        "else:\n"
        "    print('free')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, lock_path], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip() == "locked"


def run_writers(path: str, threads: int, rounds: int) -> None:
    """`threads` threads, each with a connection of its own through the site's SQLite backend,
    adding 1 to the counter `rounds` times in read-modify-write transactions."""
    import django

    django.setup()
    from config.settings.base import sqlite_options

    entry = sqlite_options({"ENGINE": "django.db.backends.sqlite3", "NAME": path})
    default = connections.settings["default"]
    configured = connections.configure_settings({"default": default, "writers": entry})["writers"]

    def writer() -> None:
        connection = DatabaseWrapper(dict(configured), "writers")
        try:
            for _ in range(rounds):
                with _atomic(connection):
                    cursor = connection.cursor()
                    cursor.execute("SELECT n FROM counter WHERE id = 1")
                    (n,) = cursor.fetchone()
                    time.sleep(0.001)  # a read-modify-write that must not interleave
                    cursor.execute("UPDATE counter SET n = ? WHERE id = 1", [n + 1])
        finally:
            connection.close()

    workers = [threading.Thread(target=writer) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def test_the_site_uses_the_queue_for_sqlite_only():
    assert isinstance(connections["default"], DatabaseWrapper) == (
        connections["default"].vendor == "sqlite"
    )


def test_in_memory_databases_have_no_file_to_queue_on():
    assert _file_path(":memory:") is None
    assert _file_path("file:memorydb_default?mode=memory&cache=shared") is None
    assert _file_path("") is None
    assert _file_path("/srv/site.sqlite3") == "/srv/site.sqlite3"


def test_a_transaction_holds_the_queue_until_it_commits_or_rolls_back(file_db):
    alias, path = file_db
    queue = queue_for(path)
    lock_path = queue.lock_path

    assert not _file_is_locked(lock_path)
    with transaction.atomic(using=alias):
        connections[alias].cursor().execute("UPDATE counter SET n = n + 1")
        assert _file_is_locked(lock_path)
        assert queue.thread_lock.locked()
    assert not _file_is_locked(lock_path)
    assert not queue.thread_lock.locked()

    with pytest.raises(RuntimeError), transaction.atomic(using=alias):
        connections[alias].cursor().execute("UPDATE counter SET n = n + 1")
        assert _file_is_locked(lock_path)
        raise RuntimeError("rolled back")
    assert not _file_is_locked(lock_path)
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT n FROM counter")
        assert cursor.fetchone()[0] == 1


def test_closing_a_connection_inside_a_transaction_frees_the_queue(file_db):
    alias, path = file_db
    queue = queue_for(path)
    connection = connections[alias]
    with transaction.atomic(using=alias):
        connection.cursor().execute("UPDATE counter SET n = n + 1")
        assert queue.thread_lock.locked()

        connection.close()  # a worker shutting down mid-transaction, say

        assert not queue.thread_lock.locked()
        assert not _file_is_locked(queue.lock_path)
    with connection.cursor() as cursor:
        cursor.execute("SELECT n FROM counter")
        assert cursor.fetchone()[0] == 0  # never committed


def test_a_writer_that_gets_no_turn_falls_back_to_sqlites_busy_wait(file_db):
    alias, path = file_db
    queue = queue_for(path)
    # Another thread holds the queue's thread lock and never lets go (a stuck writer):
    # entering times out and says so, so the caller goes on to SQLite, which decides.
    holder_in, release = threading.Event(), threading.Event()

    def hold() -> None:
        queue.thread_lock.acquire()
        holder_in.set()
        release.wait(10)
        queue.thread_lock.release()

    thread = threading.Thread(target=hold)
    thread.start()
    holder_in.wait(5)
    started = time.monotonic()
    try:
        assert queue.enter(0.1) is False
        assert 0.09 <= time.monotonic() - started < 2
        # The transaction itself still runs: SQLite's lock was free.
        with transaction.atomic(using=alias):
            connections[alias].cursor().execute("UPDATE counter SET n = n + 5")
    finally:
        release.set()
        thread.join(5)
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT n FROM counter")
        assert cursor.fetchone()[0] == 5


def test_concurrent_writers_in_threads_and_processes_all_commit(file_db):
    alias, path = file_db
    threads, processes, rounds = 4, 3, 25
    root = Path(__file__).resolve().parents[2]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "PYTHONPATH": os.pathsep.join([str(root), str(root / "site")]),
    }
    code = (
        "import sys; from tests.config.test_sqlite_queue import run_writers; "
        "run_writers(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))"
    )
    children = [
        subprocess.Popen(
            [sys.executable, "-c", code, path, str(threads), str(rounds)],
            cwd=root,
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    for child in children:
        _out, err = child.communicate(timeout=120)
        assert child.returncode == 0, err

    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT n FROM counter")
        assert cursor.fetchone()[0] == processes * threads * rounds


class _atomic:
    """BEGIN/COMMIT through the wrapper's own hooks, for a connection outside `connections`."""

    def __init__(self, connection):
        self.connection = connection

    def __enter__(self):
        self.connection.ensure_connection()
        self.connection._start_transaction_under_autocommit()

    def __exit__(self, kind, value, traceback):
        if kind is None:
            self.connection._commit()
        else:
            self.connection._rollback()
