"""Put the project folders on sys.path for every entry point (WSGI, ASGI, Celery).

`site/` holds the Django project but cannot be a package, so entry points
that are started by other tools import this module first.
"""

from __future__ import annotations

import sys
from pathlib import Path

SITE_DIR = Path(__file__).resolve().parent.parent
ROOT_DIR = SITE_DIR.parent

for path in (str(ROOT_DIR), str(SITE_DIR)):
    if path not in sys.path:
        sys.path.insert(0, path)
