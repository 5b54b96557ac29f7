"""ASGI entry point."""

from __future__ import annotations

import os

# Set before importing `config`: its __init__ loads the Celery app, which would
# otherwise pick the local settings first.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")

from django.core.asgi import get_asgi_application  # noqa: E402

from config import paths  # noqa: E402, F401

application = get_asgi_application()
