"""WSGI entry point: `gunicorn --pythonpath site config.wsgi`."""

from __future__ import annotations

import os

# Set before importing `config`: its __init__ loads the Celery app, which would
# otherwise pick the local settings first.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")

from django.core.wsgi import get_wsgi_application  # noqa: E402

from config import paths  # noqa: E402, F401  (puts site/ and the repo root on sys.path)

application = get_wsgi_application()
