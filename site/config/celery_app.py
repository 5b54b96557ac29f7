"""The Celery app, configured from Django settings (CELERY_* keys).

Start a model worker with `celery -A config.celery_app worker -Q inference`
from `site/` (or with `--workdir site`); see the README for the pool choice.
"""

from __future__ import annotations

import os

from celery import Celery

from config import logging as _logging  # noqa: F401  (workers log via Django's LOGGING)
from config import paths  # noqa: F401
from config import request_id as _request_id  # noqa: F401  (request ids into tasks)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("bertgpt")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# The model worker's tasks live in the worker package (inference/worker/tasks.py)
app.autodiscover_tasks(["inference.worker"])
