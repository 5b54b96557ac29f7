"""Settings for pytest: fast hashing, SQLite unless DATABASE_URL says otherwise."""

from __future__ import annotations

from .base import *  # noqa: F403
from .base import BASE_DIR, SQLITE_ENGINE, env

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'var' / 'test.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The site's SQLite backend (its write queue is idle on the in-memory test database;
    # tests/config/test_sqlite_queue.py drives it on real files with the site's options).
    DATABASES["default"]["ENGINE"] = SQLITE_ENGINE

# No collected static files outside production: serve from the finders and
# keep WhiteNoise from warning about a missing STATIC_ROOT.
STATIC_ROOT = None

# Demo submits answer at once with the running panel, so tests follow the long-poll path;
# the tests of the submit's short wait turn it on themselves.
DEMO_SUBMIT_WAIT_MS = 0
