"""The embedded default used by `make run`: SQLite under var/, console email, DEBUG on."""

from __future__ import annotations

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DJANGO_DEBUG", default=True)

# No collected static files outside production: serve from the finders and
# keep WhiteNoise from warning about a missing STATIC_ROOT.
STATIC_ROOT = None
