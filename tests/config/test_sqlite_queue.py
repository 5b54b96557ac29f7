"""The SQLite backend's queue for the write lock (``config/sqlite_queue``), on real files:
writers wait their turn in the queue for exactly the span of a transaction, across threads
and across processes, and a writer that can't get a turn still falls back to SQLite's own
busy wait instead of hanging."""

from __future__ import annotations

import fcntl
import multiprocessing
import os
import threading
import time

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
    """Whether another process holds the queue's file lock (asked from a new process, since
    flock locks are per open file and this process may hold one itself)."""
    context = multiprocessing.get_context("fork")
    answer = context.Queue()

    def probe() -> None:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            answer.put(True)
        else:
            answer.put(False)

    child = context.Process(target=probe)
    child.start()
    child.join(10)
    return answer.get(timeout=5)


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
    entry = connections.settings[alias]
    threads, processes, rounds = 4, 2, 25

    def writer() -> None:
        connection = DatabaseWrapper(dict(entry), alias)
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

    def process_main() -> None:
        workers = [threading.Thread(target=writer) for _ in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()

    context = multiprocessing.get_context("fork")
    children = [context.Process(target=process_main) for _ in range(processes)]
    for child in children:
        child.start()
    process_main()
    for child in children:
        child.join(60)
        assert child.exitcode == 0

    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT n FROM counter")
        assert cursor.fetchone()[0] == (processes + 1) * threads * rounds


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
