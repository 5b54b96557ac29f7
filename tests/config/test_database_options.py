"""The database options every settings module gives SQLite (``base.sqlite_options``), read
the way a server reads them: production's settings in a fresh process, on a real file."""

from __future__ import annotations

import json
import secrets

from tests.config.test_production_settings import PRODUCTION_ENV, run_manage

READ_BACK = (
    "from django.db import connection, connections; from django.conf import settings; "
    "cursor = connection.cursor(); "
    "cursor.execute('PRAGMA journal_mode'); mode = cursor.fetchone()[0]; "
    "cursor.execute('PRAGMA synchronous'); sync = cursor.fetchone()[0]; "
    "print(json.dumps({'mode': mode, 'sync': sync, "
    "'options': settings.DATABASES['default'].get('OPTIONS', {}), "
    "'backend': type(connections['default']).__module__}))"
)


def test_production_on_sqlite_keeps_wal_a_busy_timeout_and_immediate_transactions(tmp_path):
    # Production once read DATABASE_URL again and dropped these: every commit waited for the
    # disk and concurrent quiz submits queued for seconds ("database is locked" after 5 s).
    env = {**PRODUCTION_ENV, "DATABASE_URL": f"sqlite:///{tmp_path / 'site.sqlite3'}"}
    result = run_manage("shell", "-c", "import json; " + READ_BACK, env=env)

    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found["mode"] == "wal"
    assert found["sync"] == 1  # NORMAL
    assert found["options"]["timeout"] == 20
    assert found["options"]["transaction_mode"] == "IMMEDIATE"
    # with the write queue in front of SQLite's lock (tests/config/test_sqlite_queue.py)
    assert found["backend"] == "config.sqlite_queue.base"


def test_production_on_postgresql_gets_no_sqlite_options():
    env = {**PRODUCTION_ENV, "SECRET_KEY": secrets.token_urlsafe(50)}
    code = (
        "import json; from django.conf import settings; "
        "print(json.dumps(settings.DATABASES['default']['OPTIONS']))"
    )
    result = run_manage("shell", "-c", code, env=env)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {"connect_timeout": 5}
