"""WSGI entry point: `gunicorn --pythonpath site config.wsgi`."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

from config import paths  # noqa: F401  (puts site/ and the repo root on sys.path)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")

application = get_wsgi_application()
