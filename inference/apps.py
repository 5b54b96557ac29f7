from __future__ import annotations

from django.apps import AppConfig


class InferenceConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "inference"
    verbose_name = "Model demos"

    def ready(self) -> None:
        # Connects Celery worker signal handlers only (no torch import); they load models
        # in workers that consume the inference queue. See inference/worker/process.py.
        from inference.worker import process as worker

        worker.connect_signals()
