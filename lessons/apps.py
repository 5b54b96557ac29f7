from __future__ import annotations

from django.apps import AppConfig


class LessonsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "lessons"
    verbose_name = "Course"

    def ready(self) -> None:
        from . import (
            page_cache,  # noqa: F401  (content edits drop the kept lesson pages)
            receivers,  # noqa: F401  (anonymous attempts move into the account on login)
        )
